//! AC load flow of a MATPOWER case: the whole case honoured (generators on any bus, PV buses
//! held at their set voltage, isolated buses, out-of-service elements, zero-impedance
//! couplers), solved by the method that fits, which the result names:
//!
//! - [`sweep`]: backward/forward sweep, for radial and weakly meshed distribution feeders
//!   without voltage-controlled generators (fast: O(buses) per iteration);
//! - [`newton`]: Newton–Raphson, for PV buses and loops through transformers or charged lines.
//!
//! [`couplers`] merges buses joined by zero-impedance branches before either solves. A solve
//! that does not converge is [`LoadFlowError::NotConverged`]: no voltages are given rather than
//! wrong ones.

mod complex;
mod couplers;
mod network;
mod newton;
mod sweep;

use complex::C;
use network::SolverNetwork;

use crate::formats::matpower::{BusType, MatpowerCase};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoadFlowError {
    #[error("the case has no reference (slack) bus")]
    NoSlack,
    /// The sweep met a loop it cannot carry; the load flow then turns to Newton–Raphson, so
    /// this reaches a caller only from the sweep itself.
    #[error("branch row {row} closes a loop through a transformer or a charged line")]
    Meshed { row: usize },
    #[error(
        "the case holds MATLAB statements that were not evaluated (line {line}: `{statement}`)"
    )]
    Unevaluated { line: usize, statement: String },
    #[error("branch status list has {got} entries, the case has {expected} branches")]
    StatusLength { got: usize, expected: usize },
    /// The solver did not reach its tolerance: no answer is given rather than a wrong one.
    #[error(
        "the load flow did not converge in {iterations} iterations (last voltage change {change_pu:.3e} pu, mismatch {mismatch_pu:.3e} pu; tolerance {tolerance:.0e}): the load may be beyond what the network can carry"
    )]
    NotConverged {
        iterations: usize,
        change_pu: f64,
        mismatch_pu: f64,
        tolerance: f64,
    },
    /// The case's numbers led to values that are not finite (an impedance that underflows,
    /// a load that overflows); refused rather than reported.
    #[error(
        "the load flow produced values that are not finite (check the case for extreme impedances or loads)"
    )]
    NotFinite,
    #[error(
        "the Jacobian became singular after {iterations} iterations: the case has no load flow solution as given (check islands without a generator holding voltage)"
    )]
    SingularJacobian { iterations: usize },
    #[error("branch row {row} ({from}–{to}) has zero impedance and is refused: {why}")]
    ZeroImpedance {
        row: usize,
        from: u32,
        to: u32,
        why: String,
    },
}

/// How a load flow was solved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadFlowMethod {
    Sweep,
    NewtonRaphson,
}

impl LoadFlowMethod {
    pub fn name(self) -> &'static str {
        match self {
            LoadFlowMethod::Sweep => "backward/forward sweep",
            LoadFlowMethod::NewtonRaphson => "Newton–Raphson",
        }
    }
}

/// Power flowing through one branch, at each end (positive into the branch).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BranchFlow {
    pub p_from_kw: f64,
    pub q_from_kvar: f64,
    pub p_to_kw: f64,
    pub q_to_kvar: f64,
    pub p_loss_kw: f64,
    pub q_loss_kvar: f64,
    /// Apparent power at the more loaded end over `rateA`, in % (None when unrated or open).
    pub loading_pct: Option<f64>,
}

/// A bus whose generators need more or less reactive power than their limits allow to hold
/// the set voltage (the limits are reported, not enforced).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReactiveLimit {
    /// Bus row in the case.
    pub bus: usize,
    pub q_kvar: f64,
    pub q_min_kvar: f64,
    pub q_max_kvar: f64,
}

/// A converged load flow (one that does not converge is [`LoadFlowError::NotConverged`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadFlowResult {
    pub method: LoadFlowMethod,
    pub iterations: usize,
    /// Per bus, in case order: magnitude (pu) and angle (degrees); 0 for de-energised buses.
    pub vm_pu: Vec<f64>,
    pub va_deg: Vec<f64>,
    /// Whether each bus is connected to a reference bus through closed branches.
    pub energised: Vec<bool>,
    /// Per branch, in case order (zero for open branches).
    pub branches: Vec<BranchFlow>,
    pub p_loss_kw: f64,
    pub q_loss_kvar: f64,
    /// Power supplied at the reference (slack) bus, or the sum over them when the case has
    /// several (its own load included).
    pub slack_p_kw: f64,
    pub slack_q_kvar: f64,
    /// Per bus: the power its generators supply, kW and kvar (the slack's is
    /// `slack_p_kw`, `slack_q_kvar`; zero at buses without generators).
    pub generation_kw: Vec<(f64, f64)>,
    /// Load of energised buses, kW.
    pub load_served_kw: f64,
    /// Load of de-energised buses (behind open branches, isolated buses, islands without the
    /// slack), kW.
    pub load_unserved_kw: f64,
    /// PV buses whose generators are outside their reactive limits.
    pub reactive_limits: Vec<ReactiveLimit>,
}

/// Solve the load flow of `case` with branch statuses `in_service` (one per branch; `None` uses
/// the case's own statuses) and loads scaled by `load_factor`.
pub fn solve_load_flow(
    case: &MatpowerCase,
    in_service: Option<&[bool]>,
    load_factor: f64,
) -> Result<LoadFlowResult, LoadFlowError> {
    let status: Vec<bool> = match in_service {
        Some(s) if s.len() != case.branch.len() => {
            return Err(LoadFlowError::StatusLength {
                got: s.len(),
                expected: case.branch.len(),
            });
        }
        Some(s) => s.to_vec(),
        None => case.branch.iter().map(|b| b.in_service).collect(),
    };
    let loads: Vec<(f64, f64)> = case.bus.iter().map(|b| (b.pd_mw, b.qd_mvar)).collect();
    solve_with(case, &status, &loads, load_factor)
}

/// Bus voltages from a solver.
pub(super) struct Voltages {
    pub v: Vec<C>,
    pub iterations: usize,
}

/// The load flow of `case`'s network with branch states `status` (one per branch) and bus
/// loads `loads_mw` (MW, Mvar per bus row) scaled by `load_factor`;
/// [`super::GridState::solve`] and [`solve_load_flow`] both come here.
pub(super) fn solve_with(
    case: &MatpowerCase,
    status: &[bool],
    loads_mw: &[(f64, f64)],
    load_factor: f64,
) -> Result<LoadFlowResult, LoadFlowError> {
    if let Some((line, statement)) = case.unevaluated.first() {
        return Err(LoadFlowError::Unevaluated {
            line: *line,
            statement: statement.clone(),
        });
    }
    let net = SolverNetwork::new(case, status, loads_mw, load_factor)?;
    let result = match couplers::merge(&net, case)? {
        None => {
            let (solved, method) = solve_network(&net)?;
            finish(case, &net, solved, method, None)
        }
        Some(merged) => {
            let (solved, method) = solve_network(&merged.reduced)?;
            let v = merged.group.iter().map(|&g| solved.v[g]).collect();
            let expanded = Voltages {
                v,
                iterations: solved.iterations,
            };
            finish(case, &net, expanded, method, Some(&merged))
        }
    };
    // A number that is not finite never leaves the load flow: an answer with one is no answer.
    let finite = result
        .vm_pu
        .iter()
        .chain(&result.va_deg)
        .all(|x| x.is_finite())
        && [
            result.p_loss_kw,
            result.q_loss_kvar,
            result.slack_p_kw,
            result.slack_q_kvar,
        ]
        .iter()
        .all(|x| x.is_finite())
        && result.branches.iter().all(|b| {
            [
                b.p_from_kw,
                b.q_from_kvar,
                b.p_to_kw,
                b.q_to_kvar,
                b.p_loss_kw,
                b.q_loss_kvar,
            ]
            .iter()
            .all(|x| x.is_finite())
        });
    if !finite {
        return Err(LoadFlowError::NotFinite);
    }
    Ok(result)
}

/// The sweep where it holds, else Newton–Raphson.
fn solve_network(net: &SolverNetwork) -> Result<(Voltages, LoadFlowMethod), LoadFlowError> {
    let energised = net.energised();
    if !net.needs_newton(&energised) {
        match sweep::sweep(net) {
            Ok(v) => return Ok((v, LoadFlowMethod::Sweep)),
            Err(LoadFlowError::Meshed { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    newton::newton_raphson(net, &energised).map(|v| (v, LoadFlowMethod::NewtonRaphson))
}

/// Branch flows, losses and generation from the solved voltages.
fn finish(
    case: &MatpowerCase,
    net: &SolverNetwork,
    solved: Voltages,
    method: LoadFlowMethod,
    merged: Option<&couplers::Merged>,
) -> LoadFlowResult {
    let n = net.len();
    let v = solved.v;
    let energised: Vec<bool> = v.iter().map(|x| x.abs() > 0.0).collect();
    let to_kw = net.base_mva * 1000.0;
    let mut branches = vec![BranchFlow::default(); net.branches.len()];
    // Power leaving each bus through its closed, non-coupler branches, pu.
    let mut s_at = vec![C::default(); n];
    let mut ends: Vec<Option<(C, C)>> = vec![None; net.branches.len()];
    for (k, br) in net.branches.iter().enumerate() {
        if !br.closed || br.is_coupler() || !energised[br.from] {
            continue;
        }
        let (s_f, s_t) = br.flows(v[br.from], v[br.to]);
        s_at[br.from] += s_f;
        s_at[br.to] += s_t;
        ends[k] = Some((s_f, s_t));
    }
    if let Some(m) = merged {
        for (k, s_f) in couplers::coupler_flows(net, m, &v, &s_at) {
            let br = &net.branches[k];
            if energised[br.from] {
                ends[k] = Some((s_f, -s_f));
            }
        }
    }
    let (mut p_loss, mut q_loss) = (0.0, 0.0);
    let mut leaving = vec![C::default(); n];
    for (k, pair) in ends.iter().enumerate() {
        let Some((s_f, s_t)) = *pair else { continue };
        let br = &net.branches[k];
        leaving[br.from] += s_f;
        leaving[br.to] += s_t;
        let rate = case.branch[k].rate_a_mva;
        branches[k] = BranchFlow {
            p_from_kw: s_f.re * to_kw,
            q_from_kvar: s_f.im * to_kw,
            p_to_kw: s_t.re * to_kw,
            q_to_kvar: s_t.im * to_kw,
            p_loss_kw: (s_f.re + s_t.re) * to_kw,
            q_loss_kvar: (s_f.im + s_t.im) * to_kw,
            loading_pct: (rate > 0.0)
                .then(|| s_f.abs().max(s_t.abs()) * net.base_mva / rate * 100.0),
        };
        p_loss += branches[k].p_loss_kw;
        q_loss += branches[k].q_loss_kvar;
    }
    // What each bus's generators supply: scheduled at PQ buses; at the slack and PV buses,
    // what leaves through branches plus the load and the shunt.
    let generation: Vec<C> = (0..n)
        .map(|i| {
            if !energised[i] {
                C::default()
            } else if net.holds_voltage(i) {
                leaving[i] + net.load[i] + net.shunt[i].conj().scale(v[i].abs().powi(2))
            } else {
                net.generation[i]
            }
        })
        .collect();
    let reactive_limits = reactive_limits(case, net, &generation, to_kw);
    let (mut served, mut unserved) = (0.0, 0.0);
    for i in 0..n {
        if energised[i] {
            served += net.load[i].re * to_kw;
        } else {
            unserved += net.load[i].re * to_kw;
        }
    }
    let slack = (0..n)
        .filter(|&i| net.reference_v[i].is_some())
        .fold(C::default(), |acc, i| acc + generation[i]);
    LoadFlowResult {
        method,
        iterations: solved.iterations,
        vm_pu: v.iter().map(|x| x.abs()).collect(),
        va_deg: v
            .iter()
            .map(|x| {
                if x.abs() > 0.0 {
                    x.arg().to_degrees()
                } else {
                    0.0
                }
            })
            .collect(),
        energised,
        branches,
        p_loss_kw: p_loss,
        q_loss_kvar: q_loss,
        slack_p_kw: slack.re * to_kw,
        slack_q_kvar: slack.im * to_kw,
        generation_kw: generation
            .iter()
            .map(|g| (g.re * to_kw, g.im * to_kw))
            .collect(),
        load_served_kw: served,
        load_unserved_kw: unserved,
        reactive_limits,
    }
}

/// PV buses whose generators' summed reactive output is outside their summed limits.
fn reactive_limits(
    case: &MatpowerCase,
    net: &SolverNetwork,
    generation: &[C],
    to_kw: f64,
) -> Vec<ReactiveLimit> {
    let index = case.bus_rows();
    let mut limits: Vec<Option<(f64, f64)>> = vec![None; net.len()];
    for g in case.generators.iter().filter(|g| g.in_service) {
        let i = index[&g.bus];
        if case.bus[i].bus_type == BusType::Pv {
            let l = limits[i].get_or_insert((0.0, 0.0));
            l.0 += g.qmin_mvar * 1000.0;
            l.1 += g.qmax_mvar * 1000.0;
        }
    }
    let mut out = Vec::new();
    for (i, limit) in limits.iter().enumerate() {
        let (Some((q_min, q_max)), Some(_)) = (limit, net.pv_vm[i]) else {
            continue;
        };
        let q = generation[i].im * to_kw;
        if generation[i] != C::default() && (q < q_min - 1e-6 || q > q_max + 1e-6) {
            out.push(ReactiveLimit {
                bus: i,
                q_kvar: q,
                q_min_kvar: *q_min,
                q_max_kvar: *q_max,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::matpower::BusType;
    use crate::formats::matpower::{Branch, Bus, Gen};
    use proptest::prelude::*;

    fn bus(id: u32, kind: BusType, pd: f64, qd: f64) -> Bus {
        Bus {
            id,
            bus_type: kind,
            pd_mw: pd,
            qd_mvar: qd,
            gs_mw: 0.0,
            bs_mvar: 0.0,
            area: 1,
            vm_pu: 1.0,
            va_deg: 0.0,
            base_kv: 20.0,
            zone: 1,
            vmax_pu: 1.1,
            vmin_pu: 0.9,
        }
    }

    /// A radial feeder: bus k+1 hangs off bus parents[k] (< k+1).
    fn feeder(parents: &[usize], loads: &[(f64, f64)], impedances: &[(f64, f64)]) -> MatpowerCase {
        let mut buses = vec![bus(1, BusType::Ref, 0.0, 0.0)];
        let mut branch = Vec::new();
        for (k, &p) in parents.iter().enumerate() {
            let id = k as u32 + 2;
            buses.push(bus(id, BusType::Pq, loads[k].0, loads[k].1));
            let (r, x) = impedances[k];
            branch.push(Branch {
                from: p as u32 + 1,
                to: id,
                r_pu: r,
                x_pu: x,
                b_pu: 0.0,
                rate_a_mva: 10.0,
                ratio: 0.0,
                shift_deg: 0.0,
                in_service: true,
            });
        }
        MatpowerCase {
            name: "feeder".into(),
            base_mva: 10.0,
            bus: buses,
            generators: vec![Gen {
                bus: 1,
                pg_mw: 0.0,
                qg_mvar: 0.0,
                qmax_mvar: 10.0,
                qmin_mvar: -10.0,
                vg_pu: 1.0,
                mbase_mva: 10.0,
                in_service: true,
                pmax_mw: 10.0,
                pmin_mw: 0.0,
            }],
            branch,
            bus_names: vec![],
            unevaluated: vec![],
        }
    }

    #[test]
    fn a_loop_through_a_transformer_is_solved_by_newton_raphson() {
        // 1–2 and 2–3 are reached first; 1–3 closes the loop, and 2–3 is a transformer.
        let mut case = feeder(
            &[0, 1],
            &[(0.1, 0.05), (0.1, 0.05)],
            &[(0.01, 0.01), (0.01, 0.01)],
        );
        case.branch[1].ratio = 0.95;
        case.branch.push(Branch {
            from: 1,
            to: 3,
            ratio: 0.0,
            ..case.branch[0].clone()
        });
        let r = solve_load_flow(&case, None, 1.0).unwrap();
        assert_eq!(r.method, LoadFlowMethod::NewtonRaphson);
        assert!(
            (r.slack_p_kw - 200.0 - r.p_loss_kw).abs() < 1e-6,
            "{}",
            r.slack_p_kw
        );
    }

    #[test]
    fn a_loop_of_lines_is_solved_by_compensation() {
        // Two parallel equal lines from the slack to bus 2 share its load equally.
        let mut case = feeder(&[0], &[(0.2, 0.1)], &[(0.01, 0.02)]);
        case.branch.push(case.branch[0].clone());
        let r = solve_load_flow(&case, None, 1.0).unwrap();
        assert!((r.branches[0].p_from_kw - r.branches[1].p_from_kw).abs() < 1e-9);
        assert!(
            (r.branches[0].p_to_kw + 100.0).abs() < 1e-9,
            "{}",
            r.branches[0].p_to_kw
        );
    }

    #[test]
    fn an_open_branch_de_energises_what_lies_behind_it() {
        let case = feeder(&[0, 1, 2], &[(0.1, 0.05); 3], &[(0.01, 0.01); 3]);
        let r = solve_load_flow(&case, Some(&[true, false, true]), 1.0).unwrap();
        assert_eq!(r.energised, vec![true, true, false, false]);
        assert_eq!(r.vm_pu[2], 0.0);
        assert!(r.branches[2].p_from_kw == 0.0);
    }

    #[test]
    fn a_load_the_feeder_cannot_carry_is_a_typed_error_not_an_answer() {
        // 40 pu on 0.05 + 0.05j pu: beyond the feeder's maximum power transfer.
        let case = feeder(&[0], &[(40.0, 10.0)], &[(0.05, 0.05)]);
        match solve_load_flow(&case, None, 1.0) {
            Err(LoadFlowError::NotConverged { iterations, .. }) => assert_eq!(iterations, 100),
            other => panic!("expected NotConverged, got {other:?}"),
        }
    }

    /// Both solvers on the same radial case agree (the sweep is forced by having no PV bus,
    /// Newton–Raphson by the test calling it directly).
    #[test]
    fn sweep_and_newton_raphson_agree_on_a_feeder() {
        let case = feeder(
            &[0, 1, 1, 3],
            &[(0.3, 0.1), (0.2, 0.1), (0.4, 0.2), (0.1, 0.0)],
            &[(0.01, 0.02), (0.02, 0.03), (0.01, 0.01), (0.03, 0.02)],
        );
        let status: Vec<bool> = case.branch.iter().map(|b| b.in_service).collect();
        let loads: Vec<(f64, f64)> = case.bus.iter().map(|b| (b.pd_mw, b.qd_mvar)).collect();
        let net = SolverNetwork::new(&case, &status, &loads, 1.0).unwrap();
        let a = sweep::sweep(&net).unwrap();
        let b = newton::newton_raphson(&net, &net.energised()).unwrap();
        for (x, y) in a.v.iter().zip(&b.v) {
            assert!((*x - *y).abs() < 1e-8, "{x:?} {y:?}");
        }
    }

    fn field_case(name: &str) -> MatpowerCase {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../data/field")
            .join(name);
        MatpowerCase::parse(&std::fs::read_to_string(&path).expect("field case")).expect("parses")
    }

    /// data/field/matpower-pv-and-pq-generators.m: a PV generator at bus 12 and a generator on
    /// PQ bus 7; pandapower 3.5.6 (Newton–Raphson) gives these voltages and 414.7 kW at the
    /// slack.
    #[test]
    fn generators_on_pv_and_pq_buses_as_pandapower() {
        let case = field_case("matpower-pv-and-pq-generators.m");
        let r = solve_load_flow(&case, None, 1.0).unwrap();
        assert_eq!(r.method, LoadFlowMethod::NewtonRaphson);
        let row = case.bus_rows();
        for (bus, vm) in [(5, 1.00228), (7, 1.00942), (12, 1.02000)] {
            assert!(
                (r.vm_pu[row[&bus]] - vm).abs() < 1e-4,
                "bus {bus}: {}",
                r.vm_pu[row[&bus]]
            );
        }
        assert!((r.slack_p_kw - 414.7).abs() < 1.0, "{}", r.slack_p_kw);
        assert!((r.generation_kw[row[&12]].0 - 1500.0).abs() < 1e-6);
        assert!((r.load_served_kw - 2400.0).abs() < 1e-9);
    }

    /// data/field/matpower-zero-impedance-branch*.m: a bus-bar coupler (r = x = 0) between
    /// buses 2 and 3; the reference is pandapower 3.5.6 on the network with 2 and 3 merged.
    #[test]
    fn a_zero_impedance_coupler_is_solved_as_one_node_with_finite_flows() {
        for name in ["matpower-zero-impedance-branch.m"] {
            let case = field_case(name);
            let r = solve_load_flow(&case, None, 1.0).unwrap();
            assert!((r.vm_pu[1] - 0.992909).abs() < 1e-5, "{}", r.vm_pu[1]);
            assert_eq!(r.vm_pu[1], r.vm_pu[2]);
            assert!((r.vm_pu[3] - 0.990280).abs() < 1e-5, "{}", r.vm_pu[3]);
            assert!((r.slack_p_kw - 2312.54).abs() < 0.01, "{}", r.slack_p_kw);
            let coupler = r.branches[1];
            assert_eq!(coupler.p_loss_kw, 0.0);
            // Buses 3 and 4 draw 1.3 MW, plus branch 3–4's losses.
            let beyond = 1300.0 + r.branches[2].p_loss_kw;
            assert!((coupler.p_from_kw - beyond).abs() < 1e-6, "{coupler:?}");
        }
    }

    #[test]
    fn couplers_that_cannot_be_solved_are_refused_by_row() {
        let mut case = feeder(
            &[0, 1],
            &[(0.1, 0.0), (0.1, 0.0)],
            &[(0.01, 0.01), (0.0, 0.0)],
        );
        case.branch.push(case.branch[1].clone());
        let err = solve_load_flow(&case, None, 1.0).unwrap_err();
        assert!(
            matches!(err, LoadFlowError::ZeroImpedance { row: 3, .. }),
            "{err}"
        );
    }

    /// Several reference buses, as MATPOWER allows (case16ci, case70da): each holds its
    /// voltage and angle, and together they supply the load and the losses.
    #[test]
    fn several_reference_buses_each_hold_their_voltage() {
        let mut case = feeder(
            &[0, 1, 2],
            &[(0.2, 0.1), (0.3, 0.1), (0.0, 0.0)],
            &[(0.01, 0.02); 3],
        );
        case.bus[3].bus_type = BusType::Ref;
        case.bus[3].vm_pu = 1.01;
        let r = solve_load_flow(&case, None, 1.0).unwrap();
        assert_eq!(r.method, LoadFlowMethod::NewtonRaphson);
        assert!((r.vm_pu[0] - 1.0).abs() < 1e-12 && (r.vm_pu[3] - 1.01).abs() < 1e-12);
        assert!(
            (r.slack_p_kw - 500.0 - r.p_loss_kw).abs() < 1e-6,
            "{}",
            r.slack_p_kw
        );
        // Split into two islands, each with its own reference bus: both energised.
        let r = solve_load_flow(&case, Some(&[true, false, true]), 1.0).unwrap();
        assert!(r.energised.iter().all(|&e| e));
    }

    #[test]
    fn an_isolated_bus_is_de_energised_and_its_load_unserved() {
        let mut case = feeder(&[0, 1], &[(0.1, 0.0), (0.2, 0.0)], &[(0.01, 0.01); 2]);
        case.bus[2].bus_type = BusType::Isolated;
        let r = solve_load_flow(&case, None, 1.0).unwrap();
        assert_eq!(r.energised, vec![true, true, false]);
        assert!((r.load_unserved_kw - 200.0).abs() < 1e-9);
        assert!((r.load_served_kw - 100.0).abs() < 1e-9);
    }

    #[test]
    fn a_generator_beyond_its_reactive_limits_is_reported() {
        let mut case = feeder(&[0, 1], &[(0.5, 0.4), (0.1, 0.0)], &[(0.02, 0.05); 2]);
        case.bus[2].bus_type = BusType::Pv;
        case.generators.push(Gen {
            bus: 3,
            pg_mw: 0.2,
            vg_pu: 1.03,
            qmax_mvar: 0.01,
            qmin_mvar: -0.01,
            ..case.generators[0].clone()
        });
        let r = solve_load_flow(&case, None, 1.0).unwrap();
        assert!((r.vm_pu[2] - 1.03).abs() < 1e-9);
        assert_eq!(r.reactive_limits.len(), 1, "{:?}", r.reactive_limits);
        assert!(r.reactive_limits[0].q_kvar > 10.0);
    }

    proptest! {
        #[test]
        fn power_balances_and_voltage_falls_along_feeders(
            shape in proptest::collection::vec((0.0f64..1.0, 0.0f64..0.3, 0.0f64..0.2, 0.001f64..0.05, 0.001f64..0.05), 1..30),
        ) {
            let parents: Vec<usize> = shape.iter().enumerate().map(|(k, s)| ((s.0 * (k + 1) as f64) as usize).min(k)).collect();
            let loads: Vec<(f64, f64)> = shape.iter().map(|s| (s.1, s.2)).collect();
            let z: Vec<(f64, f64)> = shape.iter().map(|s| (s.3, s.4)).collect();
            let case = feeder(&parents, &loads, &z);
            let r = match solve_load_flow(&case, None, 1.0) {
                // A load beyond what the feeder can carry has no solution: not this test's case.
                Err(LoadFlowError::NotConverged { .. }) => {
                    prop_assume!(false);
                    unreachable!()
                }
                r => r.unwrap(),
            };
            // Slack = load + losses.
            let load_kw: f64 = loads.iter().map(|l| l.0 * 1000.0).sum();
            prop_assert!((r.slack_p_kw - load_kw - r.p_loss_kw).abs() < 1e-6 * (1.0 + load_kw), "{} vs {} + {}", r.slack_p_kw, load_kw, r.p_loss_kw);
            prop_assert!(r.p_loss_kw >= -1e-9);
            // Without generation, voltage never rises from a bus to its child.
            for (k, &p) in parents.iter().enumerate() {
                prop_assert!(r.vm_pu[k + 1] <= r.vm_pu[p] + 1e-12);
            }
        }
    }
}
