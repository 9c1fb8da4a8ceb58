//! Water quality inputs as EPANET 2.2 reads them (manual §3.1; `input3.c` `qualdata`,
//! `sourcedata`, `reactdata`, `mixingdata`, `optionchoice`; `input1.c` `adjustdata`,
//! `convertunits`): what is simulated (`[OPTIONS] QUALITY`: a chemical, water AGE or the
//! TRACE of a node's water), initial qualities, sources, bulk and wall reactions of any order,
//! limiting potential, roughness correlation and tank mixing models. Concentrations are held
//! in mass per ft³ (EPANET's internal units), ages in hours, traces in percent.

use std::collections::HashMap;

use super::{LinkKind, LinkModel, ModelError, NodeKind, keyword_is as is};
use crate::formats::epanet::{EpanetNetwork, HeadLossFormula};

/// Litres per cubic foot (EPANET's `LperFT3`): concentrations in mg/L are held in mg/ft³.
pub const LITRES_PER_FT3: f64 = 28.317;
/// Molecular diffusivity of chlorine in water (ft²/s, EPANET's `DIFFUS`).
pub const CHLORINE_DIFFUSIVITY: f64 = 1.3e-8;

#[derive(Debug, Clone, PartialEq)]
pub enum QualityKind {
    /// A chemical with its name and units (as written; mg/L unless said).
    Chemical { name: String, units: String },
    /// Water age (hours).
    Age,
    /// Percent of the water coming from this node.
    Trace { node: usize },
}

/// `[SOURCES]` types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Concentration,
    Mass,
    Setpoint,
    FlowPaced,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub kind: SourceKind,
    /// Strength in the file's units (concentration, or mass per minute for MASS).
    pub strength: f64,
    pub pattern: Option<usize>,
}

/// `[MIXING]` tank models.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mixing {
    /// Complete mixing.
    Mixed,
    /// Two compartments; the mixing zone is this fraction of the tank's full volume.
    TwoCompartment(f64),
    Fifo,
    Lifo,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QualityModel {
    pub kind: QualityKind,
    /// Quality time step (s; `[TIMES] QUALITY TIMESTEP`, default a tenth of the hydraulic step).
    pub step_s: u64,
    /// Segments closer than this are merged (internal units; `TOLERANCE`).
    pub tolerance: f64,
    /// Molecular diffusivity (ft²/s; 0 disables mass-transfer limits on wall reactions).
    pub diffusivity: f64,
    /// Per node: the initial quality (internal units).
    pub initial: Vec<f64>,
    pub sources: Vec<Option<Source>>,
    pub bulk_order: f64,
    pub wall_order: f64,
    pub tank_order: f64,
    /// Limiting potential (internal units; 0: none).
    pub limit: f64,
    /// Per link: bulk (1/s for first order) and wall (ft/s, or mass/ft²/s at order 0)
    /// coefficients.
    pub bulk: Vec<f64>,
    pub wall: Vec<f64>,
    /// Per tank (in the model's tank order): bulk coefficient and mixing model.
    pub tank_bulk: Vec<f64>,
    pub mixing: Vec<Mixing>,
    /// Feet per length unit of the file (1, or 1/0.3048 for SI): wall coefficients are in the
    /// file's length units.
    pub ft_per_length_unit: f64,
}

impl QualityModel {
    /// Water age on model `m` with the settings of `base` (its time step), or EPANET's defaults:
    /// a tenth of the hydraulic step, tolerance 0.01 h.
    pub fn water_age(m: &super::HydModel, base: Option<&QualityModel>) -> QualityModel {
        let mut q = QualityModel::inert(
            QualityKind::Age,
            base.map_or((m.hydraulic_step_s / 10).max(1), |b| b.step_s),
            (m.node_ids.len(), m.links.len(), m.tanks.len()),
        );
        q.tolerance = 0.01;
        if let Some(b) = base {
            q.mixing = b.mixing.clone();
            q.ft_per_length_unit = b.ft_per_length_unit;
        }
        q
    }

    /// A model of `kind` with no sources, no reactions, completely mixed tanks and EPANET's
    /// default settings, for (nodes, links, tanks) elements.
    fn inert(
        kind: QualityKind,
        step_s: u64,
        (nodes, links, tanks): (usize, usize, usize),
    ) -> QualityModel {
        QualityModel {
            kind,
            step_s,
            tolerance: 0.0,
            diffusivity: CHLORINE_DIFFUSIVITY,
            initial: vec![0.0; nodes],
            sources: vec![None; nodes],
            bulk_order: 1.0,
            wall_order: 1.0,
            tank_order: 1.0,
            limit: 0.0,
            bulk: vec![0.0; links],
            wall: vec![0.0; links],
            tank_bulk: vec![0.0; tanks],
            mixing: vec![Mixing::Mixed; tanks],
            ft_per_length_unit: 1.0,
        }
    }
}

/// EPANET's quality unit factor (`Ucf[QUALITY]`): internal to file units, 1/LperFT3 for a
/// chemical (mg/L from mg/ft³), 1 for age and trace.
pub fn quality_units(kind: &QualityKind) -> f64 {
    if matches!(kind, QualityKind::Chemical { .. }) {
        1.0 / LITRES_PER_FT3
    } else {
        1.0
    }
}

/// Items an id range names (EPANET accepts `id1 id2` ranges: numeric when both parse,
/// else by string order).
fn in_range(id: &str, a: &str, b: &str) -> bool {
    match (a.parse::<i64>(), b.parse::<i64>(), id.parse::<i64>()) {
        (Ok(a), Ok(b), Ok(i)) if a > 0 && b > 0 => i >= a && i <= b,
        (Ok(a), Ok(b), Err(_)) if a > 0 && b > 0 => false,
        _ => a <= id && id <= b,
    }
}

/// What the model needs from the rest of the model to read the quality sections.
pub(super) struct QualityContext<'a> {
    pub node_ids: &'a [String],
    pub kind: &'a [NodeKind],
    pub links: &'a [LinkModel],
    /// Per tank in the model (node index), and per link its file roughness and diameter
    /// (file units, as EPANET's roughness correlation uses them).
    pub tank_nodes: Vec<usize>,
    pub raw_roughness_diameter: Vec<(f64, f64)>,
    pub patterns: &'a HashMap<&'a str, usize>,
    pub hydraulic_step_s: u64,
    pub us: bool,
}

/// Read the quality sections; None when no quality is simulated (`QUALITY NONE`, the default).
pub(super) fn parse_quality(
    net: &EpanetNetwork,
    cx: &QualityContext,
) -> Result<Option<QualityModel>, ModelError> {
    let bad = |line: usize, text: &str, why: &str| {
        ModelError::Bad(format!("line {line}: `{text}`: {why}"))
    };
    let node_index: HashMap<&str, usize> = cx
        .node_ids
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    // The reader keeps `QUALITY x y` as the key `QUALITY X` with the value `y` (two-word keys).
    let Some(option) = net.options.iter().find_map(|(k, v)| {
        if k == "QUALITY" {
            Some(v.clone())
        } else {
            k.strip_prefix("QUALITY ").map(|rest| format!("{rest} {v}"))
        }
    }) else {
        return Ok(None);
    };
    let words: Vec<&str> = option.split_ascii_whitespace().collect();
    let kind = match words.first().copied() {
        None => return Ok(None),
        Some(w) if is(w, "NONE") => return Ok(None),
        Some(w) if is(w, "AGE") => QualityKind::Age,
        Some(w) if is(w, "TRACE") => {
            let id = words.get(1).ok_or_else(|| {
                ModelError::Bad("[OPTIONS] QUALITY TRACE needs a node (EPANET error 201)".into())
            })?;
            let node = *node_index.get(id).ok_or_else(|| {
                ModelError::Bad(format!(
                    "[OPTIONS] QUALITY TRACE {id}: unknown node (EPANET error 212)"
                ))
            })?;
            QualityKind::Trace { node }
        }
        Some(w) if is(w, "CHEM") => QualityKind::Chemical {
            name: "Chemical".into(),
            units: words.get(1).map_or("mg/L", |u| u).to_string(),
        },
        Some(w) => QualityKind::Chemical {
            name: w.to_string(),
            units: words.get(1).map_or("mg/L", |u| u).to_string(),
        },
    };
    // Internal units: mass/ft³ for chemicals; hours and percent as they are. Values divide by
    // EPANET's factor 1/LperFT3 as EPANET does (the same rounding: a segment merges at the
    // same tolerance).
    let ucf = quality_units(&kind);
    let number = |key: &str| -> Result<Option<f64>, ModelError> {
        net.options
            .get(key)
            .map(|v| {
                v.split_ascii_whitespace()
                    .next()
                    .and_then(|x| x.parse::<f64>().ok())
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| {
                        ModelError::Bad(format!("[OPTIONS] {key} `{v}` (EPANET error 213)"))
                    })
            })
            .transpose()
    };
    let tolerance = number("TOLERANCE")?.unwrap_or(0.01) / ucf;
    let diffusivity = match number("DIFFUSIVITY")? {
        None => CHLORINE_DIFFUSIVITY,
        Some(d) if d > 1e-4 => d * CHLORINE_DIFFUSIVITY,
        Some(d) if cx.us => d,
        Some(d) => d / (super::M_PER_FT * super::M_PER_FT),
    };
    let step_s = match net.times.get("QUALITY TIMESTEP").map(|v| {
        super::parse_time(v)
            .ok_or_else(|| ModelError::Bad(format!("[TIMES] QUALITY TIMESTEP `{v}`")))
    }) {
        None => 0,
        Some(r) => r?,
    };
    let step_s = if step_s == 0 {
        cx.hydraulic_step_s / 10
    } else {
        step_s
    }
    .min(cx.hydraulic_step_s)
    .max(1);
    let mut q = QualityModel::inert(
        kind,
        step_s,
        (cx.node_ids.len(), cx.links.len(), cx.tank_nodes.len()),
    );
    q.tolerance = tolerance;
    q.diffusivity = diffusivity;
    q.ft_per_length_unit = if cx.us { 1.0 } else { 1.0 / super::M_PER_FT };
    for (line, text) in &net.quality {
        let tok: Vec<&str> = text.split_ascii_whitespace().collect();
        let value = |s: &str| {
            s.parse::<f64>()
                .ok()
                .filter(|v| *v >= 0.0)
                .ok_or_else(|| bad(*line, text, "a quality is a number ≥ 0 (EPANET error 209)"))
        };
        match tok.as_slice() {
            [id, c] => {
                let i = *node_index
                    .get(id)
                    .ok_or_else(|| bad(*line, text, "unknown node (EPANET error 203)"))?;
                q.initial[i] = value(c)? / ucf;
            }
            [a, b, c, ..] => {
                let c = value(c)? / ucf;
                for (i, id) in cx.node_ids.iter().enumerate() {
                    if in_range(id, a, b) {
                        q.initial[i] = c;
                    }
                }
            }
            _ => {}
        }
    }
    for (line, text) in &net.sources {
        let tok: Vec<&str> = text.split_ascii_whitespace().collect();
        let i = *node_index
            .get(tok[0])
            .ok_or_else(|| bad(*line, text, "unknown node (EPANET error 203)"))?;
        let (kind, at) = match tok.get(1) {
            Some(w) if is(w, "CONCEN") => (SourceKind::Concentration, 2),
            Some(w) if is(w, "MASS") => (SourceKind::Mass, 2),
            Some(w) if is(w, "SETPOINT") => (SourceKind::Setpoint, 2),
            Some(w) if is(w, "FLOWPACED") => (SourceKind::FlowPaced, 2),
            _ => (SourceKind::Concentration, 1),
        };
        let strength = tok
            .get(at)
            .and_then(|s| s.parse::<f64>().ok())
            .ok_or_else(|| {
                bad(
                    *line,
                    text,
                    "a source strength is a number (EPANET error 202)",
                )
            })?;
        let pattern = match tok.get(at + 1) {
            Some(p) if *p != "*" => Some(
                *cx.patterns
                    .get(p)
                    .ok_or_else(|| bad(*line, text, "unknown pattern (EPANET error 205)"))?,
            ),
            _ => None,
        };
        q.sources[i] = Some(Source {
            kind,
            strength,
            pattern,
        });
    }
    // Reactions: orders, limits, global coefficients first (they are defaults).
    let (mut global_bulk, mut global_wall, mut roughness_factor) = (0.0, 0.0, 0.0);
    let mut link_bulk: Vec<Option<f64>> = vec![None; cx.links.len()];
    let mut link_wall: Vec<Option<f64>> = vec![None; cx.links.len()];
    let mut tank_bulk: Vec<Option<f64>> = vec![None; cx.tank_nodes.len()];
    for (line, text) in &net.reactions {
        let tok: Vec<&str> = text.split_ascii_whitespace().collect();
        if tok.len() < 3 {
            continue;
        }
        let y = tok[tok.len() - 1]
            .parse::<f64>()
            .map_err(|_| bad(*line, text, "a number (EPANET error 202)"))?;
        let (w0, w1) = (tok[0], tok[1]);
        if is(w0, "ORDER") {
            if is(w1, "BULK") {
                q.bulk_order = y;
            } else if is(w1, "TANK") {
                q.tank_order = y;
            } else if is(w1, "WALL") && (y == 0.0 || y == 1.0) {
                q.wall_order = y;
            } else {
                return Err(bad(
                    *line,
                    text,
                    "ORDER BULK|WALL|TANK; a wall order is 0 or 1 (EPANET error 213)",
                ));
            }
        } else if is(w0, "ROUGHNESS") {
            roughness_factor = y;
        } else if is(w0, "LIMITING") {
            q.limit = y / ucf;
        } else if is(w0, "GLOBAL") {
            if is(w1, "BULK") {
                global_bulk = y;
            } else if is(w1, "WALL") {
                global_wall = y;
            } else {
                return Err(bad(*line, text, "GLOBAL BULK|WALL (EPANET error 213)"));
            }
        } else if is(w0, "TANK") {
            for (t, &node) in cx.tank_nodes.iter().enumerate() {
                let id = &cx.node_ids[node];
                if (tok.len() == 3 && id == w1) || (tok.len() > 3 && in_range(id, w1, tok[2])) {
                    tank_bulk[t] = Some(y);
                }
            }
        } else if is(w0, "BULK") || is(w0, "WALL") {
            let target = if is(w0, "BULK") {
                &mut link_bulk
            } else {
                &mut link_wall
            };
            for (k, l) in cx.links.iter().enumerate() {
                if (tok.len() == 3 && l.id == w1) || (tok.len() > 3 && in_range(&l.id, w1, tok[2]))
                {
                    target[k] = Some(y);
                }
            }
        } else {
            return Err(bad(
                *line,
                text,
                "unknown reaction keyword (EPANET error 213)",
            ));
        }
    }
    const SECONDS_PER_DAY: f64 = 86_400.0;
    for (k, l) in cx.links.iter().enumerate() {
        let LinkKind::Pipe { .. } = l.kind else {
            continue;
        };
        q.bulk[k] = link_bulk[k].unwrap_or(global_bulk) / SECONDS_PER_DAY;
        let wall = link_wall[k].unwrap_or_else(|| {
            // Roughness correlation (EPANET's `adjustdata`, on the file's values).
            let (c, d) = cx.raw_roughness_diameter[k];
            if roughness_factor == 0.0 {
                global_wall
            } else if c > 0.0 && d > 0.0 {
                match net.headloss {
                    HeadLossFormula::HazenWilliams => roughness_factor / c,
                    HeadLossFormula::DarcyWeisbach => roughness_factor / (c / d).ln().abs(),
                    HeadLossFormula::ChezyManning => roughness_factor * c,
                }
            } else {
                0.0
            }
        });
        q.wall[k] = wall / SECONDS_PER_DAY;
    }
    for (t, b) in tank_bulk.iter().enumerate() {
        q.tank_bulk[t] = b.unwrap_or(global_bulk) / SECONDS_PER_DAY;
    }
    for (line, text) in &net.mixing {
        let tok: Vec<&str> = text.split_ascii_whitespace().collect();
        if tok.len() < 2 {
            continue;
        }
        let node = *node_index
            .get(tok[0])
            .ok_or_else(|| bad(*line, text, "unknown node (EPANET error 203)"))?;
        let Some(t) = cx.tank_nodes.iter().position(|&n| n == node) else {
            continue;
        };
        let model = match tok[1].to_ascii_uppercase().as_str() {
            "MIXED" => Mixing::Mixed,
            "2COMP" => {
                let f = match tok.get(2) {
                    None => 1.0,
                    Some(v) => v
                        .parse::<f64>()
                        .map_err(|_| bad(*line, text, "a fraction (EPANET error 202)"))?,
                };
                Mixing::TwoCompartment(if f == 0.0 { 1.0 } else { f })
            }
            "FIFO" => Mixing::Fifo,
            "LIFO" => Mixing::Lifo,
            _ => {
                return Err(bad(
                    *line,
                    text,
                    "MIXED, 2COMP, FIFO or LIFO (EPANET error 213)",
                ));
            }
        };
        q.mixing[t] = model;
    }
    let _ = cx.kind;
    Ok(Some(q))
}
