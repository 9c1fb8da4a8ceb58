//! EPANET `.inp` files: the network sections the hydraulic model needs, read into plain rows in
//! the file's own units (see [`FlowUnits`]) and written back in SI (LPS) by the city generator.
//!
//! Read: `[TITLE] [JUNCTIONS] [RESERVOIRS] [TANKS] [PIPES] [PUMPS] [VALVES] [DEMANDS] [STATUS]
//! [PATTERNS] [CURVES] [CONTROLS] [RULES] [ENERGY] [QUALITY] [SOURCES] [REACTIONS] [MIXING] [OPTIONS] [TIMES] [COORDINATES] [TAGS]`. Any other section
//! with content is listed in [`EpanetNetwork::unsupported`], never silently skipped.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::LineError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowUnits {
    Cfs,
    Gpm,
    Mgd,
    Imgd,
    Afd,
    Lps,
    Lpm,
    Mld,
    Cmh,
    Cmd,
}

impl FlowUnits {
    fn parse(s: &str) -> Option<FlowUnits> {
        Some(match s.to_ascii_uppercase().as_str() {
            "CFS" => FlowUnits::Cfs,
            "GPM" => FlowUnits::Gpm,
            "MGD" => FlowUnits::Mgd,
            "IMGD" => FlowUnits::Imgd,
            "AFD" => FlowUnits::Afd,
            "LPS" => FlowUnits::Lps,
            "LPM" => FlowUnits::Lpm,
            "MLD" => FlowUnits::Mld,
            "CMH" => FlowUnits::Cmh,
            "CMD" => FlowUnits::Cmd,
            _ => return None,
        })
    }

    /// US customary units (feet, inches, psi) rather than SI (metres, millimetres).
    pub fn is_us(self) -> bool {
        matches!(
            self,
            FlowUnits::Cfs | FlowUnits::Gpm | FlowUnits::Mgd | FlowUnits::Imgd | FlowUnits::Afd
        )
    }

    /// Cubic metres per second in one unit of this flow.
    pub fn to_m3s(self) -> f64 {
        match self {
            FlowUnits::Cfs => 0.028316846592,
            FlowUnits::Gpm => 0.028316846592 / 448.831,
            FlowUnits::Mgd => 0.028316846592 * 1.547228,
            FlowUnits::Imgd => 0.028316846592 * 1.858_145,
            FlowUnits::Afd => 0.028316846592 * 0.5041667,
            FlowUnits::Lps => 1e-3,
            FlowUnits::Lpm => 1e-3 / 60.0,
            FlowUnits::Mld => 1e3 / 86_400.0,
            FlowUnits::Cmh => 1.0 / 3_600.0,
            FlowUnits::Cmd => 1.0 / 86_400.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadLossFormula {
    HazenWilliams,
    DarcyWeisbach,
    ChezyManning,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JunctionRow {
    pub id: String,
    pub elevation: f64,
    pub base_demand: f64,
    pub pattern: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReservoirRow {
    pub id: String,
    pub head: f64,
    pub pattern: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TankRow {
    pub id: String,
    pub elevation: f64,
    pub init_level: f64,
    pub min_level: f64,
    pub max_level: f64,
    pub diameter: f64,
    pub min_volume: f64,
    pub volume_curve: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PipeRow {
    pub id: String,
    pub node1: String,
    pub node2: String,
    pub length: f64,
    pub diameter: f64,
    pub roughness: f64,
    pub minor_loss: f64,
    /// `Open`, `Closed` or `CV` (check valve).
    pub status: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PumpRow {
    pub id: String,
    pub node1: String,
    pub node2: String,
    /// Keyword/value pairs: `HEAD curve`, `POWER kw`, `SPEED s`, `PATTERN p`.
    pub parameters: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ValveRow {
    pub id: String,
    pub node1: String,
    pub node2: String,
    pub diameter: f64,
    pub valve_type: String,
    pub setting: String,
    pub minor_loss: f64,
}

/// An EPANET network as read from a `.inp` file, in the file's units.
#[derive(Debug, Clone, PartialEq)]
pub struct EpanetNetwork {
    pub title: Vec<String>,
    pub flow_units: FlowUnits,
    pub headloss: HeadLossFormula,
    /// `[OPTIONS]` and `[TIMES]` as written (upper-cased keys).
    pub options: BTreeMap<String, String>,
    pub times: BTreeMap<String, String>,
    pub junctions: Vec<JunctionRow>,
    pub reservoirs: Vec<ReservoirRow>,
    pub tanks: Vec<TankRow>,
    pub pipes: Vec<PipeRow>,
    pub pumps: Vec<PumpRow>,
    pub valves: Vec<ValveRow>,
    /// Extra demand categories from `[DEMANDS]`: (junction, demand, pattern).
    pub demands: Vec<(String, f64, Option<String>)>,
    /// `[STATUS]` overrides: (link, status or setting): `OPEN`, `CLOSED` or a number (a pump's
    /// relative speed, a valve's setting), checked by the reader.
    pub status: Vec<(String, String)>,
    /// `[EMITTERS]`: (junction, coefficient in flow units per (pressure units)^exponent).
    pub emitters: Vec<(String, f64)>,
    /// Patterns in the order first seen.
    pub patterns: Vec<(String, Vec<f64>)>,
    pub curves: Vec<(String, Vec<(f64, f64)>)>,
    pub controls: Vec<String>,
    /// `[RULES]` statements (comments stripped) with their line numbers; parsed by the
    /// hydraulic model (`water::model::rules`).
    pub rules: Vec<(usize, String)>,
    /// `[ENERGY]` statements (comments stripped) with their line numbers; parsed by the
    /// hydraulic model (`water::model::energy`).
    pub energy: Vec<(usize, String)>,
    /// Water-quality sections' statements (comments stripped) with their line numbers:
    /// `[QUALITY]`, `[SOURCES]`, `[REACTIONS]`, `[MIXING]`; parsed by `water::model::quality`.
    pub quality: Vec<(usize, String)>,
    pub sources: Vec<(usize, String)>,
    pub reactions: Vec<(usize, String)>,
    pub mixing: Vec<(usize, String)>,
    pub coordinates: BTreeMap<String, (f64, f64)>,
    /// `[TAGS]`: (NODE or LINK, id, tag).
    pub tags: Vec<(String, String, String)>,
    /// Sections read but not modelled, with the line of their header.
    pub unsupported: Vec<(usize, String)>,
}

const MODELLED: [&str; 23] = [
    "EMITTERS",
    "RULES",
    "ENERGY",
    "QUALITY",
    "SOURCES",
    "REACTIONS",
    "MIXING",
    "TITLE",
    "JUNCTIONS",
    "RESERVOIRS",
    "TANKS",
    "PIPES",
    "PUMPS",
    "VALVES",
    "DEMANDS",
    "STATUS",
    "PATTERNS",
    "CURVES",
    "CONTROLS",
    "OPTIONS",
    "TIMES",
    "COORDINATES",
    "TAGS",
];
/// Sections refused when they hold data: they change the hydraulics and are not modelled.
const REFUSED: [(&str, &str); 1] = [("LEAKAGE", "EPANET 2.3 pipe leakage is not modelled")];

/// `[OPTIONS]` keys (EPANET 2.2 manual, section 3.1) and what the model does with each.
/// Not-modelled keys are refused only when their value differs from EPANET's default (given
/// after the reason).
pub const OPTION_KEYS: super::FormatKeys = super::FormatKeys {
    modelled: &[
        "UNITS",
        "HEADLOSS",
        "PATTERN",
        "DEMAND MULTIPLIER",
        "ACCURACY",
        "TRIALS",
        "UNBALANCED",
        "CHECKFREQ",
        "MAXCHECK",
        "DAMPLIMIT",
        "HEADERROR",
        "FLOWCHANGE",
        "VISCOSITY",
        "SPECIFIC GRAVITY",
        "EMITTER EXPONENT",
        "DEMAND MODEL",
        "MINIMUM PRESSURE",
        "REQUIRED PRESSURE",
        "PRESSURE EXPONENT",
        "QUALITY",
        "DIFFUSIVITY",
        "TOLERANCE",
    ],
    harmless: &[
        // The backdrop map file: drawing only.
        "MAP",
    ],
    not_modelled: &[("HYDRAULICS", "using or saving a hydraulics file")],
};

const KNOWN_OTHER: [&str; 5] = ["REPORT", "VERTICES", "LABELS", "BACKDROP", "LEAKAGE"];

impl EpanetNetwork {
    pub fn parse(text: &str) -> Result<EpanetNetwork, LineError> {
        let mut net = EpanetNetwork {
            title: Vec::new(),
            flow_units: FlowUnits::Gpm,
            headloss: HeadLossFormula::HazenWilliams,
            options: BTreeMap::new(),
            times: BTreeMap::new(),
            junctions: Vec::new(),
            reservoirs: Vec::new(),
            tanks: Vec::new(),
            pipes: Vec::new(),
            pumps: Vec::new(),
            valves: Vec::new(),
            demands: Vec::new(),
            status: Vec::new(),
            patterns: Vec::new(),
            curves: Vec::new(),
            controls: Vec::new(),
            rules: Vec::new(),
            energy: Vec::new(),
            quality: Vec::new(),
            sources: Vec::new(),
            reactions: Vec::new(),
            mixing: Vec::new(),
            coordinates: BTreeMap::new(),
            tags: Vec::new(),
            unsupported: Vec::new(),
            emitters: Vec::new(),
        };
        let mut section = String::new();
        let mut section_line = 0;
        let mut reported = false;
        // Where each node and link id was first defined: EPANET refuses an id given twice in
        // its space (error 215), and so does the reader, naming both lines.
        let mut node_lines: std::collections::HashMap<String, usize> = Default::default();
        let mut link_lines: std::collections::HashMap<String, usize> = Default::default();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let trimmed = raw.trim_ascii();
            if let Some(rest) = trimmed.strip_prefix('[') {
                let name = rest
                    .split(']')
                    .next()
                    .unwrap_or("")
                    .trim_ascii()
                    .to_ascii_uppercase();
                if !MODELLED.contains(&name.as_str())
                    && !KNOWN_OTHER.contains(&name.as_str())
                    && name != "END"
                {
                    return Err(LineError::new(line_no, format!("unknown section [{name}]")));
                }
                section = name;
                section_line = line_no;
                reported = false;
                if section == "END" {
                    break;
                }
                continue;
            }
            if section == "TITLE" {
                if !trimmed.is_empty() {
                    net.title.push(trimmed.to_string());
                }
                continue;
            }
            let data = raw.split(';').next().unwrap_or("").trim_ascii();
            if data.is_empty() {
                continue;
            }
            if let Some((_, why)) = REFUSED.iter().find(|(name, _)| *name == section) {
                return Err(LineError::new(
                    line_no,
                    format!(
                        "[{section}] is not modelled: {why}; the file is refused rather than solved without it"
                    ),
                ));
            }
            let f: Vec<&str> = data.split_ascii_whitespace().collect();
            let num = |k: usize, what: &str| -> Result<f64, LineError> {
                let t = f.get(k).ok_or_else(|| {
                    LineError::new(line_no, format!("[{section}] row is missing {what}"))
                })?;
                t.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| {
                        LineError::new(line_no, format!("[{section}] {what} `{t}` is not a number"))
                    })
            };
            let opt_num = |k: usize, what: &str, default: f64| -> Result<f64, LineError> {
                if f.len() > k {
                    num(k, what)
                } else {
                    Ok(default)
                }
            };
            let text_at = |k: usize, what: &str| -> Result<String, LineError> {
                f.get(k).map(|s| s.to_string()).ok_or_else(|| {
                    LineError::new(line_no, format!("[{section}] row is missing {what}"))
                })
            };
            let opt_text = |k: usize| {
                f.get(k)
                    .map(|s| s.to_string())
                    .filter(|s| !s.is_empty() && s != "*")
            };
            let space = match section.as_str() {
                "JUNCTIONS" | "RESERVOIRS" | "TANKS" => Some(("node", &mut node_lines)),
                "PIPES" | "PUMPS" | "VALVES" => Some(("link", &mut link_lines)),
                _ => None,
            };
            if let Some((space, lines)) = space {
                let id = text_at(0, "an id")?;
                if let Some(first) = lines.insert(id.clone(), line_no) {
                    return Err(LineError::new(
                        line_no,
                        format!(
                            "{space} id `{id}` is defined twice (first at line {first}): EPANET error 215"
                        ),
                    ));
                }
            }
            match section.as_str() {
                "JUNCTIONS" => net.junctions.push(JunctionRow {
                    id: text_at(0, "an id")?,
                    elevation: num(1, "elevation")?,
                    base_demand: opt_num(2, "demand", 0.0)?,
                    pattern: opt_text(3),
                }),
                "RESERVOIRS" => net.reservoirs.push(ReservoirRow {
                    id: text_at(0, "an id")?,
                    head: num(1, "head")?,
                    pattern: opt_text(2),
                }),
                "TANKS" => net.tanks.push(TankRow {
                    id: text_at(0, "an id")?,
                    elevation: num(1, "elevation")?,
                    init_level: num(2, "initial level")?,
                    min_level: num(3, "minimum level")?,
                    max_level: num(4, "maximum level")?,
                    diameter: num(5, "diameter")?,
                    min_volume: opt_num(6, "minimum volume", 0.0)?,
                    volume_curve: opt_text(7),
                }),
                "PIPES" => net.pipes.push(PipeRow {
                    id: text_at(0, "an id")?,
                    node1: text_at(1, "a start node")?,
                    node2: text_at(2, "an end node")?,
                    length: num(3, "length")?,
                    diameter: num(4, "diameter")?,
                    roughness: num(5, "roughness")?,
                    minor_loss: opt_num(6, "minor loss", 0.0)?,
                    status: opt_text(7).unwrap_or_else(|| "Open".to_string()),
                }),
                "PUMPS" => {
                    let rest = &f[3.min(f.len())..];
                    if !rest.len().is_multiple_of(2) {
                        return Err(LineError::new(
                            line_no,
                            "[PUMPS] parameters must come as keyword/value pairs",
                        ));
                    }
                    net.pumps.push(PumpRow {
                        id: text_at(0, "an id")?,
                        node1: text_at(1, "a start node")?,
                        node2: text_at(2, "an end node")?,
                        parameters: rest
                            .chunks(2)
                            .map(|p| (p[0].to_ascii_uppercase(), p[1].to_string()))
                            .collect(),
                    })
                }
                "VALVES" => net.valves.push(ValveRow {
                    id: text_at(0, "an id")?,
                    node1: text_at(1, "a start node")?,
                    node2: text_at(2, "an end node")?,
                    diameter: num(3, "diameter")?,
                    valve_type: text_at(4, "a type")?.to_ascii_uppercase(),
                    setting: text_at(5, "a setting")?,
                    minor_loss: opt_num(6, "minor loss", 0.0)?,
                }),
                "DEMANDS" => {
                    net.demands
                        .push((text_at(0, "a junction")?, num(1, "demand")?, opt_text(2)))
                }
                "STATUS" => {
                    let value = text_at(1, "a status")?;
                    let upper = value.to_ascii_uppercase();
                    let numeric = value
                        .parse::<f64>()
                        .is_ok_and(|v| v.is_finite() && v >= 0.0);
                    if upper != "OPEN" && upper != "CLOSED" && !numeric {
                        return Err(LineError::new(
                            line_no,
                            format!(
                                "[STATUS] `{value}` is not OPEN, CLOSED or a setting (a number, zero or more)"
                            ),
                        ));
                    }
                    net.status.push((text_at(0, "a link")?, value));
                }
                "EMITTERS" => {
                    let coefficient = num(1, "coefficient")?;
                    if coefficient < 0.0 {
                        return Err(LineError::new(
                            line_no,
                            format!("[EMITTERS] coefficient {coefficient} is negative"),
                        ));
                    }
                    net.emitters.push((text_at(0, "a junction")?, coefficient));
                }
                "PATTERNS" => {
                    let id = text_at(0, "an id")?;
                    let mut values = Vec::with_capacity(f.len() - 1);
                    for k in 1..f.len() {
                        values.push(num(k, "multiplier")?);
                    }
                    match net.patterns.iter_mut().find(|(p, _)| *p == id) {
                        Some((_, existing)) => existing.extend(values),
                        None => net.patterns.push((id, values)),
                    }
                }
                "CURVES" => {
                    let id = text_at(0, "an id")?;
                    let point = (num(1, "x value")?, num(2, "y value")?);
                    match net.curves.iter_mut().find(|(c, _)| *c == id) {
                        Some((_, points)) => points.push(point),
                        None => net.curves.push((id, vec![point])),
                    }
                }
                "CONTROLS" => net.controls.push(data.to_string()),
                "RULES" => net.rules.push((line_no, data.to_string())),
                "ENERGY" => net.energy.push((line_no, data.to_string())),
                "QUALITY" => net.quality.push((line_no, data.to_string())),
                "SOURCES" => net.sources.push((line_no, data.to_string())),
                "REACTIONS" => net.reactions.push((line_no, data.to_string())),
                "MIXING" => net.mixing.push((line_no, data.to_string())),
                "COORDINATES" => {
                    net.coordinates
                        .insert(text_at(0, "a node")?, (num(1, "x")?, num(2, "y")?));
                }
                "TAGS" => net.tags.push((
                    text_at(0, "NODE or LINK")?.to_ascii_uppercase(),
                    text_at(1, "an id")?,
                    text_at(2, "a tag")?,
                )),
                "OPTIONS" | "TIMES" => {
                    let (key, value) = option_pair(&f);
                    if section == "OPTIONS" {
                        if key == "UNITS" {
                            net.flow_units = FlowUnits::parse(&value).ok_or_else(|| {
                                LineError::new(line_no, format!("unknown flow units `{value}`"))
                            })?;
                        } else if key == "HEADLOSS" {
                            net.headloss = match value.to_ascii_uppercase().as_str() {
                                "H-W" => HeadLossFormula::HazenWilliams,
                                "D-W" => HeadLossFormula::DarcyWeisbach,
                                "C-M" => HeadLossFormula::ChezyManning,
                                other => {
                                    return Err(LineError::new(
                                        line_no,
                                        format!("unknown head-loss formula `{other}`"),
                                    ));
                                }
                            };
                        }
                        check_option(&key, &value, line_no)?;
                        net.options.insert(key, value);
                    } else {
                        net.times.insert(key, value);
                    }
                }
                other => {
                    if !reported {
                        net.unsupported.push((section_line, other.to_string()));
                        reported = true;
                    }
                }
            }
        }
        net.check_references()?;
        Ok(net)
    }

    fn check_references(&self) -> Result<(), LineError> {
        let nodes: std::collections::HashSet<&str> = self
            .junctions
            .iter()
            .map(|j| j.id.as_str())
            .chain(self.reservoirs.iter().map(|r| r.id.as_str()))
            .chain(self.tanks.iter().map(|t| t.id.as_str()))
            .collect();
        let links = self
            .pipes
            .iter()
            .map(|p| (&p.id, &p.node1, &p.node2))
            .chain(self.pumps.iter().map(|p| (&p.id, &p.node1, &p.node2)))
            .chain(self.valves.iter().map(|v| (&v.id, &v.node1, &v.node2)));
        for (id, a, b) in links {
            for end in [a, b] {
                if !nodes.contains(end.as_str()) {
                    return Err(LineError::new(
                        0,
                        format!("link {id} names unknown node {end}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Node ids in the order solvers report them: junctions, reservoirs, tanks.
    pub fn node_ids(&self) -> Vec<&str> {
        self.junctions
            .iter()
            .map(|j| j.id.as_str())
            .chain(self.reservoirs.iter().map(|r| r.id.as_str()))
            .chain(self.tanks.iter().map(|t| t.id.as_str()))
            .collect()
    }

    /// Move `[COORDINATES]` from `crs` (`None`: already WGS84 longitude and latitude) to WGS84,
    /// after checking they fit it ([`crate::crs::check_fits`]): what the bundle loader does
    /// with `[layers] water_crs`. Errors: the CRS is not understood, the coordinates do not fit
    /// it, or a node's leaves the globe (named).
    pub fn place_in_wgs84(&mut self, crs: Option<&str>) -> Result<(), String> {
        use crate::crs::{Crs, check_fits};
        let crs = crs.map(Crs::parse).transpose().map_err(|e| e.to_string())?;
        let raw: Vec<(f64, f64)> = self.coordinates.values().copied().collect();
        check_fits(&raw, crs.as_ref(), "[COORDINATES]")?;
        let Some(crs) = crs else { return Ok(()) };
        for (id, xy) in self.coordinates.iter_mut() {
            let p = crs
                .to_wgs84(xy.0, xy.1)
                .map_err(|e| format!("node `{id}`: {e}"))?;
            *xy = (p.lon, p.lat);
        }
        Ok(())
    }

    /// The end nodes of every pipe and valve by link id: where an isolation valve can sit.
    pub fn pipe_and_valve_ends(&self) -> std::collections::BTreeMap<&str, (&str, &str)> {
        self.pipes
            .iter()
            .map(|p| (p.id.as_str(), (p.node1.as_str(), p.node2.as_str())))
            .chain(
                self.valves
                    .iter()
                    .map(|v| (v.id.as_str(), (v.node1.as_str(), v.node2.as_str()))),
            )
            .collect()
    }

    /// Link ids in the order solvers report them: pipes, pumps, valves.
    pub fn link_ids(&self) -> Vec<&str> {
        self.pipes
            .iter()
            .map(|p| p.id.as_str())
            .chain(self.pumps.iter().map(|p| p.id.as_str()))
            .chain(self.valves.iter().map(|v| v.id.as_str()))
            .collect()
    }

    pub fn node_count(&self) -> usize {
        self.junctions.len() + self.reservoirs.len() + self.tanks.len()
    }

    pub fn link_count(&self) -> usize {
        self.pipes.len() + self.pumps.len() + self.valves.len()
    }

    pub fn has_tag(&self, kind: &str, id: &str, tag: &str) -> bool {
        self.tags
            .iter()
            .any(|(k, i, t)| k == kind && i == id && t == tag)
    }

    /// Write the network as an `.inp` file. Numbers are written as given, so write SI networks
    /// with `UNITS LPS`.
    pub fn to_inp_string(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "[TITLE]");
        for t in &self.title {
            let _ = writeln!(o, "{t}");
        }
        let _ = writeln!(o, "\n[JUNCTIONS]\n;ID\tElev\tDemand\tPattern");
        for j in &self.junctions {
            let _ = writeln!(
                o,
                "{}\t{}\t{}\t{}",
                j.id,
                num(j.elevation),
                num(j.base_demand),
                j.pattern.as_deref().unwrap_or("")
            );
        }
        let _ = writeln!(o, "\n[RESERVOIRS]\n;ID\tHead\tPattern");
        for r in &self.reservoirs {
            let _ = writeln!(
                o,
                "{}\t{}\t{}",
                r.id,
                num(r.head),
                r.pattern.as_deref().unwrap_or("")
            );
        }
        let _ = writeln!(
            o,
            "\n[TANKS]\n;ID\tElevation\tInitLevel\tMinLevel\tMaxLevel\tDiameter\tMinVol\tVolCurve"
        );
        for t in &self.tanks {
            let _ = writeln!(
                o,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                t.id,
                num(t.elevation),
                num(t.init_level),
                num(t.min_level),
                num(t.max_level),
                num(t.diameter),
                num(t.min_volume),
                t.volume_curve.as_deref().unwrap_or("")
            );
        }
        let _ = writeln!(
            o,
            "\n[PIPES]\n;ID\tNode1\tNode2\tLength\tDiameter\tRoughness\tMinorLoss\tStatus"
        );
        for p in &self.pipes {
            let _ = writeln!(
                o,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                p.id,
                p.node1,
                p.node2,
                num(p.length),
                num(p.diameter),
                num(p.roughness),
                num(p.minor_loss),
                p.status
            );
        }
        let _ = writeln!(o, "\n[PUMPS]\n;ID\tNode1\tNode2\tParameters");
        for p in &self.pumps {
            let params: Vec<String> = p
                .parameters
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(
                o,
                "{}\t{}\t{}\t{}",
                p.id,
                p.node1,
                p.node2,
                params.join(" ")
            );
        }
        let _ = writeln!(
            o,
            "\n[VALVES]\n;ID\tNode1\tNode2\tDiameter\tType\tSetting\tMinorLoss"
        );
        for v in &self.valves {
            let _ = writeln!(
                o,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                v.id,
                v.node1,
                v.node2,
                num(v.diameter),
                v.valve_type,
                v.setting,
                num(v.minor_loss)
            );
        }
        let _ = writeln!(o, "\n[TAGS]");
        for (k, id, tag) in &self.tags {
            let _ = writeln!(o, "{k}\t{id}\t{tag}");
        }
        let _ = writeln!(o, "\n[DEMANDS]");
        for (j, d, p) in &self.demands {
            let _ = writeln!(o, "{j}\t{}\t{}", num(*d), p.as_deref().unwrap_or(""));
        }
        let _ = writeln!(o, "\n[STATUS]");
        for (l, s) in &self.status {
            let _ = writeln!(o, "{l}\t{s}");
        }
        let _ = writeln!(o, "\n[PATTERNS]\n;ID\tMultipliers");
        for (id, values) in &self.patterns {
            for chunk in values.chunks(6) {
                let vs: Vec<String> = chunk.iter().map(|v| num(*v)).collect();
                let _ = writeln!(o, "{id}\t{}", vs.join("\t"));
            }
        }
        let _ = writeln!(o, "\n[CURVES]\n;ID\tX-Value\tY-Value");
        for (id, points) in &self.curves {
            for (x, y) in points {
                let _ = writeln!(o, "{id}\t{}\t{}", num(*x), num(*y));
            }
        }
        let _ = writeln!(o, "\n[CONTROLS]");
        for c in &self.controls {
            let _ = writeln!(o, "{c}");
        }
        for (name, lines) in [
            ("QUALITY", &self.quality),
            ("SOURCES", &self.sources),
            ("REACTIONS", &self.reactions),
            ("MIXING", &self.mixing),
        ] {
            if !lines.is_empty() {
                let _ = writeln!(o, "\n[{name}]");
                for (_, l) in lines {
                    let _ = writeln!(o, "{l}");
                }
            }
        }
        if !self.energy.is_empty() {
            let _ = writeln!(o, "\n[ENERGY]");
            for (_, e) in &self.energy {
                let _ = writeln!(o, "{e}");
            }
        }
        if !self.rules.is_empty() {
            let _ = writeln!(o, "\n[RULES]");
            for (_, r) in &self.rules {
                let _ = writeln!(o, "{r}");
            }
        }
        let _ = writeln!(o, "\n[TIMES]");
        for (k, v) in &self.times {
            let _ = writeln!(o, "{k}\t{v}");
        }
        let _ = writeln!(o, "\n[OPTIONS]");
        for (k, v) in &self.options {
            let _ = writeln!(o, "{k}\t{v}");
        }
        let _ = writeln!(o, "\n[COORDINATES]\n;Node\tX-Coord\tY-Coord");
        for (id, (x, y)) in &self.coordinates {
            let _ = writeln!(o, "{id}\t{x:.7}\t{y:.7}");
        }
        let _ = writeln!(o, "\n[END]");
        o
    }
}

/// `[OPTIONS]`/`[TIMES]` keys can be two words (`DEMAND MULTIPLIER`, `PATTERN STEP`).
/// Refuse an `[OPTIONS]` key the model does not honour, with its line.
fn check_option(key: &str, value: &str, line: usize) -> Result<(), LineError> {
    use super::KeyUse;
    let number = value
        .split_ascii_whitespace()
        .next()
        .and_then(|v| v.parse::<f64>().ok());
    // `option_pair` joins two words for the keys that have them; `QUALITY CHLORINE` is the
    // one-word key QUALITY with its value.
    let key = match (OPTION_KEYS.classify(key), key.split_once(' ')) {
        (KeyUse::Unknown, Some((first, _))) if OPTION_KEYS.classify(first) != KeyUse::Unknown => {
            first
        }
        _ => key,
    };
    match OPTION_KEYS.classify(key) {
        KeyUse::Modelled
            if key == "DEMAND MODEL"
                && !value.eq_ignore_ascii_case("DDA")
                && !value.eq_ignore_ascii_case("PDA") =>
        {
            Err(LineError::new(
                line,
                format!("DEMAND MODEL {value}: EPANET knows DDA and PDA"),
            ))
        }
        KeyUse::Modelled | KeyUse::Harmless => Ok(()),
        KeyUse::NotModelled(_) if number == Some(1.0) => Ok(()),
        _ => Err(OPTION_KEYS
            .refusal(key, line, "EPANET [OPTIONS]")
            .unwrap_or_else(|| LineError::new(line, format!("{key} {value}")))),
    }
}

fn option_pair(f: &[&str]) -> (String, String) {
    const TWO_WORD: [&str; 17] = [
        "MINIMUM",
        "REQUIRED",
        "PRESSURE",
        "DEMAND",
        "EMITTER",
        "PATTERN",
        "HYDRAULIC",
        "QUALITY",
        "REPORT",
        "RULE",
        "START",
        "STATISTIC",
        "SPECIFIC",
        "MAXIMUM",
        "CHECK",
        "DAMP",
        "HEAD",
    ];
    let first = f[0].to_ascii_uppercase();
    if f.len() >= 3 && TWO_WORD.contains(&first.as_str()) && f[1].parse::<f64>().is_err() {
        (
            format!("{first} {}", f[1].to_ascii_uppercase()),
            f[2..].join(" "),
        )
    } else {
        (first, f[1..].join(" "))
    }
}

fn num(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "[TITLE]\nsmall\n[JUNCTIONS]\nj1 100 1.5 p1 ;c\nj2 90 2\n[RESERVOIRS]\nr1 150\n[PIPES]\np1 r1 j1 100 200 120 0 Open\np2 j1 j2 100 150 120\n[PATTERNS]\np1 1 1.2\np1 0.8\n[OPTIONS]\nUnits LPS\nHeadloss D-W\nDemand Multiplier 1.0\n[ENERGY]\nGlobal Efficiency 75\n[REPORT]\nStatus Yes\n[END]\n";

    #[test]
    fn reads_sections_and_reports_unsupported_ones() {
        let net = EpanetNetwork::parse(SMALL).unwrap();
        assert_eq!(net.junctions.len(), 2);
        assert_eq!(net.junctions[0].pattern.as_deref(), Some("p1"));
        assert_eq!(net.pipes[1].status, "Open");
        assert_eq!(net.patterns[0].1, vec![1.0, 1.2, 0.8]);
        assert_eq!(net.flow_units, FlowUnits::Lps);
        assert_eq!(net.headloss, HeadLossFormula::DarcyWeisbach);
        assert_eq!(
            net.options.get("DEMAND MULTIPLIER").map(String::as_str),
            Some("1.0")
        );
        assert_eq!(net.energy, vec![(19, "Global Efficiency 75".to_string())]);
        assert_eq!(net.unsupported, vec![(20, "REPORT".to_string())]);
    }

    #[test]
    fn round_trips_through_the_writer() {
        let net = EpanetNetwork::parse(SMALL).unwrap();
        let again = EpanetNetwork::parse(&net.to_inp_string()).unwrap();
        assert_eq!(again.junctions, net.junctions);
        assert_eq!(again.pipes, net.pipes);
        assert_eq!(again.patterns, net.patterns);
    }

    #[test]
    fn options_status_and_sections_are_honoured_or_refused_by_line() {
        // EPANET 2.2 manual, section 3.1 [OPTIONS]: every key is in a list.
        for key in [
            "UNITS",
            "HEADLOSS",
            "HYDRAULICS",
            "QUALITY",
            "VISCOSITY",
            "DIFFUSIVITY",
            "SPECIFIC GRAVITY",
            "TRIALS",
            "ACCURACY",
            "UNBALANCED",
            "PATTERN",
            "DEMAND MULTIPLIER",
            "DEMAND MODEL",
            "MINIMUM PRESSURE",
            "REQUIRED PRESSURE",
            "PRESSURE EXPONENT",
            "EMITTER EXPONENT",
            "TOLERANCE",
            "MAP",
            "CHECKFREQ",
            "MAXCHECK",
            "DAMPLIMIT",
            "HEADERROR",
            "FLOWCHANGE",
        ] {
            assert_ne!(
                OPTION_KEYS.classify(key),
                super::super::KeyUse::Unknown,
                "{key}"
            );
        }
        let with = |extra: &str| {
            SMALL.replace(
                "Demand Multiplier 1.0\n",
                &format!("Demand Multiplier 1.0\n{extra}\n"),
            )
        };
        let err = EpanetNetwork::parse(&with("Demand Model XYZ")).unwrap_err();
        assert_eq!(err.line, 18);
        assert!(err.message.contains("DEMAND MODEL XYZ"), "{err}");
        assert!(EpanetNetwork::parse(&with("Demand Model DDA")).is_ok());
        assert!(
            EpanetNetwork::parse(&with(
                "Demand Model PDA\nMinimum Pressure 5\nRequired Pressure 20\nPressure Exponent 0.5"
            ))
            .is_ok()
        );
        assert!(EpanetNetwork::parse(&with("Viscosity 1.5")).is_ok());
        assert!(
            EpanetNetwork::parse(&with("Hydraulics USE old.hyd"))
                .unwrap_err()
                .message
                .contains("HYDRAULICS")
        );
        assert!(EpanetNetwork::parse(&with("Quality Chlorine mg/L")).is_ok());
        assert!(
            EpanetNetwork::parse(&with("Mystery 3"))
                .unwrap_err()
                .message
                .contains("MYSTERY")
        );
        let rules = SMALL.replace(
            "[END]",
            "[RULES]\nRULE 1\nIF TANK t LEVEL > 3\nTHEN PIPE p1 STATUS IS CLOSED\n[END]",
        );
        let net = EpanetNetwork::parse(&rules).unwrap();
        assert_eq!(net.rules.len(), 3);
        assert_eq!(net.rules[0].1, "RULE 1");
        let status = SMALL.replace("[END]", "[STATUS]\np1 Half\n[END]");
        let err = EpanetNetwork::parse(&status).unwrap_err();
        assert!(
            err.message
                .contains("`Half` is not OPEN, CLOSED or a setting"),
            "{err}"
        );
        let emitters = SMALL.replace("[END]", "[EMITTERS]\nj2 0.5\n[END]");
        assert_eq!(
            EpanetNetwork::parse(&emitters).unwrap().emitters,
            vec![("j2".to_string(), 0.5)]
        );
    }

    #[test]
    fn errors_name_the_line() {
        let err = EpanetNetwork::parse(&SMALL.replace("j2 90 2", "j2 ninety 2")).unwrap_err();
        assert_eq!(err.line, 5);
        assert!(err.to_string().contains("elevation `ninety`"), "{err}");
        let err = EpanetNetwork::parse(&SMALL.replace("p2 j1 j2", "p2 j1 j9")).unwrap_err();
        assert!(err.to_string().contains("unknown node j9"), "{err}");
        let err = EpanetNetwork::parse("[JUNK]\n").unwrap_err();
        assert!(err.to_string().contains("unknown section [JUNK]"));
    }

    proptest::proptest! {
        #![proptest_config(crate::formats::mutate::config(300))]
        /// Mutated real networks give a clean error or a network (the hydraulics of what
        /// parses are the water issue's; here the reader never panics).
        #[test]
        fn mutated_real_networks_give_an_error_or_a_network(
            edits in crate::formats::mutate::edits(),
        ) {
            let text = crate::formats::mutate::apply(include_str!("../../../data/water/Net1.inp"), &edits);
            let _ = EpanetNetwork::parse(&text);
        }
    }
}
