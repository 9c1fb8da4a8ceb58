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

pub fn run(args: RunArgs) -> Result<()> {
    let (scenario, city) = load_scenario(&args.file).map_err(|e| anyhow!("{e}"))?;
    let fit = if scenario.runs(Model::Ev) {
        let sessions = twin_core::ev::read_dundee_sessions(&args.sessions).with_context(|| {
            format!(
                "the EV model's sessions {} (--sessions)",
                args.sessions.display()
            )
        })?;
        Some(
            twin_core::ev::calibration::DemandFit::from_sessions(&sessions)
                .map_err(|e| anyhow!("calibrating on {}: {e}", args.sessions.display()))?,
        )
    } else {
        None
    };
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
