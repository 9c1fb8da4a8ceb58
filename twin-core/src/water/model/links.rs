//! The elements of the hydraulic model from their EPANET rows, as EPANET's input stage builds
//! them (`input3.c` `tankdata`, `pipedata`, `pumpdata`, `valvedata`, `statusdata`;
//! `input1.c`/`input2.c` unit conversion and pump curves): tanks, pipes, pumps, valves, and the
//! `[STATUS]` section.

use std::collections::HashMap;

use super::{KW_PER_HP, M_PER_FT};
use super::{
    LinkKind, LinkModel, LinkStatus, ModelError, NodeKind, PumpCurve, SolverOptions, TankModel,
    Units, ValveType, interpolate,
};
use crate::formats::epanet::{EpanetNetwork, HeadLossFormula};

pub(super) fn tank_model(
    t: &crate::formats::epanet::TankRow,
    node: usize,
    el: f64,
    u: &Units,
    curve: impl Fn(&str) -> Result<Vec<(f64, f64)>, ModelError>,
) -> Result<TankModel, ModelError> {
    let bad_levels =
        t.init_level > t.max_level || t.min_level > t.max_level || t.init_level < t.min_level;
    if bad_levels {
        return Err(ModelError::Bad(format!(
            "tank {}: levels must satisfy minimum ≤ initial ≤ maximum (EPANET error 225)",
            t.id
        )));
    }
    let d = t.diameter * u.length;
    let area = std::f64::consts::PI * d * d / 4.0;
    let (h_min, h_max, h_init) = (
        el + t.min_level * u.length,
        el + t.max_level * u.length,
        el + t.init_level * u.length,
    );
    let Some(cid) = &t.volume_curve else {
        let v_min = if t.min_volume > 0.0 {
            t.min_volume * u.volume
        } else {
            area * t.min_level * u.length
        };
        return Ok(TankModel {
            node,
            h_min,
            h_max,
            h_init,
            v_min,
            v_max: v_min + area * (h_max - h_min),
            v_init: v_min + area * (h_init - h_min),
            area,
            volume_curve: None,
        });
    };
    let points: Vec<(f64, f64)> = curve(cid)?
        .iter()
        .map(|&(x, y)| (x * u.length, y * u.volume))
        .collect();
    let (first, last) = (points[0], points[points.len() - 1]);
    if points.windows(2).any(|w| w[1].0 <= w[0].0) {
        return Err(ModelError::Bad(format!(
            "tank {} volume curve {cid}: depths must increase (EPANET error 230)",
            t.id
        )));
    }
    if h_min - el < first.0 || h_max - el > last.0 {
        return Err(ModelError::Bad(format!(
            "tank {}: its levels lie outside volume curve {cid} (EPANET error 225)",
            t.id
        )));
    }
    let at = |h: f64| interpolate(points.iter().copied(), h - el);
    Ok(TankModel {
        node,
        h_min,
        h_max,
        h_init,
        v_min: at(h_min),
        v_max: at(h_max),
        v_init: at(h_init),
        area: if last.0 > first.0 {
            (last.1 - first.1) / (last.0 - first.0)
        } else {
            area
        },
        volume_curve: Some(points),
    })
}

pub(super) fn pipe_model(
    p: &crate::formats::epanet::PipeRow,
    index: &HashMap<&str, usize>,
    u: &Units,
    o: &SolverOptions,
) -> Result<LinkModel, ModelError> {
    let d = p.diameter * u.diameter;
    let l = p.length * u.length;
    if d <= 0.0 || l <= 0.0 || p.roughness <= 0.0 {
        return Err(ModelError::Bad(format!(
            "pipe {}: length, diameter and roughness must be positive (EPANET error 211)",
            p.id
        )));
    }
    let pi = std::f64::consts::PI;
    // Resistance per EPANET's `resistcoeff`.
    let (r, roughness) = match o.formula {
        HeadLossFormula::HazenWilliams => (
            4.727 * l / p.roughness.powf(1.852) / d.powf(4.871),
            p.roughness,
        ),
        HeadLossFormula::DarcyWeisbach => {
            let area = pi * d * d / 4.0;
            let e = p.roughness
                * if u.us {
                    0.001
                } else {
                    1.0 / (1000.0 * M_PER_FT)
                };
            (l / 2.0 / 32.2 / d / (area * area), e)
        }
        HeadLossFormula::ChezyManning => (
            (4.0 * p.roughness / (1.49 * pi * d * d)).powi(2) * (d / 4.0).powf(-1.333) * l,
            p.roughness,
        ),
    };
    let status = p.status.to_ascii_uppercase();
    Ok(LinkModel {
        id: p.id.clone(),
        from: index[p.node1.as_str()],
        to: index[p.node2.as_str()],
        diameter: d,
        kind: LinkKind::Pipe {
            r,
            km: 0.02517 * p.minor_loss / d.powi(4),
            check_valve: status == "CV",
            roughness,
            length: l,
        },
        status: if status == "CLOSED" {
            LinkStatus::Closed
        } else {
            LinkStatus::Open
        },
        setting: None,
    })
}

pub(super) fn pump_model(
    p: &crate::formats::epanet::PumpRow,
    index: &HashMap<&str, usize>,
    u: &Units,
    pattern_index: &HashMap<&str, usize>,
    curve: impl Fn(&str) -> Result<Vec<(f64, f64)>, ModelError>,
) -> Result<LinkModel, ModelError> {
    let mut head_curve = None;
    let mut power = None;
    let mut speed: f64 = 1.0;
    let mut speed_pattern = None;
    for (k, v) in &p.parameters {
        let number = || {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| {
                    ModelError::Bad(format!("pump {} {k} `{v}` (EPANET error 202)", p.id))
                })
        };
        match k.as_str() {
            "HEAD" => head_curve = Some(v.clone()),
            "SPEED" => speed = number()?,
            "POWER" => power = Some(number()?).filter(|x| *x > 0.0),
            "PATTERN" => {
                speed_pattern = Some(pattern_index.get(v.as_str()).copied().ok_or_else(|| {
                    ModelError::Bad(format!(
                        "pump {} names unknown pattern {v} (EPANET error 205)",
                        p.id
                    ))
                })?)
            }
            _ => {}
        }
    }
    let bad_curve = |cid: &str| {
        ModelError::Bad(format!(
            "pump {} curve {cid} is not a valid pump curve: flows must increase and heads decrease (EPANET error 227)",
            p.id
        ))
    };
    let (curve, q0, h_max) = match (head_curve, power) {
        (Some(cid), _) => {
            let pts: Vec<(f64, f64)> = curve(&cid)?
                .iter()
                .map(|&(x, y)| (x * u.flow, y * u.length))
                .collect();
            // EPANET's `updatepumpparams`: one point or three points from zero flow give a
            // power function; any other curve is used as given.
            let three = pts.len() == 3 && pts[0].0 == 0.0;
            if pts.len() == 1 || three {
                let (h0, h1, h2, q1, q2) = if three {
                    (pts[0].1, pts[1].1, pts[2].1, pts[1].0, pts[2].0)
                } else {
                    (1.33334 * pts[0].1, pts[0].1, 0.0, pts[0].0, 2.0 * pts[0].0)
                };
                let (h0, r, n) = power_curve(h0, h1, h2, q1, q2).ok_or_else(|| bad_curve(&cid))?;
                (PumpCurve::PowerFunction { h0, r, n }, q1, h0)
            } else {
                let invalid =
                    pts.len() < 2 || pts.windows(2).any(|w| w[1].0 <= w[0].0 || w[1].1 >= w[0].1);
                if invalid {
                    return Err(bad_curve(&cid));
                }
                let q0 = (pts[0].0 + pts[pts.len() - 1].0) / 2.0;
                let h_max = pts[0].1;
                (PumpCurve::Custom { points: pts }, q0, h_max)
            }
        }
        (None, Some(power)) => {
            // POWER is in kW for SI flow units and hp for US ones (EPANET 2.2 manual §3.1).
            let hp = if u.us { power } else { power / KW_PER_HP };
            (
                PumpCurve::ConstantPower { c: 8.814 * hp },
                1.0,
                f64::INFINITY,
            )
        }
        (None, None) => {
            return Err(ModelError::Bad(format!(
                "pump {} has neither a HEAD curve nor a POWER (EPANET error 226)",
                p.id
            )));
        }
    };
    Ok(LinkModel {
        id: p.id.clone(),
        from: index[p.node1.as_str()],
        to: index[p.node2.as_str()],
        diameter: 0.0,
        kind: LinkKind::Pump {
            curve,
            q0,
            h_max,
            speed_pattern,
        },
        status: if speed == 0.0 {
            LinkStatus::Closed
        } else {
            LinkStatus::Open
        },
        setting: Some(speed),
    })
}

/// A valve's setting from the file's units to internal ones.
pub(super) fn valve_setting(valve: &ValveType, value: f64, u: &Units) -> f64 {
    match valve {
        ValveType::Prv | ValveType::Psv | ValveType::Pbv => value * u.pressure,
        ValveType::Fcv => value * u.flow,
        ValveType::Tcv | ValveType::Gpv { .. } => value,
    }
}

pub(super) fn valve_model(
    v: &crate::formats::epanet::ValveRow,
    index: &HashMap<&str, usize>,
    kind: &[NodeKind],
    u: &Units,
    gpv_curve: Option<Vec<(f64, f64)>>,
) -> Result<LinkModel, ModelError> {
    let d = v.diameter * u.diameter;
    if d <= 0.0 {
        return Err(ModelError::Bad(format!(
            "valve {}: diameter must be positive (EPANET error 211)",
            v.id
        )));
    }
    let (from, to) = (index[v.node1.as_str()], index[v.node2.as_str()]);
    let valve = match v.valve_type.to_ascii_uppercase().as_str() {
        "PRV" => ValveType::Prv,
        "PSV" => ValveType::Psv,
        "PBV" => ValveType::Pbv,
        "FCV" => ValveType::Fcv,
        "TCV" => ValveType::Tcv,
        "GPV" => ValveType::Gpv {
            curve: gpv_curve
                .unwrap_or_default()
                .iter()
                .map(|&(q, h)| (q * u.flow, h * u.length))
                .collect(),
        },
        other => {
            return Err(ModelError::Bad(format!(
                "valve {}: unknown type {other} (EPANET error 213)",
                v.id
            )));
        }
    };
    if let ValveType::Gpv { curve } = &valve
        && (curve.len() < 2 || curve.windows(2).any(|w| w[1].0 <= w[0].0))
    {
        return Err(ModelError::Bad(format!(
            "GPV {} head-loss curve {}: two points or more with increasing flows (EPANET error 230)",
            v.id, v.setting
        )));
    }
    let regulating = matches!(valve, ValveType::Prv | ValveType::Psv | ValveType::Fcv);
    if regulating && (kind[from] != NodeKind::Junction || kind[to] != NodeKind::Junction) {
        return Err(ModelError::Bad(format!(
            "{} {} is connected to a tank or reservoir (EPANET error 219)",
            v.valve_type, v.id
        )));
    }
    let (status, setting) = if let ValveType::Gpv { .. } = valve {
        (LinkStatus::Open, Some(0.0))
    } else {
        let value: f64 = v.setting.parse().map_err(|_| {
            ModelError::Bad(format!(
                "valve {} setting `{}` (EPANET error 202)",
                v.id, v.setting
            ))
        })?;
        (LinkStatus::Active, Some(valve_setting(&valve, value, u)))
    };
    Ok(LinkModel {
        id: v.id.clone(),
        from,
        to,
        diameter: d,
        kind: LinkKind::Valve {
            km: 0.02517 * v.minor_loss / d.powi(4),
            valve,
        },
        status,
        setting,
    })
}

/// EPANET error 220: PRVs, PSVs and FCVs that share the nodes they regulate (`valvecheck`).
pub(super) fn check_valve_connections(
    new: &LinkModel,
    links: &[LinkModel],
) -> Result<(), ModelError> {
    let Some(t) = new.valve() else { return Ok(()) };
    let (j1, j2) = (new.from, new.to);
    for old in links {
        let Some(v) = old.valve() else { continue };
        let (v1, v2) = (old.from, old.to);
        use ValveType::{Fcv, Prv, Psv};
        let clash = match (v, t) {
            (Prv, Prv) => v2 == j2 || v2 == j1 || v1 == j2,
            (Psv, Psv) => v1 == j1 || v1 == j2 || v2 == j1,
            (Psv, Prv) => v1 == j2,
            (Prv, Psv) => v2 == j1,
            (Fcv, Psv) => v2 == j1,
            (Fcv, Prv) => v1 == j2,
            (Psv, Fcv) => v1 == j2,
            (Prv, Fcv) => v2 == j1,
            _ => false,
        };
        if clash {
            return Err(ModelError::Bad(format!(
                "valves {} and {} regulate the same node or are in series (EPANET error 220)",
                old.id, new.id
            )));
        }
    }
    Ok(())
}

/// `[STATUS]` lines as EPANET's `changestatus`: a pipe OPEN or CLOSED; a pump OPEN, CLOSED
/// or a relative speed; a valve fixed OPEN or CLOSED, or a new setting.
pub(super) fn apply_status_section(
    net: &EpanetNetwork,
    links: &mut [LinkModel],
    u: &Units,
) -> Result<(), ModelError> {
    for (id, value) in &net.status {
        let link = links.iter_mut().find(|l| l.id == *id).ok_or_else(|| {
            ModelError::Bad(format!(
                "[STATUS] names unknown link {id} (EPANET error 204)"
            ))
        })?;
        let word = value.to_ascii_uppercase();
        let number: Option<f64> = value.parse().ok();
        match (&link.kind, word.as_str(), number) {
            (
                LinkKind::Pipe {
                    check_valve: true, ..
                },
                _,
                _,
            ) => {
                return Err(ModelError::Bad(format!(
                    "[STATUS] sets check-valve pipe {id}: a check valve's status follows its flow (EPANET error 207)"
                )));
            }
            (LinkKind::Pipe { .. }, "OPEN", _) => link.status = LinkStatus::Open,
            (LinkKind::Pipe { .. }, "CLOSED", _) => link.status = LinkStatus::Closed,
            (LinkKind::Pipe { .. }, _, _) => {
                return Err(ModelError::Bad(format!(
                    "[STATUS] gives pipe {id} the setting {value}: a pipe is OPEN or CLOSED"
                )));
            }
            (LinkKind::Pump { .. }, "OPEN", _) => {
                link.status = LinkStatus::Open;
                link.setting = Some(1.0);
            }
            (LinkKind::Pump { .. }, "CLOSED", _) => link.status = LinkStatus::Closed,
            (LinkKind::Pump { .. }, _, Some(speed)) => {
                link.setting = Some(speed);
                link.status = if speed == 0.0 {
                    LinkStatus::Closed
                } else {
                    LinkStatus::Open
                };
            }
            (LinkKind::Valve { .. }, "OPEN", _) => {
                link.status = LinkStatus::Open;
                link.setting = None;
            }
            (LinkKind::Valve { .. }, "CLOSED", _) => {
                link.status = LinkStatus::Closed;
                link.setting = None;
            }
            (
                LinkKind::Valve {
                    valve: ValveType::Gpv { .. },
                    ..
                },
                _,
                _,
            ) => {
                return Err(ModelError::Bad(format!(
                    "[STATUS] gives GPV {id} a setting: a GPV is OPEN or CLOSED (EPANET error 207)"
                )));
            }
            (LinkKind::Valve { valve, .. }, _, Some(x)) => {
                link.setting = Some(valve_setting(valve, x, u));
                link.status = LinkStatus::Active;
            }
            _ => {
                return Err(ModelError::Bad(format!(
                    "[STATUS] {id} `{value}` (EPANET error 202)"
                )));
            }
        }
    }
    Ok(())
}

/// EPANET's power-function fit h = h0 − r·q^n through (0, h0), (q1, h1), (q2, h2)
/// (`powercurve`); None when the points do not make a falling curve with 0 < n ≤ 20.
fn power_curve(h0: f64, h1: f64, h2: f64, q1: f64, q2: f64) -> Option<(f64, f64, f64)> {
    const TINY: f64 = 1e-6;
    if h0 < TINY || h0 - h1 < TINY || h1 - h2 < TINY || q1 < TINY || q2 - q1 < TINY {
        return None;
    }
    let (h4, h5) = (h0 - h1, h0 - h2);
    let n = (h5 / h4).ln() / (q2 / q1).ln();
    if n <= 0.0 || n > 20.0 {
        return None;
    }
    Some((h0, h4 / q1.powf(n), n))
}
