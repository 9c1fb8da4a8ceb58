//! Newton–Raphson load flow in polar coordinates, for networks the sweep cannot hold: buses
//! whose generator holds their voltage (PV), loops through transformers or charged lines,
//! transmission grids.
//!
//! The formulation of MATPOWER's `newtonpf` (Zimmerman, Murillo-Sánchez and Thomas, IEEE
//! Trans. Power Systems 26(1), 2011; the derivatives of `dSbus_dV`): unknowns are the angles of
//! PV and PQ buses and the magnitudes of PQ buses; the mismatch is `S(V) − S_scheduled`,
//! `S(V) = V ∘ conj(Y V)`. Each iteration solves the sparse Jacobian system by faer's sparse
//! LU with partial pivoting; the fill-reducing ordering (COLAMD) is computed once, since the
//! Jacobian's pattern does not change between iterations. Generators' reactive limits are not
//! enforced: the caller reports generators outside them.

use faer::linalg::solvers::Solve;
use faer::sparse::linalg::solvers::{Lu, SymbolicLu};
use faer::sparse::{Pair, SparseColMat, SymbolicSparseColMat};

use super::complex::C;
use super::network::SolverNetwork;
use super::{LoadFlowError, Voltages};

/// Tolerance on the largest power mismatch, pu (MATPOWER's default `pf.tol`).
const TOLERANCE: f64 = 1e-8;
/// Iterations before [`LoadFlowError::NotConverged`] (MATPOWER's default is 10).
pub(super) const MAX_ITERATIONS: usize = 30;

/// The bus admittance matrix of the closed branches and shunts, as sparse rows.
fn admittance_rows(net: &SolverNetwork) -> Vec<Vec<(usize, C)>> {
    let n = net.len();
    let mut rows: Vec<Vec<(usize, C)>> = (0..n).map(|i| vec![(i, net.shunt[i])]).collect();
    let add = |rows: &mut Vec<Vec<(usize, C)>>, i: usize, k: usize, y: C| {
        if let Some(entry) = rows[i].iter_mut().find(|(col, _)| *col == k) {
            entry.1 += y;
        } else {
            rows[i].push((k, y));
        }
    };
    for br in net.branches.iter().filter(|b| b.closed) {
        let ys = C::ONE / br.z;
        let half_b = C::new(0.0, br.b / 2.0);
        let t = br.tap;
        add(&mut rows, br.from, br.from, (ys + half_b) / (t * t.conj()));
        add(&mut rows, br.from, br.to, -(ys / t.conj()));
        add(&mut rows, br.to, br.from, -(ys / t));
        add(&mut rows, br.to, br.to, ys + half_b);
    }
    rows
}

/// Solve `net` by Newton–Raphson over its `energised` buses.
pub(super) fn newton_raphson(
    net: &SolverNetwork,
    energised: &[bool],
) -> Result<Voltages, LoadFlowError> {
    let n = net.len();
    let y = admittance_rows(net);
    // Unknown angles: energised PV and PQ buses; unknown magnitudes: energised PQ buses.
    let pvpq: Vec<usize> = (0..n)
        .filter(|&i| energised[i] && net.reference_v[i].is_none())
        .collect();
    let pq: Vec<usize> = pvpq
        .iter()
        .copied()
        .filter(|&i| net.pv_vm[i].is_none())
        .collect();
    let mut angle_col = vec![usize::MAX; n];
    for (c, &i) in pvpq.iter().enumerate() {
        angle_col[i] = c;
    }
    let mut vm_col = vec![usize::MAX; n];
    for (c, &i) in pq.iter().enumerate() {
        vm_col[i] = pvpq.len() + c;
    }
    let m = pvpq.len() + pq.len();
    let scheduled: Vec<C> = (0..n).map(|i| net.generation[i] - net.load[i]).collect();

    let mut vm: Vec<f64> = vec![0.0; n];
    let mut va: Vec<f64> = vec![0.0; n];
    for i in (0..n).filter(|&i| energised[i]) {
        let start = net.reference_v[i].unwrap_or(net.start[i]);
        vm[i] = net.pv_vm[i].unwrap_or(start.abs());
        va[i] = start.arg();
    }

    // The Jacobian's entries in a fixed order, the same every iteration: for bus i and each
    // admittance entry (i, k), the P row of i (and the Q row of a PQ bus) against the angle
    // column of k (and the magnitude column of a PQ bus k).
    let mut positions: Vec<Pair<usize, usize>> = Vec::new();
    for &i in &pvpq {
        for &(k, _) in &y[i] {
            for row in [angle_col[i], vm_col[i]] {
                for col in [angle_col[k], vm_col[k]] {
                    if row != usize::MAX && col != usize::MAX {
                        positions.push(Pair::new(row, col));
                    }
                }
            }
        }
    }
    let singular = |iterations| LoadFlowError::SingularJacobian { iterations };
    let (pattern, order) =
        SymbolicSparseColMat::try_new_from_indices(m, m, &positions).map_err(|_| singular(0))?;
    let symbolic_lu = SymbolicLu::try_new(pattern.as_ref()).map_err(|_| singular(0))?;

    let mut iterations = 0;
    let mut values: Vec<f64> = Vec::with_capacity(positions.len());
    let mut rhs = faer::Mat::<f64>::zeros(m, 1);
    loop {
        let v: Vec<C> = (0..n).map(|i| C::from_polar(vm[i], va[i])).collect();
        let current: Vec<C> = y
            .iter()
            .map(|row| {
                row.iter()
                    .fold(C::default(), |acc, &(k, yik)| acc + yik * v[k])
            })
            .collect();
        let mismatch: Vec<C> = (0..n)
            .map(|i| v[i] * current[i].conj() - scheduled[i])
            .collect();
        let worst = pvpq
            .iter()
            .map(|&i| mismatch[i].re.abs())
            .chain(pq.iter().map(|&i| mismatch[i].im.abs()))
            .fold(0.0, f64::max);
        if !worst.is_finite() || (iterations == MAX_ITERATIONS && worst >= TOLERANCE) {
            return Err(LoadFlowError::NotConverged {
                iterations,
                change_pu: f64::NAN,
                mismatch_pu: worst,
                tolerance: TOLERANCE,
            });
        }
        if worst < TOLERANCE {
            return Ok(Voltages { v, iterations });
        }
        iterations += 1;

        for (r, &i) in pvpq.iter().enumerate() {
            rhs[(r, 0)] = -mismatch[i].re;
        }
        for (r, &i) in pq.iter().enumerate() {
            rhs[(pvpq.len() + r, 0)] = -mismatch[i].im;
        }
        values.clear();
        for &i in &pvpq {
            let unit_i = C::from_polar(1.0, va[i]);
            for &(k, yik) in &y[i] {
                // dS_i/dθ_k = j V_i (δ_ik conj(I_i) − conj(Y_ik V_k))
                let mut ds_dva = -(yik * v[k]).conj();
                // dS_i/d|V_k| = V_i conj(Y_ik V̂_k) + δ_ik conj(I_i) V̂_i
                let mut ds_dvm = v[i] * (yik * C::from_polar(1.0, va[k])).conj();
                if k == i {
                    ds_dva += current[i].conj();
                    ds_dvm += current[i].conj() * unit_i;
                }
                let ds_dva = C::new(0.0, 1.0) * v[i] * ds_dva;
                // Same order as `positions`: P row then Q row; angle column then magnitude.
                for (row, part) in [(angle_col[i], 0), (vm_col[i], 1)] {
                    for (col, d) in [(angle_col[k], ds_dva), (vm_col[k], ds_dvm)] {
                        if row != usize::MAX && col != usize::MAX {
                            values.push(if part == 0 { d.re } else { d.im });
                        }
                    }
                }
            }
        }
        let jacobian = SparseColMat::new_from_argsort(pattern.clone(), &order, &values)
            .map_err(|_| singular(iterations))?;
        let lu = Lu::try_new_with_symbolic(symbolic_lu.clone(), jacobian.as_ref())
            .map_err(|_| singular(iterations))?;
        lu.solve_in_place(rhs.as_mut());
        if (0..m).any(|r| !rhs[(r, 0)].is_finite()) {
            return Err(singular(iterations));
        }
        for &i in &pvpq {
            va[i] += rhs[(angle_col[i], 0)];
        }
        for &i in &pq {
            vm[i] += rhs[(vm_col[i], 0)];
        }
    }
}
