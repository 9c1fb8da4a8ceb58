//! Head-loss coefficients of every link and pseudo-link: for the flow q of the last trial,
//! p = 1/h'(q) and y = h(q)/h'(q), so that a trial's flow update is q ← q − (y − p·Δh)
//! (EPANET 2.2 `hydcoeffs.c`: `pipecoeff`, `DWpipecoeff`, `pumpcoeff`, `valvecoeff` and the
//! valve-specific ones, `emitterheadloss`, `demandheadloss`).

use super::Hydraulics;
use crate::formats::epanet::HeadLossFormula;
use crate::water::model::{LinkKind, LinkStatus, PressureDriven, PumpCurve, ValveType};

/// EPANET's huge and tiny resistances (`CBIG`, `CSMALL`).
pub(super) const CBIG: f64 = 1e8;
pub(super) const CSMALL: f64 = 1e-6;
/// Gradients below this make the head loss linear (EPANET's `RQTOL`).
pub(super) const RQ_TOL: f64 = 1e-7;
const TINY: f64 = 1e-6;
/// Darcy–Weisbach constants of `hydcoeffs.c`: Re·π/4 at Re 4000 and 2000, 5.74·(π/4)^0.9,
/// −2/ln 10, 5.74/4000^0.9 and their product for Dunlop's transition polynomial.
const A1: f64 = 1000.0 * std::f64::consts::PI;
const A2: f64 = 500.0 * std::f64::consts::PI;
const A8: f64 = 4.618_413_198_590_666_686_9;
const A9: f64 = -8.685_889_638_065_036_553e-1;
const AB: f64 = 3.288_954_763_453_990_586_9e-3;
const AC: f64 = -5.142_149_657_990_938_837_6e-3;

/// (p, y) of a closed link: a huge linear resistance.
fn closed(q: f64) -> (f64, f64) {
    (1.0 / CBIG, q)
}

/// EPANET's sign: −1 below zero, +1 otherwise.
fn sgn(x: f64) -> f64 {
    if x < 0.0 { -1.0 } else { 1.0 }
}

impl Hydraulics<'_> {
    /// Compute p and y of every link (EPANET's `headlosscoeffs`). Active PRVs, PSVs and FCVs
    /// get p = 0 here; their rows are set in the matrix assembly.
    pub(super) fn head_loss_coefficients(&mut self) {
        for k in 0..self.m.links.len() {
            let (p, y) = self.link_coefficients(k);
            self.p[k] = p;
            self.y[k] = y;
        }
    }

    fn link_coefficients(&self, k: usize) -> (f64, f64) {
        let link = &self.m.links[k];
        let q = self.flow[k];
        let status = self.status[k];
        match &link.kind {
            LinkKind::Pipe { .. } if status.is_closed() => closed(q),
            LinkKind::Pipe {
                r, km, roughness, ..
            } => match self.m.options.formula {
                HeadLossFormula::DarcyWeisbach => {
                    self.darcy_weisbach(q, *r, *km, roughness / link.diameter, link.diameter)
                }
                _ => power_law(q, *r, *km, self.m.options.flow_exponent),
            },
            LinkKind::Pump { curve, .. } => pump(curve, q, status, self.setting[k].unwrap_or(1.0)),
            LinkKind::Valve { valve, km } => match valve {
                ValveType::Prv | ValveType::Psv | ValveType::Fcv => match self.setting[k] {
                    None => open_valve(q, *km, status),
                    Some(_) => (0.0, 0.0),
                },
                ValveType::Tcv => {
                    let km = match self.setting[k] {
                        Some(s) => 0.02517 * s / link.diameter.powi(4),
                        None => *km,
                    };
                    open_valve(q, km, status)
                }
                ValveType::Pbv => match self.setting[k] {
                    Some(s) if s != 0.0 && km * q * q <= s => (CBIG, s * CBIG),
                    _ => open_valve(q, *km, status),
                },
                ValveType::Gpv { curve } => {
                    if status == LinkStatus::Closed {
                        return open_valve(q, *km, status);
                    }
                    let aq = q.abs().max(TINY);
                    let (h0, r) = curve_segment(curve, aq);
                    let r = r.max(TINY);
                    (1.0 / r, (h0 / r + aq) * sgn(q))
                }
            },
        }
    }

    /// Darcy–Weisbach with EPANET 2.2's friction factor: Hagen–Poiseuille up to Re 2000,
    /// Dunlop's cubic to Re 4000, Swamee–Jain above; the gradient includes df/dq.
    fn darcy_weisbach(
        &self,
        flow: f64,
        r: f64,
        km: f64,
        relative_roughness: f64,
        d: f64,
    ) -> (f64, f64) {
        let q = flow.abs();
        let s = self.m.options.viscosity * d;
        let (hloss, hgrad) = if q <= A2 * s {
            let r = 16.0 * std::f64::consts::PI * s * r;
            (flow * (r + km * q), r + 2.0 * km * q)
        } else {
            let (f, dfdq) = friction_factor(q, relative_roughness, s);
            let r1 = f * r + km;
            (r1 * q * flow, 2.0 * r1 * q + dfdq * r * q * q)
        };
        (1.0 / hgrad, hloss / hgrad)
    }

    /// Head loss and gradient of junction `i`'s emitter at its current outflow.
    pub(super) fn emitter_head_loss(&self, i: usize) -> (f64, f64) {
        let n = self.m.options.emitter_exponent;
        let ke = self.m.emitter[i].max(CSMALL);
        let q = self.emitter_flow[i];
        let hgrad = n * ke * q.abs().powf(n - 1.0);
        if hgrad < RQ_TOL {
            (RQ_TOL * q, RQ_TOL)
        } else {
            (hgrad * q / n, hgrad)
        }
    }
}

/// Hazen–Williams or Chezy–Manning: r·|q|^n plus the minor loss km·q².
fn power_law(flow: f64, r: f64, km: f64, n: f64) -> (f64, f64) {
    let q = flow.abs();
    let mut hgrad = n * r * q.powf(n - 1.0);
    let mut hloss = if hgrad < RQ_TOL {
        hgrad = RQ_TOL;
        hgrad * q
    } else {
        hgrad * q / n
    };
    if km > 0.0 {
        hloss += km * q * q;
        hgrad += 2.0 * km * q;
    }
    (1.0 / hgrad, hloss * sgn(flow) / hgrad)
}

/// The friction factor and its derivative by flow at |q| (EPANET 2.2's `frictionFactor`).
fn friction_factor(q: f64, e: f64, s: f64) -> (f64, f64) {
    let w = q / s;
    if w >= A1 {
        let y1 = A8 / w.powf(0.9);
        let y2 = e / 3.7 + y1;
        let y3 = A9 * y2.ln();
        let f = 1.0 / (y3 * y3);
        (f, 1.8 * f * y1 * A9 / y2 / y3 / q)
    } else {
        let y2 = e / 3.7 + AB;
        let y3 = A9 * y2.ln();
        let fa = 1.0 / (y3 * y3);
        let fb = (2.0 + AC / (y2 * y3)) * fa;
        let r = w / A2;
        let x1 = 7.0 * fa - fb;
        let x2 = 0.128 - 17.0 * fa + 2.5 * fb;
        let x3 = -0.128 + 13.0 * fa - (fb + fb);
        let x4 = 0.032 - 3.0 * fa + 0.5 * fb;
        let f = x1 + r * (x2 + r * (x3 + r * x4));
        (f, (x2 + r * (2.0 * x3 + r * 3.0 * x4)) / s / A2)
    }
}

/// A pump at relative speed `speed` (head loss = −head gain).
fn pump(curve: &PumpCurve, flow: f64, status: LinkStatus, speed: f64) -> (f64, f64) {
    if status.is_closed() || speed == 0.0 {
        return closed(flow);
    }
    let q = flow.abs();
    let (hloss, hgrad) = match curve {
        PumpCurve::Custom { points } => {
            let (h0, slope) = curve_segment(points, q / speed);
            let hgrad = -slope * speed;
            (-h0 * speed * speed + hgrad * flow, hgrad)
        }
        PumpCurve::PowerFunction { h0, r, n } => {
            let h0 = -h0 * speed * speed;
            let n = if (n - 1.0).abs() < TINY { 1.0 } else { *n };
            let r = r * speed.powf(2.0 - n);
            if n == 1.0 {
                (h0 + r * flow, r)
            } else {
                let hgrad = n * r * q.powf(n - 1.0);
                if hgrad < RQ_TOL {
                    (h0 + RQ_TOL * flow, RQ_TOL)
                } else {
                    (h0 + hgrad * flow / n, hgrad)
                }
            }
        }
        PumpCurve::ConstantPower { c } => {
            // EPANET's R = −8.814·hp, N = −1: r = R·speed³, gradient −r/q².
            let r = -c * speed.powi(3);
            let hgrad = -r / q / q;
            if hgrad > CBIG {
                (-CBIG * flow, CBIG)
            } else if hgrad < RQ_TOL {
                (-RQ_TOL * flow, RQ_TOL)
            } else {
                (r / flow, hgrad)
            }
        }
    };
    (1.0 / hgrad, hloss / hgrad)
}

/// An open (or closed) valve with minor loss `km` (EPANET's `valvecoeff`).
pub(super) fn open_valve(flow: f64, km: f64, status: LinkStatus) -> (f64, f64) {
    if status.is_closed() {
        return closed(flow);
    }
    if km > 0.0 {
        let hgrad = 2.0 * km * flow.abs();
        if hgrad < RQ_TOL {
            (1.0 / RQ_TOL, flow)
        } else {
            (1.0 / hgrad, flow / 2.0)
        }
    } else {
        (1.0 / CSMALL, flow)
    }
}

/// The straight line through the segment of `points` (x, y) that holds `x`, extended beyond
/// the first and last points: (y at x = 0, slope) (EPANET's `curvecoeff`).
pub(super) fn curve_segment(points: &[(f64, f64)], x: f64) -> (f64, f64) {
    let k = points
        .windows(2)
        .position(|w| x <= w[1].0)
        .unwrap_or(points.len().saturating_sub(2));
    let ((x1, y1), (x2, y2)) = (points[k], points[k + 1]);
    let slope = (y2 - y1) / (x2 - x1);
    (y1 - slope * x1, slope)
}

/// Head loss and gradient of the pressure-driven demand pseudo-link of a junction whose full
/// demand is `full` at delivered demand `d` (cfs): Pmin + (Preq − Pmin)·(d/D)^(1/e) above
/// the junction's elevation, with EPANET 2.2's barriers for d < 0 and d > D
/// (`demandheadloss`).
pub(super) fn demand_head_loss(pda: &PressureDriven, dp: f64, full: f64, d: f64) -> (f64, f64) {
    let n = 1.0 / pda.exponent;
    let r = d / full;
    if r <= 0.0 {
        (CBIG * d, CBIG)
    } else if r < 1.0 {
        let hgrad = n * dp * r.powf(n - 1.0) / full;
        if hgrad < RQ_TOL {
            (RQ_TOL * d, RQ_TOL)
        } else {
            (hgrad * d / n, hgrad)
        }
    } else {
        (dp + CBIG * (d - full), CBIG)
    }
}
