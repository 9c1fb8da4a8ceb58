//! `twin scenario run`: a what-if scenario against its baseline, with the reports.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use twin_scenarios::output::{kpi_label, ordered, report_json, write_outputs};
use twin_scenarios::{Model, load_scenario, run_scenario};

#[derive(Args)]
pub struct RunArgs {
    /// The scenario file (TOML; docs/scenarios.md).
    pub file: PathBuf,
    /// Folder for report.json, timeseries.csv and report.html (default
    /// `scenario-reports/<file name>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Real charging sessions the EV model is calibrated on.
    #[arg(long, default_value = "data/ev/cp-data-mar-may-2018.csv")]
    pub sessions: PathBuf,
    /// Print report.json instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// A scenario file, its city, and the EV calibration when the scenario runs the EV model.
fn load(
    file: &std::path::Path,
    sessions: &std::path::Path,
) -> Result<(
    twin_scenarios::Scenario,
    twin_core::CityModel,
    Option<twin_core::ev::calibration::DemandFit>,
)> {
    let (scenario, city) = load_scenario(file).map_err(|e| anyhow!("{e}"))?;
    let fit = if scenario.runs(Model::Ev) {
        Some(crate::ev::load_fit(sessions)?)
    } else {
        None
    };
    Ok((scenario, city, fit))
}

pub fn run(args: RunArgs) -> Result<()> {
    let (scenario, city, fit) = load(&args.file, &args.sessions)?;
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
    let stem = args
        .file
        .file_stem()
        .map_or("scenario".into(), |s| s.to_string_lossy().to_string());
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
    println!(
        "{:<46} {:>14} {:>14} {:>14}",
        "", "baseline", "scenario", "difference"
    );
    for (k, b) in ordered(&c.baseline.kpis) {
        let s = c.scenario.kpis.get(k).copied().unwrap_or(f64::NAN);
        let d = c.difference.get(k).copied().unwrap_or(f64::NAN);
        println!("{:<46} {b:>14.2} {s:>14.2} {d:>+14.2}", kpi_label(k));
    }
    if !c.most_affected_streets.is_empty() {
        println!("most affected streets (vehicle-hours, baseline → scenario):");
        for a in c.most_affected_streets.iter().take(5) {
            println!(
                "  {:<14} {:<32} {:>8.0} → {:.0}",
                a.id,
                a.name.as_deref().unwrap_or("-"),
                a.baseline_vehicle_h,
                a.scenario_vehicle_h
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
    #[arg(long, default_value = "data/ev/cp-data-mar-may-2018.csv")]
    pub sessions: PathBuf,
}

/// `twin script`: a researcher's Rhai script in the sandbox.
pub fn script(args: ScriptArgs) -> Result<()> {
    use std::sync::Arc;
    use twin_scenarios::script::{Limits, ScriptContext, run_script};
    let source = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading the script {}", args.file.display()))?;
    let stem = args
        .file
        .file_stem()
        .map_or("script".into(), |s| s.to_string_lossy().to_string());
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("script-output").join(stem));
    let script_dir = args
        .file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or(PathBuf::from("."), PathBuf::from);
    // The EV model's calibration, when the sessions are there (scripts without EV need none).
    let fit = crate::ev::load_fit(&args.sessions).ok().map(Arc::new);
    let bar = indicatif::ProgressBar::new(0);
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    let b = bar.clone();
    let ctx = ScriptContext {
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
    #[arg(long, default_value = "data/ev/cp-data-mar-may-2018.csv")]
    pub sessions: PathBuf,
    #[arg(long)]
    pub json: bool,
}

/// `twin scenario batch`: the scenario over many seeds in parallel (Monte Carlo), with the
/// spread of every KPI's difference.
pub fn batch(args: BatchArgs) -> Result<()> {
    use rayon::prelude::*;
    use serde_json::json;
    if args.runs == 0 {
        return Err(anyhow!("--runs must be at least 1"));
    }
    let (scenario, city, fit) = load(&args.file, &args.sessions)?;
    let bar = if args.json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(args.runs)
    };
    let started = std::time::Instant::now();
    let results: Vec<(u64, twin_scenarios::Comparison)> = (0..args.runs)
        .into_par_iter()
        .map(|k| {
            let mut s = scenario.clone();
            s.seed = scenario.seed + k;
            let c = run_scenario(&city, &s, fit.as_ref(), &|_, _| {})
                .map_err(|e| anyhow!("{} seed {}: {e}", args.file.display(), s.seed))?;
            bar.inc(1);
            Ok((s.seed, c))
        })
        .collect::<Result<_>>()?;
    bar.finish_and_clear();
    let mut summary = serde_json::Map::new();
    for (name, _) in twin_scenarios::output::ordered(&results[0].1.difference) {
        let mut v: Vec<f64> = results
            .iter()
            .filter_map(|(_, c)| c.difference.get(name).copied())
            .collect();
        v.sort_by(f64::total_cmp);
        let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        summary.insert(
            name.clone(),
            json!({"mean": mean, "min": v[0], "p5": q(0.05), "p50": q(0.5), "p95": q(0.95), "max": v[v.len() - 1]}),
        );
    }
    let j = json!({
        "name": scenario.name, "runs": args.runs, "seconds": started.elapsed().as_secs_f64(),
        "difference_summary": summary,
        "results": results.iter().map(|(seed, c)| json!({
            "seed": seed, "baseline": c.baseline.kpis, "scenario": c.scenario.kpis, "difference": c.difference,
        })).collect::<Vec<_>>(),
    });
    let stem = args
        .file
        .file_stem()
        .map_or("batch".into(), |s| s.to_string_lossy().to_string());
    let out = args
        .out
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
    println!("{:<46} {:>12} {:>12} {:>12}", "", "p5", "mean", "p95");
    for (name, s) in &summary {
        println!(
            "{:<46} {:>12.2} {:>12.2} {:>12.2}",
            kpi_label(name),
            s["p5"].as_f64().unwrap_or(f64::NAN),
            s["mean"].as_f64().unwrap_or(f64::NAN),
            s["p95"].as_f64().unwrap_or(f64::NAN)
        );
    }
    println!("results: {}", out.join("batch.json").display());
    Ok(())
}
