//! `twin scenario run`: a what-if scenario against its baseline, with the reports.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use twin_scenarios::batch::{
    BatchWorker, SeedResult, decode_results, fit_for, run_batch, seed_jobs, summarise,
};
use twin_scenarios::output::{kpi_label, ordered, report_json, show_pct, write_outputs};
use twin_scenarios::{load_scenario, run_scenario};

#[derive(Args)]
pub struct RunArgs {
    /// The scenario file (TOML; docs/scenarios.md).
    pub file: PathBuf,
    /// Folder for report.json, timeseries.csv and report.html (default
    /// `scenario-reports/<file name>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Real charging sessions (Dundee-format CSV) to calibrate EV demand on (default: those
    /// the city's bundle names in city.toml `[ev] sessions`).
    #[arg(long)]
    pub sessions: Option<PathBuf>,
    /// Print report.json instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// A scenario file, its city, and the EV calibration when the scenario runs the EV model.
fn load(
    file: &std::path::Path,
    sessions: Option<&std::path::Path>,
) -> Result<(
    twin_scenarios::Scenario,
    twin_core::CityModel,
    Option<twin_core::ev::calibration::DemandFit>,
)> {
    let (scenario, city) = load_scenario(file).map_err(|e| anyhow!("{e}"))?;
    let fit = fit_for(&scenario, &city, sessions)?;
    Ok((scenario, city, fit))
}

pub fn run(args: RunArgs) -> Result<()> {
    let (scenario, city, fit) = load(&args.file, args.sessions.as_deref())?;
    let bar = if args.json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(2 * scenario.steps() as u64)
    };
    let b = bar.clone();
    let c = run_scenario(&city, &scenario, fit.as_ref(), &move |done, total| {
        b.set_length(total as u64);
        b.set_position(done as u64);
    })
    .map_err(|e| anyhow!("{}: {e}", args.file.display()))?;
    bar.finish_and_clear();
    let stem = file_stem(&args.file, "scenario");
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("scenario-reports").join(stem));
    write_outputs(&out, &scenario, &c)
        .with_context(|| format!("writing the reports to {}", out.display()))?;
    if args.json {
        println!("{}", report_json(&scenario, &c));
        return Ok(());
    }
    println!(
        "{}: {} h from {} ({:.1} s)",
        scenario.name,
        scenario.horizon_h,
        scenario.start.format("%Y-%m-%d %H:%M"),
        c.seconds
    );
    let width = label_width(c.baseline.kpis.keys());
    println!(
        "{:<width$} {:>14} {:>14} {:>14} {:>8}",
        "", "baseline", "scenario", "difference", "change"
    );
    for (k, b) in ordered(&c.baseline.kpis) {
        let s = c.scenario.kpis.get(k).copied().unwrap_or(f64::NAN);
        let d = c.difference.get(k).copied().unwrap_or(f64::NAN);
        println!(
            "{:<width$} {b:>14.2} {s:>14.2} {d:>+14.2} {:>8}",
            kpi_label(k),
            show_pct(b, s)
        );
    }
    if !c.affected_places.is_empty() {
        println!("who loses supply (hours without, baseline → scenario):");
        for a in c.affected_places.iter().take(5) {
            println!(
                "  {} [{}{}] {:.1} → {:.1} h",
                a.place.label(),
                a.network,
                a.customers
                    .map_or(String::new(), |n| format!(", {n} customers")),
                a.baseline_h,
                a.scenario_h
            );
        }
    }
    for (title, losing) in [
        (
            "streets with less traffic (vehicle-hours, baseline → scenario):",
            true,
        ),
        (
            "streets with more traffic, where it went (vehicle-hours, baseline → scenario):",
            false,
        ),
    ] {
        let listed: Vec<_> = c
            .most_affected_streets
            .iter()
            .filter(|a| (a.scenario_vehicle_h < a.baseline_vehicle_h) == losing)
            .collect();
        if !listed.is_empty() {
            println!("{title}");
        }
        for a in listed {
            println!(
                "  {:<14} {:<32} {:>8.0} → {:.0} ({})",
                a.id,
                a.name.as_deref().unwrap_or("-"),
                a.baseline_vehicle_h,
                a.scenario_vehicle_h,
                show_pct(a.baseline_vehicle_h, a.scenario_vehicle_h).trim()
            );
        }
    }
    println!("reports: {}", out.display());
    Ok(())
}

#[derive(Args)]
pub struct ScriptArgs {
    /// The Rhai script.
    pub file: PathBuf,
    /// The only folder the script may write CSV to (default `script-output/<file name>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Operations the script may run (an endless loop stops here).
    #[arg(long, default_value_t = 50_000_000)]
    pub max_operations: u64,
    /// Memory the script may add to the process, MB.
    #[arg(long, default_value_t = 1024)]
    pub max_memory_mb: u64,
    /// Real charging sessions (Dundee-format CSV) to calibrate EV demand on (default: those
    /// the city's bundle names in city.toml `[ev] sessions`).
    #[arg(long)]
    pub sessions: Option<PathBuf>,
}

/// A file's name without its extension, which names its default output folder.
fn file_stem(file: &std::path::Path, fallback: &str) -> String {
    file.file_stem()
        .map_or(fallback.into(), |s| s.to_string_lossy().to_string())
}

/// `twin script`: a researcher's Rhai script in the sandbox.
pub fn script(args: ScriptArgs) -> Result<()> {
    use std::sync::Arc;
    use twin_scenarios::script::{Limits, ScriptContext, run_script};
    let source = twin_core::formats::text::read_utf8_file(&args.file)
        .with_context(|| format!("reading the script {}", args.file.display()))?;
    let stem = file_stem(&args.file, "script");
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("script-output").join(stem));
    let script_dir = args
        .file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or(PathBuf::from("."), PathBuf::from);
    // The EV model's calibration: on --sessions, else on the built-in city's sessions.
    let fit = match args.sessions.as_deref() {
        Some(path) => Some(twin_core::ev::load_demand_fit(path).context("--sessions")?),
        None => {
            let (city, source) = crate::default_city::load(None)?;
            crate::default_city::demand_fit(&source, &city, None).ok()
        }
    }
    .map(Arc::new);
    let bar = indicatif::ProgressBar::new(0);
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    let b = bar.clone();
    let ctx = ScriptContext {
        base_dir: script_dir.clone(),
        read_roots: vec![
            script_dir,
            PathBuf::from("data"),
            PathBuf::from("scenarios"),
        ],
        out_dir: out.clone(),
        fit,
        limits: Limits {
            max_operations: args.max_operations,
            max_memory_bytes: args.max_memory_mb << 20,
            ..Limits::default()
        },
        progress: Arc::new(move |done, total| {
            b.set_length(total as u64);
            b.set_position(done as u64);
            if done == total {
                b.finish_and_clear();
            }
        }),
        print: Arc::new(|s| println!("{s}")),
    };
    let name = args.file.display().to_string();
    let result = run_script(&source, &name, ctx).map_err(|e| anyhow!(e))?;
    bar.finish_and_clear();
    if !result.is_empty() {
        println!("{result}");
    }
    Ok(())
}

#[derive(Args)]
pub struct BatchArgs {
    /// The scenario file.
    pub file: PathBuf,
    /// Runs, with seeds seed, seed + 1, …
    #[arg(long, default_value_t = 8)]
    pub runs: u64,
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Real charging sessions (Dundee-format CSV) to calibrate EV demand on (default: those
    /// the city's bundle names in city.toml `[ev] sessions`).
    #[arg(long)]
    pub sessions: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
    /// Run the seeds as jobs on this NATS JetStream server's work queue, done by
    /// `twin scenario worker` processes on any machines, instead of on this machine's cores.
    #[arg(long)]
    pub nats: Option<String>,
}

/// `twin scenario batch`: the scenario over many seeds in parallel (Monte Carlo), with the
/// spread of every KPI's difference. On this machine's cores, or with `--nats` as jobs of the
/// cluster's work queue; the same seeds give the same results either way.
pub fn batch(args: BatchArgs) -> Result<()> {
    use serde_json::json;
    if args.runs == 0 {
        return Err(anyhow!("--runs must be at least 1"));
    }
    let (scenario, city, fit) = load(&args.file, args.sessions.as_deref())?;
    let bar = if args.json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(args.runs)
    };
    let started = std::time::Instant::now();
    let seeds: Vec<u64> = (0..args.runs).map(|k| scenario.seed + k).collect();
    let results: Vec<SeedResult> = match &args.nats {
        None => run_batch(&scenario, &city, fit.as_ref(), &seeds, &|| bar.inc(1))?,
        Some(url) => batch_on_queue(url, &args, &seeds, &bar)?,
    };
    bar.finish_and_clear();
    let summary = summarise(&results);
    // A JSON object in the reports' KPI order (serde_json keeps insertion order here).
    let summary_json: serde_json::Map<String, serde_json::Value> = summary
        .iter()
        .map(|(name, s)| (name.clone(), json!(s)))
        .collect();
    let j = json!({
        "name": scenario.name, "runs": args.runs, "seconds": started.elapsed().as_secs_f64(),
        "difference_summary": summary_json,
        "results": results,
    });
    let stem = file_stem(&args.file, "batch");
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("scenario-reports").join(format!("{stem}-batch")));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    std::fs::write(out.join("batch.json"), format!("{j:#}\n"))
        .with_context(|| format!("writing {}", out.display()))?;
    if args.json {
        println!("{j}");
        return Ok(());
    }
    println!(
        "{}: {} runs in {:.1} s; difference from the baseline over the seeds:",
        scenario.name,
        args.runs,
        started.elapsed().as_secs_f64()
    );
    let width = label_width(summary.iter().map(|(name, _)| name));
    println!("{:<width$} {:>12} {:>12} {:>12}", "", "p5", "mean", "p95");
    for (name, s) in &summary {
        println!(
            "{:<width$} {:>12.2} {:>12.2} {:>12.2}",
            kpi_label(name),
            s.p5,
            s.mean,
            s.p95
        );
    }
    println!("results: {}", out.join("batch.json").display());
    Ok(())
}

/// Put a batch's seeds on the work queue at `url` and wait for the workers' results.
fn batch_on_queue(
    url: &str,
    args: &BatchArgs,
    seeds: &[u64],
    bar: &indicatif::ProgressBar,
) -> Result<Vec<SeedResult>> {
    use twin_actors::cluster::work_queue::WorkQueue;
    let jobs = seed_jobs(&args.file, args.sessions.as_deref(), seeds)?;
    let stem: String = file_stem(&args.file, "batch")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(32)
        .collect();
    let id = format!(
        "{stem}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcomes = rt.block_on(async {
        let queue = WorkQueue::connect(url).await?;
        queue.submit(&id, jobs).await?;
        if !args.json {
            bar.println(format!(
                "batch {id}: {} jobs on the queue at {url}; waiting for `twin scenario worker`s",
                seeds.len()
            ));
        }
        queue
            .collect(&id, seeds.len(), |n| bar.set_position(n as u64))
            .await
    })?;
    Ok(decode_results(outcomes, seeds)?)
}

#[derive(Args)]
pub struct WorkerArgs {
    /// The NATS JetStream server whose work queue this worker serves.
    #[arg(long)]
    pub nats: String,
    /// Jobs run at once; default one per core.
    #[arg(long)]
    pub parallel: Option<usize>,
    /// A folder whose files jobs may name (scenario, city, snapshot, sessions); repeat for
    /// several. A job naming a file elsewhere is refused. Default: the working folder.
    #[arg(long)]
    pub allow: Vec<PathBuf>,
}

/// `twin scenario worker`: run the seeds of distributed batches until stopped.
pub fn worker(args: WorkerArgs) -> Result<()> {
    use std::sync::Arc;
    use twin_actors::cluster::work_queue::WorkQueue;
    let parallel = args
        .parallel
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let allowed = if args.allow.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.allow.clone()
    };
    let worker = Arc::new(BatchWorker::new(&allowed)?);
    let run = move |payload: &[u8]| worker.run_job(payload);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let queue = WorkQueue::connect(&args.nats).await?;
        println!(
            "scenario worker on {} ({parallel} jobs at a time); stop with Ctrl-C",
            args.nats
        );
        tokio::select! {
            r = queue.work(parallel, Arc::new(run)) => r.map_err(anyhow::Error::from),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}

/// The width of the label column: the longest label of `names`, at least 46 characters.
fn label_width<'a>(names: impl Iterator<Item = &'a String>) -> usize {
    names
        .map(|n| kpi_label(n).chars().count())
        .max()
        .unwrap_or(0)
        .max(46)
}
