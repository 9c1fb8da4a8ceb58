//! Newton–Raphson load flow in polar coordinates, for networks the sweep cannot hold: buses
//! whose generator holds their voltage (PV), loops through transformers or charged lines,
//! transmission grids.
//!
//! The formulation of MATPOWER's `newtonpf` (Zimmerman, Murillo-Sánchez and Thomas, IEEE
//! Trans. Power Systems 26(1), 2011; the derivatives of `dSbus_dV`): unknowns are the angles of
//! PV and PQ buses and the magnitudes of PQ buses; the mismatch is `S(V) − S_scheduled`,
//! `S(V) = V ∘ conj(Y V)`. Each iteration solves the Jacobian system by LU with partial
//! pivoting; the Jacobian is held dense, so cases are limited to [`MAX_BUSES`] energised buses
//! (larger ones are refused rather than solved slowly). Generators' reactive limits are not
//! enforced: the caller reports generators outside them.

use super::complex::C;
use super::network::SolverNetwork;
use super::{LoadFlowError, Voltages};

/// Tolerance on the largest power mismatch, pu (MATPOWER's default `pf.tol`).
const TOLERANCE: f64 = 1e-8;
/// Iterations before [`LoadFlowError::NotConverged`] (MATPOWER's default is 10).
pub(super) const MAX_ITERATIONS: usize = 30;
/// The largest number of energised buses solved (the Jacobian is dense: 2n × 2n).
pub const MAX_BUSES: usize = 1500;

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
    let live = energised.iter().filter(|&&e| e).count();
    if live > MAX_BUSES {
        return Err(LoadFlowError::TooLarge {
            buses: live,
            limit: MAX_BUSES,
        });
    }
    let y = admittance_rows(net);
    // Unknown angles: energised PV and PQ buses; unknown magnitudes: energised PQ buses.
    let pvpq: Vec<usize> = (0..n)
        .filter(|&i| energised[i] && i != net.slack)
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
        let start = if i == net.slack {
            net.slack_v
        } else {
            net.start[i]
        };
        vm[i] = net.pv_vm[i].unwrap_or(start.abs());
        va[i] = start.arg();
    }
    vm[net.slack] = net.slack_v.abs();
    va[net.slack] = net.slack_v.arg();

    let mut iterations = 0;
    let mut jacobian = vec![0.0; m * m];
    let mut rhs = vec![0.0; m];
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
        if !worst.is_finite() {
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
        if iterations == MAX_ITERATIONS {
            return Err(LoadFlowError::NotConverged {
                iterations,
                change_pu: f64::NAN,
                mismatch_pu: worst,
                tolerance: TOLERANCE,
            });
        }
        iterations += 1;

        // Jacobian rows: ∂P of PV and PQ buses, ∂Q of PQ buses; columns: angles, magnitudes.
        jacobian.iter_mut().for_each(|x| *x = 0.0);
        for (r, &i) in pvpq.iter().enumerate() {
            rhs[r] = -mismatch[i].re;
        }
        for (r, &i) in pq.iter().enumerate() {
            rhs[pvpq.len() + r] = -mismatch[i].im;
        }
        for &i in &pvpq {
            let p_row = angle_col[i];
            let q_row = vm_col[i]; // usize::MAX for PV buses: no Q equation
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
                for (row, part) in [(p_row, 0), (q_row, 1)] {
                    if row == usize::MAX {
                        continue;
                    }
                    let pick = |z: C| if part == 0 { z.re } else { z.im };
                    if angle_col[k] != usize::MAX {
                        jacobian[row * m + angle_col[k]] += pick(ds_dva);
                    }
                    if vm_col[k] != usize::MAX {
                        jacobian[row * m + vm_col[k]] += pick(ds_dvm);
                    }
                }
            }
        }
        if !solve_dense_real(&mut jacobian, &mut rhs, m) {
            return Err(LoadFlowError::SingularJacobian { iterations });
        }
        for &i in &pvpq {
            va[i] += rhs[angle_col[i]];
        }
        for &i in &pq {
            vm[i] += rhs[vm_col[i]];
        }
    }
}

/// Solve `a · x = b` in place (`a` is m × m row-major, overwritten; `b` becomes `x`) by
/// Gaussian elimination with partial pivoting. `false` when `a` is singular.
fn solve_dense_real(a: &mut [f64], b: &mut [f64], m: usize) -> bool {
    for col in 0..m {
        let pivot = (col..m)
            .max_by(|&i, &j| a[i * m + col].abs().total_cmp(&a[j * m + col].abs()))
            .unwrap_or(col);
        let d = a[pivot * m + col];
        if d.abs() < 1e-300 || !d.is_finite() {
            return false;
        }
        if pivot != col {
            for k in 0..m {
                a.swap(col * m + k, pivot * m + k);
            }
            b.swap(col, pivot);
        }
        let (upper, lower) = a.split_at_mut((col + 1) * m);
        let pivot_row = &upper[col * m..];
        for row in 0..m - col - 1 {
            let r = &mut lower[row * m..(row + 1) * m];
            let f = r[col] / d;
            if f == 0.0 {
                continue;
            }
            for k in col..m {
                r[k] -= f * pivot_row[k];
            }
            b[col + 1 + row] -= f * b[col];
        }
    }
    for col in (0..m).rev() {
        let mut s = b[col];
        for k in col + 1..m {
            s -= a[col * m + k] * b[k];
        }
        b[col] = s / a[col * m + col];
    }
    true
}
