//! The hydraulic model of an EPANET network in EPANET's internal units: feet, cubic feet per
//! second, seconds, with EPANET 2.2's link statuses and settings (`types.h`, `input1.c`,
//! `input3.c` of the reference source). Results convert to SI at the edge.

use std::collections::HashMap;

use crate::formats::epanet::{EpanetNetwork, HeadLossFormula};

mod controls;
pub mod energy;
mod links;
pub mod quality;
pub mod rules;

pub const M_PER_FT: f64 = 0.3048;
pub const M3S_PER_CFS: f64 = 0.028_316_846_592;
/// EPANET's psi per foot of water.
pub const PSI_PER_FT: f64 = 0.4333;
/// EPANET's kilowatts per horsepower (`KWperHP`).
pub const KW_PER_HP: f64 = 0.7457;
/// EPANET's kinematic viscosity of water at 20 °C (ft²/s, `VISCOS`).
pub const WATER_VISCOSITY: f64 = 1.1e-5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Junction,
    Reservoir,
    Tank,
}

/// A link's status, in EPANET 2.2's order (`StatusType`): everything up to [`LinkStatus::Closed`]
/// carries no flow. `XHead` is a pump that cannot deliver the head, `TempClosed` a link closed
/// by a full or empty tank, `XFcv` a flow control valve that cannot hold its flow,
/// `XPressure` a pressure valve that cannot hold its pressure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LinkStatus {
    XHead,
    TempClosed,
    Closed,
    Open,
    Active,
    XFlow,
    XFcv,
    XPressure,
}

impl LinkStatus {
    /// Carries no flow (EPANET's `status <= CLOSED`).
    pub fn is_closed(self) -> bool {
        self <= LinkStatus::Closed
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TankModel {
    pub node: usize,
    /// Lowest, highest and initial water surface elevations (ft).
    pub h_min: f64,
    pub h_max: f64,
    pub h_init: f64,
    /// Volumes (ft³) at those levels.
    pub v_min: f64,
    pub v_max: f64,
    pub v_init: f64,
    /// Cross-section (ft²); for a volume curve, the nominal one between its end points.
    pub area: f64,
    /// Volume curve: (depth above the bottom ft, volume ft³), depths increasing.
    pub volume_curve: Option<Vec<(f64, f64)>>,
}

impl TankModel {
    /// Volume (ft³) at water surface elevation `h` (EPANET's `tankvolume`).
    pub fn volume_at(&self, h: f64, elevation: f64) -> f64 {
        match &self.volume_curve {
            None => self.v_min + (h - self.h_min) * self.area,
            Some(c) => interpolate(c.iter().map(|&(x, y)| (x, y)), h - elevation),
        }
    }

    /// Water surface elevation (ft) holding volume `v` (EPANET's `tankgrade`).
    pub fn head_at(&self, v: f64, elevation: f64) -> f64 {
        match &self.volume_curve {
            None => self.h_min + (v - self.v_min) / self.area,
            Some(c) => elevation + interpolate(c.iter().map(|&(x, y)| (y, x)), v),
        }
    }
}

/// Linear interpolation in a table of increasing x, held constant beyond its ends (EPANET's
/// `interp`).
pub fn interpolate(points: impl Iterator<Item = (f64, f64)> + Clone, x: f64) -> f64 {
    let mut prev: Option<(f64, f64)> = None;
    for (xk, yk) in points.clone() {
        match prev {
            None if x <= xk => return yk,
            Some((x0, y0)) if xk >= x => {
                let dx = xk - x0;
                return if dx.abs() < 1e-6 {
                    yk
                } else {
                    yk - (xk - x) * (yk - y0) / dx
                };
            }
            _ => {}
        }
        prev = Some((xk, yk));
    }
    prev.map_or(0.0, |p| p.1)
}

/// A pump's head curve at relative speed 1 (head gain in ft, flow in cfs).
#[derive(Debug, Clone, PartialEq)]
pub enum PumpCurve {
    /// h = h0 − r·q^n, fitted to a one- or three-point curve (EPANET's `POWER_FUNC`).
    PowerFunction { h0: f64, r: f64, n: f64 },
    /// Linear between points, extended along the end segments (EPANET's `CUSTOM`).
    Custom { points: Vec<(f64, f64)> },
    /// Constant water power: head gain c/q, c = 8.814 × horsepower (EPANET's `CONST_HP`).
    ConstantPower { c: f64 },
}

/// A valve type (EPANET 2.2 manual §3.1 `[VALVES]`).
#[derive(Debug, Clone, PartialEq)]
pub enum ValveType {
    /// Pressure reducing: holds the downstream pressure at its setting (ft).
    Prv,
    /// Pressure sustaining: holds the upstream pressure at its setting (ft).
    Psv,
    /// Pressure breaker: a head loss equal to its setting (ft).
    Pbv,
    /// Flow control: limits the flow to its setting (cfs).
    Fcv,
    /// Throttle control: a loss coefficient equal to its setting.
    Tcv,
    /// General purpose: head loss from a curve (flow cfs, head loss ft).
    Gpv { curve: Vec<(f64, f64)> },
}

#[derive(Debug, Clone, PartialEq)]
pub enum LinkKind {
    /// `r` is the resistance of the model's head-loss formula (Darcy–Weisbach: L/(2g·D·A²),
    /// multiplied by the friction factor at each flow); `km` the minor loss per q²;
    /// `roughness` the Darcy–Weisbach roughness (ft) or the formula's coefficient.
    Pipe {
        r: f64,
        km: f64,
        check_valve: bool,
        roughness: f64,
        /// Length (ft), for the pipe's volume in water-quality transport.
        length: f64,
    },
    /// `q0` the initial (design) flow, `h_max` the shutoff head used to shut the pump when it
    /// cannot deliver the head, `speed_pattern` the pattern of relative speed.
    Pump {
        curve: PumpCurve,
        q0: f64,
        h_max: f64,
        speed_pattern: Option<usize>,
    },
    /// `km` the minor loss per q² of the fully open valve.
    Valve { valve: ValveType, km: f64 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct LinkModel {
    pub id: String,
    pub from: usize,
    pub to: usize,
    pub diameter: f64,
    pub kind: LinkKind,
    /// Initial status (EPANET's `Link.Status`).
    pub status: LinkStatus,
    /// Initial setting: a pump's relative speed, a valve's setting in internal units; `None`
    /// for a valve whose status is fixed OPEN or CLOSED (EPANET's `MISSING`).
    pub setting: Option<f64>,
}

impl LinkModel {
    pub fn is_pump(&self) -> bool {
        matches!(self.kind, LinkKind::Pump { .. })
    }
    pub fn is_pipe(&self) -> bool {
        matches!(self.kind, LinkKind::Pipe { .. })
    }
    pub fn valve(&self) -> Option<&ValveType> {
        match &self.kind {
            LinkKind::Valve { valve, .. } => Some(valve),
            _ => None,
        }
    }
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

/// When a simple control acts (EPANET 2.2 manual §3.1 `[CONTROLS]`).
#[derive(Debug, Clone, PartialEq)]
pub enum ControlCondition {
    /// The node's head (tank: water surface; junction: elevation + pressure) at or below `grade`.
    LowLevel { node: usize, grade: f64 },
    /// The node's head at or above `grade`.
    HighLevel { node: usize, grade: f64 },
    /// `AT TIME`: seconds since the start.
    Timer(u64),
    /// `AT CLOCKTIME`: seconds since midnight.
    TimeOfDay(u64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    pub link: usize,
    pub condition: ControlCondition,
    /// The status and setting the control gives the link (as `LinkModel::status`/`setting`).
    pub status: LinkStatus,
    pub setting: Option<f64>,
}

/// What to do when a period does not converge in `TRIALS` (`[OPTIONS] UNBALANCED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unbalanced {
    Stop,
    /// Continue with this many extra trials, statuses frozen.
    Continue(usize),
}

/// Solver options in internal units (EPANET 2.2 manual §3.1 `[OPTIONS]`; defaults from
/// `input1.c`).
#[derive(Debug, Clone, PartialEq)]
pub struct SolverOptions {
    pub formula: HeadLossFormula,
    /// Head-loss flow exponent: 1.852 for Hazen–Williams, 2 otherwise.
    pub flow_exponent: f64,
    /// Kinematic viscosity (ft²/s).
    pub viscosity: f64,
    pub specific_gravity: f64,
    /// `TRIALS` (200).
    pub max_trials: usize,
    /// `ACCURACY` (0.001): sum of flow changes over sum of flows.
    pub accuracy: f64,
    pub unbalanced: Unbalanced,
    /// `CHECKFREQ` (2) and `MAXCHECK` (10).
    pub check_freq: usize,
    pub max_check: usize,
    /// `DAMPLIMIT` (0: no damping).
    pub damp_limit: f64,
    /// `HEADERROR` (ft) and `FLOWCHANGE` (cfs); 0 = not used.
    pub head_error_limit: f64,
    pub flow_change_limit: f64,
    /// Emitter head-loss exponent 1/`EMITTER EXPONENT`.
    pub emitter_exponent: f64,
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
    /// `[ENERGY]`: efficiencies and prices for the pumps' energy and cost.
    pub energy: energy::EnergySettings,
    /// Water quality (`[OPTIONS] QUALITY` and the quality sections), if simulated.
    pub quality: Option<quality::QualityModel>,
    /// `[RULES]`, evaluated every `rule_step_s` within a hydraulic step.
    pub rules: Vec<rules::Rule>,
    /// `[TIMES] RULE TIMESTEP` (default: a tenth of the hydraulic step).
    pub rule_step_s: u64,
    pub duration_s: u64,
    pub hydraulic_step_s: u64,
    pub pattern_step_s: u64,
    pub pattern_start_s: u64,
    pub report_step_s: u64,
    /// `START CLOCKTIME`: seconds after midnight at t = 0.
    pub start_clock_s: u64,
    pub options: SolverOptions,
    /// Initial head of fixed-head nodes (reservoirs; tanks at their initial level).
    pub fixed_head: Vec<f64>,
    /// Per node: the emitter's head-loss coefficient Ke (ft per cfs^`emitter_exponent`), 0
    /// for none: an outflow C·p^γ to the atmosphere (EPANET 2.2 manual §3.1 `[EMITTERS]`, the
    /// way leaks and sprinklers are modelled) is the head loss Ke·q^(1/γ).
    pub emitter: Vec<f64>,
    /// `DEMAND MODEL PDA`: pressure-driven demand, else demand-driven.
    pub pda: Option<PressureDriven>,
    /// Per node: a demand held at every time (cfs), replacing the file's categories and
    /// patterns (a measured demand, or none for a junction cut off); see
    /// [`HydModel::set_fixed_demand`].
    pub fixed_demand: Vec<Option<f64>>,
}

/// EPANET's keyword test (`match` in its input reader): `word` starts with `key`, ignoring
/// ASCII case. Safe on any text: a word whose bytes do not split at `key`'s length (a
/// multi-byte character there) does not match.
pub(super) fn keyword_is(word: &str, key: &str) -> bool {
    word.get(..key.len())
        .is_some_and(|w| w.eq_ignore_ascii_case(key))
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

/// Unit factors from a file's units to EPANET's internal ones (the inverse of EPANET's `Ucf`).
struct Units {
    /// Flow (file units → cfs).
    flow: f64,
    /// Lengths and elevations (→ ft).
    length: f64,
    /// Diameters (inches or mm → ft).
    diameter: f64,
    /// Pressure (psi or m → ft of water at the model's specific gravity).
    pressure: f64,
    /// Volume (ft³ or m³ → ft³).
    volume: f64,
    us: bool,
}

impl HydModel {
    /// Build the model of `net` as EPANET 2.2's input stage does (`input1.c`–`input3.c`),
    /// refusing what EPANET refuses (with its error number) and what is not modelled yet.
    pub fn from_epanet(net: &EpanetNetwork) -> Result<HydModel, ModelError> {
        let options = solver_options(net)?;
        let us = net.flow_units.is_us();
        let length = if us { 1.0 } else { 1.0 / M_PER_FT };
        let u = Units {
            flow: net.flow_units.to_m3s() / M3S_PER_CFS,
            length,
            diameter: if us {
                1.0 / 12.0
            } else {
                1.0 / (1000.0 * M_PER_FT)
            },
            pressure: if us { 1.0 / PSI_PER_FT } else { 1.0 / M_PER_FT } / options.specific_gravity,
            volume: length.powi(3),
            us,
        };
        let pattern_index: HashMap<&str, usize> = net
            .patterns
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (id.as_str(), i))
            .collect();
        let default_pattern = pattern_index
            .get(net.options.get("PATTERN").map_or("1", |p| p.as_str()))
            .copied();
        let pat = |p: &Option<String>| -> Option<usize> {
            match p {
                Some(id) => pattern_index.get(id.as_str()).copied(),
                None => default_pattern,
            }
        };
        let curve = |id: &str, what: &str| -> Result<Vec<(f64, f64)>, ModelError> {
            net.curves
                .iter()
                .find(|(c, _)| c == id)
                .map(|(_, pts)| pts.clone())
                .ok_or_else(|| {
                    ModelError::Bad(format!(
                        "{what} names unknown curve {id} (EPANET error 206)"
                    ))
                })
        };
        let mut node_ids = Vec::new();
        let mut kind = Vec::new();
        let mut elevation = Vec::new();
        let mut demands = Vec::new();
        let mut head_pattern = Vec::new();
        let mut fixed_head = Vec::new();
        let mut tanks = Vec::new();
        for j in &net.junctions {
            node_ids.push(j.id.clone());
            kind.push(NodeKind::Junction);
            elevation.push(j.elevation * u.length);
            demands.push(if j.base_demand != 0.0 {
                vec![(j.base_demand * u.flow, pat(&j.pattern))]
            } else {
                vec![]
            });
            head_pattern.push(None);
            fixed_head.push(0.0);
        }
        for r in &net.reservoirs {
            node_ids.push(r.id.clone());
            kind.push(NodeKind::Reservoir);
            elevation.push(r.head * u.length);
            demands.push(vec![]);
            head_pattern.push(
                r.pattern
                    .as_ref()
                    .and_then(|p| pattern_index.get(p.as_str()).copied()),
            );
            fixed_head.push(r.head * u.length);
        }
        for t in &net.tanks {
            let node = node_ids.len();
            let el = t.elevation * u.length;
            let tank =
                links::tank_model(t, node, el, &u, |id| curve(id, &format!("tank {}", t.id)))?;
            node_ids.push(t.id.clone());
            kind.push(NodeKind::Tank);
            elevation.push(el);
            demands.push(vec![]);
            head_pattern.push(None);
            fixed_head.push(tank.h_init);
            // A tank of zero diameter holds its initial level, volume curve or not: EPANET
            // takes a zero cross-section for a fixed-head node (its `Tank.A == 0` test).
            if t.diameter > 0.0 {
                tanks.push(tank);
            }
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
            demands[i].push((d * u.flow, pat(p)));
        }
        let mut links = Vec::new();
        for p in &net.pipes {
            links.push(links::pipe_model(p, &index, &u, &options)?);
        }
        for p in &net.pumps {
            links.push(links::pump_model(p, &index, &u, &pattern_index, |id| {
                curve(id, &format!("pump {}", p.id))
            })?);
        }
        for v in &net.valves {
            let gpv_curve = if v.valve_type.eq_ignore_ascii_case("GPV") {
                Some(curve(&v.setting, &format!("valve {}", v.id))?)
            } else {
                None
            };
            let valve = links::valve_model(v, &index, &kind, &u, gpv_curve)?;
            links::check_valve_connections(&valve, &links)?;
            links.push(valve);
        }
        links::apply_status_section(net, &mut links, &u)?;
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
        let option_number = |key: &str, default: f64| option_value(net, key, default);
        let pda = match net.options.get("DEMAND MODEL") {
            Some(m) if m.eq_ignore_ascii_case("PDA") => {
                // Defaults as EPANET 2.2: 0 and 0.1 pressure units, exponent 0.5.
                let minimum = option_number("MINIMUM PRESSURE", 0.0)?;
                let required = option_number("REQUIRED PRESSURE", minimum + 0.1)?;
                let exponent = option_number("PRESSURE EXPONENT", 0.5)?;
                if required - minimum < 0.1 || exponent <= 0.0 || minimum < 0.0 {
                    return Err(ModelError::Bad(format!(
                        "pressure-driven demand needs REQUIRED PRESSURE at least 0.1 above MINIMUM PRESSURE (≥ 0) and a positive exponent (got {minimum}, {required}, {exponent}; EPANET error 208)"
                    )));
                }
                Some(PressureDriven {
                    minimum_ft: minimum * u.pressure,
                    required_ft: required * u.pressure,
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
            if *c > 0.0 {
                // q = C·p^γ in file units is the head loss Ke·q_cfs^(1/γ) with
                // Ke = pressure / (C·flow)^(1/γ) (EPANET's `convertunits`).
                emitter[i] = u.pressure / (c * u.flow).powf(options.emitter_exponent);
            }
        }
        let link_index: HashMap<&str, usize> = links
            .iter()
            .enumerate()
            .map(|(i, l)| (l.id.as_str(), i))
            .collect();
        let controls = net
            .controls
            .iter()
            .map(|c| controls::parse_control(c, &links, &link_index, &index, &kind, &elevation, &u))
            .collect::<Result<Vec<_>, _>>()?;
        let rules = rules::parse_rules(
            &net.rules,
            &index,
            &kind,
            &links,
            &rules::RuleUnits {
                head: 1.0 / u.length,
                pressure: 1.0 / u.pressure,
                flow: 1.0 / u.flow,
            },
        )?;
        let time = |key: &str, default: u64| -> Result<u64, ModelError> {
            match net.times.get(key) {
                None => Ok(default),
                Some(v) => {
                    parse_time(v).ok_or_else(|| ModelError::Bad(format!("[TIMES] {key} `{v}`")))
                }
            }
        };
        // Steps as EPANET's `adjustdata`: the hydraulic step no longer than the pattern and
        // report steps.
        let pattern_step_s = time("PATTERN TIMESTEP", 3600)?.max(1);
        let report_step_s = match time("REPORT TIMESTEP", 3600)? {
            0 => pattern_step_s,
            r => r,
        };
        let hydraulic_step_s = match time("HYDRAULIC TIMESTEP", 3600)? {
            0 => 3600,
            h => h,
        }
        .min(pattern_step_s)
        .min(report_step_s);
        let energy = energy::parse_energy(
            &net.energy,
            &links,
            &pattern_index,
            |id| {
                net.curves
                    .iter()
                    .find(|(c, _)| c == id)
                    .map(|(_, p)| p.clone())
            },
            u.flow,
        )?;
        let rule_step_s = match time("RULE TIMESTEP", 0)? {
            0 => hydraulic_step_s / 10,
            r => r,
        }
        .min(hydraulic_step_s)
        .max(1);
        let quality = quality::parse_quality(
            net,
            &quality::QualityContext {
                node_ids: &node_ids,
                kind: &kind,
                links: &links,
                tank_nodes: tanks.iter().map(|t| t.node).collect(),
                raw_roughness_diameter: net
                    .pipes
                    .iter()
                    .map(|p| (p.roughness, p.diameter))
                    .chain(std::iter::repeat((0.0, 0.0)))
                    .take(links.len())
                    .collect(),
                patterns: &pattern_index,
                hydraulic_step_s,
                us,
            },
        )?;
        let node_count = node_ids.len();
        Ok(HydModel {
            node_ids,
            kind,
            elevation,
            demands,
            head_pattern,
            tanks,
            links,
            patterns: net.patterns.iter().map(|(_, v)| v.clone()).collect(),
            demand_multiplier: option_number("DEMAND MULTIPLIER", 1.0)?,
            controls,
            energy,
            quality,
            rules,
            rule_step_s,
            duration_s: time("DURATION", 0)?,
            hydraulic_step_s,
            pattern_step_s,
            pattern_start_s: time("PATTERN START", 0)?,
            report_step_s,
            start_clock_s: time("START CLOCKTIME", 0)? % 86_400,
            options,
            fixed_demand: vec![None; node_count],
            emitter,
            pda,
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
    /// controls and rule actions that would reopen it are dropped.
    pub fn close_link(&mut self, k: usize) {
        self.links[k].status = LinkStatus::Closed;
        if self.links[k].valve().is_some() {
            self.links[k].setting = None;
        }
        self.controls.retain(|c| c.link != k);
        for r in &mut self.rules {
            r.then_actions.retain(|a| a.link != k);
            r.else_actions.retain(|a| a.link != k);
        }
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

    /// Start the run at time `t` (s) of the patterns: demands, reservoir heads and pump speeds
    /// at t = 0 are those of `t` (a steady state at a time of day, tanks at their initial
    /// levels; EPANET's PATTERN START moved on by `t`).
    pub fn start_patterns_at(&mut self, t: u64) {
        self.pattern_start_s += t;
    }

    /// Junction `node`'s demand at time `t` (s from the start), in the model's internal units
    /// (cfs): its demand categories times their patterns times the demand multiplier, or its
    /// fixed demand (EPANET 2.2 `demands`, hydraul.c). The one demand every command uses.
    pub fn demand_at(&self, node: usize, t: u64) -> f64 {
        match self.fixed_demand[node] {
            Some(q) => q,
            None => {
                self.demands[node]
                    .iter()
                    .map(|&(base, p)| base * self.pattern_factor(p, t))
                    .sum::<f64>()
                    * self.demand_multiplier
            }
        }
    }

    /// The start of the pattern period of the first day with the highest system demand, s
    /// (the time a break hurts most; 0 for a network without patterns).
    pub fn peak_demand_time_s(&self) -> u64 {
        let step = self.pattern_step_s.max(1);
        (0..86_400 / step)
            .map(|k| k * step)
            .fold((0, f64::NEG_INFINITY), |best, t| {
                let d = self.system_demand_m3s_at(t);
                if d > best.1 + 1e-12 { (t, d) } else { best }
            })
            .0
    }

    /// Junction `node`'s demand at time `t` (s from the start), m³/s (see [`Self::demand_at`]).
    pub fn demand_m3s_at(&self, node: usize, t: u64) -> f64 {
        self.demand_at(node, t) * M3S_PER_CFS
    }

    /// The network's demand at time `t` (s from the start), m³/s: every junction's demand
    /// at that time, those drawing water (negative demands are inflows and left out, as
    /// EPANET's system demand does).
    pub fn system_demand_m3s_at(&self, t: u64) -> f64 {
        (0..self.node_ids.len())
            .filter(|&i| self.kind[i] == NodeKind::Junction)
            .map(|i| self.demand_m3s_at(i, t))
            .filter(|&d| d > 0.0)
            .sum()
    }

    /// The multiplier of `pattern` in the pattern period holding time `t` (s); 1 without a
    /// pattern (EPANET's `demands`: period (t + start) / step, modulo the pattern's length).
    pub fn pattern_factor(&self, pattern: Option<usize>, t: u64) -> f64 {
        match pattern.and_then(|p| self.patterns.get(p)) {
            Some(v) if !v.is_empty() => {
                v[(((t + self.pattern_start_s) / self.pattern_step_s) as usize) % v.len()]
            }
            _ => 1.0,
        }
    }
}

/// A numeric `[OPTIONS]` value (the first word), or `default`.
fn option_value(net: &EpanetNetwork, key: &str, default: f64) -> Result<f64, ModelError> {
    match net.options.get(key) {
        None => Ok(default),
        Some(v) => v
            .split_ascii_whitespace()
            .next()
            .and_then(|x| x.parse::<f64>().ok())
            .filter(|x| x.is_finite())
            .ok_or_else(|| ModelError::Bad(format!("[OPTIONS] {key} `{v}`"))),
    }
}

/// The solver's options with EPANET 2.2's defaults and ranges (`optionvalue`, `adjustdata`).
fn solver_options(net: &EpanetNetwork) -> Result<SolverOptions, ModelError> {
    let number = |key: &str, default: f64| option_value(net, key, default);
    let positive = |key: &str, default: f64| -> Result<f64, ModelError> {
        let v = number(key, default)?;
        if v <= 0.0 {
            return Err(ModelError::Bad(format!(
                "[OPTIONS] {key} {v} must be positive (EPANET error 213)"
            )));
        }
        Ok(v)
    };
    let not_negative = |key: &str| -> Result<f64, ModelError> {
        let v = number(key, 0.0)?;
        if v < 0.0 {
            return Err(ModelError::Bad(format!(
                "[OPTIONS] {key} {v} must not be negative (EPANET error 213)"
            )));
        }
        Ok(v)
    };
    let us = net.flow_units.is_us();
    // VISCOSITY above 1e-3 is relative to water's; below, the value itself (ft²/s or m²/s).
    let viscosity = match net.options.get("VISCOSITY") {
        None => WATER_VISCOSITY,
        Some(_) => {
            let v = positive("VISCOSITY", 1.0)?;
            if v > 1e-3 {
                v * WATER_VISCOSITY
            } else if us {
                v
            } else {
                v / (M_PER_FT * M_PER_FT)
            }
        }
    };
    let unbalanced = match net.options.get("UNBALANCED") {
        None => Unbalanced::Stop,
        Some(v) => {
            let mut words = v.split_ascii_whitespace();
            match words.next().map(|w| w.to_ascii_uppercase()).as_deref() {
                Some("STOP") => Unbalanced::Stop,
                Some("CONTINUE") => Unbalanced::Continue(match words.next() {
                    None => 0,
                    Some(n) => n
                        .parse::<usize>()
                        .map_err(|_| ModelError::Bad(format!("[OPTIONS] UNBALANCED `{v}`")))?,
                }),
                _ => {
                    return Err(ModelError::Bad(format!(
                        "[OPTIONS] UNBALANCED `{v}`: STOP or CONTINUE [n]"
                    )));
                }
            }
        }
    };
    let formula = net.headloss;
    Ok(SolverOptions {
        formula,
        flow_exponent: if formula == HeadLossFormula::HazenWilliams {
            1.852
        } else {
            2.0
        },
        viscosity,
        specific_gravity: positive("SPECIFIC GRAVITY", 1.0)?,
        max_trials: positive("TRIALS", 200.0)? as usize,
        accuracy: positive("ACCURACY", 1e-3)?.clamp(1e-5, 1e-1),
        unbalanced,
        check_freq: (positive("CHECKFREQ", 2.0)? as usize).max(1),
        max_check: positive("MAXCHECK", 10.0)? as usize,
        damp_limit: number("DAMPLIMIT", 0.0)?,
        head_error_limit: not_negative("HEADERROR")? * if us { 1.0 } else { 1.0 / M_PER_FT },
        flow_change_limit: not_negative("FLOWCHANGE")? * net.flow_units.to_m3s() / M3S_PER_CFS,
        emitter_exponent: 1.0 / positive("EMITTER EXPONENT", 0.5)?,
    })
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

    #[test]
    fn keywords_match_as_epanet_and_never_split_a_character() {
        assert!(keyword_is("EFFICIENCY", "EFFIC"));
        assert!(keyword_is("effic", "EFFIC"));
        assert!(!keyword_is("EFF", "EFFIC"));
        assert!(!keyword_is("éfficience", "EFFIC"));
        assert!(!keyword_is("PRIXé", "PRICE"));
    }

    #[test]
    fn interpolation_holds_the_ends() {
        let pts = [(0.0, 0.0), (10.0, 100.0), (20.0, 400.0)];
        assert_eq!(interpolate(pts.iter().copied(), -1.0), 0.0);
        assert_eq!(interpolate(pts.iter().copied(), 5.0), 50.0);
        assert_eq!(interpolate(pts.iter().copied(), 15.0), 250.0);
        assert_eq!(interpolate(pts.iter().copied(), 25.0), 400.0);
    }
}
