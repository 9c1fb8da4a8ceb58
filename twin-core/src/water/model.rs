//! The hydraulic model of an EPANET network in EPANET's internal units: feet, cubic feet per
//! second, seconds. Results convert to SI at the edge.

use std::collections::HashMap;

use crate::formats::epanet::{EpanetNetwork, HeadLossFormula};

pub const M_PER_FT: f64 = 0.3048;
pub const M3S_PER_CFS: f64 = 0.028_316_846_592;
/// EPANET's psi per foot of water.
pub const PSI_PER_FT: f64 = 0.4333;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Junction,
    Reservoir,
    Tank,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TankModel {
    pub node: usize,
    pub min_level: f64,
    pub max_level: f64,
    pub init_level: f64,
    pub area: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LinkKind {
    /// Head loss r·|q|^n (+ minor loss m·q²); Darcy–Weisbach uses n = 2 with r from the
    /// friction factor at each flow.
    Pipe {
        r: f64,
        m: f64,
        check_valve: bool,
        dw_roughness: Option<f64>,
        length: f64,
    },
    /// Head gain h0 − r·q^n at relative speed 1.
    Pump { h0: f64, r: f64, n: f64, speed: f64 },
    /// Head gain from a multi-point curve (flow cfs, head ft, flows increasing), linear between
    /// points and extended along the end segments, at relative speed 1 (EPANET's custom curve).
    PumpCurve { points: Vec<(f64, f64)>, speed: f64 },
    /// A constant-power pump: head gain `c / q` (ft, q in cfs), c = 8.814 × horsepower (the
    /// water power P = γ·Q·H of EPANET's `POWER` keyword).
    PumpPower { c: f64 },
    /// Throttle control valve: minor loss m·q² from its loss coefficient.
    Tcv { m: f64 },
    /// Pressure reducing valve: holds the downstream head at `head` when active.
    Prv { head: f64, m: f64 },
    /// Pressure sustaining valve: holds the upstream head at `head` when active.
    Psv { head: f64, m: f64 },
    /// Flow control valve: holds the flow at `flow` (cfs) when active.
    Fcv { flow: f64, m: f64 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct LinkModel {
    pub id: String,
    pub from: usize,
    pub to: usize,
    pub diameter: f64,
    pub kind: LinkKind,
    pub open: bool,
    /// A control valve fixed open by `[STATUS] OPEN`: it does not regulate (EPANET's
    /// fixed status), it is an open valve with its minor loss.
    pub fixed_open: bool,
}

/// EPANET 2.2's pressure-driven demand (Wagner et al. 1988): a junction receives its full
/// demand D at `required_ft` of pressure or more, none at `minimum_ft` or less, and
/// D·((p − Pmin)/(Preq − Pmin))^(1/exponent) between.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PressureDriven {
    pub minimum_ft: f64,
    pub required_ft: f64,
    pub exponent: f64,
}

/// A link's `[STATUS]` line, read for its kind of link.
enum StatusLine {
    Open,
    Closed,
    Setting(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Node grade (tank: elevation + level; junction: elevation + pressure) above or below.
    Grade {
        node: usize,
        above: bool,
        grade: f64,
    },
    Time(u64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    pub link: usize,
    pub open: bool,
    pub condition: Condition,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HydModel {
    pub node_ids: Vec<String>,
    pub kind: Vec<NodeKind>,
    pub elevation: Vec<f64>,
    /// (base demand cfs, pattern index) per junction demand category.
    pub demands: Vec<Vec<(f64, Option<usize>)>>,
    /// Reservoir head pattern.
    pub head_pattern: Vec<Option<usize>>,
    pub tanks: Vec<TankModel>,
    pub links: Vec<LinkModel>,
    pub patterns: Vec<Vec<f64>>,
    pub demand_multiplier: f64,
    pub controls: Vec<Control>,
    pub duration_s: u64,
    pub hydraulic_step_s: u64,
    pub pattern_step_s: u64,
    pub pattern_start_s: u64,
    pub report_step_s: u64,
    pub formula: HeadLossFormula,
    /// Relative flow change at which Newton iterations stop (`[OPTIONS] ACCURACY`).
    pub accuracy: f64,
    /// Initial head of fixed-head nodes (reservoirs; tanks at their initial level).
    pub fixed_head: Vec<f64>,
    /// Per node: the emitter coefficient (cfs per ft^`emitter_exponent` of pressure), 0 for
    /// none: a flow `C·p^γ` out of the junction to the atmosphere (EPANET 2.2 manual §3.1
    /// `[EMITTERS]`, the way leaks and sprinklers are modelled).
    pub emitter: Vec<f64>,
    /// `[OPTIONS] EMITTER EXPONENT` γ (default 0.5).
    pub emitter_exponent: f64,
    /// `DEMAND MODEL PDA`: pressure-driven demand, else demand-driven.
    pub pda: Option<PressureDriven>,
    /// `[OPTIONS] CHECKFREQ` (default 2) and `MAXCHECK` (default 10): how often pumps, check
    /// valves and tank links change status before convergence, and until which trial.
    pub check_freq: usize,
    pub max_check: usize,
    /// Per node: a demand held at every time (cfs), replacing the file's categories and
    /// patterns (a measured demand, or none for a junction cut off); see
    /// [`HydModel::set_fixed_demand`].
    pub fixed_demand: Vec<Option<f64>>,
}

/// EPANET time values: `h:mm[:ss]`, a number of hours, or a number with a unit; clock times
/// with `am`/`pm`.
pub fn parse_time(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let mut parts = t.split_ascii_whitespace();
    let value = parts.next()?;
    let unit = parts.next().unwrap_or("");
    let seconds = if value.contains(':') {
        let f: Vec<f64> = value
            .split(':')
            .map(|x| x.parse::<f64>().ok())
            .collect::<Option<_>>()?;
        f.first().copied().unwrap_or(0.0) * 3600.0
            + f.get(1).copied().unwrap_or(0.0) * 60.0
            + f.get(2).copied().unwrap_or(0.0)
    } else {
        let v: f64 = value.parse().ok()?;
        match unit {
            "sec" | "second" | "seconds" | "s" => v,
            "min" | "minute" | "minutes" => v * 60.0,
            "day" | "days" => v * 86_400.0,
            _ => v * 3600.0,
        }
    };
    let seconds = match unit {
        "am" if seconds >= 12.0 * 3600.0 => seconds - 12.0 * 3600.0,
        "pm" if seconds < 12.0 * 3600.0 => seconds + 12.0 * 3600.0,
        _ => seconds,
    };
    (seconds >= 0.0 && seconds.is_finite()).then(|| seconds.round() as u64)
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("{0} is not supported by the hydraulic solver yet")]
    Unsupported(String),
    #[error("control `{0}` is not understood")]
    BadControl(String),
    #[error("{0}")]
    Bad(String),
}

impl HydModel {
    pub fn from_epanet(net: &EpanetNetwork) -> Result<HydModel, ModelError> {
        let us = net.flow_units.is_us();
        let q = net.flow_units.to_m3s() / M3S_PER_CFS;
        let len = if us { 1.0 } else { 1.0 / M_PER_FT };
        let dia = if us {
            1.0 / 12.0
        } else {
            1.0 / (1000.0 * M_PER_FT)
        };
        let pressure = if us { 1.0 / PSI_PER_FT } else { 1.0 / M_PER_FT };
        let mut node_ids = Vec::new();
        let mut kind = Vec::new();
        let mut elevation = Vec::new();
        let mut demands = Vec::new();
        let mut head_pattern = Vec::new();
        let mut fixed_head = Vec::new();
        let mut tanks = Vec::new();
        let pattern_index: HashMap<&str, usize> = net
            .patterns
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (id.as_str(), i))
            .collect();
        let default_pattern = net
            .options
            .get("PATTERN")
            .and_then(|p| pattern_index.get(p.as_str()).copied())
            .or_else(|| pattern_index.get("1").copied());
        let pat = |p: &Option<String>| -> Option<usize> {
            match p {
                Some(id) => pattern_index.get(id.as_str()).copied(),
                None => default_pattern,
            }
        };
        for j in &net.junctions {
            node_ids.push(j.id.clone());
            kind.push(NodeKind::Junction);
            elevation.push(j.elevation * len);
            demands.push(if j.base_demand != 0.0 {
                vec![(j.base_demand * q, pat(&j.pattern))]
            } else {
                vec![]
            });
            head_pattern.push(None);
            fixed_head.push(0.0);
        }
        for r in &net.reservoirs {
            node_ids.push(r.id.clone());
            kind.push(NodeKind::Reservoir);
            elevation.push(r.head * len);
            demands.push(vec![]);
            head_pattern.push(
                r.pattern
                    .as_ref()
                    .and_then(|p| pattern_index.get(p.as_str()).copied()),
            );
            fixed_head.push(r.head * len);
        }
        for t in &net.tanks {
            if t.volume_curve.is_some() {
                return Err(ModelError::Unsupported(format!(
                    "tank {} volume curve",
                    t.id
                )));
            }
            let node = node_ids.len();
            node_ids.push(t.id.clone());
            kind.push(NodeKind::Tank);
            elevation.push(t.elevation * len);
            demands.push(vec![]);
            head_pattern.push(None);
            fixed_head.push((t.elevation + t.init_level) * len);
            let d = t.diameter * len;
            tanks.push(TankModel {
                node,
                min_level: t.min_level * len,
                max_level: t.max_level * len,
                init_level: t.init_level * len,
                area: std::f64::consts::PI * d * d / 4.0,
            });
        }
        let index: HashMap<&str, usize> = node_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        // [DEMANDS] replaces a junction's demand list.
        let mut replaced = std::collections::HashSet::new();
        for (jid, d, p) in &net.demands {
            let i = *index.get(jid.as_str()).ok_or_else(|| {
                ModelError::Bad(format!("[DEMANDS] names unknown junction {jid}"))
            })?;
            if replaced.insert(i) {
                demands[i].clear();
            }
            demands[i].push((d * q, pat(p)));
        }
        let curve = |id: &str| {
            net.curves
                .iter()
                .find(|(c, _)| c == id)
                .map(|(_, pts)| pts.clone())
        };
        let mut links = Vec::new();
        let status_of = |id: &str| -> Option<StatusLine> {
            net.status
                .iter()
                .rev()
                .find(|(l, _)| l == id)
                .map(|(_, s)| match s.to_ascii_uppercase().as_str() {
                    "OPEN" => StatusLine::Open,
                    "CLOSED" => StatusLine::Closed,
                    // The reader accepts only OPEN, CLOSED and numbers.
                    _ => StatusLine::Setting(s.parse().unwrap_or(0.0)),
                })
        };
        let known_links: std::collections::HashSet<&str> = net
            .pipes
            .iter()
            .map(|p| p.id.as_str())
            .chain(net.pumps.iter().map(|p| p.id.as_str()))
            .chain(net.valves.iter().map(|v| v.id.as_str()))
            .collect();
        if let Some((id, _)) = net
            .status
            .iter()
            .find(|(l, _)| !known_links.contains(l.as_str()))
        {
            return Err(ModelError::Bad(format!("[STATUS] names unknown link {id}")));
        }
        for p in &net.pipes {
            let d = p.diameter * dia;
            let l = p.length * len;
            let status = p.status.to_ascii_uppercase();
            let (r, dw) = match net.headloss {
                HeadLossFormula::HazenWilliams => {
                    (4.727 * l / p.roughness.powf(1.852) / d.powf(4.871), None)
                }
                HeadLossFormula::DarcyWeisbach => (
                    0.0,
                    Some(p.roughness * if us { 0.001 } else { 1.0 / (1000.0 * M_PER_FT) }),
                ),
                HeadLossFormula::ChezyManning => {
                    return Err(ModelError::Unsupported(
                        "the Chezy-Manning head-loss formula".into(),
                    ));
                }
            };
            let open = match status_of(&p.id) {
                None => status != "CLOSED",
                Some(_) if status == "CV" => {
                    return Err(ModelError::Bad(format!(
                        "[STATUS] sets check-valve pipe {}: a check valve's status follows its flow",
                        p.id
                    )));
                }
                Some(StatusLine::Open) => true,
                Some(StatusLine::Closed) => false,
                Some(StatusLine::Setting(v)) => {
                    return Err(ModelError::Bad(format!(
                        "[STATUS] gives pipe {} the setting {v}: a pipe is OPEN or CLOSED",
                        p.id
                    )));
                }
            };
            links.push(LinkModel {
                fixed_open: false,
                id: p.id.clone(),
                from: index[p.node1.as_str()],
                to: index[p.node2.as_str()],
                diameter: d,
                kind: LinkKind::Pipe {
                    r,
                    m: 0.02517 * p.minor_loss / d.powi(4),
                    check_valve: status == "CV",
                    dw_roughness: dw,
                    length: l,
                },
                open,
            });
        }
        for p in &net.pumps {
            let mut head_curve = None;
            let mut power_kw_or_hp = None;
            let mut speed: f64 = 1.0;
            for (k, v) in &p.parameters {
                match k.as_str() {
                    "HEAD" => head_curve = Some(v.clone()),
                    "SPEED" => {
                        speed = v
                            .parse()
                            .map_err(|_| ModelError::Bad(format!("pump {} speed `{v}`", p.id)))?
                    }
                    "PATTERN" => {
                        return Err(ModelError::Unsupported(format!(
                            "pump {} speed pattern",
                            p.id
                        )));
                    }
                    "POWER" => {
                        power_kw_or_hp =
                            Some(v.parse::<f64>().ok().filter(|x| *x > 0.0).ok_or_else(|| {
                                ModelError::Bad(format!("pump {} power `{v}`", p.id))
                            })?)
                    }
                    _ => {}
                }
            }
            let mut kind = match (head_curve, power_kw_or_hp) {
                (Some(cid), _) => {
                    let pts = curve(&cid).ok_or_else(|| {
                        ModelError::Bad(format!("pump {} names unknown curve {cid}", p.id))
                    })?;
                    let pts: Vec<(f64, f64)> = pts.iter().map(|&(x, y)| (x * q, y * len)).collect();
                    match pts.as_slice() {
                        // EPANET's single-point curve: shutoff 1.33334·h1, zero head at 2·q1.
                        [(q1, h1)] => {
                            let (h0, r, n) = power_curve(1.33334 * h1, *h1, 0.0, *q1, 2.0 * q1);
                            LinkKind::Pump { h0, r, n, speed }
                        }
                        [(q0, h0), (q1, h1), (q2, h2)]
                            if *q0 == 0.0 && h0 > h1 && h1 > h2 && q1 < q2 =>
                        {
                            let (h0, r, n) = power_curve(*h0, *h1, *h2, *q1, *q2);
                            LinkKind::Pump { h0, r, n, speed }
                        }
                        _ => {
                            let rising =
                                pts.windows(2).any(|w| w[1].0 <= w[0].0 || w[1].1 > w[0].1);
                            if pts.len() < 2 || rising {
                                return Err(ModelError::Bad(format!(
                                    "pump {} curve {cid}: flows must increase and heads must not (EPANET error 227)",
                                    p.id
                                )));
                            }
                            LinkKind::PumpCurve { points: pts, speed }
                        }
                    }
                }
                (None, Some(power)) => {
                    if speed != 1.0 {
                        return Err(ModelError::Unsupported(format!(
                            "a speed setting on constant-power pump {}",
                            p.id
                        )));
                    }
                    // POWER is in kW for SI flow units and hp for US ones (EPANET 2.2 manual).
                    let hp = if us { power } else { power / 0.745_699_9 };
                    LinkKind::PumpPower { c: 8.814 * hp }
                }
                (None, None) => {
                    return Err(ModelError::Bad(format!(
                        "pump {} has neither a HEAD curve nor a POWER",
                        p.id
                    )));
                }
            };
            // A number in [STATUS] is the pump's relative speed (0 stops it).
            let open = match status_of(&p.id) {
                None | Some(StatusLine::Open) => true,
                Some(StatusLine::Closed) => false,
                Some(StatusLine::Setting(v)) => {
                    match &mut kind {
                        LinkKind::Pump { speed, .. } | LinkKind::PumpCurve { speed, .. } => {
                            *speed = v
                        }
                        _ if v != 1.0 => {
                            return Err(ModelError::Unsupported(format!(
                                "a speed setting on constant-power pump {}",
                                p.id
                            )));
                        }
                        _ => {}
                    }
                    v > 0.0
                }
            };
            links.push(LinkModel {
                fixed_open: false,
                id: p.id.clone(),
                from: index[p.node1.as_str()],
                to: index[p.node2.as_str()],
                diameter: 0.0,
                kind,
                open,
            });
        }
        for v in &net.valves {
            let d = v.diameter * dia;
            let status = status_of(&v.id);
            let setting: f64 = match status {
                // [STATUS] with a number replaces the valve's setting.
                Some(StatusLine::Setting(x)) => x,
                _ => v.setting.parse().map_err(|_| {
                    ModelError::Bad(format!("valve {} setting `{}`", v.id, v.setting))
                })?,
            };
            let (from, to) = (index[v.node1.as_str()], index[v.node2.as_str()]);
            let m = 0.02517 * v.minor_loss / d.powi(4);
            let valve = match v.valve_type.as_str() {
                "TCV" => LinkKind::Tcv {
                    m: 0.02517 * (setting + v.minor_loss) / d.powi(4),
                },
                "PRV" | "PSV" => {
                    let held = if v.valve_type == "PRV" { to } else { from };
                    if kind[held] != NodeKind::Junction {
                        return Err(ModelError::Unsupported(format!(
                            "{} valve {} holding the head of a tank or reservoir",
                            v.valve_type, v.id
                        )));
                    }
                    let head = elevation[held] + setting * pressure;
                    if v.valve_type == "PRV" {
                        LinkKind::Prv { head, m }
                    } else {
                        LinkKind::Psv { head, m }
                    }
                }
                "FCV" => LinkKind::Fcv {
                    flow: setting * q,
                    m,
                },
                other => return Err(ModelError::Unsupported(format!("{other} valve {}", v.id))),
            };
            let open = !matches!(status, Some(StatusLine::Closed));
            let fixed_open =
                matches!(status, Some(StatusLine::Open)) && !matches!(valve, LinkKind::Tcv { .. });
            links.push(LinkModel {
                fixed_open,
                id: v.id.clone(),
                from,
                to,
                diameter: d,
                kind: valve,
                open,
            });
        }
        // EPANET error 233: a node that no link touches.
        let mut touched = vec![false; node_ids.len()];
        for l in &links {
            touched[l.from] = true;
            touched[l.to] = true;
        }
        if let Some(i) = touched.iter().position(|t| !t) {
            return Err(ModelError::Bad(format!(
                "node {} is connected to no link (EPANET error 233: unconnected nodes)",
                node_ids[i]
            )));
        }
        let emitter_exponent = net
            .options
            .get("EMITTER EXPONENT")
            .map(|v| {
                v.parse::<f64>()
                    .ok()
                    .filter(|e| *e > 0.0 && e.is_finite())
                    .ok_or_else(|| ModelError::Bad(format!("EMITTER EXPONENT `{v}`")))
            })
            .transpose()?
            .unwrap_or(0.5);
        let option_number = |key: &str, default: f64| -> Result<f64, ModelError> {
            match net.options.get(key) {
                None => Ok(default),
                Some(v) => v
                    .split_ascii_whitespace()
                    .next()
                    .and_then(|x| x.parse::<f64>().ok())
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| ModelError::Bad(format!("[OPTIONS] {key} `{v}`"))),
            }
        };
        let pda = match net.options.get("DEMAND MODEL") {
            Some(m) if m.eq_ignore_ascii_case("PDA") => {
                // Defaults as EPANET 2.2: 0 and 0.1 pressure units, exponent 0.5.
                let minimum = option_number("MINIMUM PRESSURE", 0.0)?;
                let required = option_number("REQUIRED PRESSURE", 0.1)?;
                let exponent = option_number("PRESSURE EXPONENT", 0.5)?;
                if required - minimum < 0.1 || exponent <= 0.0 || minimum < 0.0 {
                    return Err(ModelError::Bad(format!(
                        "pressure-driven demand needs REQUIRED PRESSURE at least 0.1 above MINIMUM PRESSURE (≥ 0) and a positive exponent (got {minimum}, {required}, {exponent}; EPANET error 208)"
                    )));
                }
                Some(PressureDriven {
                    minimum_ft: minimum * pressure,
                    required_ft: required * pressure,
                    exponent,
                })
            }
            _ => None,
        };
        let mut emitter = vec![0.0; node_ids.len()];
        for (jid, c) in &net.emitters {
            let i = *index.get(jid.as_str()).ok_or_else(|| {
                ModelError::Bad(format!("[EMITTERS] names unknown junction {jid}"))
            })?;
            if kind[i] != NodeKind::Junction {
                return Err(ModelError::Bad(format!(
                    "[EMITTERS] names {jid}, which is not a junction"
                )));
            }
            // q_user = C·p_user^γ, p_user = p_ft / pressure, q_cfs = q_user · q.
            emitter[i] = c * q / pressure.powf(emitter_exponent);
        }
        let link_index: HashMap<&str, usize> = links
            .iter()
            .enumerate()
            .map(|(i, l)| (l.id.as_str(), i))
            .collect();
        let mut controls = Vec::new();
        for c in &net.controls {
            let f: Vec<&str> = c.split_ascii_whitespace().collect();
            let bad = || ModelError::BadControl(c.clone());
            if f.len() < 5 || !f[0].eq_ignore_ascii_case("LINK") {
                return Err(bad());
            }
            let link = *link_index.get(f[1]).ok_or_else(bad)?;
            let open = match f[2].to_ascii_uppercase().as_str() {
                "OPEN" => true,
                "CLOSED" => false,
                _ => {
                    return Err(ModelError::Unsupported(format!(
                        "control setting `{}` in `{c}`",
                        f[2]
                    )));
                }
            };
            let condition = match (
                f[3].to_ascii_uppercase().as_str(),
                f.get(4).map(|s| s.to_ascii_uppercase()),
            ) {
                ("IF", Some(ref n)) if n == "NODE" && f.len() >= 8 => {
                    let node = *index.get(f[5]).ok_or_else(bad)?;
                    let above = match f[6].to_ascii_uppercase().as_str() {
                        "ABOVE" => true,
                        "BELOW" => false,
                        _ => return Err(bad()),
                    };
                    let v: f64 = f[7].parse().map_err(|_| bad())?;
                    let grade = match kind[node] {
                        NodeKind::Tank => elevation[node] + v * len,
                        NodeKind::Junction => elevation[node] + v * pressure,
                        NodeKind::Reservoir => return Err(bad()),
                    };
                    Condition::Grade { node, above, grade }
                }
                ("AT", Some(ref t)) if t == "TIME" => {
                    Condition::Time(parse_time(&f[5..].join(" ")).ok_or_else(bad)?)
                }
                _ => return Err(ModelError::Unsupported(format!("control `{c}`"))),
            };
            controls.push(Control {
                link,
                open,
                condition,
            });
        }
        let time = |key: &str, default: u64| {
            net.times
                .get(key)
                .and_then(|v| parse_time(v))
                .unwrap_or(default)
        };
        let duration_s = time("DURATION", 0);
        let node_count = node_ids.len();
        let hydraulic_step_s = time("HYDRAULIC TIMESTEP", 3600).max(1);
        Ok(HydModel {
            node_ids,
            kind,
            elevation,
            demands,
            head_pattern,
            tanks,
            links,
            patterns: net.patterns.iter().map(|(_, v)| v.clone()).collect(),
            demand_multiplier: net
                .options
                .get("DEMAND MULTIPLIER")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1.0),
            controls,
            duration_s,
            hydraulic_step_s,
            pattern_step_s: time("PATTERN TIMESTEP", 3600).max(1),
            pattern_start_s: time("PATTERN START", 0),
            report_step_s: time("REPORT TIMESTEP", 3600).max(1),
            formula: net.headloss,
            accuracy: net
                .options
                .get("ACCURACY")
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|a| *a > 0.0)
                .unwrap_or(1e-3),
            fixed_demand: vec![None; node_count],
            emitter,
            emitter_exponent,
            pda,
            check_freq: (option_number("CHECKFREQ", 2.0)? as usize).max(1),
            max_check: option_number("MAXCHECK", 10.0)? as usize,
            fixed_head,
        })
    }

    /// The index of the node with EPANET id `id`.
    pub fn node_index(&self, id: &str) -> Option<usize> {
        self.node_ids.iter().position(|n| n == id)
    }

    /// The index of the link with EPANET id `id`.
    pub fn link_index(&self, id: &str) -> Option<usize> {
        self.links.iter().position(|l| l.id == id)
    }

    /// Hold junction `node`'s demand at `m3s` at every time, in place of its demand categories,
    /// patterns and the demand multiplier: the live twin's measured demands, or 0 for a
    /// junction cut off from supply. The network file is left as it is.
    pub fn set_fixed_demand(&mut self, node: usize, m3s: f64) {
        self.fixed_demand[node] = Some(m3s / M3S_PER_CFS);
    }

    /// Close link `k` for the whole run (a drained segment, a shut isolation valve); the
    /// controls that would reopen it are dropped.
    pub fn close_link(&mut self, k: usize) {
        self.links[k].open = false;
        self.controls.retain(|c| c.link != k);
    }

    /// Junction `node`'s base demand (m³/s): its fixed demand, or the sum of its categories'
    /// base demands times the demand multiplier.
    pub fn base_demand_m3s(&self, node: usize) -> f64 {
        match self.fixed_demand[node] {
            Some(q) => q * M3S_PER_CFS,
            None => {
                self.demands[node].iter().map(|d| d.0).sum::<f64>()
                    * self.demand_multiplier
                    * M3S_PER_CFS
            }
        }
    }

    pub fn pattern_factor(&self, pattern: Option<usize>, t: u64) -> f64 {
        match pattern.and_then(|p| self.patterns.get(p)) {
            Some(v) if !v.is_empty() => {
                v[(((t + self.pattern_start_s) / self.pattern_step_s) as usize) % v.len()]
            }
            _ => 1.0,
        }
    }
}

/// EPANET's three-point power curve h = h0 − r·q^n.
fn power_curve(h0: f64, h1: f64, h2: f64, q1: f64, q2: f64) -> (f64, f64, f64) {
    let h4 = h0 - h1;
    let h5 = h0 - h2;
    let n = (h5 / h4).ln() / (q2 / q1).ln();
    let r = h4 / q1.powf(n);
    (h0, r, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epanet_times() {
        assert_eq!(parse_time("24:00"), Some(86_400));
        assert_eq!(parse_time("0:05"), Some(300));
        assert_eq!(parse_time("12 am"), Some(0));
        assert_eq!(parse_time("6 pm"), Some(18 * 3600));
        assert_eq!(parse_time("2"), Some(7200));
        assert_eq!(parse_time("30 min"), Some(1800));
        assert_eq!(parse_time("soon"), None);
    }
}
