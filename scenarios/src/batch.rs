//! Scenario batches: one scenario over many seeds (Monte Carlo) and the spread of every KPI's
//! difference from the baseline.
//!
//! A batch runs on this machine's cores ([`run_batch`]) or as jobs of a work queue: the
//! coordinator turns seeds into [`SeedJob`] payloads ([`seed_jobs`]) and the results back
//! ([`decode_results`]); a [`BatchWorker`] runs a job's payload. The queue itself is the
//! caller's (the binary wires the cluster's work queue): this crate stays free of the network.
//! The same seeds give the same results either way (the runner draws from seeded ChaCha8
//! streams only).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use twin_core::CityModel;
use twin_core::ev::calibration::DemandFit;
use twin_core::stable_hash::fnv1a64;

use crate::file::{Model, Scenario, load_scenario};
use crate::output::ordered;
use crate::run::{Comparison, run_scenario};
use crate::sandbox::{outside_of, within};

/// A batch that cannot run; the message names the file, the seed or the job.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BatchError(pub String);

/// One seed's run: what `batch.json` lists, and what a worker sends back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedResult {
    pub seed: u64,
    pub baseline: BTreeMap<String, f64>,
    pub scenario: BTreeMap<String, f64>,
    pub difference: BTreeMap<String, f64>,
}

impl SeedResult {
    fn of(seed: u64, c: Comparison) -> SeedResult {
        SeedResult {
            seed,
            baseline: c.baseline.kpis,
            scenario: c.scenario.kpis,
            difference: c.difference,
        }
    }
}

/// A job of a distributed batch: the scenario file (which the worker must hold, the same, with
/// the city it names), its text's hash to check that, the EV sessions file and the seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedJob {
    pub file: PathBuf,
    pub text_hash: u64,
    /// The EV sessions file; none means the one the scenario's city names.
    pub sessions: Option<PathBuf>,
    pub seed: u64,
}

/// The spread of one KPI's difference over a batch's seeds (nearest-rank quantiles).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KpiSpread {
    pub mean: f64,
    pub min: f64,
    pub p5: f64,
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
}

/// The EV calibration a scenario needs, when it runs the EV model: fitted on `sessions` when
/// given, else on the sessions its city's bundle names.
pub fn fit_for(
    scenario: &Scenario,
    city: &CityModel,
    sessions: Option<&Path>,
) -> Result<Option<DemandFit>, BatchError> {
    if !scenario.runs(Model::Ev) {
        return Ok(None);
    }
    twin_core::ev::demand_fit_for(&scenario.city_source(), city, sessions)
        .map(Some)
        .map_err(|e| BatchError(e.to_string()))
}

/// Run one seed of a scenario.
pub fn run_seed(
    scenario: &Scenario,
    city: &CityModel,
    fit: Option<&DemandFit>,
    seed: u64,
) -> Result<SeedResult, BatchError> {
    let mut s = scenario.clone();
    s.seed = seed;
    let c = run_scenario(city, &s, fit, &|_, _| {})
        .map_err(|e| BatchError(format!("{} seed {seed}: {e}", scenario.file.display())))?;
    Ok(SeedResult::of(seed, c))
}

/// Run every seed on this machine's cores (rayon); `progress` is called once per finished seed.
/// Results are in the order of `seeds`.
pub fn run_batch(
    scenario: &Scenario,
    city: &CityModel,
    fit: Option<&DemandFit>,
    seeds: &[u64],
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<SeedResult>, BatchError> {
    seeds
        .par_iter()
        .map(|&seed| {
            let r = run_seed(scenario, city, fit, seed);
            progress();
            r
        })
        .collect()
}

/// The spread of every KPI's difference over the results, in the reports' KPI order.
pub fn summarise(results: &[SeedResult]) -> Vec<(String, KpiSpread)> {
    let mut summary = Vec::new();
    let Some(first) = results.first() else {
        return summary;
    };
    for (name, _) in ordered(&first.difference) {
        let mut v: Vec<f64> = results
            .iter()
            .filter_map(|r| r.difference.get(name).copied())
            .collect();
        if v.is_empty() {
            continue;
        }
        v.sort_by(f64::total_cmp);
        let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        summary.push((
            name.clone(),
            KpiSpread {
                mean: v.iter().sum::<f64>() / v.len() as f64,
                min: v[0],
                p5: q(0.05),
                p50: q(0.5),
                p95: q(0.95),
                max: v[v.len() - 1],
            },
        ));
    }
    summary
}

/// The hash of a file's text that coordinator and workers compare.
pub fn text_hash(file: &Path) -> Result<u64, BatchError> {
    let text =
        std::fs::read(file).map_err(|e| BatchError(format!("reading {}: {e}", file.display())))?;
    Ok(fnv1a64(&text))
}

/// The payloads of a distributed batch's jobs, one per seed.
pub fn seed_jobs(
    file: &Path,
    sessions: Option<&Path>,
    seeds: &[u64],
) -> Result<Vec<Vec<u8>>, BatchError> {
    let hash = text_hash(file)?;
    seeds
        .iter()
        .map(|&seed| {
            serde_json::to_vec(&SeedJob {
                file: file.to_path_buf(),
                text_hash: hash,
                sessions: sessions.map(Path::to_path_buf),
                seed,
            })
            .map_err(|e| BatchError(e.to_string()))
        })
        .collect()
}

/// The workers' answers, in the order of `seeds`, back into results; a failed job fails the
/// batch with its seed and the worker's reason.
pub fn decode_results(
    outcomes: Vec<Result<Vec<u8>, String>>,
    seeds: &[u64],
) -> Result<Vec<SeedResult>, BatchError> {
    outcomes
        .into_iter()
        .zip(seeds)
        .map(|(outcome, seed)| {
            let bytes = outcome.map_err(|why| BatchError(format!("seed {seed}: {why}")))?;
            serde_json::from_slice::<SeedResult>(&bytes)
                .map_err(|e| BatchError(format!("seed {seed}: a worker's result: {e}")))
        })
        .collect()
}

type Loaded = Arc<(Scenario, CityModel, Option<DemandFit>)>;

/// Runs the jobs of distributed batches. A worker reads files only under the folders it is
/// given: a job naming a scenario, city, snapshot or sessions file elsewhere is refused, since
/// anyone who can publish on the queue writes the job. Scenario files are loaded once per path
/// and text.
pub struct BatchWorker {
    allowed: Vec<PathBuf>,
    loaded: Mutex<HashMap<(PathBuf, u64), Loaded>>,
}

impl BatchWorker {
    /// A worker that reads under `allowed` (each must exist).
    pub fn new(allowed: &[PathBuf]) -> Result<BatchWorker, BatchError> {
        let allowed = allowed
            .iter()
            .map(|p| {
                p.canonicalize()
                    .map_err(|e| BatchError(format!("--allow {}: {e}", p.display())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if allowed.is_empty() {
            return Err(BatchError(
                "a worker needs at least one folder to read".into(),
            ));
        }
        Ok(BatchWorker {
            allowed,
            loaded: Mutex::default(),
        })
    }

    /// Refuse a path outside the allowed folders, missing or not, with one message (a job's
    /// writer learns nothing of what exists outside).
    fn check_allowed(&self, what: &str, path: &Path) -> Result<(), String> {
        match within(path, &self.allowed) {
            Some(_) => Ok(()),
            None => Err(format!(
                "{what} {} is outside the folders this worker reads (or missing)",
                path.display()
            )),
        }
    }

    /// Run one job's payload (a [`SeedJob`]); the answer is a [`SeedResult`] as JSON, or why not.
    pub fn run_job(&self, payload: &[u8]) -> Result<Vec<u8>, String> {
        let job: SeedJob =
            serde_json::from_slice(payload).map_err(|e| format!("not a scenario job: {e}"))?;
        self.check_allowed("scenario file", &job.file)?;
        let here = text_hash(&job.file).map_err(|e| e.to_string())?;
        if here != job.text_hash {
            return Err(format!(
                "{}: this worker's copy differs from the one the batch was started with",
                job.file.display()
            ));
        }
        let key = (job.file.clone(), here);
        let cached = self
            .loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        let loaded = match cached {
            Some(l) => l,
            None => {
                let l = Arc::new(self.load(&job)?);
                self.loaded
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key, l.clone());
                l
            }
        };
        let (scenario, city, fit) = &*loaded;
        let result = run_seed(scenario, city, fit.as_ref(), job.seed).map_err(|e| e.to_string())?;
        serde_json::to_vec(&result).map_err(|e| e.to_string())
    }

    /// Load a job's scenario with its city and EV calibration, reading only allowed files.
    fn load(&self, job: &SeedJob) -> Result<(Scenario, CityModel, Option<DemandFit>), String> {
        if let Some(outside) = outside_of(&job.file, &self.allowed)? {
            self.check_allowed("the scenario reads", &outside)?;
        }
        let (scenario, city) = load_scenario(&job.file).map_err(|e| e.to_string())?;
        if let Some(sessions) = job.sessions.as_deref().filter(|_| scenario.runs(Model::Ev)) {
            self.check_allowed("sessions file", sessions)?;
        }
        let fit = fit_for(&scenario, &city, job.sessions.as_deref()).map_err(|e| e.to_string())?;
        Ok((scenario, city, fit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(seed: u64, delay: f64) -> SeedResult {
        SeedResult {
            seed,
            baseline: BTreeMap::new(),
            scenario: BTreeMap::new(),
            difference: [("delay_veh_h".to_string(), delay)].into(),
        }
    }

    #[test]
    fn the_summary_gives_the_spread_of_each_difference() {
        let results: Vec<_> = (0..11).map(|k| result(k, k as f64)).collect();
        let s = summarise(&results)[0].1;
        assert_eq!((s.min, s.p50, s.max, s.mean), (0.0, 5.0, 10.0, 5.0));
        assert_eq!((s.p5, s.p95), (1.0, 10.0));
        assert!(summarise(&[]).is_empty());
    }

    #[test]
    fn results_come_back_in_seed_order_and_a_failed_job_names_its_seed() {
        let ok = |r: &SeedResult| Ok(serde_json::to_vec(r).unwrap());
        let back = decode_results(vec![ok(&result(3, 1.0)), ok(&result(4, 2.0))], &[3, 4]).unwrap();
        assert_eq!(back, vec![result(3, 1.0), result(4, 2.0)]);
        let e = decode_results(
            vec![ok(&result(3, 1.0)), Err("worker died".into())],
            &[3, 4],
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "seed 4: worker died");
    }

    #[test]
    fn a_worker_refuses_files_outside_its_folders() {
        let allowed = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let outside = elsewhere.path().join("s.toml");
        std::fs::write(&outside, "name = \"x\"\n").unwrap();
        let worker = BatchWorker::new(&[allowed.path().to_path_buf()]).unwrap();
        let job = SeedJob {
            file: outside.clone(),
            text_hash: text_hash(&outside).unwrap(),
            sessions: None,
            seed: 1,
        };
        let e = worker
            .run_job(&serde_json::to_vec(&job).unwrap())
            .unwrap_err();
        assert!(e.contains("outside the folders this worker reads"), "{e}");
        // A job naming a file that does not exist outside gets the same answer.
        let ghost = SeedJob {
            file: elsewhere.path().join("no-such.toml"),
            ..job.clone()
        };
        let e = worker
            .run_job(&serde_json::to_vec(&ghost).unwrap())
            .unwrap_err();
        assert!(
            e.contains("outside the folders this worker reads (or missing)"),
            "{e}"
        );
        // A path that climbs out of an allowed folder is outside too.
        let climbing = allowed
            .path()
            .join("..")
            .join(
                elsewhere
                    .path()
                    .strip_prefix(elsewhere.path().parent().unwrap())
                    .unwrap(),
            )
            .join("s.toml");
        let job = SeedJob {
            file: climbing,
            ..job
        };
        let e = worker
            .run_job(&serde_json::to_vec(&job).unwrap())
            .unwrap_err();
        assert!(e.contains("outside the folders"), "{e}");
        assert!(
            worker
                .run_job(b"{}")
                .unwrap_err()
                .starts_with("not a scenario job")
        );
    }
}
