//! Backward/forward sweep load flow for radial and weakly meshed distribution networks.
//!
//! Each iteration draws the load and shunt currents at the present voltages, sums them from the
//! leaves to the slack bus (backward sweep), then updates voltages from the slack outwards along
//! each branch's impedance (forward sweep). Branches follow MATPOWER's model (an ideal
//! transformer at the "from" end, the series impedance, half the charging at each end).
//! Converges in a handful of iterations on distribution feeders; O(buses) per iteration, no
//! matrix. Loops closed by plain lines (tie switches closed) are handled by loop compensation
//! (Shirmohammadi et al., IEEE Trans. Power Systems 3(2), 1988); a loop through a transformer
//! or a charged line is [`LoadFlowError::Meshed`], and the caller turns to Newton–Raphson.
//! Generators are constant-power injections here: buses that hold their voltage (PV) are
//! Newton–Raphson's.

use std::collections::VecDeque;

use super::complex::C;
use super::network::SolverNetwork;
use super::{LoadFlowError, Voltages};

/// Tolerance on the largest voltage change and loop mismatch between iterations, pu.
const TOLERANCE: f64 = 1e-12;
/// Iterations before [`LoadFlowError::NotConverged`].
pub(super) const MAX_ITERATIONS: usize = 100;

/// Solve `net` by the sweep: the bus voltages (0 for buses the slack does not reach).
pub(super) fn sweep(net: &SolverNetwork) -> Result<Voltages, LoadFlowError> {
    let n = net.len();
    let slack = net.slack;
    // Radial tree from the slack bus over closed branches.
    let mut adjacency: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (k, br) in net.branches.iter().enumerate() {
        if br.closed {
            adjacency[br.from].push(k);
            adjacency[br.to].push(k);
        }
    }
    let mut parent_branch = vec![usize::MAX; n];
    let mut is_breakpoint = vec![false; net.branches.len()];
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
            let br = &net.branches[k];
            let v = if br.from == u { br.to } else { br.from };
            if visited[v] {
                // A closed branch between two reached buses closes a loop: it becomes a
                // breakpoint, carried by a compensating current (plain lines only).
                if !br.is_plain() {
                    return Err(LoadFlowError::Meshed { row: k + 1 });
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

    // Generators on PQ buses are negative loads (the sweep has no PV buses: see `solve`).
    let load: Vec<C> = net
        .load
        .iter()
        .zip(&net.generation)
        .map(|(&l, &g)| l - g)
        .collect();
    let shunt = &net.shunt;
    let tap = |k: usize| net.branches[k].tap;
    let z = |k: usize| net.branches[k].z;
    let half_b = |k: usize| C::new(0.0, net.branches[k].b / 2.0);

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
            let br = &net.branches[k];
            let parent_is_from = br.from != c;
            let parent = if parent_is_from { br.from } else { br.to };
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
        .map(|&k| (net.branches[k].from, net.branches[k].to, z(k)))
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
        inject[aj] = C::ONE;
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
        v[u] = net.slack_v;
    }
    // Current drawn by each bus's subtree.
    let mut drawn = vec![C::default(); n];
    let mut iterations = 0;
    let mut converged = false;
    let (mut last_change, mut last_mismatch) = (f64::INFINITY, f64::INFINITY);
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

    Ok(Voltages { v, iterations })
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
