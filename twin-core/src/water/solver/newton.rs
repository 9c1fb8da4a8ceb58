//! One period's hydraulics: Todini's Global Gradient Algorithm as EPANET 2.2's `hydsolve`
//! runs it: assemble A·H = F from the links' coefficients (`matrixcoeffs`), solve for the
//! junction heads, update flows (`newflows`), check statuses on EPANET's schedule, stop at
//! `ACCURACY` (plus `HEADERROR`, `FLOWCHANGE` and the pressure-driven checks when set).

use super::Hydraulics;
use super::coefficients::{CBIG, demand_head_loss, open_valve};
use crate::water::model::{LinkKind, LinkStatus, NodeKind, PumpCurve, Unbalanced, ValveType};
use crate::water::sparse_ldl::SparseLdl;

/// EPANET's least pressure range of pressure-driven demand (`MINPDIFF`, ft).
const MIN_PRESSURE_DIFFERENCE: f64 = 0.1;

/// How a period's trials ended.
pub(super) struct PeriodSolution {
    pub trials: usize,
    /// Sum of flow changes over the sum of flows at the last trial.
    pub relative_error: f64,
}

/// The linear system of one trial: rows are junctions.
pub(super) struct System {
    pub ldl: SparseLdl,
    pub rhs: Vec<f64>,
    /// Per node: its row, None for reservoirs and tanks.
    pub row: Vec<Option<usize>>,
    /// Per row: its node.
    pub node: Vec<usize>,
}

impl Hydraulics<'_> {
    /// Solve the current period. `Err(node)`: the system is singular at `node` (no valve
    /// status left to relax), EPANET's error 110.
    pub(super) fn solve_period(&mut self, sys: &mut System) -> Result<PeriodSolution, usize> {
        let o = &self.m.options;
        let max_trials = o.max_trials
            + match o.unbalanced {
                Unbalanced::Stop => 0,
                Unbalanced::Continue(n) => n,
            };
        let mut next_check = o.check_freq;
        self.relax = 1.0;
        let mut trial = 1;
        let mut relative_error = f64::INFINITY;
        self.grounded.clear();
        while trial <= max_trials {
            self.head_loss_coefficients();
            self.assemble(sys);
            if let Err(row) = sys.ldl.solve(&mut sys.rhs) {
                // An active control valve making the system inconsistent is let go; then the
                // same trial is repeated (EPANET's `badvalve`).
                if self.release_bad_valve(sys.node[row]) {
                    continue;
                }
                // A zone cut off by closed links hangs on their 1e-8 conductances only: with
                // no demand in it, elimination in another order than EPANET's can round its
                // last pivot to zero. Its heads mean nothing (it is reported disconnected at
                // zero pressure), so its junctions are held at their own head and the trial
                // repeated; the connected network moves by 1e-8 of a head difference.
                let cut_off = self.disconnected_junctions();
                if self.grounded.is_empty() && cut_off.contains(&sys.node[row]) {
                    self.grounded = cut_off;
                    continue;
                }
                return Err(sys.node[row]);
            }
            for (r, &i) in sys.node.iter().enumerate() {
                self.head[i] = sys.rhs[r];
            }
            let (error, max_flow_change) = self.new_flows();
            relative_error = error;
            self.relax = 1.0;
            let mut valve_change = false;
            if o.damp_limit > 0.0 {
                if relative_error <= o.damp_limit {
                    self.relax = 0.6;
                    valve_change = self.valve_status();
                }
            } else {
                valve_change = self.valve_status();
            }
            if self.has_converged(relative_error, max_flow_change) {
                if trial > o.max_trials {
                    break;
                }
                let links = self.link_status();
                let switches = self.pressure_switches();
                if !(valve_change || links || switches) {
                    break;
                }
                next_check = trial + o.check_freq;
            } else if trial <= o.max_check && trial == next_check {
                self.link_status();
                next_check += o.check_freq;
            }
            trial += 1;
        }
        // Junctions: the actual outflow (delivered demand and emitter) in `node_demand`, the
        // full demand back in `demand_flow`.
        for i in 0..self.m.node_ids.len() {
            if self.m.kind[i] == NodeKind::Junction {
                let full = self.node_demand[i];
                self.node_demand[i] = self.demand_flow[i] + self.emitter_flow[i];
                self.demand_flow[i] = full;
            }
        }
        Ok(PeriodSolution {
            trials: trial.min(max_trials),
            relative_error,
        })
    }

    /// EPANET's `badvalve`: if the first PRV, PSV or FCV touching `node` is active, mark it
    /// unable to hold its setting and return true.
    fn release_bad_valve(&mut self, node: usize) -> bool {
        for (k, link) in self.m.links.iter().enumerate() {
            let LinkKind::Valve { valve, .. } = &link.kind else {
                continue;
            };
            if link.from != node && link.to != node {
                continue;
            }
            if matches!(valve, ValveType::Prv | ValveType::Psv | ValveType::Fcv)
                && self.status[k] == LinkStatus::Active
            {
                self.status[k] = if *valve == ValveType::Fcv {
                    LinkStatus::XFcv
                } else {
                    LinkStatus::XPressure
                };
                return true;
            }
            return false;
        }
        false
    }

    /// Fill A and F (EPANET's `linkcoeffs`, `emittercoeffs`, `demandcoeffs`, `nodecoeffs`,
    /// `valvecoeffs`, in that order).
    fn assemble(&mut self, sys: &mut System) {
        let m = self.m;
        sys.ldl.clear();
        sys.rhs.fill(0.0);
        self.xflow.fill(0.0);
        let row = &sys.row;
        for (k, link) in m.links.iter().enumerate() {
            let p = self.p[k];
            if p == 0.0 {
                continue;
            }
            let (n1, n2) = (link.from, link.to);
            self.xflow[n1] -= self.flow[k];
            self.xflow[n2] += self.flow[k];
            match (row[n1], row[n2]) {
                (Some(a), Some(b)) => {
                    sys.ldl.add(a, b, -p);
                    sys.ldl.add(a, a, p);
                    sys.ldl.add(b, b, p);
                    sys.rhs[a] += self.y[k];
                    sys.rhs[b] -= self.y[k];
                }
                (Some(a), None) => {
                    sys.ldl.add(a, a, p);
                    sys.rhs[a] += self.y[k] + p * self.head[n2];
                }
                (None, Some(b)) => {
                    sys.ldl.add(b, b, p);
                    sys.rhs[b] += p * self.head[n1] - self.y[k];
                }
                (None, None) => {}
            }
        }
        for &i in &self.grounded {
            if let Some(r) = row[i] {
                sys.ldl.add(r, r, 1.0);
                sys.rhs[r] += self.head[i];
            }
        }
        for i in 0..m.node_ids.len() {
            if m.emitter[i] == 0.0 {
                continue;
            }
            let Some(r) = row[i] else { continue };
            let (hloss, hgrad) = self.emitter_head_loss(i);
            sys.ldl.add(r, r, 1.0 / hgrad);
            sys.rhs[r] += (hloss + m.elevation[i]) / hgrad;
            self.xflow[i] -= self.emitter_flow[i];
        }
        if let Some(pda) = m.pda {
            let dp = pda.required_ft - pda.minimum_ft;
            for i in 0..m.node_ids.len() {
                let Some(r) = row[i] else { continue };
                if self.node_demand[i] <= 0.0 {
                    continue;
                }
                let (hloss, hgrad) =
                    demand_head_loss(&pda, dp, self.node_demand[i], self.demand_flow[i]);
                if hgrad > 0.0 {
                    sys.ldl.add(r, r, 1.0 / hgrad);
                    sys.rhs[r] += (hloss + m.elevation[i] + pda.minimum_ft) / hgrad;
                }
            }
        }
        for i in 0..m.node_ids.len() {
            if let Some(r) = row[i] {
                self.xflow[i] -= self.demand_flow[i];
                sys.rhs[r] += self.xflow[i];
            }
        }
        for (k, link) in m.links.iter().enumerate() {
            let (LinkKind::Valve { valve, km }, Some(setting)) = (&link.kind, self.setting[k])
            else {
                continue;
            };
            if !matches!(valve, ValveType::Prv | ValveType::Psv | ValveType::Fcv) {
                continue;
            }
            // Regulating valves join junctions only (EPANET error 219 otherwise).
            let (n1, n2) = (link.from, link.to);
            let (Some(i), Some(j)) = (row[n1], row[n2]) else {
                continue;
            };
            let active = self.status[k] == LinkStatus::Active;
            match valve {
                ValveType::Prv if active => {
                    // Hold the downstream head at its setting; the flow balances the
                    // downstream node.
                    let hset = m.elevation[n2] + setting;
                    self.p[k] = 0.0;
                    self.y[k] = self.flow[k] + self.xflow[n2];
                    sys.rhs[j] += hset * CBIG;
                    sys.ldl.add(j, j, CBIG);
                    if self.xflow[n2] < 0.0 {
                        sys.rhs[i] += self.xflow[n2];
                    }
                    continue;
                }
                ValveType::Psv if active => {
                    let hset = m.elevation[n1] + setting;
                    self.p[k] = 0.0;
                    self.y[k] = self.flow[k] - self.xflow[n1];
                    sys.rhs[i] += hset * CBIG;
                    sys.ldl.add(i, i, CBIG);
                    if self.xflow[n1] > 0.0 {
                        sys.rhs[j] += self.xflow[n1];
                    }
                    continue;
                }
                ValveType::Fcv if active => {
                    // The flow setting leaves the upstream node and enters the downstream one.
                    self.xflow[n1] -= setting;
                    self.xflow[n2] += setting;
                    self.y[k] = self.flow[k] - setting;
                    sys.rhs[i] -= setting;
                    sys.rhs[j] += setting;
                    self.p[k] = 1.0 / CBIG;
                }
                _ => {
                    let (p, y) = open_valve(self.flow[k], *km, self.status[k]);
                    self.p[k] = p;
                    self.y[k] = y;
                    sys.rhs[i] += y - self.flow[k];
                    sys.rhs[j] -= y - self.flow[k];
                }
            }
            let p = self.p[k];
            sys.ldl.add(i, j, -p);
            sys.ldl.add(i, i, p);
            sys.ldl.add(j, j, p);
        }
    }

    /// Update link, emitter and pressure-driven demand flows from the new heads (EPANET's
    /// `newflows`); returns (sum of changes / sum of flows, largest change).
    fn new_flows(&mut self) -> (f64, f64) {
        let m = self.m;
        let (mut qsum, mut dqsum, mut max_change) = (0.0, 0.0, 0.0f64);
        for i in 0..m.node_ids.len() {
            if m.kind[i] != NodeKind::Junction {
                self.node_demand[i] = 0.0;
            }
        }
        for (k, link) in m.links.iter().enumerate() {
            let dh = self.head[link.from] - self.head[link.to];
            let mut dq = (self.y[k] - self.p[k] * dh) * self.relax;
            // A constant-power pump's flow never turns negative: a change beyond the flow
            // halves it. A change equal to the flow within round-off (1e-9 of it) is the flow
            // going to zero, as in EPANET's own arithmetic (ky10's Pump-11 at t = 0).
            if let LinkKind::Pump {
                curve: PumpCurve::ConstantPower { .. },
                ..
            } = link.kind
                && dq > self.flow[k] + 1e-9 * self.flow[k].abs()
            {
                dq = self.flow[k] / 2.0;
            }
            self.flow[k] -= dq;
            qsum += self.flow[k].abs();
            dqsum += dq.abs();
            max_change = max_change.max(dq.abs());
            if !self.status[k].is_closed() {
                if m.kind[link.from] != NodeKind::Junction {
                    self.node_demand[link.from] -= self.flow[k];
                }
                if m.kind[link.to] != NodeKind::Junction {
                    self.node_demand[link.to] += self.flow[k];
                }
            }
        }
        for i in 0..m.node_ids.len() {
            if m.emitter[i] == 0.0 || m.kind[i] != NodeKind::Junction {
                continue;
            }
            let (hloss, hgrad) = self.emitter_head_loss(i);
            let dq = (hloss - (self.head[i] - m.elevation[i])) / hgrad * self.relax;
            self.emitter_flow[i] -= dq;
            qsum += self.emitter_flow[i].abs();
            dqsum += dq.abs();
            max_change = max_change.max(dq.abs());
        }
        if let Some(pda) = m.pda {
            let dp = (pda.required_ft - pda.minimum_ft).max(MIN_PRESSURE_DIFFERENCE);
            for i in 0..m.node_ids.len() {
                if m.kind[i] != NodeKind::Junction || self.node_demand[i] <= 0.0 {
                    continue;
                }
                let (hloss, hgrad) =
                    demand_head_loss(&pda, dp, self.node_demand[i], self.demand_flow[i]);
                let dh = self.head[i] - m.elevation[i] - pda.minimum_ft;
                let dq = (hloss - dh) / hgrad * self.relax;
                self.demand_flow[i] -= dq;
                qsum += self.demand_flow[i].abs();
                dqsum += dq.abs();
                max_change = max_change.max(dq.abs());
            }
        }
        let error = if qsum > m.options.accuracy {
            dqsum / qsum
        } else {
            dqsum
        };
        (error, max_change)
    }

    /// EPANET's `hasconverged`: ACCURACY, then HEADERROR and FLOWCHANGE when set, then the
    /// pressure-driven demand checks.
    fn has_converged(&mut self, relative_error: f64, max_flow_change: f64) -> bool {
        let o = &self.m.options;
        if relative_error > o.accuracy {
            return false;
        }
        if o.head_error_limit > 0.0 && self.max_head_error() > o.head_error_limit {
            return false;
        }
        if o.flow_change_limit > 0.0 && max_flow_change > o.flow_change_limit {
            return false;
        }
        match self.m.pda {
            Some(pda) => self.pressure_driven_converged(pda.minimum_ft),
            None => true,
        }
    }

    /// The largest difference between a link's head loss at its flow and the heads at its
    /// ends (EPANET's `checkhydbalance`).
    fn max_head_error(&mut self) -> f64 {
        self.head_loss_coefficients();
        let mut worst = 0.0f64;
        for (k, link) in self.m.links.iter().enumerate() {
            if self.status[k].is_closed() || self.p[k] == 0.0 {
                continue;
            }
            let dh = self.head[link.from] - self.head[link.to];
            worst = worst.max((dh - self.y[k] / self.p[k]).abs());
        }
        worst
    }

    /// No delivered demand below zero, none delivered at a pressure below the minimum
    /// (EPANET's `pdaconverged`, tolerance 0.001).
    fn pressure_driven_converged(&self, minimum_ft: f64) -> bool {
        const TOL: f64 = 0.001;
        (0..self.m.node_ids.len()).all(|i| {
            if self.m.kind[i] != NodeKind::Junction || self.node_demand[i] <= 0.0 {
                return true;
            }
            let d = self.demand_flow[i];
            !(d < -TOL || (d > TOL && self.head[i] - self.m.elevation[i] - minimum_ft < -TOL))
        })
    }
}
