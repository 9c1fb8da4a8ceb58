//! Extended-period hydraulics as EPANET 2.2 runs them (`hydraul.c`): at each time, demands
//! and simple controls are applied and the period is solved ([`newton`]); the next time is the
//! hydraulic step shortened to the next pattern period, report time, tank filling or
//! emptying, or control action; tanks then fill and drain with their net inflow.
//!
//! - [`coefficients`]: head-loss coefficients of pipes, pumps, valves, emitters, demands.
//! - [`status`]: status changes of check valves, pumps, valves and tank links in the trials.
//! - [`newton`]: the Global Gradient Algorithm's trials of one period.
//! - [`energy`]: pump energy and cost over the run.
//! - [`rules`]: `[RULES]` evaluated at the rule time step within each hydraulic step.
//! - [`quality`]: water age, traces and chemicals carried and reacting along the flows.

mod coefficients;
mod energy;
mod newton;
mod quality;
mod rules;
mod status;

use super::model::{
    ControlCondition, HydModel, LinkKind, LinkStatus, M_PER_FT, M3S_PER_CFS, ModelError, NodeKind,
    PumpCurve, Unbalanced,
};
use super::sparse_ldl::SparseLdl;
use crate::formats::epanet::EpanetNetwork;
pub use energy::{EnergyReport, PumpEnergy};
use newton::System;

/// A flow equivalent to zero (cfs, EPANET's `QZERO`).
const Q_ZERO: f64 = 1e-6;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HydraulicError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(
        "at {time_s} s the system is singular: part of the network has no source (check closed links near {node}; EPANET error 110)"
    )]
    Singular { time_s: u64, node: String },
    #[error(
        "at {time_s} s the hydraulics did not converge in {trials} trials (relative flow change {relative_error:.2e}; EPANET stops here: UNBALANCED STOP)"
    )]
    NotConverged {
        time_s: u64,
        trials: usize,
        relative_error: f64,
    },
}

/// The hydraulic state at one reporting time, in SI units, in the network's node and link order
/// (junctions, reservoirs, tanks; pipes, pumps, valves).
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub time_s: u64,
    pub head_m: Vec<f64>,
    /// Pressure (m of water; × specific gravity as EPANET reports it).
    pub pressure_m: Vec<f64>,
    /// Demand at junctions (delivered demand plus emitter outflow); for reservoirs and tanks,
    /// the net inflow (negative = supplying).
    pub demand_m3s: Vec<f64>,
    /// Link flows; 0 for a closed link, as EPANET reports them.
    pub flow_m3s: Vec<f64>,
    pub trials: usize,
    /// False when the period did not converge and the run went on (`UNBALANCED CONTINUE`).
    pub converged: bool,
    /// Water quality per node and per link in the file's units (mg/L or the chemical's units,
    /// hours of age, percent of the traced node's water); empty when none is simulated.
    pub quality: Vec<f64>,
    pub link_quality: Vec<f64>,
    /// Junctions that no reservoir or tank reaches through open links at this time (EPANET's
    /// "Node … disconnected"): reported at zero pressure (head = elevation), and named by
    /// callers.
    pub disconnected: Vec<usize>,
}

/// The solver's state, EPANET's `Hydraul`: heads and flows, link statuses and settings,
/// demands and tank volumes, in internal units.
pub(super) struct Hydraulics<'m> {
    m: &'m HydModel,
    head: Vec<f64>,
    flow: Vec<f64>,
    status: Vec<LinkStatus>,
    setting: Vec<Option<f64>>,
    /// Junctions: the full demand during the trials, the actual outflow after; reservoirs and
    /// tanks: the net inflow.
    node_demand: Vec<f64>,
    /// Junctions: the delivered demand during the trials (pressure-driven), the full demand
    /// after.
    demand_flow: Vec<f64>,
    emitter_flow: Vec<f64>,
    /// Per node: inflow minus outflow of the current trial.
    xflow: Vec<f64>,
    p: Vec<f64>,
    y: Vec<f64>,
    /// Per tank: its volume (ft³).
    tank_volume: Vec<f64>,
    /// Damping of flow changes (0.6 below DAMPLIMIT).
    relax: f64,
    /// Sum of the positive junction demands of the period (cfs; EPANET's `Dsystem`).
    system_demand: f64,
    /// Nodes held at their own head in this period's equations: junctions cut off from every
    /// source, once EPANET's elimination found no positive pivot for them (see
    /// `Hydraulics::solve_period`). Empty unless that happened.
    grounded: Vec<usize>,
}

impl<'m> Hydraulics<'m> {
    /// EPANET's `inithyd`: tanks at their initial level, emitters at 1 cfs, links at their
    /// initial status, open links at 1 ft/s (pumps at their design flow).
    fn new(m: &'m HydModel) -> Hydraulics<'m> {
        let n = m.node_ids.len();
        let mut head = m.fixed_head.clone();
        for (i, h) in head.iter_mut().enumerate() {
            if m.kind[i] == NodeKind::Junction {
                *h = m.elevation[i];
            }
        }
        let mut s = Hydraulics {
            m,
            head,
            flow: vec![0.0; m.links.len()],
            status: m.links.iter().map(|l| l.status).collect(),
            setting: m.links.iter().map(|l| l.setting).collect(),
            node_demand: vec![0.0; n],
            demand_flow: vec![0.0; n],
            emitter_flow: m
                .emitter
                .iter()
                .map(|&k| if k > 0.0 { 1.0 } else { 0.0 })
                .collect(),
            xflow: vec![0.0; n],
            p: vec![0.0; m.links.len()],
            y: vec![0.0; m.links.len()],
            tank_volume: m.tanks.iter().map(|t| t.v_init).collect(),
            relax: 1.0,
            system_demand: 0.0,
            grounded: Vec::new(),
        };
        for (k, link) in m.links.iter().enumerate() {
            // Control valves with a setting start active.
            if let LinkKind::Valve { valve, .. } = &link.kind
                && matches!(
                    valve,
                    super::model::ValveType::Prv
                        | super::model::ValveType::Psv
                        | super::model::ValveType::Fcv
                )
                && s.setting[k].is_some()
            {
                s.status[k] = LinkStatus::Active;
            }
            s.flow[k] = if s.status[k].is_closed() {
                Q_ZERO
            } else {
                match &link.kind {
                    LinkKind::Pump { q0, .. } => s.setting[k].unwrap_or(1.0) * q0,
                    _ => std::f64::consts::PI * link.diameter * link.diameter / 4.0,
                }
            };
        }
        s
    }

    /// A constant-power pump restarts from its design flow (EPANET's `resetpumpflow`).
    fn reset_pump_flow(&mut self, k: usize) {
        if let LinkKind::Pump {
            curve: PumpCurve::ConstantPower { .. },
            q0,
            ..
        } = self.m.links[k].kind
        {
            self.flow[k] = q0;
        }
    }

    /// Demands, reservoir heads and pump speeds of the pattern period holding `t` (EPANET's
    /// `demands`).
    fn apply_patterns(&mut self, t: u64) {
        let m = self.m;
        self.system_demand = 0.0;
        for i in 0..m.node_ids.len() {
            match m.kind[i] {
                NodeKind::Junction => {
                    let d = m.demand_at(i, t);
                    self.node_demand[i] = d;
                    self.demand_flow[i] = d;
                    if d > 0.0 {
                        self.system_demand += d;
                    }
                }
                NodeKind::Reservoir if m.head_pattern[i].is_some() => {
                    self.head[i] = m.fixed_head[i] * m.pattern_factor(m.head_pattern[i], t);
                }
                _ => {}
            }
        }
        for (k, link) in m.links.iter().enumerate() {
            if let LinkKind::Pump {
                speed_pattern: Some(p),
                ..
            } = link.kind
            {
                self.set_link_setting(k, m.pattern_factor(Some(p), t));
            }
        }
    }

    /// Open or close link `k` (EPANET's `setlinkstatus`): an opened pump runs at speed 1 and a
    /// closed one at 0; a valve's setting is released.
    fn set_link_status(&mut self, k: usize, open: bool) {
        let link = &self.m.links[k];
        let gpv = matches!(link.valve(), Some(super::model::ValveType::Gpv { .. }));
        if link.is_pump() {
            self.setting[k] = Some(if open { 1.0 } else { 0.0 });
            if open && self.status[k] == LinkStatus::Closed {
                self.reset_pump_flow(k);
            }
        } else if link.valve().is_some() && !gpv {
            self.setting[k] = None;
        }
        self.status[k] = if open {
            LinkStatus::Open
        } else {
            LinkStatus::Closed
        };
    }

    /// Give link `k` a new speed or setting (EPANET's `setlinksetting`): a pump at speed 0 is
    /// closed and opens above it; an FCV becomes active; a valve fixed closed opens.
    fn set_link_setting(&mut self, k: usize, value: f64) {
        let link = &self.m.links[k];
        if link.is_pump() {
            self.setting[k] = Some(value);
            if value > 0.0 && self.status[k].is_closed() {
                self.reset_pump_flow(k);
                self.status[k] = LinkStatus::Open;
            }
            if value == 0.0 && !self.status[k].is_closed() {
                self.status[k] = LinkStatus::Closed;
            }
        } else if matches!(link.valve(), Some(super::model::ValveType::Fcv)) {
            self.setting[k] = Some(value);
            self.status[k] = LinkStatus::Active;
        } else {
            if self.setting[k].is_none() && self.status[k].is_closed() {
                self.status[k] = LinkStatus::Open;
            }
            self.setting[k] = Some(value);
        }
    }

    /// Simple controls on time and tank levels at time `t` (EPANET's `controls`; a tank level
    /// counts as reached within one second of its inflow).
    fn apply_controls(&mut self, t: u64) {
        let m = self.m;
        for c in &m.controls {
            let fires = match c.condition {
                ControlCondition::LowLevel { node, grade }
                | ControlCondition::HighLevel { node, grade } => {
                    let Some(k) = self.tank_of(node) else {
                        continue;
                    };
                    let tank = &m.tanks[k];
                    let v_plus = self.node_demand[node].abs();
                    let v1 = tank.volume_at(self.head[node], m.elevation[node]);
                    let v2 = tank.volume_at(grade, m.elevation[node]);
                    match c.condition {
                        ControlCondition::LowLevel { .. } => v1 <= v2 + v_plus,
                        _ => v1 >= v2 - v_plus,
                    }
                }
                ControlCondition::Timer(at) => at == t,
                ControlCondition::TimeOfDay(at) => (t + m.start_clock_s) % 86_400 == at,
            };
            if !fires {
                continue;
            }
            let k = c.link;
            let was_closed = self.status[k].is_closed();
            let now_closed = c.status.is_closed();
            let setting = if m.links[k].is_pipe() {
                self.setting[k]
            } else {
                c.setting
            };
            if m.links[k].is_pump() && was_closed && !now_closed {
                self.reset_pump_flow(k);
            }
            if was_closed != now_closed || setting != self.setting[k] {
                self.status[k] = c.status;
                self.setting[k] = setting;
            }
        }
    }

    fn tank_of(&self, node: usize) -> Option<usize> {
        self.m.tanks.iter().position(|t| t.node == node)
    }

    /// The step from `t` to the next change (EPANET's `timestep`, `tanktimestep`,
    /// `controltimestep`), no longer than `limit`.
    fn next_step(&self, t: u64, limit: u64) -> u64 {
        let m = self.m;
        let mut step = m.hydraulic_step_s.min(limit);
        let mut shorten = |dt: i64| {
            if dt > 0 && (dt as u64) < step {
                step = dt as u64;
            }
        };
        let next_period = ((t + m.pattern_start_s) / m.pattern_step_s + 1) * m.pattern_step_s;
        shorten(next_period as i64 - t as i64);
        shorten(((t / m.report_step_s + 1) * m.report_step_s - t) as i64);
        for (k, tank) in m.tanks.iter().enumerate() {
            let (h, q) = (self.head[tank.node], self.node_demand[tank.node]);
            if q.abs() <= Q_ZERO {
                continue;
            }
            let v = if q > 0.0 && h < tank.h_max {
                tank.v_max - self.tank_volume[k]
            } else if q < 0.0 && h > tank.h_min {
                tank.v_min - self.tank_volume[k]
            } else {
                continue;
            };
            shorten(round(v / q));
        }
        for c in &m.controls {
            let dt = match c.condition {
                ControlCondition::LowLevel { node, grade }
                | ControlCondition::HighLevel { node, grade } => {
                    let Some(k) = self.tank_of(node) else {
                        continue;
                    };
                    let (h, q) = (self.head[node], self.node_demand[node]);
                    if q.abs() <= Q_ZERO {
                        continue;
                    }
                    let high = matches!(c.condition, ControlCondition::HighLevel { .. });
                    if (h < grade && high && q > 0.0) || (h > grade && !high && q < 0.0) {
                        let v =
                            m.tanks[k].volume_at(grade, m.elevation[node]) - self.tank_volume[k];
                        round(v / q)
                    } else {
                        0
                    }
                }
                ControlCondition::Timer(at) => at as i64 - t as i64,
                ControlCondition::TimeOfDay(at) => {
                    let now = (t + m.start_clock_s) % 86_400;
                    if at >= now {
                        (at - now) as i64
                    } else {
                        (86_400 - now + at) as i64
                    }
                }
            };
            let k = c.link;
            let changes = (!m.links[k].is_pipe() && self.setting[k] != c.setting)
                || self.status[k] != c.status;
            if changes {
                shorten(dt);
            }
        }
        step
    }

    /// Fill and drain the tanks over `step` seconds (EPANET's `tanklevels`: a tank within one
    /// second of full is full).
    fn update_tanks(&mut self, step: u64) {
        let m = self.m;
        for (k, tank) in m.tanks.iter().enumerate() {
            let q = self.node_demand[tank.node];
            let mut v = self.tank_volume[k] + q * step as f64;
            if v + q >= tank.v_max {
                v = tank.v_max;
            } else if v - q <= tank.v_min {
                v = tank.v_min;
            }
            self.tank_volume[k] = v;
            self.head[tank.node] = tank.head_at(v, m.elevation[tank.node]);
        }
    }

    /// Junctions that no reservoir or tank reaches through links open at this moment.
    pub(super) fn disconnected_junctions(&self) -> Vec<usize> {
        let m = self.m;
        let n = m.node_ids.len();
        let mut adjacency: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (k, l) in m.links.iter().enumerate() {
            if !self.status[k].is_closed() {
                adjacency[l.from].push(l.to);
                adjacency[l.to].push(l.from);
            }
        }
        let mut reached: Vec<bool> = m.kind.iter().map(|k| *k != NodeKind::Junction).collect();
        let mut stack: Vec<usize> = (0..n).filter(|&i| reached[i]).collect();
        while let Some(u) = stack.pop() {
            for &v in &adjacency[u] {
                if !reached[v] {
                    reached[v] = true;
                    stack.push(v);
                }
            }
        }
        (0..n).filter(|&i| !reached[i]).collect()
    }

    fn snapshot(&self, t: u64, trials: usize, converged: bool) -> Snapshot {
        let m = self.m;
        let n = m.node_ids.len();
        let gravity = m.options.specific_gravity;
        let disconnected = self.disconnected_junctions();
        let mut snap = Snapshot {
            time_s: t,
            head_m: self.head.iter().map(|h| h * M_PER_FT).collect(),
            pressure_m: (0..n)
                .map(|i| match m.kind[i] {
                    NodeKind::Reservoir => 0.0,
                    _ => (self.head[i] - m.elevation[i]) * M_PER_FT * gravity,
                })
                .collect(),
            demand_m3s: self.node_demand.iter().map(|q| q * M3S_PER_CFS).collect(),
            flow_m3s: (0..m.links.len())
                .map(|k| {
                    if self.status[k].is_closed() {
                        0.0
                    } else {
                        self.flow[k] * M3S_PER_CFS
                    }
                })
                .collect(),
            trials,
            converged,
            quality: Vec::new(),
            link_quality: Vec::new(),
            disconnected: Vec::new(),
        };
        // A cut-off junction has no head of its own: reported at zero pressure (its elevation),
        // never the solver's placeholder.
        for &i in &disconnected {
            snap.head_m[i] = m.elevation[i] * M_PER_FT;
            snap.pressure_m[i] = 0.0;
        }
        snap.disconnected = disconnected;
        snap
    }
}

/// EPANET's `ROUND` to whole seconds.
fn round(x: f64) -> i64 {
    if x >= 0.0 {
        (x + 0.5) as i64
    } else {
        (x - 0.5) as i64
    }
}

/// Run the network from t = 0 to `duration_s` (the file's DURATION when `None`), reporting at
/// every report step. With a duration of 0, one steady state at t = 0.
pub fn simulate(
    net: &EpanetNetwork,
    duration_s: Option<u64>,
) -> Result<Vec<Snapshot>, HydraulicError> {
    simulate_model(&HydModel::from_epanet(net)?, duration_s)
}

/// [`simulate`] on a model whose state the caller has set (demands held, links closed:
/// [`HydModel::set_fixed_demand`], [`HydModel::close_link`]) rather than on the file.
pub fn simulate_model(
    m: &HydModel,
    duration_s: Option<u64>,
) -> Result<Vec<Snapshot>, HydraulicError> {
    run(m, duration_s).map(|r| r.snapshots)
}

/// A run's results: the state at every reporting time and the pumps' energy.
#[derive(Debug, Clone, PartialEq)]
pub struct HydraulicRun {
    pub snapshots: Vec<Snapshot>,
    pub energy: EnergyReport,
}

/// Run model `m` from t = 0 to `duration_s` (the file's DURATION when `None`) as EPANET 2.2's
/// `runhyd`/`nexthyd` loop: reporting at every report step, accounting pump energy over every
/// hydraulic step (one hour of the steady state when the duration is 0).
pub fn run(m: &HydModel, duration_s: Option<u64>) -> Result<HydraulicRun, HydraulicError> {
    let duration = duration_s.unwrap_or(m.duration_s);
    let mut row = vec![None; m.node_ids.len()];
    let mut node = Vec::new();
    for (i, k) in m.kind.iter().enumerate() {
        if *k == NodeKind::Junction {
            row[i] = Some(node.len());
            node.push(i);
        }
    }
    let edges: Vec<(usize, usize)> = m
        .links
        .iter()
        .filter_map(|l| Some((row[l.from]?, row[l.to]?)))
        .collect();
    let mut sys = System {
        ldl: SparseLdl::new(node.len(), &edges),
        rhs: vec![0.0; node.len()],
        row,
        node,
    };
    let mut s = Hydraulics::new(m);
    let mut out = Vec::new();
    let mut account = energy::EnergyAccount::default();
    // EPANET simulates no quality over a single period.
    let mut quality = match &m.quality {
        Some(q) if duration > 0 => Some(quality::QualityState::new(m, q)),
        _ => None,
    };
    let mut t = 0u64;
    loop {
        s.apply_patterns(t);
        s.apply_controls(t);
        let solution = s
            .solve_period(&mut sys)
            .map_err(|i| HydraulicError::Singular {
                time_s: t,
                node: m.node_ids[i].clone(),
            })?;
        let converged = solution.relative_error <= m.options.accuracy;
        if !converged && m.options.unbalanced == Unbalanced::Stop {
            return Err(HydraulicError::NotConverged {
                time_s: t,
                trials: solution.trials,
                relative_error: solution.relative_error,
            });
        }
        if t.is_multiple_of(m.report_step_s) {
            let mut snap = s.snapshot(t, solution.trials, converged);
            if let Some(qs) = &quality {
                snap.quality = qs.node_quality();
                snap.link_quality = qs.link_quality();
            }
            out.push(snap);
        }
        if t >= duration {
            if duration == 0 {
                s.add_energy(&mut account, t, 1.0);
            }
            break;
        }
        // Quality moves with this period's flows, as solved (before rules act at its end).
        let period = quality.as_mut().map(|qs| {
            let flows = quality::PeriodFlows {
                flow: (0..m.links.len())
                    .map(|k| {
                        if s.status[k].is_closed() {
                            0.0
                        } else {
                            s.flow[k]
                        }
                    })
                    .collect(),
                demand: s.node_demand.clone(),
            };
            qs.begin_period(&flows);
            flows
        });
        let mut step = s.next_step(t, duration - t);
        if m.rules.is_empty() {
            s.update_tanks(step);
        } else {
            step = s.step_rules(t, step);
        }
        s.add_energy(&mut account, t, step as f64 / 3600.0);
        if let (Some(qs), Some(flows)) = (quality.as_mut(), &period) {
            qs.advance(flows, t, step);
        }
        t += step;
    }
    Ok(HydraulicRun {
        snapshots: out,
        energy: account.report(m, duration),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn field(name: &str) -> EpanetNetwork {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../data/field")
            .join(name);
        EpanetNetwork::parse(&std::fs::read_to_string(path).expect("field file")).expect("parses")
    }

    fn at(net: &EpanetNetwork, snap: &Snapshot, node: &str) -> f64 {
        let i = net
            .node_ids()
            .iter()
            .position(|n| *n == node)
            .expect("node");
        snap.head_m[i]
    }

    fn flow_l_s(net: &EpanetNetwork, snap: &Snapshot, link: &str) -> f64 {
        let k = net
            .link_ids()
            .iter()
            .position(|l| *l == link)
            .expect("link");
        snap.flow_m3s[k] * 1000.0
    }

    /// data/field/epanet-status-open-valve-pump-speed.inp: `[STATUS] V1 OPEN` fixes the PRV
    /// open and `PU1 0.8` runs the pump at 80 % speed (EPANET 2.2: J2 99.200, J3 98.945,
    /// J4 36.633 m).
    #[test]
    fn status_lines_fix_a_valve_open_and_set_a_pump_speed_as_epanet() {
        let net = field("epanet-status-open-valve-pump-speed.inp");
        let s = simulate(&net, Some(0)).unwrap().remove(0);
        for (node, head) in [("J2", 99.200), ("J3", 98.945), ("J4", 36.633)] {
            assert!(
                (at(&net, &s, node) - head).abs() < 2e-3,
                "{node}: {}",
                at(&net, &s, node)
            );
        }
    }

    /// data/field/epanet-tank-runs-dry.inp: the tank empties at 1036 s; from then its outlet
    /// is closed and the reservoir supplies J1 (EPANET 2.2: J1 18.867 m, P2 0, P3 10 l/s).
    #[test]
    fn an_empty_tank_stops_supplying_as_epanet() {
        let net = field("epanet-tank-runs-dry.inp");
        let snaps = simulate(&net, Some(3 * 3600)).unwrap();
        let first = &snaps[0];
        assert!(
            (at(&net, first, "J1") - 29.998).abs() < 2e-3,
            "{}",
            at(&net, first, "J1")
        );
        assert!((flow_l_s(&net, first, "P2") - 18.954).abs() < 2e-3);
        for s in snaps.iter().filter(|s| s.time_s >= 3600) {
            assert!(
                (at(&net, s, "J1") - 18.867).abs() < 2e-3,
                "t {}: {}",
                s.time_s,
                at(&net, s, "J1")
            );
            assert!(flow_l_s(&net, s, "P2").abs() < 1e-6);
            assert!((flow_l_s(&net, s, "P3") - 10.0).abs() < 1e-3);
        }
    }

    /// data/field/epanet-closed-off-demand.inp and epanet-unconnected-node.inp: a junction
    /// behind a closed pipe is reported disconnected, one no link touches is refused (EPANET
    /// 2.2: a warning naming J3; error 233).
    #[test]
    fn cut_off_and_unconnected_junctions_are_named() {
        let net = field("epanet-closed-off-demand.inp");
        let s = simulate(&net, Some(0)).unwrap().remove(0);
        let j3 = net.node_ids().iter().position(|n| *n == "J3").unwrap();
        assert_eq!(s.disconnected, vec![j3]);
        assert_eq!(s.pressure_m[j3], 0.0);
        assert!((at(&net, &s, "J1") - 59.471).abs() < 2e-3);
        assert!((at(&net, &s, "J2") - 58.679).abs() < 2e-3);
        let err = simulate(&field("epanet-unconnected-node.inp"), Some(0)).unwrap_err();
        assert!(
            err.to_string().contains("node J9 is connected to no link"),
            "{err}"
        );
    }

    /// data/field/epanet-emitter-leak-cmh.inp: a leak as an emitter of 4 m³/h at 1 m (CMH):
    /// EPANET 2.2 gives 23.878 m³/h through P3, J2 46.490 m, J3 41.635 m.
    #[test]
    fn an_emitter_leaks_as_epanet() {
        let net = field("epanet-emitter-leak-cmh.inp");
        let s = simulate(&net, Some(0)).unwrap().remove(0);
        assert!(
            (flow_l_s(&net, &s, "P3") * 3.6 - 23.878).abs() < 0.01,
            "{}",
            flow_l_s(&net, &s, "P3") * 3.6
        );
        assert!((at(&net, &s, "J2") - 46.490).abs() < 0.01);
        assert!((at(&net, &s, "J3") - 41.635).abs() < 0.01);
    }

    /// data/field/epanet-pressure-driven-demand.inp: `DEMAND MODEL PDA` on a feeder too weak
    /// for its demands. EPANET 2.2 (through WNTR): J1 20.0441 m receiving 14.1733 l/s of 20,
    /// J2 15.5020 m receiving 1.5843 l/s of 10.
    #[test]
    fn pressure_driven_demand_as_epanet() {
        let net = field("epanet-pressure-driven-demand.inp");
        let s = simulate(&net, Some(0)).unwrap().remove(0);
        assert!(
            (at(&net, &s, "J1") - 20.0441).abs() < 1e-3,
            "{}",
            at(&net, &s, "J1")
        );
        assert!(
            (at(&net, &s, "J2") - 15.5020).abs() < 1e-3,
            "{}",
            at(&net, &s, "J2")
        );
        assert!(
            (s.demand_m3s[0] * 1000.0 - 14.1733).abs() < 1e-3,
            "{}",
            s.demand_m3s[0]
        );
        assert!(
            (s.demand_m3s[1] * 1000.0 - 1.5843).abs() < 1e-3,
            "{}",
            s.demand_m3s[1]
        );
        assert!((flow_l_s(&net, &s, "P1") - 15.7576).abs() < 1e-3);
    }

    /// data/field/epanet-darcy-transitional.inp: Darcy–Weisbach at Re ≈ 1,500, 3,000 and
    /// 20,000. EPANET 2.2 (through WNTR): JL 9.95927, JT 9.87054, JF 4.90524 m.
    #[test]
    fn darcy_weisbach_in_every_flow_regime_as_epanet() {
        let net = field("epanet-darcy-transitional.inp");
        let s = simulate(&net, Some(0)).unwrap().remove(0);
        for (node, head) in [("JL", 9.95927), ("JT", 9.87054), ("JF", 4.90524)] {
            assert!(
                (at(&net, &s, node) - head).abs() < 1e-4,
                "{node}: {}",
                at(&net, &s, node)
            );
        }
    }

    /// The model's operations give the answer of the same change written into the file.
    #[test]
    fn a_closed_link_and_a_held_demand_on_the_model_solve_as_the_edited_file() {
        let text = include_str!("../../../../data/water/Net1.inp");
        let net = EpanetNetwork::parse(text).unwrap();
        let mut model = HydModel::from_epanet(&net).unwrap();
        model.close_link(model.link_index("12").unwrap());
        let node = model.node_index("11").unwrap();
        // Junction 11's demand held at twice its file value (150 GPM; Net1 has no demand
        // pattern on junctions at t = 0 other than pattern 1's first factor, 1.0).
        let twice = 2.0 * model.base_demand_m3s(node) * model.pattern_factor(Some(0), 0);
        model.set_fixed_demand(node, twice);
        let edited = text
            .replacen(" 12              \t12              \t13              \t5280        \t10          \t100         \t0           \tOpen", " 12              \t12              \t13              \t5280        \t10          \t100         \t0           \tClosed", 1)
            .replacen(" 11              \t710         \t150 ", " 11              \t710         \t300 ", 1);
        assert_ne!(edited, text);
        let a = simulate_model(&model, Some(0)).unwrap().remove(0);
        let b = simulate(&EpanetNetwork::parse(&edited).unwrap(), Some(0))
            .unwrap()
            .remove(0);
        for (x, y) in a.head_m.iter().zip(&b.head_m) {
            assert!((x - y).abs() < 1e-6, "{x} {y}");
        }
        assert_eq!(a.flow_m3s[model.link_index("12").unwrap()], 0.0);
    }

    /// A w × h grid of junctions fed by one reservoir at a corner, as .inp text (LPS, H-W).
    fn grid_inp(
        w: usize,
        h: usize,
        demands: &[f64],
        diameters: &[f64],
        elevations: &[f64],
    ) -> String {
        let mut t = String::from("[JUNCTIONS]\n");
        for k in 0..w * h {
            t += &format!(
                "j{k} {} {}\n",
                elevations[k % elevations.len()],
                demands[k % demands.len()]
            );
        }
        t += "[RESERVOIRS]\nR 150\n[PIPES]\npR R j0 100 400 130\n";
        let mut n = 0;
        for y in 0..h {
            for x in 0..w {
                let k = y * w + x;
                for (dx, dy) in [(1, 0), (0, 1)] {
                    if x + dx < w && y + dy < h {
                        let d = diameters[n % diameters.len()];
                        t += &format!("p{n} j{k} j{} 150 {d} 120\n", (y + dy) * w + x + dx);
                        n += 1;
                    }
                }
            }
        }
        t + "[OPTIONS]\nUnits LPS\n[END]\n"
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn mass_balances_at_every_junction(
            demands in proptest::collection::vec(0.0f64..5.0, 1..12),
            diameters in proptest::collection::vec(80.0f64..300.0, 1..12),
            elevations in proptest::collection::vec(10.0f64..60.0, 1..12),
            w in 2usize..6,
            h in 2usize..6,
        ) {
            let net = EpanetNetwork::parse(&grid_inp(w, h, &demands, &diameters, &elevations)).unwrap();
            let s = simulate(&net, Some(0)).unwrap().remove(0);
            let n = net.junctions.len();
            let mut balance = vec![0.0; n + 1];
            let index = |id: &str| if id == "R" { n } else { id[1..].parse::<usize>().unwrap() };
            for (k, p) in net.pipes.iter().enumerate() {
                balance[index(&p.node1)] -= s.flow_m3s[k];
                balance[index(&p.node2)] += s.flow_m3s[k];
            }
            let total: f64 = s.demand_m3s[..n].iter().sum();
            for i in 0..n {
                prop_assert!((balance[i] - s.demand_m3s[i]).abs() < 1e-7 + 1e-6 * total, "junction {i}: in − out = {} ≠ demand {}", balance[i], s.demand_m3s[i]);
            }
            // The reservoir supplies exactly the total demand.
            prop_assert!((-balance[n] - total).abs() < 1e-6 + 1e-6 * total);
            // Heads fall along the flow in every pipe carrying a noticeable share of the demand
            // (no energy from nowhere; tiny loop flows are within the 0.001 convergence criterion).
            for (k, p) in net.pipes.iter().enumerate() {
                let (a, b) = (index(&p.node1), index(&p.node2));
                let head = |i: usize| if i == n { 150.0 } else { s.head_m[i] };
                if s.flow_m3s[k].abs() > 1e-2 * total {
                    prop_assert!((head(a) - head(b)) * s.flow_m3s[k] > 0.0);
                }
            }
        }
    }
}
