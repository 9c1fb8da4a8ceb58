//! `twin ev study` (one EV share: load curve, overloaded posts, utilisation, unmet energy, with
//! an HTML report), `twin ev sweep` (several shares, with and without smart charging) and
//! `twin bench ev`, on `twin_core::ev`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use chrono::NaiveDate;
use clap::Args;
use serde_json::json;
use twin_core::ev::calibration::DemandFit;
use twin_core::ev::charging::Sharing;
use twin_core::ev::network::AddedSockets;
use twin_core::ev::stepper::SmartCharging;
use twin_core::ev::study::{EvStudyConfig, EvStudyResult, run_ev_study};
use twin_scenarios::report::ev::{
    SweepRow, ev_study_json, ev_study_report, ev_sweep_report, smart_charging_summary,
};
use twin_scenarios::report::round;

#[derive(Args, Clone)]
pub struct StudyArgs {
    /// The city bundle (default: Pitești, built into the binary).
    #[arg(long)]
    pub city: Option<PathBuf>,
    /// Share of the city's cars that are electric (0–1).
    #[arg(long, default_value_t = 0.15)]
    pub ev_share: f64,
    /// Public charging stations to add (a 22 kW AC and a 50 kW DC socket each).
    #[arg(long, default_value_t = 0)]
    pub add_chargers: usize,
    /// Smart charging: `on` caps each post's charging at its rating's headroom; `valley` also
    /// holds it under a daily level that fills the valleys of the post's load (peak shaving);
    /// `off`.
    #[arg(long, default_value = "off")]
    pub smart: String,
    /// How a cap is shared: edf (earliest departure first) or fair.
    #[arg(long, default_value = "edf")]
    pub sharing: String,
    /// A power cap on one charger site, shared by its sessions: `charger:11=50` (kW); repeat
    /// for more sites.
    #[arg(long = "site-cap")]
    pub site_caps: Vec<String>,
    /// Sockets to add at a charger or a transformer post: `charger:11=4x22` (4 sockets of
    /// 22 kW; above 22 kW they are DC) or `power:pt-12=2x50`; repeat for more places.
    #[arg(long = "add-sockets")]
    pub add_sockets: Vec<String>,
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// First day (YYYY-MM-DD).
    #[arg(long, default_value = "2026-03-02")]
    pub start: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Real charging sessions (Dundee-format CSV) to calibrate EV demand on (default: those
    /// the city's bundle names in city.toml `[ev] sessions`).
    #[arg(long)]
    pub sessions: Option<PathBuf>,
    /// Folder for report.html, report.json and load_curve.csv.
    #[arg(long, default_value = "ev-report")]
    pub out: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub study: StudyArgs,
    /// EV shares to compare, comma-separated.
    #[arg(long, default_value = "0,0.05,0.15,0.3")]
    pub shares: String,
}

#[derive(Args)]
pub struct BenchArgs {
    /// The city bundle (default: Pitești, built into the binary).
    #[arg(long)]
    pub city: Option<PathBuf>,
    #[arg(long, default_value_t = 10_000)]
    pub evs: usize,
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Real charging sessions (Dundee-format CSV) to calibrate EV demand on (default: those
    /// the city's bundle names in city.toml `[ev] sessions`).
    #[arg(long)]
    pub sessions: Option<PathBuf>,
}

fn config_of(args: &StudyArgs, ev_share: f64) -> Result<EvStudyConfig> {
    let smart = SmartCharging::from_name(&args.smart)
        .ok_or_else(|| anyhow!("--smart `{}` is not on, valley or off", args.smart))?;
    let sharing = Sharing::from_name(&args.sharing)
        .ok_or_else(|| anyhow!("--sharing `{}` is not edf or fair", args.sharing))?;
    if args.days == 0 {
        return Err(anyhow!("--days must be at least 1"));
    }
    let start = NaiveDate::parse_from_str(&args.start, "%Y-%m-%d")
        .with_context(|| format!("--start `{}` is not a date like 2026-03-02", args.start))?;
    if !(0.0..=1.0).contains(&ev_share) {
        return Err(anyhow!("--ev-share {ev_share} is not between 0 and 1"));
    }
    let mut c = EvStudyConfig::new(ev_share, args.days);
    c.start = start;
    c.seed = args.seed;
    c.add_chargers = args.add_chargers;
    c.smart = smart;
    c.sharing = sharing;
    for cap in &args.site_caps {
        let parsed = cap
            .split_once('=')
            .and_then(|(site, kw)| Some((site.trim().to_string(), kw.trim().parse::<f64>().ok()?)))
            .filter(|(_, kw)| kw.is_finite() && *kw >= 0.0);
        let (site, kw) = parsed
            .ok_or_else(|| anyhow!("--site-cap `{cap}` is not SITE=KW, like charger:11=50"))?;
        c.site_caps.push((site, kw));
    }
    for added in &args.add_sockets {
        c.add_sockets.push(parse_added_sockets(added)?);
    }
    Ok(c)
}

/// `AT=NxKW` (`charger:11=4x22`) as sockets to add.
fn parse_added_sockets(text: &str) -> Result<AddedSockets> {
    let bad = || {
        anyhow!("--add-sockets `{text}` is not AT=NxKW, like charger:11=4x22 or power:pt-12=2x50")
    };
    let (at, spec) = text.split_once('=').ok_or_else(bad)?;
    let (count, kw) = spec.split_once(['x', 'X']).ok_or_else(bad)?;
    let count: usize = count.trim().parse().map_err(|_| bad())?;
    let kw: f64 = kw
        .trim()
        .trim_end_matches("kW")
        .trim()
        .parse()
        .map_err(|_| bad())?;
    if count == 0 || !(kw.is_finite() && kw > 0.0) {
        return Err(bad());
    }
    Ok(AddedSockets {
        at: at.trim().to_string(),
        count,
        kw,
    })
}

fn run(
    city: &twin_core::CityModel,
    fit: &DemandFit,
    c: &EvStudyConfig,
    quiet: bool,
) -> Result<EvStudyResult> {
    let bar = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(u64::from(c.days))
    };
    bar.set_message(format!("{:.0} % EVs", 100.0 * c.ev_share));
    let b = bar.clone();
    let r = run_ev_study(city, fit, c, &move |d| b.set_position(u64::from(d)))?;
    bar.finish_and_clear();
    Ok(r)
}

/// `twin ev study`.
pub fn study(args: StudyArgs) -> Result<()> {
    let config = config_of(&args, args.ev_share)?;
    let (city, source) = crate::default_city::load(args.city.as_deref())?;
    let fit = crate::default_city::demand_fit(&source, &city, args.sessions.as_deref())?;
    let started = Instant::now();
    let r = run(&city, &fit, &config, args.json)?;
    let seconds = started.elapsed().as_secs_f64();
    let mut j = ev_study_json(&r, &config);
    j["city"] = json!(city.meta.name);
    j["seconds"] = json!(round(seconds, 2));
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating the report folder {}", args.out.display()))?;
    let path = args.out.join("report.json");
    std::fs::write(&path, format!("{j:#}\n"))
        .with_context(|| format!("writing {}", path.display()))?;
    let csv = args.out.join("load_curve.csv");
    let mut text = String::from("step,hour,charging_kw\n");
    for (k, v) in r.load_curve_kw.iter().enumerate() {
        text.push_str(&format!("{k},{:.2},{v:.1}\n", k as f64 * r.step_h));
    }
    std::fs::write(&csv, text).with_context(|| format!("writing {}", csv.display()))?;
    let html = args.out.join("report.html");
    ev_study_report(&city.meta.name, &config, &r)
        .write(&html)
        .with_context(|| format!("writing {}", html.display()))?;
    if args.json {
        println!("{j}");
        return Ok(());
    }
    let t = &r.charging;
    println!(
        "{}: {} electric cars ({:.0} % of cars) and {} buses, {} days at {}-minute steps ({seconds:.1} s)",
        city.meta.name,
        r.ev_count,
        100.0 * config.ev_share,
        r.buses,
        config.days,
        config.step_minutes
    );
    let day = r.peak_step as f64 * r.step_h;
    println!(
        "charging load: peak {:.0} kW on day {} at {:02}:{:02}; {:.0} kWh asked: {:.0} delivered, {:.0} unmet, {:.0} still due when the study stops (cars plugged in or waiting)",
        r.peak_load_kw,
        (day / 24.0).floor() as u32 + 1,
        (day % 24.0).floor() as u32,
        ((day % 1.0) * 60.0).round() as u32,
        t.requested_kwh,
        t.delivered_kwh,
        r.unmet_energy_kwh(),
        r.still_due_kwh()
    );
    println!(
        "unmet energy: {:.0} kWh (no free socket {:.0}, held back by power caps {:.0}, stay too short {:.0}); {} of {} charging sessions found no free socket, {} found one at another site",
        r.unmet_energy_kwh(),
        t.unmet.no_socket_kwh,
        t.unmet.capped_kwh,
        t.unmet.short_stay_kwh,
        t.left_without_socket,
        t.sessions,
        t.moved_to_another_site
    );
    println!(
        "grid: {:.1} post-hours overloaded ({} posts; {:.1} without EVs), lowest voltage {:.3} pu ({:.3} without EVs)",
        r.overload_hours,
        r.posts_overloaded,
        r.base_overload_hours,
        r.min_voltage_pu,
        r.base_min_voltage_pu
    );
    println!(
        "grid peak (every load and the charging, with losses): {:.0} kW, {:.0} kW without charging ({:+.1} %)",
        r.grid_peak_kw,
        r.base_grid_peak_kw,
        100.0 * (r.grid_peak_kw - r.base_grid_peak_kw) / r.base_grid_peak_kw.max(f64::EPSILON)
    );
    println!(
        "public chargers: {:.1} % of socket-hours occupied",
        100.0 * r.charger_utilisation
    );
    println!("{}", smart_charging_sentence(&config, &r));
    if !r.added_at.is_empty() {
        let shown: Vec<String> = r
            .added_at
            .iter()
            .take(5)
            .map(|id| place_label(&city, id))
            .collect();
        let more = r.added_at.len().saturating_sub(shown.len());
        println!(
            "added stations: {} at {}{}",
            r.added_at.len(),
            shown.join("; "),
            if more > 0 {
                format!(" and {more} more (report.json lists all)")
            } else {
                String::new()
            }
        );
    }
    const LISTED: usize = 10;
    if !r.posts.is_empty() {
        println!(
            "posts by hours overloaded (\"without EVs\": the same days with no charging at all, buses included):"
        );
    }
    for p in r.posts.iter().take(LISTED) {
        let label = place_label(&city, &p.id);
        println!(
            "  {:>5.0} kVA {:>5.1} h overloaded (without EVs {:.1} h), peak {:>3.0} %, EV peak {:>4.0} kW  {label}",
            p.rated_kva,
            p.overload_hours,
            p.base_overload_hours,
            100.0 * p.peak_loading,
            p.peak_ev_kw
        );
    }
    if r.posts.len() > LISTED {
        println!(
            "  … {} more (report.json lists all)",
            r.posts.len() - LISTED
        );
    }
    for f in r.feeders.iter().filter(|f| f.overload_hours > 0.0) {
        println!(
            "  feeder {}: {:.1} h overloaded, peak {:.0} %",
            f.name, f.overload_hours, f.peak_loading_pct
        );
    }
    println!("report: {}", html.display());
    Ok(())
}

/// What smart charging did in this study, or would do, in one sentence for the report.
fn smart_charging_sentence(c: &EvStudyConfig, r: &EvStudyResult) -> String {
    smart_charging_summary(c.smart, r)
}

/// `twin ev sweep`: the study at several shares, without smart charging, with post caps and
/// with valley filling.
pub fn sweep(args: SweepArgs) -> Result<()> {
    let shares: Vec<f64> = args
        .shares
        .split(',')
        .map(|s| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| (0.0..=1.0).contains(v))
                .ok_or_else(|| anyhow!("--shares: `{s}` is not a share between 0 and 1"))
        })
        .collect::<Result<_>>()?;
    let (city, source) = crate::default_city::load(args.study.city.as_deref())?;
    let fit = crate::default_city::demand_fit(&source, &city, args.study.sessions.as_deref())?;
    let mut rows = Vec::new();
    let mut results = Vec::new();
    for &share in &shares {
        for smart in [
            SmartCharging::Off,
            SmartCharging::PostCaps,
            SmartCharging::ValleyFilling,
        ] {
            let mut a = args.study.clone();
            a.smart = smart.name().into();
            let c = config_of(&a, share)?;
            let r = run(&city, &fit, &c, args.study.json)?;
            rows.push(SweepRow {
                share,
                smart,
                overload_hours: r.overload_hours,
                peak_load_kw: r.peak_load_kw,
                grid_peak_kw: r.grid_peak_kw,
                unmet_energy_kwh: r.unmet_energy_kwh(),
                min_voltage_pu: r.min_voltage_pu,
                capped_kwh: r.charging.unmet.capped_kwh,
            });
            results.push(json!({"ev_share": share, "smart": smart.name(),
                "ev_count": r.ev_count, "overload_hours": round(r.overload_hours, 2),
                "posts_overloaded": r.posts_overloaded, "peak_load_kw": round(r.peak_load_kw, 1),
                "grid_peak_kw": round(r.grid_peak_kw, 1),
                "grid_peak_kw_without_evs": round(r.base_grid_peak_kw, 1),
                "unmet_energy_kwh": round(r.unmet_energy_kwh(), 1),
                "unmet_smart_cap_kwh": round(r.charging.unmet.capped_kwh, 1),
                "min_voltage_pu": round(r.min_voltage_pu, 4),
                "charger_utilisation": round(r.charger_utilisation, 4)}));
        }
    }
    let j = json!({"city": city.meta.name, "days": args.study.days, "runs": results});
    std::fs::create_dir_all(&args.study.out)
        .with_context(|| format!("creating {}", args.study.out.display()))?;
    std::fs::write(args.study.out.join("sweep.json"), format!("{j:#}\n"))
        .with_context(|| format!("writing {}", args.study.out.display()))?;
    let rep = ev_sweep_report(
        &city.meta.name,
        args.study.days,
        &args.study.start,
        &shares,
        &rows,
    );
    rep.write(&args.study.out.join("sweep.html"))
        .with_context(|| format!("writing {}", args.study.out.display()))?;
    if args.study.json {
        println!("{j}");
        return Ok(());
    }
    println!(
        "{:>9} {:>7} {:>14} {:>16} {:>14} {:>12} {:>10}",
        "EV share",
        "smart",
        "overload h",
        "charging pk kW",
        "grid peak kW",
        "unmet kWh",
        "min V pu"
    );
    for r in &rows {
        println!(
            "{:>8.0}% {:>7} {:>14.1} {:>16.0} {:>14.0} {:>12.0} {:>10.3}",
            100.0 * r.share,
            r.smart.name(),
            r.overload_hours,
            r.peak_load_kw,
            r.grid_peak_kw,
            r.unmet_energy_kwh,
            r.min_voltage_pu
        );
    }
    println!("report: {}", args.study.out.join("sweep.html").display());
    Ok(())
}

/// `twin bench ev`: a month with a fixed fleet, grid coupling at 15-minute steps.
pub fn bench(args: BenchArgs) -> Result<()> {
    let (city, source) = crate::default_city::load(args.city.as_deref())?;
    let fit = crate::default_city::demand_fit(&source, &city, args.sessions.as_deref())?;
    let mut c = EvStudyConfig::new(0.0, args.days);
    c.fleet_override = Some(args.evs);
    let mut best = f64::INFINITY;
    let mut last = None;
    for smart in [SmartCharging::Off, SmartCharging::PostCaps] {
        c.smart = smart;
        for _ in 0..3 {
            let started = Instant::now();
            let r = run_ev_study(&city, &fit, &c, &|_| {})?;
            let s = started.elapsed().as_secs_f64();
            println!(
                "{} EVs, {} days, smart {}: {s:.2} s ({} steps, {} sessions, {} load flows)",
                args.evs,
                args.days,
                smart.name(),
                r.steps,
                r.charging.sessions,
                r.steps
            );
            best = best.min(s);
            last = Some(r);
        }
    }
    if let Some(r) = last {
        println!(
            "best {best:.2} s; peak {:.0} kW, {:.1} post-hours overloaded",
            r.peak_load_kw, r.overload_hours
        );
    }
    Ok(())
}

/// An entity by its id text, with its place (name, neighbourhood, street), or the id alone.
fn place_label(city: &twin_core::CityModel, id: &str) -> String {
    id.parse()
        .ok()
        .and_then(|id| city.entity_index(&id))
        .map_or_else(|| id.to_string(), |i| city.place_of(i).label())
}
