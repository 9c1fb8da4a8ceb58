//! Backward/forward sweep load flow for radial and weakly meshed networks.
//!
//! Each iteration draws the load and shunt currents at the present voltages, sums them from the
//! leaves to the slack bus (backward sweep), then updates voltages from the slack outwards along
//! each branch's impedance (forward sweep). Branches follow MATPOWER's model: an ideal
//! transformer of complex ratio t at the "from" end, the series impedance r + jx, and half the
//! line charging b at each end. Converges in a handful of iterations on distribution feeders;
//! O(buses) per iteration, no matrix. Loops closed by plain lines (tie switches closed) are
//! handled by loop compensation; a loop through a transformer or a charged line is refused.

use std::collections::VecDeque;

use crate::formats::matpower::{BusType, MatpowerCase};

/// A complex number, enough for the sweep (no dependency needed).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct C {
    re: f64,
    im: f64,
}

impl C {
    const fn new(re: f64, im: f64) -> C {
        C { re, im }
    }
    fn conj(self) -> C {
        C::new(self.re, -self.im)
    }
    fn abs(self) -> f64 {
        self.re.hypot(self.im)
    }
    fn from_polar(r: f64, theta: f64) -> C {
        C::new(r * theta.cos(), r * theta.sin())
    }
}

impl std::ops::Add for C {
    type Output = C;
    fn add(self, o: C) -> C {
        C::new(self.re + o.re, self.im + o.im)
    }
}
impl std::ops::Sub for C {
    type Output = C;
    fn sub(self, o: C) -> C {
        C::new(self.re - o.re, self.im - o.im)
    }
}
impl std::ops::Mul for C {
    type Output = C;
    fn mul(self, o: C) -> C {
        C::new(
            self.re * o.re - self.im * o.im,
            self.re * o.im + self.im * o.re,
        )
    }
}
impl std::ops::Div for C {
    type Output = C;
    fn div(self, o: C) -> C {
        let d = o.re * o.re + o.im * o.im;
        C::new(
            (self.re * o.re + self.im * o.im) / d,
            (self.im * o.re - self.re * o.im) / d,
        )
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoadFlowError {
    #[error("the case has no reference (slack) bus")]
    NoSlack,
    #[error(
        "branch {row} ({from}–{to}) closes a loop: only radial networks are solved (open a tie switch)"
    )]
    Meshed { row: usize, from: u32, to: u32 },
    #[error(
        "the case holds MATLAB statements that were not evaluated (line {line}: `{statement}`)"
    )]
    Unevaluated { line: usize, statement: String },
    #[error("branch status list has {got} entries, the case has {expected} branches")]
    StatusLength { got: usize, expected: usize },
    /// The sweep did not reach its tolerance: no answer is given rather than a wrong one.
    #[error(
        "the load flow did not converge in {iterations} iterations (last voltage change {change_pu:.3e} pu, loop mismatch {mismatch_pu:.3e} pu; tolerance {tolerance:.0e})"
    )]
    NotConverged {
        iterations: usize,
        change_pu: f64,
        mismatch_pu: f64,
        tolerance: f64,
    },
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

/// A converged load flow (a sweep that does not converge is [`LoadFlowError::NotConverged`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadFlowResult {
    pub iterations: usize,
    /// Per bus, in case order: magnitude (pu) and angle (degrees); 0 for de-energised buses.
    pub vm_pu: Vec<f64>,
    pub va_deg: Vec<f64>,
    /// Whether each bus is connected to the slack bus through closed branches.
    pub energised: Vec<bool>,
    /// Per branch, in case order (zero for open branches).
    pub branches: Vec<BranchFlow>,
    pub p_loss_kw: f64,
    pub q_loss_kvar: f64,
    /// Power drawn from the slack bus (its own load included).
    pub slack_p_kw: f64,
    pub slack_q_kvar: f64,
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

/// The sweep on `case`'s network with branch states `status` (one per branch) and bus loads
/// `loads_mw` (MW, Mvar per bus row) scaled by `load_factor`; [`super::GridState::solve`] and
/// [`solve_load_flow`] both come here.
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
    let n = case.bus.len();
    let index = case.bus_rows();
    // Bus positions of every branch's ends, looked up once.
    let ends: Vec<(usize, usize)> = case
        .branch
        .iter()
        .map(|b| (index[&b.from], index[&b.to]))
        .collect();
    let slack = case
        .bus
        .iter()
        .position(|b| b.bus_type == BusType::Ref)
        .ok_or(LoadFlowError::NoSlack)?;
    let slack_vm = case
        .generators
        .iter()
        .find(|g| g.in_service && index.get(&g.bus) == Some(&slack))
        .map_or(case.bus[slack].vm_pu, |g| g.vg_pu);
    let base = case.base_mva;

    // Radial tree from the slack bus over closed branches.
    let mut adjacency: Vec<Vec<usize>> = vec![Vec::new(); n];
    for k in 0..case.branch.len() {
        if status[k] {
            adjacency[ends[k].0].push(k);
            adjacency[ends[k].1].push(k);
        }
    }
    let mut parent_branch = vec![usize::MAX; n];
    let mut is_breakpoint = vec![false; case.branch.len()];
    let mut breakpoints: Vec<usize> = Vec::new();
    let mut visited = vec![false; n];
    let mut order = Vec::with_capacity(n);
    let mut queue = VecDeque::from([slack]);
    visited[slack] = true;
    while let Some(u) = queue.pop_front() {
        order.push(u);
        for &k in &adjacency[u] {
            if k == parent_branch[u] {
                continue;
            }
            let br = &case.branch[k];
            let v = if ends[k].0 == u { ends[k].1 } else { ends[k].0 };
            if visited[v] {
                // A closed branch between two reached buses closes a loop: it becomes a
                // breakpoint, carried by a compensating current (plain lines only).
                let plain =
                    (br.ratio == 0.0 || br.ratio == 1.0) && br.shift_deg == 0.0 && br.b_pu == 0.0;
                if !plain {
                    return Err(LoadFlowError::Meshed {
                        row: k + 1,
                        from: br.from,
                        to: br.to,
                    });
                }
                if !is_breakpoint[k] {
                    is_breakpoint[k] = true;
                    breakpoints.push(k);
                }
                continue;
            }
            visited[v] = true;
            parent_branch[v] = k;
            queue.push_back(v);
        }
    }

    let load: Vec<C> = loads_mw
        .iter()
        .map(|&(p, q)| C::new(p * load_factor / base, q * load_factor / base))
        .collect();
    let shunt: Vec<C> = case
        .bus
        .iter()
        .map(|b| C::new(b.gs_mw / base, b.bs_mvar / base))
        .collect();
    let tap = |k: usize| {
        let br = &case.branch[k];
        let ratio = if br.ratio == 0.0 { 1.0 } else { br.ratio };
        C::from_polar(ratio, br.shift_deg.to_radians())
    };
    let z = |k: usize| C::new(case.branch[k].r_pu, case.branch[k].x_pu);
    let half_b = |k: usize| C::new(0.0, case.branch[k].b_pu / 2.0);

    // Per bus (BFS order): its parent bus, whether the parent is the branch's tapped end, and
    // the branch's tap, impedance and half charging, so the sweeps touch only flat arrays.
    struct Edge {
        child: usize,
        parent: usize,
        parent_is_from: bool,
        t: C,
        z: C,
        half_b: C,
    }
    let edges: Vec<Edge> = order
        .iter()
        .filter(|&&c| parent_branch[c] != usize::MAX)
        .map(|&c| {
            let k = parent_branch[c];
            let parent_is_from = ends[k].0 != c;
            let parent = if parent_is_from { ends[k].0 } else { ends[k].1 };
            Edge {
                child: c,
                parent,
                parent_is_from,
                t: tap(k),
                z: z(k),
                half_b: half_b(k),
            }
        })
        .collect();
    // Loop compensation (Shirmohammadi et al. 1988): each breakpoint branch a–b carries a
    // current J, drawn at a and injected at b. The breakpoint impedance matrix (the tree's
    // response to unit pairs of currents, plus the branches' own impedances) turns the voltage
    // mismatch across each breakpoint into a correction of J.
    let loop_ends: Vec<(usize, usize, C)> = breakpoints
        .iter()
        .map(|&k| (ends[k].0, ends[k].1, z(k)))
        .collect();
    let tree_response = |inject: &[C]| -> Vec<C> {
        let mut drawn = inject.to_vec();
        for e in edges.iter().rev() {
            let at_parent = if e.parent_is_from {
                drawn[e.child] / e.t.conj()
            } else {
                drawn[e.child] * e.t.conj()
            };
            drawn[e.parent] = drawn[e.parent] + at_parent;
        }
        let mut dv = vec![C::default(); n];
        for e in &edges {
            dv[e.child] = if e.parent_is_from {
                dv[e.parent] / e.t - e.z * drawn[e.child]
            } else {
                (dv[e.parent] - e.z * drawn[e.child] * e.t.conj()) * e.t
            };
        }
        dv
    };
    let nb = loop_ends.len();
    let mut z_loop = vec![C::default(); nb * nb];
    for (j, &(aj, bj, _)) in loop_ends.iter().enumerate() {
        let mut inject = vec![C::default(); n];
        inject[aj] = C::new(1.0, 0.0);
        inject[bj] = C::new(-1.0, 0.0);
        let dv = tree_response(&inject);
        for (i, &(ai, bi, zi)) in loop_ends.iter().enumerate() {
            z_loop[i * nb + j] =
                C::default() - (dv[ai] - dv[bi]) + if i == j { zi } else { C::default() };
        }
    }
    let mut loop_current = vec![C::default(); nb];
    let mut v = vec![C::default(); n];
    for &u in &order {
        v[u] = C::new(slack_vm, 0.0);
    }
    // Current drawn by each bus's subtree.
    let mut drawn = vec![C::default(); n];
    let mut iterations = 0;
    let mut converged = false;
    let (mut last_change, mut last_mismatch) = (f64::INFINITY, f64::INFINITY);
    const TOLERANCE: f64 = 1e-12;
    const MAX_ITERATIONS: usize = 100;
    while iterations < MAX_ITERATIONS {
        iterations += 1;
        for &u in &order {
            drawn[u] = if v[u].abs() > 0.0 {
                (load[u] / v[u]).conj()
            } else {
                C::default()
            } + shunt[u] * v[u];
        }
        for (&(a, b, _), j) in loop_ends.iter().zip(&loop_current) {
            drawn[a] = drawn[a] + *j;
            drawn[b] = drawn[b] - *j;
        }
        for e in edges.iter().rev() {
            let c = e.child;
            let at_parent = if e.parent_is_from {
                // Parent at the tapped end: series current feeds the child and its charging.
                let series = drawn[c] + e.half_b * v[c];
                (series + e.half_b * (v[e.parent] / e.t)) / e.t.conj()
            } else {
                let series = drawn[c] * e.t.conj() + e.half_b * (v[c] / e.t);
                series + e.half_b * v[e.parent]
            };
            drawn[e.parent] = drawn[e.parent] + at_parent;
        }
        let mut change: f64 = 0.0;
        for e in &edges {
            let c = e.child;
            let new = if e.parent_is_from {
                let series = drawn[c] + e.half_b * v[c];
                v[e.parent] / e.t - e.z * series
            } else {
                let series = drawn[c] * e.t.conj() + e.half_b * (v[c] / e.t);
                (v[e.parent] - e.z * series) * e.t
            };
            change = change.max((new - v[c]).abs());
            v[c] = new;
        }
        let mut mismatch: f64 = 0.0;
        if nb > 0 {
            let mut residual: Vec<C> = loop_ends
                .iter()
                .zip(&loop_current)
                .map(|(&(a, b, zk), j)| v[a] - v[b] - zk * *j)
                .collect();
            mismatch = residual.iter().map(|r| r.abs()).fold(0.0, f64::max);
            solve_dense(&z_loop, &mut residual, nb);
            for (j, d) in loop_current.iter_mut().zip(residual) {
                *j = *j + d;
            }
        }
        (last_change, last_mismatch) = (change, mismatch);
        if change < TOLERANCE && mismatch < TOLERANCE {
            converged = true;
            break;
        }
    }
    if !converged {
        return Err(LoadFlowError::NotConverged {
            iterations,
            change_pu: last_change,
            mismatch_pu: last_mismatch,
            tolerance: TOLERANCE,
        });
    }

    // Flows from the final voltages, per branch, from its own terminal currents.
    let mut branches = vec![BranchFlow::default(); case.branch.len()];
    let (mut p_loss, mut q_loss) = (0.0, 0.0);
    for (k, br) in case.branch.iter().enumerate() {
        if !status[k] || !visited[ends[k].0] {
            continue;
        }
        let (f, tb) = (ends[k].0, ends[k].1);
        let t = tap(k);
        // Currents into the branch at each end from MATPOWER's branch admittances.
        let ys = C::new(1.0, 0.0) / z(k);
        let yff = (ys + half_b(k)) / (t * t.conj());
        let yft = C::new(0.0, 0.0) - ys / t.conj();
        let ytf = C::new(0.0, 0.0) - ys / t;
        let ytt = ys + half_b(k);
        let i_f = yff * v[f] + yft * v[tb];
        let i_t = ytf * v[f] + ytt * v[tb];
        let s_f = v[f] * i_f.conj();
        let s_t = v[tb] * i_t.conj();
        let to_kw = base * 1000.0;
        let loading_pct =
            (br.rate_a_mva > 0.0).then(|| s_f.abs().max(s_t.abs()) * base / br.rate_a_mva * 100.0);
        branches[k] = BranchFlow {
            p_from_kw: s_f.re * to_kw,
            q_from_kvar: s_f.im * to_kw,
            p_to_kw: s_t.re * to_kw,
            q_to_kvar: s_t.im * to_kw,
            p_loss_kw: (s_f.re + s_t.re) * to_kw,
            q_loss_kvar: (s_f.im + s_t.im) * to_kw,
            loading_pct,
        };
        p_loss += branches[k].p_loss_kw;
        q_loss += branches[k].q_loss_kvar;
    }
    let slack_s = v[slack] * drawn[slack].conj();
    Ok(LoadFlowResult {
        iterations,
        vm_pu: v.iter().map(|x| x.abs()).collect(),
        va_deg: v
            .iter()
            .map(|x| {
                if x.abs() > 0.0 {
                    x.im.atan2(x.re).to_degrees()
                } else {
                    0.0
                }
            })
            .collect(),
        energised: visited,
        branches,
        p_loss_kw: p_loss,
        q_loss_kvar: q_loss,
        slack_p_kw: slack_s.re * base * 1000.0,
        slack_q_kvar: slack_s.im * base * 1000.0,
    })
}

/// Solve the small dense complex system `m · x = rhs` in place (Gaussian elimination with
/// partial pivoting); `m` is n × n row-major.
fn solve_dense(m: &[C], rhs: &mut [C], n: usize) {
    let mut a = m.to_vec();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))
            .unwrap_or(col);
        if pivot != col {
            for k in 0..n {
                a.swap(col * n + k, pivot * n + k);
            }
            rhs.swap(col, pivot);
        }
        let d = a[col * n + col];
        if d.abs() == 0.0 {
            continue;
        }
        for row in col + 1..n {
            let f = a[row * n + col] / d;
            for k in col..n {
                a[row * n + k] = a[row * n + k] - f * a[col * n + k];
            }
            rhs[row] = rhs[row] - f * rhs[col];
        }
    }
    for col in (0..n).rev() {
        let mut s = rhs[col];
        for k in col + 1..n {
            s = s - a[col * n + k] * rhs[k];
        }
        let d = a[col * n + col];
        rhs[col] = if d.abs() == 0.0 { C::default() } else { s / d };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            unevaluated: vec![],
        }
    }

    #[test]
    fn a_loop_through_a_transformer_is_refused_by_name() {
        // 1–2 and 1–3 are lines reached first; 2–3 is a transformer and closes the loop.
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
        let err = solve_load_flow(&case, None, 1.0).unwrap_err();
        assert!(matches!(err, LoadFlowError::Meshed { .. }), "{err}");
        assert!(err.to_string().contains("closes a loop"));
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
