//! The network a load flow solves, in per unit: what the case's rows mean once the operating
//! state (branch statuses, loads) is applied. Built once per solve from a MATPOWER case.
//!
//! MATPOWER semantics (MATPOWER User's Manual 7.1, appendix B and `makeSbus`/`bustypes`):
//! - every in-service generator injects its `Pg + jQg` at its bus; at a PV bus (type 2) with an
//!   in-service generator the voltage is held at the generator's `Vg` and `Q` is free; a PV bus
//!   without one is solved as PQ; at the reference bus (type 3) `Vg` and the bus angle are held
//!   and `P`, `Q` are free;
//! - a bus of type 4 (isolated) is de-energised, with every branch at it;
//! - out-of-service generators and branches do nothing.

use super::LoadFlowError;
use super::complex::C;
use crate::formats::matpower::{BusType, MatpowerCase};

/// One branch, MATPOWER's model: an ideal transformer of complex ratio `tap` at the "from"
/// end, the series impedance `z`, half the line charging `b / 2` at each end.
#[derive(Debug, Clone, Copy)]
pub(super) struct SolverBranch {
    pub from: usize,
    pub to: usize,
    pub z: C,
    pub b: f64,
    pub tap: C,
    pub closed: bool,
}

impl SolverBranch {
    /// A bus-bar coupler: closed with no impedance.
    pub fn is_coupler(&self) -> bool {
        self.closed && self.z.re == 0.0 && self.z.im == 0.0
    }

    /// A plain line: no transformer and no charging (what loop compensation can carry).
    pub fn is_plain(&self) -> bool {
        self.tap == C::ONE && self.b == 0.0
    }

    /// Complex power into the branch at each end, per unit, at voltages `vf`, `vt`.
    pub fn flows(&self, vf: C, vt: C) -> (C, C) {
        let ys = C::ONE / self.z;
        let half_b = C::new(0.0, self.b / 2.0);
        let t = self.tap;
        let yff = (ys + half_b) / (t * t.conj());
        let yft = -(ys / t.conj());
        let ytf = -(ys / t);
        let ytt = ys + half_b;
        let i_f = yff * vf + yft * vt;
        let i_t = ytf * vf + ytt * vt;
        (vf * i_f.conj(), vt * i_t.conj())
    }
}

/// A case with its operating state, in per unit on `base_mva`.
#[derive(Debug, Clone)]
pub(super) struct SolverNetwork {
    pub base_mva: f64,
    /// The first reference bus (the sweep's root).
    pub slack: usize,
    /// The first reference bus's voltage (its generator's `Vg`, the bus's angle).
    pub slack_v: C,
    /// Per bus: the held voltage of a reference bus (a case may have several, one per island
    /// or not, as MATPOWER allows).
    pub reference_v: Vec<Option<C>>,
    /// Per bus: constant-power load.
    pub load: Vec<C>,
    /// Per bus: scheduled generation of in-service generators (for PV buses only the real
    /// part is scheduled; at the slack none is).
    pub generation: Vec<C>,
    /// Per bus: shunt admittance `Gs + jBs`.
    pub shunt: Vec<C>,
    /// Per bus: the held voltage magnitude of a PV bus.
    pub pv_vm: Vec<Option<f64>>,
    /// Per bus: a starting voltage (the case's `Vm`, `Va`).
    pub start: Vec<C>,
    /// In case order.
    pub branches: Vec<SolverBranch>,
}

impl SolverNetwork {
    /// The network of `case` with branch states `status` and per-bus loads `loads_mw` (MW,
    /// Mvar) scaled by `load_factor`.
    pub fn new(
        case: &MatpowerCase,
        status: &[bool],
        loads_mw: &[(f64, f64)],
        load_factor: f64,
    ) -> Result<SolverNetwork, LoadFlowError> {
        let index = case.bus_rows();
        let base = case.base_mva;
        let n = case.bus.len();
        let slack = case
            .bus
            .iter()
            .position(|b| b.bus_type == BusType::Ref)
            .ok_or(LoadFlowError::NoSlack)?;
        let mut generation = vec![C::default(); n];
        let mut pv_vm: Vec<Option<f64>> = vec![None; n];
        let mut reference_vm: Vec<Option<f64>> = vec![None; n];
        for g in case.generators.iter().filter(|g| g.in_service) {
            let i = index[&g.bus];
            match case.bus[i].bus_type {
                BusType::Ref => {
                    reference_vm[i].get_or_insert(g.vg_pu);
                }
                BusType::Pv => {
                    generation[i] += C::new(g.pg_mw / base, 0.0);
                    pv_vm[i].get_or_insert(g.vg_pu);
                }
                BusType::Pq => generation[i] += C::new(g.pg_mw / base, g.qg_mvar / base),
                BusType::Isolated => {}
            }
        }
        let isolated: Vec<bool> = case
            .bus
            .iter()
            .map(|b| b.bus_type == BusType::Isolated)
            .collect();
        let branches = case
            .branch
            .iter()
            .zip(status)
            .map(|(br, &closed)| {
                let (from, to) = (index[&br.from], index[&br.to]);
                let ratio = if br.ratio == 0.0 { 1.0 } else { br.ratio };
                SolverBranch {
                    from,
                    to,
                    z: C::new(br.r_pu, br.x_pu),
                    b: br.b_pu,
                    tap: C::from_polar(ratio, br.shift_deg.to_radians()),
                    closed: closed && !isolated[from] && !isolated[to],
                }
            })
            .collect();
        let reference_v: Vec<Option<C>> = case
            .bus
            .iter()
            .zip(&reference_vm)
            .map(|(b, vm)| {
                (b.bus_type == BusType::Ref)
                    .then(|| C::from_polar(vm.unwrap_or(b.vm_pu), b.va_deg.to_radians()))
            })
            .collect();
        Ok(SolverNetwork {
            base_mva: base,
            slack,
            slack_v: reference_v[slack].unwrap_or(C::ONE),
            reference_v,
            load: loads_mw
                .iter()
                .map(|&(p, q)| C::new(p * load_factor / base, q * load_factor / base))
                .collect(),
            generation,
            shunt: case
                .bus
                .iter()
                .map(|b| C::new(b.gs_mw / base, b.bs_mvar / base))
                .collect(),
            pv_vm,
            start: case
                .bus
                .iter()
                .map(|b| {
                    let vm = if b.vm_pu > 0.0 { b.vm_pu } else { 1.0 };
                    C::from_polar(vm, b.va_deg.to_radians())
                })
                .collect(),
            branches,
        })
    }

    pub fn len(&self) -> usize {
        self.load.len()
    }

    /// Whether each bus is connected to a reference bus through closed branches.
    pub fn energised(&self) -> Vec<bool> {
        let n = self.len();
        let mut adjacency: Vec<Vec<usize>> = vec![Vec::new(); n];
        for br in self.branches.iter().filter(|b| b.closed) {
            adjacency[br.from].push(br.to);
            adjacency[br.to].push(br.from);
        }
        let mut stack: Vec<usize> = (0..n).filter(|&i| self.reference_v[i].is_some()).collect();
        let mut seen = vec![false; n];
        for &r in &stack {
            seen[r] = true;
        }
        while let Some(u) = stack.pop() {
            for &v in &adjacency[u] {
                if !seen[v] {
                    seen[v] = true;
                    stack.push(v);
                }
            }
        }
        seen
    }

    /// Whether bus `i` holds its voltage (a reference or a PV bus).
    pub fn holds_voltage(&self, i: usize) -> bool {
        self.reference_v[i].is_some() || self.pv_vm[i].is_some()
    }

    /// Whether only Newton–Raphson solves this network: an energised bus other than the first
    /// reference holds its voltage (a PV bus, or a second reference bus).
    pub fn needs_newton(&self, energised: &[bool]) -> bool {
        (0..self.len()).any(|i| energised[i] && i != self.slack && self.holds_voltage(i))
    }
}
