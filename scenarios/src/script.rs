//! Rhai scripting for researchers: loops, sweeps and Monte Carlo over scenarios, with the same
//! scenario files, runner and KPIs as `twin scenario run`, in a sandbox.
//!
//! The sandbox:
//! - an operation budget (`max_operations`), so a script that loops forever is stopped;
//! - size limits on strings, arrays and maps, and a limit on the process's memory growth checked
//!   as the script runs, so a script that allocates without bound is stopped;
//! - no `import` and no `eval`; files only through this API: scenario files, city bundles and
//!   CSV tables are read under the allowed folders (the script's folder and the working
//!   folder's `data/` and `scenarios/`), and CSV is written only into the output folder, by
//!   plain file name. A relative path in a script is relative to the script's folder, so a
//!   script runs the same from any working folder.
//! - random draws come from one generator seeded 1 (ChaCha8), so a Monte Carlo study gives
//!   the same numbers on every run until `seed_random(n)` says otherwise.
//!
//! The API (docs/scenarios.md has examples):
//! `load_scenario(path)`, `posts(s)`, `substations(s)`, `lines(s)`, `switches(s)`,
//! `pipes(s)`, `valves(s)`, `chargers(s)`, `bins(s)`, `streets(s, name)`, `lookup(s, text)`,
//! `s.copy()`, `s.clear_interventions()`, `s.fail(ids, at, duration, restoration)`,
//! `s.close_street(ids, from, duration)`, `s.set_ev_share(x)`, `s.add_chargers(n)`,
//! `s.set_seed(n)`, `s.set_horizon(d)`, `s.set_start(t)`, `s.set_name(text)`, `run(s)`,
//! `run_all(array)` (in parallel on all cores), `read_csv(path)`, `write_csv(name, rows)`,
//! `write_csv(name, rows, columns)`, `seed_random(n)`, `random()`, `random_int(lo, hi)`,
//! `random_normal(mean, sd)`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map, Position};
use twin_core::CityModel;
use twin_core::ev::calibration::DemandFit;
use twin_core::id::AssetKind;

use crate::file::{Scenario, parse_duration_h};
use crate::run::{Comparison, RunOutput, baseline_key, run_against, run_baseline};

/// The sandbox's limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub max_operations: u64,
    pub max_string_bytes: usize,
    /// Elements of an array (0: no limit). Rhai checks the whole array on each growth, so
    /// this also bounds the cost of building one.
    pub max_array_len: usize,
    pub max_map_len: usize,
    /// Growth of the process's resident memory allowed while the script runs.
    pub max_memory_bytes: u64,
    pub max_seconds: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 50_000_000,
            max_string_bytes: 1 << 20,
            max_array_len: 100_000,
            max_map_len: 500_000,
            max_memory_bytes: 1 << 30,
            max_seconds: 1800.0,
        }
    }
}

/// What a script may touch and how it reports.
pub struct ScriptContext {
    /// The folder relative paths in the script are relative to: the script's own.
    pub base_dir: PathBuf,
    /// Folders scenario files, cities and CSV tables may be read from.
    pub read_roots: Vec<PathBuf>,
    /// The only folder CSV goes to.
    pub out_dir: PathBuf,
    /// The EV model's calibration, for scenarios that run the EV model.
    pub fit: Option<Arc<DemandFit>>,
    pub limits: Limits,
    /// Told (done, total) as `run_all` advances.
    pub progress: Arc<dyn Fn(usize, usize) + Send + Sync>,
    /// Where `print` goes.
    pub print: Arc<dyn Fn(&str) + Send + Sync>,
}

/// A scenario in a script: the scenario and its city.
#[derive(Clone)]
pub struct ScriptScenario {
    scenario: Scenario,
    city: Arc<CityModel>,
}

/// Shared state of one script run: cities and baselines already loaded or run.
struct Shared {
    ctx: ScriptContext,
    /// Cities by folder (none: the built-in Pitești).
    cities: Mutex<HashMap<Option<PathBuf>, Arc<CityModel>>>,
    baselines: Mutex<HashMap<String, RunOutput>>,
    /// The script's random draws (seeded 1 until `seed_random`).
    rng: Mutex<ChaCha8Rng>,
    budget: Budget,
}

/// The script's wall-clock and memory allowance, checked between Rhai operations and before
/// every scenario run a native call makes (`run`, each scenario of `run_all`, a baseline), so a
/// runaway `run_all` stops at the next scenario instead of running on outside the engine.
struct Budget {
    started: Instant,
    max_time: Duration,
    base_memory: u64,
    max_memory: u64,
}

impl Budget {
    fn new(limits: &Limits) -> Budget {
        Budget {
            started: Instant::now(),
            max_time: Duration::from_secs_f64(limits.max_seconds.clamp(0.0, 1e9)),
            base_memory: resident_bytes(),
            max_memory: limits.max_memory_bytes,
        }
    }

    /// Why the script must stop now, if it must.
    fn exceeded(&self) -> Option<String> {
        let grown = resident_bytes().saturating_sub(self.base_memory);
        if grown > self.max_memory {
            return Some(format!(
                "memory limit: the script grew the process by {} MB (limit {} MB)",
                grown >> 20,
                self.max_memory >> 20
            ));
        }
        (self.started.elapsed() > self.max_time)
            .then(|| format!("time limit of {:.0} s reached", self.max_time.as_secs_f64()))
    }

    /// [`Budget::exceeded`] as a script error, before `what` starts.
    fn check(&self, what: &str) -> Fallible<()> {
        match self.exceeded() {
            Some(why) => fail(format!("{why} (before {what})")),
            None => Ok(()),
        }
    }
}

type Fallible<T> = Result<T, Box<EvalAltResult>>;

fn fail<T>(message: impl Into<String>) -> Fallible<T> {
    Err(Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(message.into()),
        Position::NONE,
    )))
}

/// Resident memory of this process, bytes (Linux; 0 elsewhere).
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

impl Shared {
    fn allowed_read(&self, path: &Path) -> Fallible<PathBuf> {
        if !path.exists() {
            return fail(format!("`{}` does not exist", path.display()));
        }
        if let Some(full) = crate::sandbox::within(path, &self.ctx.read_roots) {
            Ok(full)
        } else {
            fail(format!(
                "`{}` is outside the folders this script may read ({})",
                path.display(),
                self.ctx
                    .read_roots
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    }

    /// A path written in the script: relative to the script's folder.
    fn script_path(&self, path: &str) -> PathBuf {
        self.ctx.base_dir.join(path)
    }

    fn load_scenario(&self, path: &str) -> Fallible<ScriptScenario> {
        let path = self.script_path(path);
        self.allowed_read(&path)?;
        let (mut scenario, interventions, text) =
            Scenario::read(&path).or_else(|e| fail(e.to_string()))?;
        // Every file the scenario reads (its city's layers too) must be inside.
        if let Some(outside) =
            crate::sandbox::outside_of(&path, &self.ctx.read_roots).or_else(fail)?
        {
            self.allowed_read(&outside)?;
        }
        let city = {
            let key = scenario
                .city_dir
                .as_ref()
                .map(|dir| std::fs::canonicalize(dir).unwrap_or(dir.clone()));
            let mut cities = self.cities.lock().unwrap_or_else(|p| p.into_inner());
            match cities.get(&key) {
                Some(c) => c.clone(),
                None => {
                    let c = Arc::new(
                        twin_core::bundle::load_city_from(&scenario.city_source())
                            .or_else(|e| fail(format!("{}: {e}", path.display())))?,
                    );
                    cities.insert(key, c.clone());
                    c
                }
            }
        };
        scenario
            .resolve(interventions, &text, &city)
            .or_else(|e| fail(e.to_string()))?;
        Ok(ScriptScenario { scenario, city })
    }

    /// Run one scenario, its baseline shared with every scenario of the same base.
    /// The baseline of a scenario, run once for every scenario sharing it.
    fn baseline(&self, s: &ScriptScenario) -> Fallible<RunOutput> {
        let key = baseline_key(&s.scenario);
        let cached = self
            .baselines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        if let Some(b) = cached {
            return Ok(b);
        }
        self.budget.check("a baseline run")?;
        let b = run_baseline(&s.city, &s.scenario, self.ctx.fit.as_deref(), &|_| {})
            .or_else(|e| fail(e.to_string()))?;
        self.baselines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, b.clone());
        Ok(b)
    }

    /// Run one scenario against its shared baseline.
    fn run(&self, s: &ScriptScenario) -> Fallible<Comparison> {
        let baseline = self.baseline(s)?;
        self.budget
            .check(&format!("scenario `{}`", s.scenario.name))?;
        run_against(
            &s.city,
            &s.scenario,
            self.ctx.fit.as_deref(),
            baseline,
            &|_| {},
        )
        .or_else(|e| fail(e.to_string()))
    }

    /// Write `rows` (object maps) to `name` in the output folder, with `columns` in that
    /// order, or else every key of the rows in the order first seen (a map's keys are sorted).
    fn write_csv(&self, name: &str, rows: Array, columns: Option<Array>) -> Fallible<()> {
        let plain = !name.is_empty()
            && name.ends_with(".csv")
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !name.starts_with('.');
        if !plain {
            return fail(format!(
                "write_csv: `{name}` must be a plain file name ending in .csv; files go into the output folder only"
            ));
        }
        let maps: Vec<Map> = rows
            .into_iter()
            .map(|r| r.try_cast::<Map>())
            .collect::<Option<_>>()
            .map_or_else(|| fail("write_csv: rows must be object maps (#{...})"), Ok)?;
        let columns: Vec<String> = match columns {
            Some(list) => list
                .into_iter()
                .map(|c| c.try_cast::<ImmutableString>().map(|c| c.to_string()))
                .collect::<Option<_>>()
                .map_or_else(|| fail("write_csv: columns must be strings"), Ok)?,
            None => {
                let mut columns: Vec<String> = Vec::new();
                for m in &maps {
                    for k in m.keys() {
                        if !columns.iter().any(|c| c == k.as_str()) {
                            columns.push(k.to_string());
                        }
                    }
                }
                columns
            }
        };
        let mut writer = csv::Writer::from_writer(Vec::new());
        let csv_error = |e: csv::Error| fail::<()>(format!("write_csv {name}: {e}"));
        writer.write_record(&columns).or_else(csv_error)?;
        for m in &maps {
            let record = columns
                .iter()
                .map(|c| m.get(c.as_str()).map_or(String::new(), |v| v.to_string()));
            writer.write_record(record).or_else(csv_error)?;
        }
        let out = writer
            .into_inner()
            .or_else(|e| fail(format!("write_csv {name}: {e}")))?;
        std::fs::create_dir_all(&self.ctx.out_dir).or_else(|e| fail(format!("write_csv: {e}")))?;
        std::fs::write(self.ctx.out_dir.join(name), out)
            .or_else(|e| fail(format!("write_csv {name}: {e}")))
    }

    /// Read a CSV table with a header row into an array of object maps, one per row: a field
    /// that is an integer becomes an integer, one that is a number a float, the rest strings.
    fn read_csv(&self, path: &str) -> Fallible<Array> {
        let full = self.script_path(path);
        let full = self.allowed_read(&full)?;
        let text = twin_core::formats::text::read_utf8_file(&full)
            .or_else(|e| fail(format!("read_csv: {e}")))?;
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .from_reader(text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .or_else(|e| fail(format!("read_csv {path}: {e}")))?
            .iter()
            .map(str::to_string)
            .collect();
        let mut rows = Array::new();
        for record in reader.records() {
            let record = record.or_else(|e| fail(format!("read_csv {path}: {e}")))?;
            let row: Map = header
                .iter()
                .zip(record.iter())
                .map(|(column, field)| (column.as_str().into(), csv_value(field)))
                .collect();
            rows.push(row.into());
        }
        Ok(rows)
    }
}

/// A CSV field as a script sees it: an integer, a float, or the text.
fn csv_value(field: &str) -> Dynamic {
    if let Ok(i) = field.parse::<i64>() {
        Dynamic::from_int(i)
    } else if let Some(x) = field.parse::<f64>().ok().filter(|x| x.is_finite()) {
        Dynamic::from_float(x)
    } else {
        Dynamic::from(field.to_string())
    }
}

fn kpi_map(kpis: &std::collections::BTreeMap<String, f64>) -> Map {
    kpis.iter()
        .map(|(k, v)| (k.as_str().into(), Dynamic::from_float(*v)))
        .collect()
}

fn comparison_map(c: &Comparison, name: &str) -> Map {
    let mut m = Map::new();
    m.insert("name".into(), name.into());
    m.insert("baseline".into(), kpi_map(&c.baseline.kpis).into());
    m.insert("scenario".into(), kpi_map(&c.scenario.kpis).into());
    m.insert("difference".into(), kpi_map(&c.difference).into());
    m
}

/// Ids (strings) out of a string or an array of strings.
fn ids_of(v: Dynamic) -> Fallible<Vec<String>> {
    if let Some(s) = v.clone().try_cast::<ImmutableString>() {
        return Ok(vec![s.to_string()]);
    }
    match v.try_cast::<Array>() {
        Some(a) => a
            .into_iter()
            .map(|x| {
                x.try_cast::<ImmutableString>()
                    .map(|s| s.to_string())
                    .map_or_else(|| fail("ids must be strings like \"power:pt-12\""), Ok)
            })
            .collect(),
        None => fail("ids must be a string or an array of strings"),
    }
}

impl ScriptScenario {
    /// Add one intervention through the scenario file's own validation.
    fn add(&mut self, table: toml::Table) -> Fallible<()> {
        self.scenario
            .resolve(vec![(0..0, table)], "", &self.city)
            .or_else(|e| fail(e.message))
    }
}

fn strings(list: Vec<String>) -> toml::Value {
    toml::Value::Array(list.into_iter().map(toml::Value::String).collect())
}

/// Run a script. Returns what the script's last statement evaluated to, as text.
pub fn run_script(source: &str, name: &str, ctx: ScriptContext) -> Result<String, String> {
    let limits = ctx.limits;
    let shared = Arc::new(Shared {
        ctx,
        cities: Mutex::new(HashMap::new()),
        baselines: Mutex::new(HashMap::new()),
        rng: Mutex::new(ChaCha8Rng::seed_from_u64(1)),
        budget: Budget::new(&limits),
    });
    let mut engine = Engine::new();
    engine.set_max_operations(limits.max_operations);
    engine.set_max_string_size(limits.max_string_bytes);
    engine.set_max_array_size(limits.max_array_len);
    engine.set_max_map_size(limits.max_map_len);
    engine.set_max_call_levels(64);
    engine.set_max_expr_depths(64, 64);
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    engine.disable_symbol("eval");
    let sh = shared.clone();
    engine.on_progress(move |ops| {
        if ops % 10_000 != 0 {
            return None;
        }
        sh.budget.exceeded().map(Dynamic::from)
    });
    let print = shared.ctx.print.clone();
    engine.on_print(move |s| print(s));
    engine.register_type_with_name::<ScriptScenario>("Scenario");

    let sh = shared.clone();
    engine.register_fn("load_scenario", move |path: &str| sh.load_scenario(path));
    fn ids_of_kind(s: &ScriptScenario, kinds: &[AssetKind]) -> Array {
        s.city
            .entities()
            .iter()
            .filter(|e| kinds.contains(&e.kind()))
            .map(|e| Dynamic::from(e.id.to_string()))
            .collect()
    }
    let by_kind: [(&str, &[AssetKind]); 8] = [
        ("posts", &[AssetKind::TransformerPost]),
        ("substations", &[AssetKind::Substation]),
        ("lines", &[AssetKind::PowerLine]),
        ("switches", &[AssetKind::PowerSwitch]),
        ("pipes", &[AssetKind::Pipe]),
        ("valves", &[AssetKind::Valve]),
        ("chargers", &[AssetKind::EvCharger]),
        ("bins", &[AssetKind::WasteBin]),
    ];
    for (name, kinds) in by_kind {
        engine.register_fn(name, move |s: &mut ScriptScenario| ids_of_kind(s, kinds));
    }
    engine.register_fn(
        "streets",
        |s: &mut ScriptScenario, name: &str| -> Fallible<Array> {
            lookup_ids(s, name, &[AssetKind::StreetSegment], "street")
        },
    );
    engine.register_fn(
        "lookup",
        |s: &mut ScriptScenario, text: &str| -> Fallible<Array> {
            lookup_ids(s, text, &[], "entity")
        },
    );
    engine.register_fn("copy", |s: &mut ScriptScenario| s.clone());
    engine.register_fn("clear_interventions", |s: &mut ScriptScenario| {
        s.scenario.changes.clear()
    });
    engine.register_fn("set_name", |s: &mut ScriptScenario, name: &str| {
        s.scenario.name = name.to_string()
    });
    engine.register_get("name", |s: &mut ScriptScenario| s.scenario.name.clone());
    engine.register_fn(
        "set_seed",
        |s: &mut ScriptScenario, seed: i64| -> Fallible<()> {
            s.scenario.seed =
                u64::try_from(seed).or_else(|_| fail(format!("set_seed({seed}): not a seed")))?;
            Ok(())
        },
    );
    engine.register_fn(
        "set_horizon",
        |s: &mut ScriptScenario, d: &str| -> Fallible<()> {
            s.scenario.horizon_h = parse_duration_h(d)
                .filter(|h| *h > 0.0 && *h <= crate::file::MAX_HORIZON_H)
                .map_or_else(
                    || {
                        fail(format!(
                            "set_horizon(\"{d}\"): not a duration like 24h, up to a year"
                        ))
                    },
                    Ok,
                )?;
            Ok(())
        },
    );
    engine.register_fn(
        "set_start",
        |s: &mut ScriptScenario, t: &str| -> Fallible<()> {
            s.scenario.start =
                chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M").or_else(|_| {
                    fail(format!(
                        "set_start(\"{t}\"): not a time like 2026-03-02T08:00"
                    ))
                })?;
            Ok(())
        },
    );
    engine.register_fn(
        "set_ev_share",
        |s: &mut ScriptScenario, x: f64| -> Fallible<()> {
            let mut t = toml::Table::new();
            t.insert("kind".into(), "ev_share".into());
            t.insert("share".into(), x.into());
            s.add(t)
        },
    );
    engine.register_fn(
        "add_chargers",
        |s: &mut ScriptScenario, n: i64| -> Fallible<()> {
            let mut t = toml::Table::new();
            t.insert("kind".into(), "add_chargers".into());
            t.insert("count".into(), n.into());
            s.add(t)
        },
    );
    engine.register_fn(
        "fail",
        |s: &mut ScriptScenario,
         ids: Dynamic,
         at: &str,
         duration: &str,
         restoration: &str|
         -> Fallible<()> {
            let mut t = toml::Table::new();
            t.insert("kind".into(), "fail".into());
            t.insert("elements".into(), strings(ids_of(ids)?));
            t.insert("at".into(), at.into());
            t.insert("duration".into(), duration.into());
            t.insert("restoration".into(), restoration.into());
            s.add(t)
        },
    );
    engine.register_fn(
        "close_street",
        |s: &mut ScriptScenario, ids: Dynamic, from: &str, duration: &str| -> Fallible<()> {
            let mut t = toml::Table::new();
            t.insert("kind".into(), "close_street".into());
            t.insert("segments".into(), strings(ids_of(ids)?));
            t.insert("from".into(), from.into());
            t.insert("duration".into(), duration.into());
            s.add(t)
        },
    );
    let sh = shared.clone();
    engine.register_fn("run", move |s: &mut ScriptScenario| -> Fallible<Map> {
        let c = sh.run(s)?;
        Ok(comparison_map(&c, &s.scenario.name))
    });
    let sh = shared.clone();
    engine.register_fn("run_all", move |list: Array| -> Fallible<Array> {
        let scenarios: Vec<ScriptScenario> = list
            .into_iter()
            .map(|d| d.try_cast::<ScriptScenario>())
            .collect::<Option<_>>()
            .map_or_else(|| fail("run_all takes an array of scenarios"), Ok)?;
        // Baselines first (one per distinct base), then every scenario in parallel.
        if let Some(first) = scenarios.first() {
            sh.baseline(first)?;
        }
        let done = std::sync::atomic::AtomicUsize::new(0);
        let total = scenarios.len();
        let results: Vec<Fallible<Map>> = scenarios
            .par_iter()
            .map(|s| {
                let r = sh.run(s).map(|c| comparison_map(&c, &s.scenario.name));
                let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                (sh.ctx.progress)(d, total);
                r
            })
            .collect();
        results.into_iter().map(|r| r.map(Dynamic::from)).collect()
    });
    let sh = shared.clone();
    engine.register_fn("write_csv", move |name: &str, rows: Array| {
        sh.write_csv(name, rows, None)
    });
    let sh = shared.clone();
    engine.register_fn(
        "write_csv",
        move |name: &str, rows: Array, columns: Array| sh.write_csv(name, rows, Some(columns)),
    );
    let sh = shared.clone();
    engine.register_fn("read_csv", move |path: &str| sh.read_csv(path));
    register_random(&mut engine, &shared);

    engine
        .eval::<Dynamic>(source)
        .map(|d| {
            if d.is_unit() {
                String::new()
            } else {
                d.to_string()
            }
        })
        .map_err(|e| describe_error(name, &e))
}

/// Ids of the entities `text` names (an id, a street's name: all its segments, or one
/// entity's name), as [`CityModel::lookup`] reads it.
fn lookup_ids(s: &ScriptScenario, text: &str, kinds: &[AssetKind], what: &str) -> Fallible<Array> {
    let found = s
        .city
        .lookup(text, kinds, what)
        .or_else(|e| fail(e.to_string()))?;
    Ok(found
        .into_iter()
        .map(|i| Dynamic::from(s.city.entities()[i].id.to_string()))
        .collect())
}

/// `seed_random(n)`, `random()` (uniform in [0, 1)), `random_int(lo, hi)` (lo to hi, both
/// included) and `random_normal(mean, sd)` (Box–Muller, [`twin_core::sampling`]), all from the
/// script's one seeded generator.
fn register_random(engine: &mut Engine, shared: &Arc<Shared>) {
    let sh = shared.clone();
    engine.register_fn("seed_random", move |seed: i64| -> Fallible<()> {
        let seed =
            u64::try_from(seed).or_else(|_| fail(format!("seed_random({seed}): not a seed")))?;
        *sh.rng.lock().unwrap_or_else(|p| p.into_inner()) = ChaCha8Rng::seed_from_u64(seed);
        Ok(())
    });
    let sh = shared.clone();
    engine.register_fn("random", move || -> f64 {
        sh.rng
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .random::<f64>()
    });
    let sh = shared.clone();
    engine.register_fn("random_int", move |lo: i64, hi: i64| -> Fallible<i64> {
        if lo > hi {
            return fail(format!(
                "random_int({lo}, {hi}): the low end is above the high end"
            ));
        }
        Ok(sh
            .rng
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .random_range(lo..=hi))
    });
    let sh = shared.clone();
    engine.register_fn("random_normal", move |mean: f64, sd: f64| -> Fallible<f64> {
        if !(sd >= 0.0 && sd.is_finite() && mean.is_finite()) {
            return fail(format!(
                "random_normal({mean}, {sd}): the mean must be a number and the standard deviation a number ≥ 0"
            ));
        }
        let z = twin_core::sampling::standard_normal(
            &mut *sh.rng.lock().unwrap_or_else(|p| p.into_inner()),
        );
        Ok(mean + sd * z)
    });
}

/// One line naming the script, the place and what went wrong, with the sandbox's reasons said
/// plainly.
fn describe_error(name: &str, e: &EvalAltResult) -> String {
    let pos = e.position();
    let at = if pos.is_none() {
        name.to_string()
    } else {
        format!("{name}:{}", pos.line().unwrap_or(0))
    };
    let what = match e {
        EvalAltResult::ErrorTooManyOperations(_) => {
            "stopped by the sandbox: the script ran past its operation budget (an endless loop?)"
                .to_string()
        }
        EvalAltResult::ErrorDataTooLarge(what, _) => {
            format!("stopped by the sandbox: {what} grew past its size limit")
        }
        EvalAltResult::ErrorTerminated(why, _) => format!("stopped by the sandbox: {why}"),
        EvalAltResult::ErrorStackOverflow(_) => {
            "stopped by the sandbox: calls nested too deep".to_string()
        }
        EvalAltResult::ErrorRuntime(v, _) => v.to_string(),
        EvalAltResult::ErrorInFunctionCall(f, _, inner, _) => {
            return format!("{at}: in `{f}`: {}", describe_error(name, inner));
        }
        other => other.to_string(),
    };
    format!("{at}: {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(out: &Path, limits: Limits) -> ScriptContext {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        ScriptContext {
            base_dir: root.clone(),
            read_roots: vec![root.join("data"), root.join("scenarios")],
            out_dir: out.to_path_buf(),
            fit: None,
            limits,
            progress: Arc::new(|_, _| {}),
            print: Arc::new(|_| {}),
        }
    }

    #[test]
    fn an_endless_loop_is_stopped_with_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let limits = Limits {
            max_operations: 100_000,
            ..Limits::default()
        };
        let e = run_script(
            "let x = 0;\nloop { x += 1; }",
            "forever.rhai",
            ctx(dir.path(), limits),
        )
        .expect_err("stopped");
        assert!(
            e.starts_with("forever.rhai:2: stopped by the sandbox"),
            "{e}"
        );
        assert!(e.contains("operation budget"), "{e}");
    }

    #[test]
    fn unbounded_allocation_is_stopped_with_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let small = Limits {
            max_array_len: 5_000,
            ..Limits::default()
        };
        let e = run_script(
            "let a = [];\nloop { a.push(\"x\"); }",
            "hog.rhai",
            ctx(dir.path(), small),
        )
        .expect_err("stopped");
        assert!(
            e.contains("stopped by the sandbox") && e.contains("size limit"),
            "{e}"
        );
        // Under the size limits but over the memory allowed: the memory check stops it.
        let limits = Limits {
            max_memory_bytes: 2 << 20,
            max_array_len: 0,
            ..Limits::default()
        };
        let e = run_script(
            "let a = [];\nloop { a.push(\"a string of some length, number \" + a.len()); }",
            "hog2.rhai",
            ctx(dir.path(), limits),
        )
        .expect_err("stopped");
        assert!(e.contains("stopped by the sandbox: memory limit"), "{e}");
    }

    #[test]
    fn a_script_cannot_ask_for_a_run_longer_than_a_file_may() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = run_script(
            "let s = load_scenario(\"scenarios/examples/substation-failure-switching.toml\");\ns.set_horizon(\"100000d\");",
            "long.rhai",
            ctx(dir.path(), Limits::default()),
        )
        .expect_err("refused");
        assert!(e.starts_with("long.rhai:2"), "{e}");
        assert!(e.contains("up to a year"), "{e}");
    }

    #[test]
    fn files_only_where_the_runner_allows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = || ctx(dir.path(), Limits::default());
        let e = run_script("load_scenario(\"/etc/passwd\")", "s.rhai", c()).expect_err("refused");
        assert!(e.contains("outside the folders"), "{e}");
        let e = run_script("write_csv(\"../x.csv\", [])", "s.rhai", c()).expect_err("refused");
        assert!(e.contains("plain file name"), "{e}");
        let e = run_script("import \"os\" as os;", "s.rhai", c()).expect_err("no modules");
        assert!(e.starts_with("s.rhai:1"), "{e}");
        run_script(
            "write_csv(\"ok.csv\", [#{a: 1, b: \"x,y\"}])",
            "s.rhai",
            c(),
        )
        .expect("written");
        let text = std::fs::read_to_string(dir.path().join("ok.csv")).expect("csv");
        assert_eq!(text, "a,b\n1,\"x,y\"\n");
    }

    #[test]
    fn tables_in_and_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = || ctx(dir.path(), Limits::default());
        // Relative to the script's folder; integers, floats and text as such.
        let got = run_script(
            "let rows = read_csv(\"data/pitesti/outage_events.csv\");\n\
             `${rows.len()} ${rows[0].fail} ${rows[0].repair_h + 1} ${type_of(rows[0].repair_h)}`",
            "s.rhai",
            c(),
        )
        .expect("read");
        assert_eq!(got, "4 power:line-5 5 i64");
        let e = run_script("read_csv(\"/etc/hostname\")", "s.rhai", c()).expect_err("refused");
        assert!(e.contains("outside the folders"), "{e}");
        // Columns in the order given, not the map's sorted keys.
        run_script(
            "write_csv(\"c.csv\", [#{b: 1, a: 2.5}, #{a: \"x\"}], [\"b\", \"a\"])",
            "s.rhai",
            c(),
        )
        .expect("written");
        let text = std::fs::read_to_string(dir.path().join("c.csv")).expect("csv");
        assert_eq!(text, "b,a\n1,2.5\n,x\n");
    }

    #[test]
    fn random_draws_repeat_with_their_seed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = || ctx(dir.path(), Limits::default());
        let draws = "let a = []; for i in 0..5 { a.push(random()); a.push(random_int(1, 6)); \
                     a.push(random_normal(10.0, 2.0)); } a";
        let first = run_script(draws, "s.rhai", c()).expect("draws");
        assert_eq!(first, run_script(draws, "s.rhai", c()).expect("draws"));
        let reseeded = format!("seed_random(7); {draws}");
        assert_ne!(first, run_script(&reseeded, "s.rhai", c()).expect("draws"));
        let inside = run_script(
            "seed_random(3); let ok = true; for i in 0..2000 { let x = random(); let k = random_int(1, 6); \
             ok = ok && x >= 0.0 && x < 1.0 && k >= 1 && k <= 6; } ok",
            "s.rhai",
            c(),
        )
        .expect("draws");
        assert_eq!(inside, "true");
        // The normal draws' mean and spread are what was asked (4,000 draws: 5 standard errors).
        let stats = run_script(
            "let n = 4000; let s = 0.0; let q = 0.0; for i in 0..n { let x = random_normal(10.0, 2.0); \
             s += x; q += x * x; } let m = s / n; [m, (q / n - m * m).sqrt()]",
            "s.rhai",
            c(),
        )
        .expect("draws");
        let v: Vec<f64> = stats
            .trim_matches(['[', ']'])
            .split(',')
            .map(|x| x.trim().parse().expect("number"))
            .collect();
        assert!((v[0] - 10.0).abs() < 5.0 * 2.0 / 4000f64.sqrt(), "{v:?}");
        assert!((v[1] - 2.0).abs() < 0.15, "{v:?}");
        let e = run_script("random_int(6, 1)", "s.rhai", c()).expect_err("refused");
        assert!(e.contains("low end"), "{e}");
    }

    #[test]
    fn the_time_limit_covers_the_runs_native_calls_make() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A script of a few operations whose time is all in `run_all`: the engine alone would
        // never look at the clock (it checks every 10,000 operations).
        let limits = Limits {
            max_seconds: 0.0,
            ..Limits::default()
        };
        let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut c = ctx(dir.path(), limits);
        let seen = done.clone();
        c.progress = Arc::new(move |d, _| {
            seen.fetch_max(d, std::sync::atomic::Ordering::Relaxed);
        });
        let e = run_script(
            "let s = load_scenario(\"scenarios/examples/substation-failure-switching.toml\");\n\
             let list = [];\n\
             for k in 0..20 { list.push(s.copy()); }\n\
             run_all(list)",
            "runaway.rhai",
            c,
        )
        .expect_err("stopped");
        assert!(
            e.contains("time limit of 0 s reached (before a baseline run)"),
            "{e}"
        );
        assert_eq!(
            done.load(std::sync::atomic::Ordering::Relaxed),
            0,
            "no scenario ran"
        );
    }

    #[test]
    fn elements_by_kind_and_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let got = run_script(
            "let s = load_scenario(\"scenarios/examples/substation-failure-switching.toml\");\n\
             [lines(s).len() > 0, switches(s).len() > 0, pipes(s).len() > 0, valves(s).len() > 0, \
              chargers(s).len() > 0, bins(s).len() > 0, lines(s)[0].starts_with(\"power:\"), \
              lookup(s, \"power:ss-2\") == [\"power:ss-2\"]]",
            "s.rhai",
            ctx(dir.path(), Limits::default()),
        )
        .expect("runs");
        assert_eq!(got, "[true, true, true, true, true, true, true, true]");
        let e = run_script(
            "let s = load_scenario(\"scenarios/examples/substation-failure-switching.toml\");\n\
             lookup(s, \"Strada Care Nu Exista\")",
            "s.rhai",
            ctx(dir.path(), Limits::default()),
        )
        .expect_err("not found");
        assert!(e.contains("twin find"), "{e}");
    }
}
