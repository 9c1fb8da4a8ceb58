//! `twin waste plan` (a day's collection routes for a stream) and `twin waste compare` (a fixed
//! calendar against sensor-driven collection over simulated days), on `twin_core::waste`.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{Datelike, NaiveDate};
use clap::Args;
use serde_json::json;
use twin_core::entity::WasteKind;
use twin_core::waste::collection::{BinPickup, Fleet, check_plan};
use twin_core::waste::policy::Policy;
use twin_core::waste::simulate::{PolicyOutcome, WasteStudy, run_policy, stream_networks};
use twin_scenarios::report::round;
use twin_scenarios::report::waste::{waste_compare_report, waste_outcome_json};

fn parse_date(text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .with_context(|| format!("--date `{text}` is not a date like 2026-03-02"))
}

fn parse_policy(text: &str) -> Result<Policy> {
    Policy::from_name(text).ok_or_else(|| anyhow!("--policy `{text}` is not fixed or dynamic"))
}

#[derive(Args)]
pub struct PlanArgs {
    /// The city bundle (default: Pitești, built into the binary).
    #[arg(long)]
    pub city: Option<PathBuf>,
    /// The day to plan (YYYY-MM-DD).
    #[arg(long)]
    pub date: String,
    /// fixed (the calendar) or dynamic (sensor-driven).
    #[arg(long, default_value = "dynamic")]
    pub policy: String,
    /// The stream: paper, plastic-metal, glass, bio or residual.
    #[arg(long, default_value = "residual")]
    pub stream: String,
    /// Days simulated before the date, so bins hold a realistic state.
    #[arg(long, default_value_t = 7)]
    pub warm_up_days: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the routes as GeoJSON (one LineString per trip) for the viewer.
    #[arg(long)]
    pub geojson: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

/// `twin waste plan`: simulate the days before `--date` under the policy, then plan that day.
pub fn plan(args: PlanArgs) -> Result<()> {
    let date = parse_date(&args.date)?;
    let policy = parse_policy(&args.policy)?;
    let stream = WasteKind::from_name(&args.stream).ok_or_else(|| {
        anyhow!(
            "--stream `{}` is not paper, plastic-metal, glass, bio or residual",
            args.stream
        )
    })?;
    if date.weekday().num_days_from_monday() == 6 {
        return Err(anyhow!("{date} is a Sunday: no collection"));
    }
    let (city, _) = crate::default_city::load(args.city.as_deref())?;
    let start = date - chrono::Duration::days(i64::from(args.warm_up_days));
    let mut study = WasteStudy::new(start, args.warm_up_days + 1);
    study.seed = args.seed;
    study.iterations_per_bin = 30;
    let nets = stream_networks(&city)?;
    let outcome = run_policy(&city, &nets, &study, policy, &|_| {});
    // No plan for the stream on that day: the policy does not collect it then.
    let plan = outcome
        .last_plans
        .iter()
        .find(|(k, _)| *k == stream)
        .map(|(_, p)| p.clone())
        .unwrap_or_default();
    if let Some(e) = outcome
        .failed_plans
        .iter()
        .find(|e| e.starts_with(&date.to_string()))
    {
        return Err(anyhow!("no feasible plan: {e}"));
    }
    let fleet = Fleet::default();
    let pickups: Vec<BinPickup> = plan
        .trucks
        .iter()
        .flat_map(|t| t.trips.iter().flat_map(|tr| tr.bins.iter()))
        .chain(plan.unreachable.iter())
        .map(|&entity| BinPickup {
            entity,
            load_l: 0.0,
        })
        .collect();
    check_plan(&plan, &pickups, &fleet).map_err(|e| anyhow!("the plan is infeasible: {e}"))?;
    if let Some(path) = &args.geojson {
        std::fs::write(
            path,
            plan.routes_geojson(&city, &city.collection_sites(stream)?),
        )
        .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        let mut j = plan.to_json(&city);
        j["date"] = json!(date.to_string());
        j["stream"] = json!(stream.name());
        j["policy"] = json!(policy.name());
        println!("{j}");
        return Ok(());
    }
    if plan.bins == 0 {
        println!(
            "no {} collection on {date} under the {} policy (not a round day, or no bin due)",
            stream.name(),
            policy.name()
        );
        return Ok(());
    }
    println!(
        "{} {} collection on {date} ({} policy): {} bins, {} trips on {} trucks, {:.1} km, {:.0} l",
        city.meta.name,
        stream.name(),
        policy.name(),
        plan.bins,
        plan.trips(),
        plan.trucks.len(),
        plan.km,
        plan.load_l
    );
    for (k, t) in plan.trucks.iter().enumerate() {
        println!("truck {}: {:.1} km, {:.1} h", k + 1, t.km, t.duration_h);
        for (j, trip) in t.trips.iter().enumerate() {
            let first: Vec<String> = trip
                .bins
                .iter()
                .take(6)
                .map(|&i| city.entities()[i].id.to_string())
                .collect();
            println!(
                "  trip {}: {} bins ({}{}), {:.1} km, {:.0} l, {:.1} h",
                j + 1,
                trip.bins.len(),
                first.join(" → "),
                if trip.bins.len() > 6 { " → …" } else { "" },
                trip.km,
                trip.load_l,
                trip.duration_h
            );
        }
    }
    if !plan.unreachable.is_empty() {
        println!("not reachable by road: {} bins", plan.unreachable.len());
    }
    Ok(())
}

#[derive(Args)]
pub struct CompareArgs {
    /// The city bundle (default: Pitești, built into the binary).
    #[arg(long)]
    pub city: Option<PathBuf>,
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// First day (YYYY-MM-DD).
    #[arg(long, default_value = "2026-03-02")]
    pub start: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Folder for report.html and report.json.
    #[arg(long, default_value = "waste-report")]
    pub out: PathBuf,
    /// A stream's own collection days for the fixed calendar, STREAM=DAY,DAY (repeatable):
    /// `--calendar residual=mon,thu --calendar glass=wed`. Other streams keep the default
    /// calendar (docs/waste.md).
    #[arg(long)]
    pub calendar: Vec<String>,
    /// The sensor-driven policy empties a bin when its estimated level at the stream's next
    /// round reaches this share of the bin (1 = full; lower empties earlier).
    #[arg(long, default_value_t = twin_core::waste::policy::DYNAMIC_THRESHOLD)]
    pub threshold: f64,
    /// Only these streams, comma-separated: paper, plastic-metal, glass, bio, residual.
    #[arg(long, value_delimiter = ',')]
    pub streams: Vec<String>,
    /// Body volume of a truck, m³ (compacting 3:1).
    #[arg(long, default_value_t = 16.0)]
    pub truck_m3: f64,
    /// Hours of a truck's shift.
    #[arg(long, default_value_t = 8.0)]
    pub shift_h: f64,
    /// Diesel a truck burns, litres per 100 km.
    #[arg(long, default_value_t = 45.0)]
    pub fuel_l_per_100km: f64,
    #[arg(long)]
    pub json: bool,
}

/// The study `waste compare`'s options describe.
fn compare_study(args: &CompareArgs, start: chrono::NaiveDate) -> Result<WasteStudy> {
    let mut study = WasteStudy::new(start, args.days);
    study.seed = args.seed;
    for text in &args.calendar {
        study
            .calendar
            .set_from_text(text)
            .map_err(|e| anyhow!("--calendar {text}: {e}"))?;
    }
    if !(args.threshold > 0.0 && args.threshold <= 1.5) {
        bail!(
            "--threshold {}: a share of the bin above 0 and at most 1.5",
            args.threshold
        );
    }
    study.dynamic_threshold = args.threshold;
    if !args.streams.is_empty() {
        study.streams = args
            .streams
            .iter()
            .map(|s| {
                WasteKind::from_name(s.trim()).ok_or_else(|| {
                    anyhow!("--streams {s}: not paper, plastic-metal, glass, bio or residual")
                })
            })
            .collect::<Result<_>>()?;
    }
    let positive = |v: f64, name: &str| {
        if v > 0.0 && v.is_finite() {
            Ok(v)
        } else {
            Err(anyhow!("--{name} {v}: must be a positive number"))
        }
    };
    study.fleet.body_l = positive(args.truck_m3, "truck-m3")? * 1000.0;
    study.fleet.shift_h = positive(args.shift_h, "shift-h")?;
    study.fleet.fuel_l_per_km = positive(args.fuel_l_per_100km, "fuel-l-per-100km")? / 100.0;
    Ok(study)
}

/// `twin waste compare`: both policies over the same simulated days.
pub fn compare(args: CompareArgs) -> Result<()> {
    let start = parse_date(&args.start)?;
    if args.days == 0 {
        return Err(anyhow!("--days must be at least 1"));
    }
    let study = compare_study(&args, start)?;
    let (city, _) = crate::default_city::load(args.city.as_deref())?;
    let bar = if args.json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(u64::from(args.days) * 2)
    };
    bar.set_message("road distances");
    let nets = stream_networks(&city)?;
    let started = std::time::Instant::now();
    let mut outcomes = Vec::new();
    for (k, policy) in [Policy::Fixed, Policy::Dynamic].into_iter().enumerate() {
        bar.set_message(policy.name());
        let offset = k as u64 * u64::from(args.days);
        let b = bar.clone();
        outcomes.push(run_policy(&city, &nets, &study, policy, &move |d| {
            b.set_position(offset + u64::from(d))
        }));
    }
    bar.finish_and_clear();
    let (fixed, dynamic) = (&outcomes[0], &outcomes[1]);
    let result = json!({"city": city.meta.name, "start": start.to_string(), "days": args.days,
        "seed": args.seed, "seconds": round(started.elapsed().as_secs_f64(), 2),
        "options": {
            "calendar": study.calendar.days.iter().map(|(k, d)| (k.name().to_string(), d.iter().map(|&w| twin_core::waste::policy::WEEKDAYS[w as usize]).collect::<Vec<_>>())).collect::<std::collections::BTreeMap<_, _>>(),
            "threshold": study.dynamic_threshold,
            "streams": study.streams.iter().map(|k| k.name()).collect::<Vec<_>>(),
            "truck_m3": study.fleet.body_l / 1000.0, "shift_h": study.fleet.shift_h,
            "fuel_l_per_100km": study.fleet.fuel_l_per_km * 100.0,
        },
        "fixed": waste_outcome_json(fixed), "dynamic": waste_outcome_json(dynamic)});
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating the report folder {}", args.out.display()))?;
    let json_path = args.out.join("report.json");
    std::fs::write(&json_path, format!("{result:#}\n"))
        .with_context(|| format!("writing {}", json_path.display()))?;
    let html_path = args.out.join("report.html");
    waste_compare_report(&city.meta.name, start, args.days, fixed, dynamic)
        .write(&html_path)
        .with_context(|| format!("writing {}", html_path.display()))?;
    if args.json {
        println!("{result}");
        return Ok(());
    }
    println!(
        "{}: {} days from {start}, fixed calendar against sensor-driven collection ({:.1} s)",
        city.meta.name,
        args.days,
        started.elapsed().as_secs_f64()
    );
    println!("{:<28} {:>12} {:>12}", "", "fixed", "dynamic");
    let rows: [(&str, Box<dyn Fn(&PolicyOutcome) -> String>); 9] = [
        ("km driven", Box::new(|o| format!("{:.0}", o.km))),
        ("fuel (l)", Box::new(|o| format!("{:.0}", o.fuel_l))),
        ("CO2 (kg)", Box::new(|o| format!("{:.0}", o.co2_kg))),
        (
            "overflow events",
            Box::new(|o| o.overflow_events.to_string()),
        ),
        ("bins emptied", Box::new(|o| o.bins_emptied.to_string())),
        (
            "mean fill at pickup",
            Box::new(|o| format!("{:.0} %", 100.0 * o.mean_fill_at_pickup)),
        ),
        (
            "bins per trip",
            Box::new(|o| format!("{:.1}", o.bins_per_trip)),
        ),
        (
            "tonnes collected",
            Box::new(|o| format!("{:.0}", o.tonnes_by_stream.iter().map(|t| t.1).sum::<f64>())),
        ),
        (
            "recycling share",
            Box::new(|o| format!("{:.1} %", 100.0 * o.recycling_share)),
        ),
    ];
    for (label, f) in rows {
        println!("{label:<28} {:>12} {:>12}", f(fixed), f(dynamic));
    }
    println!("report: {}", html_path.display());
    Ok(())
}
