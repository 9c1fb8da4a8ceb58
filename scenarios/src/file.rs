//! Scenario files (TOML): what to run and what to change, checked against the city before
//! anything runs. Every error names the file, the line and the key (docs/scenarios.md lists
//! every key).
//!
//! ```toml
//! name = "Bd. Republicii roadworks"
//! city = "data/pitesti"
//! start = "2026-03-02T00:00"
//! horizon = "14d"
//! step = "15min"
//! seed = 1
//! models = ["traffic", "power", "water", "waste", "ev"]
//!
//! [[intervention]]
//! kind = "close_street"
//! segments = ["street:812"]
//! from = "0h"
//! duration = "14d"
//! ```

use std::ops::Range;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use serde::Deserialize;
use toml::Spanned;
use twin_core::entity::{Asset, WasteKind};
use twin_core::ev::network::AddedSockets;
use twin_core::ev::stepper::SmartCharging;
use twin_core::{AssetKind, CityModel, EntityId};

/// A scenario file that cannot run, with where: `file:line: message`, or `file: message` when
/// no line is at fault (`line` 0: the file cannot be read at all).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{}: {}", .file, at_line(*.line), .message)]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// The longest horizon a scenario may have, hours (a year, leap day included): files, scripts
/// and the live twin's scenario API alike.
pub const MAX_HORIZON_H: f64 = 366.0 * 24.0;

/// Why an intervention starting at `key` = `value`, at or after the end of the horizon, is
/// refused: it would change nothing the run reports.
fn after_the_horizon(key: &str, value: &Option<String>, horizon_h: f64) -> String {
    format!(
        "`{key}` = \"{}\" is at or after the end of the {horizon_h} h horizon: the intervention would change nothing",
        value.as_deref().unwrap_or("0h")
    )
}

/// The key of a `key = value` line whose value starts at byte `at`, if that is what is there.
fn key_of_value_at(text: &str, at: usize) -> Option<&str> {
    let line_start = text.get(..at)?.rfind('\n').map_or(0, |i| i + 1);
    let (key, _) = text.get(line_start..at)?.split_once('=')?;
    let key = key.trim();
    (!key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    .then_some(key)
}

fn at_line(line: usize) -> String {
    if line > 0 {
        format!(":{line}")
    } else {
        String::new()
    }
}

/// The models a scenario can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Model {
    Traffic,
    Power,
    Water,
    Waste,
    Ev,
}

impl Model {
    pub const ALL: [Model; 5] = [
        Model::Traffic,
        Model::Power,
        Model::Water,
        Model::Waste,
        Model::Ev,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Model::Traffic => "traffic",
            Model::Power => "power",
            Model::Water => "water",
            Model::Waste => "waste",
            Model::Ev => "ev",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    #[serde(default)]
    description: String,
    /// The city bundle's folder, relative to the scenario file's folder; none: the built-in
    /// Pitești.
    city: Option<Spanned<String>>,
    /// Live state to start from: a saved `GET /api/entities` answer of the running twin.
    snapshot: Option<Spanned<String>>,
    start: Spanned<String>,
    horizon: Spanned<String>,
    step: Option<Spanned<String>>,
    #[serde(default = "one")]
    seed: u64,
    models: Option<Spanned<Vec<String>>>,
    /// Share of cars that are electric in the baseline.
    ev_share: Option<Spanned<f64>>,
    /// The KPIs to report (all when absent).
    kpis: Option<Spanned<Vec<String>>>,
    #[serde(default, rename = "intervention")]
    interventions: Vec<Spanned<toml::Table>>,
}

fn one() -> u64 {
    1
}

/// One intervention as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum RawIntervention {
    CloseStreet {
        segments: Vec<String>,
        from: Option<String>,
        duration: Option<String>,
    },
    StreetCapacity {
        segments: Vec<String>,
        factor: f64,
        from: Option<String>,
        duration: Option<String>,
    },
    StreetLanes {
        segments: Vec<String>,
        lanes: u32,
        from: Option<String>,
        duration: Option<String>,
    },
    Fail {
        elements: Vec<String>,
        at: String,
        duration: String,
        restoration: Option<String>,
        switching_min: Option<f64>,
    },
    Demand {
        factor: f64,
        networks: Option<Vec<String>>,
        from: Option<String>,
        duration: Option<String>,
    },
    EvShare {
        share: f64,
    },
    AddChargers {
        count: usize,
    },
    RemoveChargers {
        chargers: Vec<String>,
    },
    AddSockets {
        at: String,
        count: usize,
        kw: f64,
    },
    SmartCharging {
        mode: String,
    },
    AddBins {
        stream: String,
        count: usize,
    },
    RemoveBins {
        bins: Vec<String>,
    },
    CollectionDays {
        stream: String,
        days: Vec<String>,
    },
}

/// A time window of the scenario, hours from its start (`to_h` may be past the horizon).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub from_h: f64,
    pub to_h: f64,
}

impl Window {
    pub fn contains(&self, h: f64) -> bool {
        h >= self.from_h && h < self.to_h
    }
}

/// What a scenario changes, resolved against the city (entity indices).
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Street segments closed or their capacity multiplied (0 closes) over a window.
    Streets {
        segments: Vec<usize>,
        capacity_factor: f64,
        window: Window,
    },
    /// Power or water elements failed over a window; power restoration by switching or not.
    Fail {
        elements: Vec<usize>,
        window: Window,
        /// Minutes to restore what switching can restore; None: no switching, all wait for
        /// the repair.
        switching_min: Option<f64>,
    },
    /// Demand multiplied on some networks over a window.
    Demand {
        factor: f64,
        traffic: bool,
        power: bool,
        water: bool,
        window: Window,
    },
    EvShare(f64),
    AddChargers(usize),
    RemoveChargers(Vec<usize>),
    /// Sockets added at a charger or a transformer post.
    AddSockets(AddedSockets),
    /// How charging answers the grid.
    SmartCharging(SmartCharging),
    AddBins {
        stream: WasteKind,
        count: usize,
    },
    RemoveBins(Vec<usize>),
    /// Collection weekdays (Monday = 0) of a stream.
    CollectionDays {
        stream: WasteKind,
        days: Vec<u32>,
    },
}

impl Change {
    /// The models whose results the change can move (a failure of power elements the power
    /// and EV models, of pipes the water model).
    pub fn models(&self, city: &CityModel) -> Vec<Model> {
        match self {
            Change::Streets { .. } => vec![Model::Traffic],
            Change::Fail { elements, .. } => {
                let mut m = Vec::new();
                for &i in elements {
                    let pipe = city.entities()[i].kind() == AssetKind::Pipe;
                    let seen: &[Model] = if pipe {
                        &[Model::Water]
                    } else {
                        &[Model::Power, Model::Ev]
                    };
                    for x in seen {
                        if !m.contains(x) {
                            m.push(*x);
                        }
                    }
                }
                m
            }
            Change::Demand {
                traffic,
                power,
                water,
                ..
            } => {
                let mut m = Vec::new();
                if *traffic {
                    m.push(Model::Traffic);
                }
                if *power {
                    m.extend([Model::Power, Model::Ev]);
                }
                if *water {
                    m.push(Model::Water);
                }
                m
            }
            Change::EvShare(_)
            | Change::AddChargers(_)
            | Change::RemoveChargers(_)
            | Change::AddSockets(_)
            | Change::SmartCharging(_) => vec![Model::Ev],
            Change::AddBins { .. } | Change::RemoveBins(_) | Change::CollectionDays { .. } => {
                vec![Model::Waste]
            }
        }
    }
}

/// The interventions of a file as written, with where each starts, for [`Scenario::resolve`].
pub type RawInterventions = Vec<(Range<usize>, toml::Table)>;

/// A parsed file: the scenario (interventions not yet resolved), its interventions and its text.
pub type Parsed = (Scenario, RawInterventions, String);

/// A scenario ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub file: PathBuf,
    /// The city bundle's folder (a relative `city` joined to the scenario file's folder);
    /// none: the built-in Pitești ([`twin_core::builtin::pitesti`]).
    pub city_dir: Option<PathBuf>,
    pub start: NaiveDateTime,
    pub horizon_h: f64,
    pub step_h: f64,
    pub seed: u64,
    pub models: Vec<Model>,
    /// Share of the city's cars that are electric in the baseline; none: the city's own
    /// (`[ev] share` in its city.toml), else none electric.
    pub ev_share: Option<f64>,
    pub kpis: Option<Vec<String>>,
    pub changes: Vec<Change>,
    /// Bin levels to start from (a fork of the live twin); others start as the seed draws.
    pub initial_bin_levels: std::collections::HashMap<usize, f64>,
    /// The snapshot file named by the scenario, and the line of its key.
    pub snapshot: Option<(PathBuf, usize)>,
}

/// A scenario that cannot be loaded: the file, or its city.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("{file}: city `{dir}`: {source}")]
    City {
        file: String,
        dir: String,
        source: twin_core::BundleError,
    },
}

/// Read a scenario file, load its city and check the interventions against it.
pub fn load_scenario(path: &Path) -> Result<(Scenario, CityModel), LoadError> {
    let (mut scenario, interventions, text) = Scenario::read(path)?;
    let city = twin_core::bundle::load_city_from(&scenario.city_source()).map_err(|source| {
        LoadError::City {
            file: path.display().to_string(),
            dir: scenario.city_label(),
            source,
        }
    })?;
    scenario.resolve(interventions, &text, &city)?;
    if let Some((snapshot, line)) = scenario.snapshot.clone() {
        scenario.initial_bin_levels =
            read_snapshot(&snapshot, &city).map_err(|message| ScenarioError {
                file: path.display().to_string(),
                line,
                message: format!("`snapshot` = \"{}\": {message}", snapshot.display()),
            })?;
    }
    Ok((scenario, city))
}

/// Bin levels from a saved `GET /api/entities` answer (`{"entities": [{"id", "state":
/// {"fillingLevel": …}}]}`); entities the city does not have are an error.
pub fn read_snapshot(
    path: &Path,
    city: &CityModel,
) -> Result<std::collections::HashMap<usize, f64>, String> {
    let text = twin_core::formats::text::read_utf8_file(path).map_err(|e| e.to_string())?;
    parse_snapshot(&text, city)
}

/// [`read_snapshot`] of a file's text.
pub fn parse_snapshot(
    text: &str,
    city: &CityModel,
) -> Result<std::collections::HashMap<usize, f64>, String> {
    let json: serde_json::Value =
        twin_core::formats::json::from_str_strict(text).map_err(|e| format!("not JSON: {e}"))?;
    let entities = json["entities"]
        .as_array()
        .ok_or("no `entities` array (save the answer of GET /api/entities)")?;
    let mut levels = std::collections::HashMap::new();
    for (k, e) in entities.iter().enumerate() {
        let id = e["id"]
            .as_str()
            .ok_or_else(|| format!("entity {k} has no `id`"))?;
        let index = id
            .parse::<EntityId>()
            .ok()
            .and_then(|i| city.entity_index(&i))
            .ok_or_else(|| format!("entity {k}: `{id}` is not an entity of {}", city.meta.name))?;
        if let Some(level) = e["state"]["fillingLevel"].as_f64() {
            if !(0.0..=1.5).contains(&level) {
                return Err(format!(
                    "entity {k} (`{id}`): fillingLevel {level} is not a level"
                ));
            }
            levels.insert(index, level);
        }
    }
    Ok(levels)
}

/// Parse `30min`, `2h`, `14d`, `90s` (or a bare number of hours) into hours.
pub fn parse_duration_h(text: &str) -> Option<f64> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let v: f64 = number.trim().parse().ok()?;
    let h = match unit.trim() {
        "" | "h" => v,
        "min" | "m" => v / 60.0,
        "s" => v / 3600.0,
        "d" => v * 24.0,
        "w" => v * 168.0,
        _ => return None,
    };
    (h.is_finite() && h >= 0.0).then_some(h)
}

/// Line (1-based) of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The TOML keys the fields of [`Scenario`] come from, for `docs/scenarios.md` and its test.
pub const TOP_LEVEL_KEYS: [&str; 11] = [
    "name",
    "description",
    "city",
    "start",
    "horizon",
    "step",
    "seed",
    "models",
    "ev_share",
    "kpis",
    "intervention",
];

/// Intervention kinds.
pub const INTERVENTION_KINDS: [&str; 13] = [
    "close_street",
    "street_capacity",
    "street_lanes",
    "fail",
    "demand",
    "ev_share",
    "add_chargers",
    "remove_chargers",
    "add_sockets",
    "smart_charging",
    "add_bins",
    "remove_bins",
    "collection_days",
];

impl Scenario {
    /// Read a scenario file; `city` is loaded by the caller from [`Scenario::city_dir`] and
    /// passed to [`Scenario::resolve`].
    pub fn read(path: &Path) -> Result<Parsed, ScenarioError> {
        let text = twin_core::formats::text::read_utf8_file(path).map_err(|e| ScenarioError {
            file: path.display().to_string(),
            line: e.line(),
            message: match e {
                twin_core::formats::text::TextFileError::Encoding(e) => e.message,
                e => e.to_string(),
            },
        })?;
        let parsed = Scenario::parse(&text, path)?;
        // A file's city must be there (text posted to the live twin runs on the twin's city).
        if let Some(dir) = parsed.0.city_dir.as_ref().filter(|d| !d.exists()) {
            let line = text
                .lines()
                .position(|l| l.trim_start().starts_with("city"))
                .map_or(1, |at| at + 1);
            return Err(ScenarioError {
                file: path.display().to_string(),
                line,
                message: format!(
                    "`city`: no city bundle at {} (a relative `city` is relative to the scenario \
                     file's folder; leave `city` out for the built-in Pitești)",
                    dir.display()
                ),
            });
        }
        Ok(parsed)
    }

    /// Parse a scenario's text (the interventions are resolved later, against the city).
    pub fn parse(text: &str, path: &Path) -> Result<Parsed, ScenarioError> {
        let file = path.display().to_string();
        let err = |span: Option<Range<usize>>, message: String| ScenarioError {
            file: file.clone(),
            line: span.map_or(0, |s| line_of(text, s.start)),
            message,
        };
        let raw: RawScenario = toml::from_str(text).map_err(|e| {
            let mut message = e.message().replace('\n', " ");
            // A value of the wrong type: name its key, as the other errors do.
            if let Some(key) = e.span().and_then(|span| key_of_value_at(text, span.start))
                && !message.contains(&format!("`{key}`"))
            {
                message = format!("`{key}`: {message}");
            }
            err(e.span(), message)
        })?;
        let at = |s: &Spanned<String>, key: &str, why: &str| {
            err(
                Some(s.span()),
                format!("`{key}` = \"{}\": {why}", s.get_ref()),
            )
        };
        let start = NaiveDateTime::parse_from_str(raw.start.get_ref(), "%Y-%m-%dT%H:%M")
            .or_else(|_| NaiveDateTime::parse_from_str(raw.start.get_ref(), "%Y-%m-%dT%H:%M:%S"))
            .map_err(|_| at(&raw.start, "start", "not a time like 2026-03-02T00:00"))?;
        let horizon_h = parse_duration_h(raw.horizon.get_ref())
            .filter(|h| *h > 0.0 && *h <= MAX_HORIZON_H)
            .ok_or_else(|| {
                at(
                    &raw.horizon,
                    "horizon",
                    "not a duration like 24h or 14d, up to a year",
                )
            })?;
        let step_h = match &raw.step {
            None => 0.25,
            Some(s) => parse_duration_h(s.get_ref())
                .filter(|h| *h >= 1.0 / 60.0 && *h <= 24.0 && (24.0 / h).fract().abs() < 1e-9)
                .ok_or_else(|| at(s, "step", "not a step that divides a day, like 15min or 1h"))?,
        };
        let models = match &raw.models {
            None => Model::ALL.to_vec(),
            Some(m) => {
                let mut out = Vec::new();
                for name in m.get_ref() {
                    let model = Model::ALL
                        .into_iter()
                        .find(|x| x.name() == name)
                        .ok_or_else(|| {
                            err(
                                Some(m.span()),
                                format!(
                                    "`models`: `{name}` is not traffic, power, water, waste or ev"
                                ),
                            )
                        })?;
                    if !out.contains(&model) {
                        out.push(model);
                    }
                }
                out
            }
        };
        let ev_share = match &raw.ev_share {
            None => None,
            Some(s) if (0.0..=1.0).contains(s.get_ref()) => Some(*s.get_ref()),
            Some(s) => {
                return Err(err(
                    Some(s.span()),
                    format!("`ev_share` = {}: not a share between 0 and 1", s.get_ref()),
                ));
            }
        };
        let city_dir = match &raw.city {
            None => None,
            Some(c) => {
                let dir = path
                    .parent()
                    .map_or(PathBuf::from(c.get_ref()), |p| p.join(c.get_ref()));
                Some(dir)
            }
        };
        let interventions = raw
            .interventions
            .into_iter()
            .map(|s| (s.span(), s.into_inner()))
            .collect();
        Ok((
            Scenario {
                name: raw.name,
                description: raw.description,
                file: path.to_path_buf(),
                city_dir,
                start,
                horizon_h,
                step_h,
                seed: raw.seed,
                models,
                ev_share,
                kpis: raw.kpis.map(|k| k.into_inner()),
                changes: Vec::new(),
                initial_bin_levels: Default::default(),
                snapshot: raw.snapshot.map(|s| {
                    let p = PathBuf::from(s.get_ref());
                    let p = if p.is_absolute() || p.exists() {
                        p
                    } else {
                        path.parent().map_or(p.clone(), |d| d.join(&p))
                    };
                    (p, line_of(text, s.span().start))
                }),
            },
            interventions,
            text.to_string(),
        ))
    }

    /// Check the interventions against the city and keep them as [`Change`]s.
    pub fn resolve(
        &mut self,
        interventions: RawInterventions,
        text: &str,
        city: &CityModel,
    ) -> Result<(), ScenarioError> {
        for (k, (span, table)) in interventions.into_iter().enumerate() {
            let err = |message: String| ScenarioError {
                file: self.file.display().to_string(),
                line: line_of(text, span.start),
                message: format!("intervention {}: {message}", k + 1),
            };
            let raw: RawIntervention = RawIntervention::deserialize(toml::Value::Table(table))
                .map_err(|e| err(e.message().replace('\n', " ")))?;
            let window = |from: &Option<String>,
                          duration: &Option<String>|
             -> Result<Window, ScenarioError> {
                let from_h = match from {
                    None => 0.0,
                    Some(f) => self.time_h(f).ok_or_else(|| err(format!("`from` = \"{f}\" is not an offset like 8h or a time like 2026-03-02T08:00")))?,
                };
                if from_h >= self.horizon_h {
                    return Err(err(after_the_horizon("from", from, self.horizon_h)));
                }
                let len = match duration {
                    None => f64::INFINITY,
                    Some(d) => parse_duration_h(d).ok_or_else(|| {
                        err(format!(
                            "`duration` = \"{d}\" is not a duration like 2h or 14d"
                        ))
                    })?,
                };
                Ok(Window {
                    from_h,
                    to_h: from_h + len,
                })
            };
            // Ids or names (a street's name is all its segments): `CityModel::lookup`.
            let ids = |list: &[String],
                       key: &str,
                       kinds: &[AssetKind],
                       what: &str|
             -> Result<Vec<usize>, ScenarioError> {
                if list.is_empty() {
                    return Err(err(format!("`{key}` is empty")));
                }
                let mut found = Vec::new();
                for s in list {
                    let more = city
                        .lookup(s, kinds, what)
                        .map_err(|e| err(format!("`{key}`: {e}")))?;
                    found.extend(
                        more.into_iter()
                            .filter(|i| !found.contains(i))
                            .collect::<Vec<_>>(),
                    );
                }
                Ok(found)
            };
            let street = [AssetKind::StreetSegment];
            let change = match raw {
                RawIntervention::CloseStreet { segments, from, duration } => Change::Streets {
                    segments: ids(&segments, "segments", &street, "a street segment")?,
                    capacity_factor: 0.0,
                    window: window(&from, &duration)?,
                },
                RawIntervention::StreetCapacity { segments, factor, from, duration } => {
                    if !(factor > 0.0 && factor.is_finite()) {
                        return Err(err(format!("`factor` = {factor}: must be positive (use close_street to close)")));
                    }
                    Change::Streets {
                        segments: ids(&segments, "segments", &street, "a street segment")?,
                        capacity_factor: factor,
                        window: window(&from, &duration)?,
                    }
                }
                RawIntervention::StreetLanes { segments, lanes, from, duration } => {
                    let segs = ids(&segments, "segments", &street, "a street segment")?;
                    if lanes == 0 {
                        return Err(err("`lanes` = 0: use close_street to close".into()));
                    }
                    if !self.runs(Model::Traffic) {
                        return Err(err("it changes what the traffic model computes, and `models` does not run it: add it to `models` or drop the intervention".into()));
                    }
                    // Per segment: new lanes over its lanes now (the capacity scales with lanes).
                    let window = window(&from, &duration)?;
                    for &s in &segs {
                        let Asset::StreetSegment(seg) = &city.entities()[s].asset else {
                            continue;
                        };
                        self.changes.push(Change::Streets {
                            segments: vec![s],
                            capacity_factor: f64::from(lanes) / f64::from(seg.lanes.max(1)),
                            window,
                        });
                    }
                    continue;
                }
                RawIntervention::Fail { elements, at, duration, restoration, switching_min } => {
                    let from_h = self.time_h(&at).ok_or_else(|| err(format!("`at` = \"{at}\" is not an offset like 8h or a time like 2026-03-02T08:00")))?;
                    if from_h >= self.horizon_h {
                        return Err(err(after_the_horizon("at", &Some(at.clone()), self.horizon_h)));
                    }
                    let len = parse_duration_h(&duration)
                        .filter(|d| *d > 0.0)
                        .ok_or_else(|| err(format!("`duration` = \"{duration}\" is not a duration like 2h")))?;
                    let minutes = switching_min.unwrap_or(30.0);
                    if !(minutes >= 0.0 && minutes.is_finite()) {
                        return Err(err(format!("`switching_min` = {minutes}: must be a number of minutes")));
                    }
                    let switching_min = match restoration.as_deref() {
                        None | Some("switching") => Some(minutes),
                        Some("none") => None,
                        Some(r) => return Err(err(format!("`restoration` = \"{r}\" is not switching or none"))),
                    };
                    Change::Fail {
                        elements: ids(&elements, "elements", &twin_core::power::outage::FAILABLE, "a power line, switch, post, substation or water pipe")?,
                        window: Window { from_h, to_h: from_h + len },
                        switching_min,
                    }
                }
                RawIntervention::Demand { factor, networks, from, duration } => {
                    if !(factor > 0.0 && factor.is_finite()) {
                        return Err(err(format!("`factor` = {factor}: must be positive")));
                    }
                    let nets = networks.unwrap_or_else(|| vec!["traffic".into(), "power".into(), "water".into()]);
                    for n in &nets {
                        if !matches!(n.as_str(), "traffic" | "power" | "water") {
                            return Err(err(format!("`networks`: `{n}` is not traffic, power or water")));
                        }
                    }
                    let has = |n: &str| nets.iter().any(|x| x == n);
                    Change::Demand {
                        factor,
                        traffic: has("traffic"),
                        power: has("power"),
                        water: has("water"),
                        window: window(&from, &duration)?,
                    }
                }
                RawIntervention::EvShare { share } => {
                    if !(0.0..=1.0).contains(&share) {
                        return Err(err(format!("`share` = {share}: not a share between 0 and 1")));
                    }
                    Change::EvShare(share)
                }
                RawIntervention::AddChargers { count } => Change::AddChargers(count),
                RawIntervention::RemoveChargers { chargers } => Change::RemoveChargers(ids(
                    &chargers,
                    "chargers",
                    &[AssetKind::EvCharger],
                    "an EV charger",
                )?),
                RawIntervention::AddSockets { at, count, kw } => {
                    let place = [AssetKind::EvCharger, AssetKind::TransformerPost];
                    let at_id = ids(std::slice::from_ref(&at), "at", &place, "an EV charger or a transformer post")?;
                    if count == 0 || !(kw > 0.0 && kw.is_finite()) {
                        return Err(err(format!("`count` = {count}, `kw` = {kw}: give at least one socket of a positive power")));
                    }
                    Change::AddSockets(AddedSockets {
                        at: city.entities()[at_id[0]].id.to_string(),
                        count,
                        kw,
                    })
                }
                RawIntervention::SmartCharging { mode } => Change::SmartCharging(
                    SmartCharging::from_name(&mode).ok_or_else(|| err(format!("`mode` = \"{mode}\" is not off, on (post caps) or valley")))?,
                ),
                RawIntervention::AddBins { stream, count } => Change::AddBins {
                    stream: WasteKind::from_name(&stream).ok_or_else(|| err(format!("`stream` = \"{stream}\" is not paper, plastic-metal, glass, bio or residual")))?,
                    count,
                },
                RawIntervention::RemoveBins { bins } => Change::RemoveBins(ids(&bins, "bins", &[AssetKind::WasteBin], "a waste bin")?),
                RawIntervention::CollectionDays { stream, days } => {
                    let stream = WasteKind::from_name(&stream).ok_or_else(|| err(format!("`stream` = \"{stream}\" is not paper, plastic-metal, glass, bio or residual")))?;
                    let days = days
                        .iter()
                        .map(|d| {
                            twin_core::waste::policy::parse_weekday(d)
                                .ok_or_else(|| err(format!("`days`: `{d}` is not a weekday (mon … sun)")))
                        })
                        .collect::<Result<Vec<u32>, _>>()?;
                    Change::CollectionDays { stream, days }
                }
            };
            let seen_by = change.models(city);
            if !seen_by.iter().any(|&m| self.runs(m)) {
                let names: Vec<&str> = seen_by.iter().map(|m| m.name()).collect();
                let running: Vec<&str> = self.models.iter().map(|m| m.name()).collect();
                return Err(err(format!(
                    "it changes what the {} model computes, and `models` = [{}] does not run it: add it to `models` or drop the intervention",
                    names.join(" or "),
                    running.join(", ")
                )));
            }
            self.changes.push(change);
        }
        Ok(())
    }

    /// Hours from the start of an offset (`8h`) or a time (`2026-03-02T08:00`).
    fn time_h(&self, text: &str) -> Option<f64> {
        if let Some(h) = parse_duration_h(text) {
            return Some(h);
        }
        let t = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M").ok()?;
        let h = (t - self.start).num_seconds() as f64 / 3600.0;
        (h >= 0.0).then_some(h)
    }

    /// Steps of the run.
    pub fn steps(&self) -> usize {
        (self.horizon_h / self.step_h).ceil() as usize
    }

    pub fn runs(&self, model: Model) -> bool {
        self.models.contains(&model)
    }

    /// Where the scenario's city is read from: its `city` folder, or the built-in Pitești.
    pub fn city_source(&self) -> twin_core::bundle::BundleSource {
        match &self.city_dir {
            Some(dir) => twin_core::bundle::BundleSource::dir(dir),
            None => twin_core::builtin::pitesti(),
        }
    }

    /// The city's folder for messages, or `pitesti (built in)`.
    pub fn city_label(&self) -> String {
        match &self.city_dir {
            Some(dir) => dir.display().to_string(),
            None => "pitesti (built in)".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "test"
start = "2026-03-02T00:00"
horizon = "24h"
step = "15min"
models = ["power", "traffic"]

[[intervention]]
kind = "fail"
elements = ["power:line-1"]
at = "8h"
duration = "2h"
"#;

    #[test]
    fn durations_and_times_parse() {
        assert_eq!(parse_duration_h("15min"), Some(0.25));
        assert_eq!(parse_duration_h("14d"), Some(336.0));
        assert_eq!(parse_duration_h("2h"), Some(2.0));
        assert_eq!(parse_duration_h("3"), Some(3.0));
        assert_eq!(parse_duration_h("2 x"), None);
        assert_eq!(parse_duration_h("-1h"), None);
        let (s, i, _) = Scenario::parse(GOOD, Path::new("t.toml")).expect("parses");
        assert_eq!((s.horizon_h, s.step_h, s.steps()), (24.0, 0.25, 96));
        assert_eq!(s.models, [Model::Power, Model::Traffic]);
        assert_eq!(i.len(), 1);
        assert_eq!(s.time_h("2026-03-02T08:30"), Some(8.5));
    }

    #[test]
    fn errors_name_the_line_and_the_key() {
        let check = |text: &str, line: usize, needle: &str| {
            let e = Scenario::parse(text, Path::new("s.toml")).expect_err(text);
            assert_eq!(e.line, line, "{e}");
            assert!(e.to_string().contains(needle), "{e}");
            assert!(e.to_string().starts_with("s.toml:"), "{e}");
        };
        check(
            &GOOD.replace("horizon = \"24h\"", "horizon = \"a day\""),
            4,
            "horizon",
        );
        check(
            &GOOD.replace("step = \"15min\"", "step = \"7min\""),
            5,
            "step",
        );
        check(
            &GOOD.replace(
                "models = [\"power\", \"traffic\"]",
                "models = [\"power\", \"trams\"]",
            ),
            6,
            "trams",
        );
        check(
            &GOOD.replace("name = \"test\"", "name = \"test\"\nspeed = 3"),
            3,
            "speed",
        );
        // A value of the wrong type names its key.
        check(
            &GOOD.replace("horizon = \"24h\"", "horizon = 24"),
            4,
            "`horizon`: invalid type",
        );
        check(
            &GOOD.replace("start = \"2026-03-02T00:00\"", "start = \"yesterday\""),
            3,
            "start",
        );
        check("name = \"x\"\ncity = 3\n", 2, "string");
    }

    #[test]
    fn a_relative_city_is_in_the_scenario_files_folder_and_no_city_is_pitesti() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("mycity")).expect("mkdir");
        let file = dir.path().join("s.toml");
        let text = GOOD.replace("name = \"test\"", "name = \"test\"\ncity = \"mycity\"");
        let (s, _, _) = Scenario::parse(&text, &file).expect("parses");
        assert_eq!(s.city_dir, Some(dir.path().join("mycity")));
        let (s, _, _) = Scenario::parse(GOOD, &file).expect("parses");
        assert_eq!(s.city_dir, None);
        assert_eq!(s.city_label(), "pitesti (built in)");
    }
}
