//! Water quality transport and reaction as EPANET 2.2 computes them (`quality.c`,
//! `qualroute.c`, `qualreact.c`; Rossman & Boulos 1996, the time-driven Lagrangian method):
//! each pipe holds segments of water (volume, quality); each quality step, segments react
//! (bulk and wall reactions of any order, water age), nodes are visited in flow order, the water
//! leaving each link's downstream end mixes at the node with sources, and enters the
//! links leaving it as a new upstream segment; tanks mix as MIXED, 2COMP, FIFO or LIFO.

use std::collections::VecDeque;

use crate::water::HydModel;
use crate::water::model::quality::{
    LITRES_PER_FT3, Mixing, QualityKind, QualityModel, SourceKind, quality_units,
};
use crate::water::model::{LinkKind, NodeKind};

/// Below this flow (cfs, 0.005 gpm) a link is stagnant (EPANET's `Q_STAGNANT`).
const Q_STAGNANT: f64 = 0.005 / 448.831;
const TINY: f64 = 1e-6;
const BIG: f64 = 1e10;

/// A parcel of water in a link or tank: volume (ft³) and quality (internal units).
#[derive(Debug, Clone, Copy)]
struct Segment {
    v: f64,
    c: f64,
}

/// The flows, outflows and statuses of one hydraulic period, as quality uses them.
pub(super) struct PeriodFlows {
    /// Per link: the flow (cfs), 0 when closed (EPANET's `LINKFLOW`).
    pub flow: Vec<f64>,
    /// Per node: the junction's outflow (demand and emitter), a tank's net inflow.
    pub demand: Vec<f64>,
}

pub(super) struct QualityState<'m> {
    m: &'m HydModel,
    q: &'m QualityModel,
    node: Vec<f64>,
    /// Per tank: its (outflow) quality.
    tank: Vec<f64>,
    /// Per link, then per tank: segments from the downstream end (front) to the upstream end
    /// (back). A tank's front is its oldest water (2COMP: front the stagnant zone, back the
    /// mixing zone).
    segments: Vec<VecDeque<Segment>>,
    direction: Vec<i8>,
    sorted: Vec<usize>,
    /// Per node: (link, other node), in EPANET's adjacency order.
    adjacency: Vec<Vec<(usize, usize)>>,
    /// Per link: the wall rate coefficient of the period (EPANET's `Rc`).
    wall_rate: Vec<f64>,
    reactive: bool,
    schmidt: f64,
    bulk_units: f64,
    tank_units: f64,
    /// The source's addition at the node being visited (EPANET's `SourceQual`).
    source_quality: f64,
    /// Feet per length unit of the file (for wall coefficients in m).
    ft_per_file_length: f64,
}

fn sgn(x: f64) -> f64 {
    if x < 0.0 { -1.0 } else { 1.0 }
}

/// EPANET's `getucf`: a bulk coefficient of order n from per-litre to per-ft³ units.
fn order_units(order: f64) -> f64 {
    let order = order.max(0.0);
    if order == 1.0 {
        1.0
    } else {
        1.0 / LITRES_PER_FT3.powf(order - 1.0)
    }
}

impl<'m> QualityState<'m> {
    /// EPANET's `initqual`: nodes and tanks at their initial quality, each pipe one segment
    /// of its downstream node's quality.
    pub fn new(m: &'m HydModel, q: &'m QualityModel) -> QualityState<'m> {
        let n = m.node_ids.len();
        let mut node = match q.kind {
            QualityKind::Trace { .. } => vec![0.0; n],
            _ => q.initial.clone(),
        };
        let tank: Vec<f64> = m.tanks.iter().map(|t| node[t.node]).collect();
        if let QualityKind::Trace { node: t } = q.kind {
            node[t] = 100.0;
        }
        let mut adjacency = vec![Vec::new(); n];
        for (k, l) in m.links.iter().enumerate() {
            adjacency[l.from].insert(0, (k, l.to));
            adjacency[l.to].insert(0, (k, l.from));
        }
        let reactive = match q.kind {
            QualityKind::Trace { .. } => false,
            QualityKind::Age => true,
            QualityKind::Chemical { .. } => {
                q.bulk
                    .iter()
                    .zip(&q.wall)
                    .any(|(b, w)| *b != 0.0 || *w != 0.0)
                    || q.tank_bulk.iter().any(|b| *b != 0.0)
            }
        };
        let mut segments = vec![VecDeque::new(); m.links.len() + m.tanks.len()];
        for (k, l) in m.links.iter().enumerate() {
            if let LinkKind::Pipe {
                check_valve: false,
                length,
                ..
            } = l.kind
            {
                let v = 0.785398 * length * l.diameter * l.diameter;
                segments[k].push_back(Segment { v, c: node[l.to] });
            }
        }
        for (t, tank) in m.tanks.iter().enumerate() {
            let c = q.initial[tank.node];
            let k = m.links.len() + t;
            let v = tank.v_init;
            match q.mixing[t] {
                Mixing::TwoCompartment(f) => {
                    let stagnant = (v - f * tank.v_max).max(0.0);
                    segments[k].push_back(Segment { v: stagnant, c });
                    segments[k].push_back(Segment { v: v - stagnant, c });
                }
                _ => segments[k].push_back(Segment { v, c }),
            }
        }
        QualityState {
            m,
            q,
            node,
            tank,
            segments,
            direction: vec![0; m.links.len()],
            sorted: (0..n).collect(),
            adjacency,
            wall_rate: vec![0.0; m.links.len()],
            reactive,
            schmidt: if q.diffusivity > 0.0 {
                m.options.viscosity / q.diffusivity
            } else {
                0.0
            },
            bulk_units: order_units(q.bulk_order),
            tank_units: order_units(q.tank_order),
            source_quality: 0.0,
            ft_per_file_length: q.ft_per_length_unit,
        }
    }

    /// Node quality in the file's units (mg/L, hours, percent).
    pub fn node_quality(&self) -> Vec<f64> {
        self.node.iter().map(|c| c * self.scale()).collect()
    }

    /// Link quality in the file's units: the volume-weighted mean of its segments, or the mean
    /// of its end nodes when empty (EPANET's `avgqual`).
    pub fn link_quality(&self) -> Vec<f64> {
        (0..self.m.links.len())
            .map(|k| {
                let (v, w) = self.segments[k]
                    .iter()
                    .fold((0.0, 0.0), |(v, w), s| (v + s.v, w + s.c * s.v));
                let l = &self.m.links[k];
                let c = if v > 0.0 {
                    w / v
                } else {
                    (self.node[l.from] + self.node[l.to]) / 2.0
                };
                c * self.scale()
            })
            .collect()
    }

    /// Internal to file units (EPANET's `Ucf[QUALITY]`).
    fn scale(&self) -> f64 {
        quality_units(&self.q.kind)
    }

    /// At the start of a hydraulic period: wall rate coefficients, and the flow order of the
    /// nodes when a flow direction changed (EPANET's `runqual`).
    pub fn begin_period(&mut self, flows: &PeriodFlows) {
        if self.reactive && self.q.kind != QualityKind::Age {
            for k in 0..self.m.links.len() {
                self.wall_rate[k] = if self.q.wall[k] != 0.0 {
                    self.pipe_wall_rate(k, flows.flow[k])
                } else {
                    0.0
                };
            }
        }
        let mut changed = false;
        for (k, &q) in flows.flow.iter().enumerate() {
            let new = if q.abs() < Q_STAGNANT {
                0
            } else {
                sgn(q) as i8
            };
            let old = self.direction[k];
            if new * old < 0 {
                self.segments[k].make_contiguous().reverse();
            }
            changed |= new != old;
            self.direction[k] = new;
        }
        if changed {
            self.sort_nodes();
        }
    }

    /// EPANET's `piperate`: the wall coefficient limited by mass transfer to the wall (1/s;
    /// for a zero-order wall reaction, the mass-transfer coefficient in ft/s).
    fn pipe_wall_rate(&self, k: usize, flow: f64) -> f64 {
        let l = &self.m.links[k];
        let d = l.diameter;
        let kw_file = self.q.wall[k];
        if self.schmidt == 0.0 {
            return if self.q.wall_order == 0.0 {
                BIG
            } else {
                kw_file * (4.0 / d) * self.ft_per_file_length
            };
        }
        let length = match l.kind {
            LinkKind::Pipe { length, .. } => length,
            _ => 1.0,
        };
        let u = flow.abs() / (std::f64::consts::PI * d * d / 4.0);
        let re = u * d / self.m.options.viscosity;
        let sh = if re < 1.0 {
            2.0
        } else if re >= 2300.0 {
            0.0149 * re.powf(0.88) * self.schmidt.powf(0.333)
        } else {
            let y = d / length * re * self.schmidt;
            3.65 + 0.0668 * y / (1.0 + 0.04 * y.powf(0.667))
        };
        let kf = sh * self.q.diffusivity / d;
        if self.q.wall_order == 0.0 {
            return kf;
        }
        let kw = kw_file * self.ft_per_file_length;
        (4.0 / d) * kw * kf / (kf + kw.abs())
    }

    /// EPANET's `sortnodes`: nodes in flow order (upstream first), cycles broken where EPANET
    /// breaks them.
    fn sort_nodes(&mut self) {
        let n = self.m.node_ids.len();
        let mut indegree = vec![0usize; n];
        for (k, l) in self.m.links.iter().enumerate() {
            match self.direction[k] {
                d if d > 0 => indegree[l.to] += 1,
                d if d < 0 => indegree[l.from] += 1,
                _ => {}
            }
        }
        let mut stack: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
        let mut sorted = Vec::with_capacity(n);
        while sorted.len() < n {
            if stack.is_empty() {
                // A cycle: continue from a node next to the latest sorted ones.
                let pick = sorted
                    .iter()
                    .rev()
                    .find_map(|&m: &usize| {
                        self.adjacency[m]
                            .iter()
                            .map(|&(_, o)| o)
                            .find(|&o| indegree[o] > 0)
                    })
                    .or_else(|| (0..n).find(|&i| indegree[i] > 0));
                let Some(j) = pick else { break };
                indegree[j] = 0;
                stack.push(j);
            }
            let Some(i) = stack.pop() else { break };
            sorted.push(i);
            for &(k, _) in &self.adjacency[i] {
                let l = &self.m.links[k];
                let down = match self.direction[k] {
                    0 => continue,
                    d if d < 0 => l.from,
                    _ => l.to,
                };
                if down != i && indegree[down] > 0 {
                    indegree[down] -= 1;
                    if indegree[down] == 0 {
                        stack.push(down);
                    }
                }
            }
        }
        self.sorted = sorted;
    }

    /// Advance the quality over `step` seconds of a hydraulic period starting at `t`, in quality
    /// steps (EPANET's `nextqual`).
    pub fn advance(&mut self, flows: &PeriodFlows, t: u64, step: u64) {
        let mut done = 0;
        while done < step {
            let dt = self.q.step_s.min(step - done);
            done += dt;
            self.transport(flows, t, dt);
        }
    }

    /// One quality step (EPANET's `transport`).
    fn transport(&mut self, flows: &PeriodFlows, t: u64, dt: u64) {
        let m = self.m;
        let dtf = dt as f64;
        if self.reactive {
            self.react_pipes(dtf);
            self.react_tanks(dtf);
        }
        for idx in 0..self.sorted.len() {
            let n = self.sorted[idx];
            let (mut volin, mut massin, mut volout) = (0.0, 0.0, 0.0);
            for a in 0..self.adjacency[n].len() {
                let (k, _) = self.adjacency[n][a];
                let l = &m.links[k];
                let down = if self.direction[k] < 0 { l.from } else { l.to };
                if down == n {
                    self.take_inflow(k, flows.flow[k].abs() * dtf, &mut volin, &mut massin);
                } else {
                    volout += flows.flow[k].abs();
                }
            }
            if m.kind[n] == NodeKind::Junction {
                volout += flows.demand[n].max(0.0);
            }
            volout *= dtf;
            let c = self.node_quality_at(n, flows, volin, massin, volout, t, dtf);
            for a in 0..self.adjacency[n].len() {
                let (k, _) = self.adjacency[n][a];
                let l = &m.links[k];
                let up = if self.direction[k] < 0 { l.to } else { l.from };
                if up == n {
                    self.release_outflow(k, c, flows.flow[k].abs() * dtf);
                }
            }
        }
    }

    /// Take `v` ft³ from the downstream end of link `k` (EPANET's `evalnodeinflow`).
    fn take_inflow(&mut self, k: usize, mut v: f64, volin: &mut f64, massin: &mut f64) {
        while v > 0.0 {
            let Some(seg) = self.segments[k].front_mut() else {
                break;
            };
            let vseg = seg.v.min(v);
            *volin += vseg;
            *massin += vseg * seg.c;
            v -= vseg;
            if v >= 0.0 && vseg >= seg.v {
                self.segments[k].pop_front();
            } else {
                seg.v -= vseg;
            }
        }
    }

    /// Add `v` ft³ of quality `c` at the upstream end of link `k` (EPANET's
    /// `evalnodeoutflow`): merged into the last segment within the tolerance.
    fn release_outflow(&mut self, k: usize, c: f64, v: f64) {
        if v == 0.0 {
            return;
        }
        match self.segments[k].back_mut() {
            Some(seg) if (seg.c - c).abs() < self.q.tolerance => {
                seg.c = (seg.c * seg.v + c * v) / (seg.v + v);
                seg.v += v;
            }
            _ => self.segments[k].push_back(Segment { v, c }),
        }
    }

    /// The quality leaving node `n` (EPANET's `findnodequal`).
    #[allow(clippy::too_many_arguments)]
    fn node_quality_at(
        &mut self,
        n: usize,
        flows: &PeriodFlows,
        mut volin: f64,
        massin: f64,
        volout: f64,
        t: u64,
        dt: f64,
    ) -> f64 {
        let m = self.m;
        match m.kind[n] {
            NodeKind::Junction => {
                volin -= flows.demand[n].min(0.0) * dt;
                if volin > 0.0 {
                    self.node[n] = massin / volin;
                } else if self.reactive {
                    self.node[n] = self.no_flow_quality(n);
                }
            }
            NodeKind::Tank => {
                if let Some(tk) = m.tanks.iter().position(|tk| tk.node == n) {
                    self.node[n] = self.mix_tank(tk, volin, massin, volout);
                }
            }
            NodeKind::Reservoir => {}
        }
        self.source_quality = 0.0;
        if let QualityKind::Trace { node: trace } = self.q.kind {
            if n == trace {
                self.source_quality = if m.kind[n] == NodeKind::Reservoir {
                    100.0
                } else {
                    (100.0 - self.node[n]).max(0.0)
                };
                self.node[n] = 100.0;
            }
            return self.node[n];
        }
        self.source_quality = self.source_addition(n, flows, volout, t, dt);
        if self.source_quality == 0.0 {
            return self.node[n];
        }
        match m.kind[n] {
            NodeKind::Junction => {
                self.node[n] += self.source_quality;
                self.node[n]
            }
            NodeKind::Tank => self.node[n] + self.source_quality,
            NodeKind::Reservoir => {
                self.node[n] = self.source_quality;
                self.source_quality
            }
        }
    }

    /// A node with no inflow takes the mean quality of the water next to it in its links
    /// (EPANET's `noflowqual`).
    fn no_flow_quality(&self, n: usize) -> f64 {
        let (mut c, mut count) = (0.0, 0);
        for &(k, _) in &self.adjacency[n] {
            let l = &self.m.links[k];
            let dir = self.direction[k];
            let inflow = (l.to == n && dir >= 0) || (l.from == n && dir < 0);
            let seg = if inflow {
                self.segments[k].front()
            } else {
                self.segments[k].back()
            };
            if let Some(s) = seg {
                c += s.c;
                count += 1;
            }
        }
        if count > 0 { c / count as f64 } else { c }
    }

    /// The quality a source adds to the water leaving node `n` (EPANET's `findsourcequal`).
    fn source_addition(&self, n: usize, flows: &PeriodFlows, volout: f64, t: u64, dt: f64) -> f64 {
        let m = self.m;
        if !matches!(self.q.kind, QualityKind::Chemical { .. }) {
            return 0.0;
        }
        let Some(source) = &self.q.sources[n] else {
            return 0.0;
        };
        if source.strength == 0.0 || volout / dt <= Q_STAGNANT {
            return 0.0;
        }
        let mut c = if source.kind == SourceKind::Mass {
            source.strength / 60.0
        } else {
            source.strength / self.scale()
        };
        c *= m.pattern_factor(source.pattern, t);
        match source.kind {
            SourceKind::Concentration => {
                if m.kind[n] == NodeKind::Junction {
                    c = if flows.demand[n] < 0.0 {
                        -c * flows.demand[n] * dt / volout
                    } else {
                        0.0
                    };
                }
            }
            SourceKind::Mass => c = c * dt / volout,
            SourceKind::Setpoint => c = (c - self.node[n]).max(0.0),
            SourceKind::FlowPaced => {}
        }
        c
    }

    fn react_pipes(&mut self, dt: f64) {
        for k in 0..self.m.links.len() {
            let LinkKind::Pipe {
                check_valve: false, ..
            } = self.m.links[k].kind
            else {
                continue;
            };
            for i in 0..self.segments[k].len() {
                let c = self.segments[k][i].c;
                self.segments[k][i].c = self.pipe_react(k, c, dt);
            }
        }
    }

    fn react_tanks(&mut self, dt: f64) {
        for t in 0..self.m.tanks.len() {
            let k = self.m.links.len() + t;
            for i in 0..self.segments[k].len() {
                let c = self.segments[k][i].c;
                let dc = if self.q.kind == QualityKind::Age {
                    dt / 3600.0
                } else {
                    self.bulk_rate(c, self.q.tank_bulk[t], self.q.tank_order) * self.tank_units * dt
                };
                self.segments[k][i].c = (c + dc).max(0.0);
            }
        }
    }

    /// EPANET's `pipereact`.
    fn pipe_react(&self, k: usize, c: f64, dt: f64) -> f64 {
        if self.q.kind == QualityKind::Age {
            return (c + dt / 3600.0).max(0.0);
        }
        let rbulk = self.bulk_rate(c, self.q.bulk[k], self.q.bulk_order) * self.bulk_units;
        let rwall = self.wall_react_rate(
            c,
            self.m.links[k].diameter,
            self.q.wall[k],
            self.wall_rate[k],
        );
        (c + (rbulk + rwall) * dt).max(0.0)
    }

    /// EPANET's `bulkrate`: n-th order with a limiting potential; Michaelis–Menten for n < 0.
    fn bulk_rate(&self, mut c: f64, kb: f64, order: f64) -> f64 {
        let limit = self.q.limit;
        if order == 0.0 {
            c = 1.0;
        } else if order < 0.0 {
            let mut c1 = limit + sgn(kb) * c;
            if c1.abs() < TINY {
                c1 = sgn(c1) * TINY;
            }
            c /= c1;
        } else {
            let c1 = if limit == 0.0 {
                c
            } else {
                (sgn(kb) * (limit - c)).max(0.0)
            };
            c = if order == 1.0 {
                c1
            } else if order == 2.0 {
                c1 * c
            } else {
                c1 * c.max(0.0).powf(order - 1.0)
            };
        }
        if c < 0.0 {
            c = 0.0;
        }
        kb * c
    }

    /// EPANET's `wallrate`: first order (c·kf) or zero order limited by mass transfer.
    fn wall_react_rate(&self, c: f64, d: f64, kw: f64, kf: f64) -> f64 {
        if kw == 0.0 || d == 0.0 {
            return 0.0;
        }
        if self.q.wall_order == 0.0 {
            let kf = sgn(kw) * c * kf;
            let mut kw = kw / (self.ft_per_file_length * self.ft_per_file_length);
            if kf.abs() < kw.abs() {
                kw = kf;
            }
            kw * 4.0 / d
        } else {
            c * kf
        }
    }

    /// Mix the inflow into tank `t` (EPANET's `mixtank`); returns the tank's outflow quality.
    fn mix_tank(&mut self, t: usize, vin: f64, win: f64, vout: f64) -> f64 {
        let vnet = vin - vout;
        let k = self.m.links.len() + t;
        match self.q.mixing[t] {
            Mixing::Mixed => {
                if let Some(seg) = self.segments[k].front_mut() {
                    let vnew = seg.v + vin;
                    if vnew > 0.0 {
                        seg.c = (seg.c * seg.v + win) / vnew;
                    }
                    seg.v = (seg.v + vnet).max(0.0);
                    self.tank[t] = seg.c;
                }
            }
            Mixing::TwoCompartment(f) => {
                self.mix_two_compartments(t, k, f * self.m.tanks[t].v_max, vin, win, vnet)
            }
            Mixing::Fifo => self.mix_fifo(t, k, vin, win, vnet),
            Mixing::Lifo => self.mix_lifo(t, k, vin, win, vnet),
        }
        self.tank[t]
    }

    /// EPANET's `tankmix2`: a mixing zone of volume `vmz` at the back, a stagnant zone in front.
    fn mix_two_compartments(
        &mut self,
        t: usize,
        k: usize,
        vmz: f64,
        vin: f64,
        win: f64,
        vnet: f64,
    ) {
        if self.segments[k].len() < 2 {
            return;
        }
        let last = self.segments[k].len() - 1;
        let (mut mix, mut stag) = (self.segments[k][last], self.segments[k][0]);
        let mut vt = 0.0;
        if vnet > 0.0 {
            vt = (mix.v + vnet - vmz).max(0.0);
            if vin > 0.0 {
                mix.c = (mix.c * mix.v + win) / (mix.v + vin);
            }
            if vt > 0.0 {
                stag.c = (stag.c * stag.v + mix.c * vt) / (stag.v + vt);
            }
        } else if vnet < 0.0 {
            if stag.v > 0.0 {
                vt = stag.v.min(-vnet);
            }
            if vin + vt > 0.0 {
                mix.c = (mix.c * mix.v + win + stag.c * vt) / (mix.v + vin + vt);
            }
        }
        if vt > 0.0 {
            mix.v = vmz;
            if vnet > 0.0 {
                stag.v += vt;
            } else {
                stag.v = (stag.v - vt).max(0.0);
            }
        } else {
            mix.v = (mix.v + vnet).min(vmz).max(0.0);
            stag.v = 0.0;
        }
        self.segments[k][last] = mix;
        self.segments[k][0] = stag;
        self.tank[t] = mix.c;
    }

    /// Take `v` ft³ out of tank segments `k` from the oldest end (`oldest`) or the newest, as
    /// EPANET's `tankmix3` and `tankmix4` do: the last segment gives whatever is still asked
    /// and is never removed. Returns (volume, mass) taken.
    fn withdraw(&mut self, k: usize, mut v: f64, oldest: bool) -> (f64, f64) {
        let (mut vsum, mut wsum) = (0.0, 0.0);
        while v > 0.0 {
            let only = self.segments[k].len() == 1;
            let seg = if oldest {
                self.segments[k].front_mut()
            } else {
                self.segments[k].back_mut()
            };
            let Some(seg) = seg else { break };
            let vseg = if only { v } else { seg.v.min(v) };
            vsum += vseg;
            wsum += seg.c * vseg;
            v -= vseg;
            if v >= 0.0 && vseg >= seg.v {
                if !only {
                    if oldest {
                        self.segments[k].pop_front();
                    } else {
                        self.segments[k].pop_back();
                    }
                }
            } else {
                seg.v -= vseg;
            }
        }
        (vsum, wsum)
    }

    /// EPANET's `tankmix3`: first in, first out.
    fn mix_fifo(&mut self, t: usize, k: usize, vin: f64, win: f64, vnet: f64) {
        if self.segments[k].is_empty() {
            return;
        }
        if vin > 0.0 {
            let cin = win / vin;
            let tol = self.q.tolerance;
            match self.segments[k].back_mut() {
                Some(seg) if (seg.c - cin).abs() < tol => seg.v += vin,
                _ => self.segments[k].push_back(Segment { v: vin, c: cin }),
            }
        }
        let (vsum, wsum) = self.withdraw(k, vin - vnet, true);
        self.tank[t] = if vsum > 0.0 {
            wsum / vsum
        } else {
            self.segments[k].front().map_or(0.0, |s| s.c)
        };
    }

    /// EPANET's `tankmix4`: last in, first out.
    fn mix_lifo(&mut self, t: usize, k: usize, vin: f64, win: f64, vnet: f64) {
        if self.segments[k].is_empty() {
            return;
        }
        let cin = if vin > 0.0 { win / vin } else { 0.0 };
        self.tank[t] = self.segments[k].back().map_or(0.0, |s| s.c);
        if vnet > 0.0 {
            let tol = self.q.tolerance;
            match self.segments[k].back_mut() {
                Some(seg) if (seg.c - cin).abs() < tol => seg.v += vnet,
                _ => self.segments[k].push_back(Segment { v: vnet, c: cin }),
            }
            self.tank[t] = self.segments[k].back().map_or(0.0, |s| s.c);
        } else if vnet < 0.0 {
            // Water leaves from the newest end.
            let (vsum, wsum) = self.withdraw(k, -vnet, false);
            self.tank[t] = (wsum + win) / (vsum + vin);
        }
    }
}
