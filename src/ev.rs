//! `twin ev study` (one EV share: load curve, overloaded posts, utilisation, unmet energy, with
//! an HTML report), `twin ev sweep` (several shares, with and without smart charging) and
//! `twin bench ev`, on `twin_core::ev`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use chrono::NaiveDate;
use clap::Args;
use serde_json::{Value as Json, json};
use twin_core::ev::calibration::DemandFit;
use twin_core::ev::charging::Sharing;
use twin_core::ev::read_dundee_sessions;
use twin_core::ev::study::{EvStudyConfig, EvStudyResult, run_ev_study};
use twin_scenarios::report::{BarChart, HtmlReport, LineChart, Series, Table, format_number};

#[derive(Args, Clone)]
pub struct StudyArgs {
    #[arg(long, default_value = "data/pitesti")]
    pub city: PathBuf,
    /// Share of the city's cars that are electric (0–1).
    #[arg(long, default_value_t = 0.15)]
    pub ev_share: f64,
    /// Public charging stations to add (a 22 kW AC and a 50 kW DC socket each).
    #[arg(long, default_value_t = 0)]
    pub add_chargers: usize,
    /// Smart charging: cap each post's charging at its rating's headroom (on|off).
    #[arg(long, default_value = "off")]
    pub smart: String,
    /// How a cap is shared: edf (earliest departure first) or fair.
    #[arg(long, default_value = "edf")]
    pub sharing: String,
    /// A power cap on one charger site, shared by its sessions: `charger:11=50` (kW); repeat
    /// for more sites.
    #[arg(long = "site-cap")]
    pub site_caps: Vec<String>,
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// First day (YYYY-MM-DD).
    #[arg(long, default_value = "2026-03-02")]
    pub start: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The real sessions the demand is calibrated on.
    #[arg(long, default_value = "data/ev/cp-data-mar-may-2018.csv")]
    pub sessions: PathBuf,
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
    #[arg(long, default_value = "data/pitesti")]
    pub city: PathBuf,
    #[arg(long, default_value_t = 10_000)]
    pub evs: usize,
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    #[arg(long, default_value = "data/ev/cp-data-mar-may-2018.csv")]
    pub sessions: PathBuf,
}

/// The EV demand fit on the real sessions at `path` (the `--sessions` flag of every command).
pub fn load_fit(path: &Path) -> Result<DemandFit> {
    let sessions = read_dundee_sessions(path).with_context(|| {
        format!(
            "reading the charging sessions {} (--sessions)",
            path.display()
        )
    })?;
    DemandFit::from_sessions(&sessions)
        .map_err(|e| anyhow!("calibrating on {}: {e}", path.display()))
}

fn config_of(args: &StudyArgs, ev_share: f64) -> Result<EvStudyConfig> {
    let smart = match args.smart.as_str() {
        "on" => true,
        "off" => false,
        s => return Err(anyhow!("--smart `{s}` is not on or off")),
    };
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
    Ok(c)
}

fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

fn result_json(r: &EvStudyResult, c: &EvStudyConfig) -> Json {
    let t = &r.charging;
    json!({
        "ev_share": c.ev_share,
        "ev_count": r.ev_count,
        "buses": r.buses,
        "days": c.days,
        "smart": c.smart,
        "add_chargers": c.add_chargers,
        "step_minutes": c.step_minutes,
        "peak_load_kw": round(r.peak_load_kw, 1),
        "peak_at_step": r.peak_step,
        "overload_hours": round(r.overload_hours, 2),
        "overload_hours_without_evs": round(r.base_overload_hours, 2),
        "posts_overloaded": r.posts_overloaded,
        "min_voltage_pu": round(r.min_voltage_pu, 4),
        "min_voltage_pu_without_evs": round(r.base_min_voltage_pu, 4),
        "energy_requested_kwh": round(t.requested_kwh, 1),
        "energy_delivered_kwh": round(t.delivered_kwh, 1),
        "unmet_energy_kwh": round(r.unmet_energy_kwh(), 1),
        "unmet_by_cause_kwh": {
            "no_socket": round(t.unmet.no_socket_kwh, 1),
            "smart_cap": round(t.unmet.capped_kwh, 1),
            "short_stay": round(t.unmet.short_stay_kwh, 1),
        },
        "sessions": t.sessions,
        "left_without_socket": t.left_without_socket,
        "moved_to_another_site": t.moved_to_another_site,
        "charger_utilisation": round(r.charger_utilisation, 4),
        "added_chargers_at": r.added_at,
        "posts": r.posts.iter().take(50).map(|p| json!({
            "id": p.id, "rated_kva": p.rated_kva, "overload_hours": round(p.overload_hours, 2),
            "overload_hours_without_evs": round(p.base_overload_hours, 2),
            "peak_loading": round(p.peak_loading, 3), "peak_ev_kw": round(p.peak_ev_kw, 1),
        })).collect::<Vec<_>>(),
        "feeders": r.feeders.iter().map(|f| json!({
            "name": f.name, "posts": f.posts, "overload_hours": round(f.overload_hours, 2),
            "peak_loading_pct": round(f.peak_loading_pct, 1),
        })).collect::<Vec<_>>(),
        "chargers": r.sites.iter().map(|s| json!({
            "name": s.name, "sockets": s.sockets, "utilisation": round(s.utilisation, 4),
            "energy_kwh": round(s.energy_kwh, 1),
        })).collect::<Vec<_>>(),
        "load_curve_kw": r.load_curve_kw.iter().map(|v| round(*v, 1)).collect::<Vec<_>>(),
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
    let city = twin_core::load_city(&args.city)
        .with_context(|| format!("loading the city {}", args.city.display()))?;
    let fit = load_fit(&args.sessions)?;
    let started = Instant::now();
    let r = run(&city, &fit, &config, args.json)?;
    let seconds = started.elapsed().as_secs_f64();
    let mut j = result_json(&r, &config);
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
    study_report(&city.meta.name, &config, &r)
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
        "charging load: peak {:.0} kW on day {} at {:02}:{:02}; {:.0} kWh delivered of {:.0} asked",
        r.peak_load_kw,
        (day / 24.0).floor() as u32 + 1,
        (day % 24.0).floor() as u32,
        ((day % 1.0) * 60.0).round() as u32,
        t.delivered_kwh,
        t.requested_kwh
    );
    println!(
        "unmet energy: {:.0} kWh (no free socket {:.0}, held back by power caps {:.0}, stay too short {:.0}); {} of {} cars left without a socket, {} found one at another site",
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
        "public chargers: {:.1} % of socket-hours occupied",
        100.0 * r.charger_utilisation
    );
    for p in r.posts.iter().take(10) {
        println!(
            "  {:<14} {:>5.0} kVA  {:>6.1} h overloaded (without EVs {:.1} h), peak {:.0} %, EV peak {:.0} kW",
            p.id,
            p.rated_kva,
            p.overload_hours,
            p.base_overload_hours,
            100.0 * p.peak_loading,
            p.peak_ev_kw
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

fn study_report(city: &str, c: &EvStudyConfig, r: &EvStudyResult) -> HtmlReport {
    let mut rep = HtmlReport::new(
        format!(
            "{city}: EV charging and the grid, {:.0} % of cars electric",
            100.0 * c.ev_share
        ),
        format!(
            "{} electric cars and {} electric buses over {} days from {}, {}-minute steps; smart charging {}{}.",
            r.ev_count,
            r.buses,
            c.days,
            c.start,
            c.step_minutes,
            if c.smart { "on" } else { "off" },
            if c.add_chargers > 0 {
                format!(", {} public stations added", c.add_chargers)
            } else {
                String::new()
            }
        ),
    );
    let t = &r.charging;
    let n = |v: f64| format_number(v.round());
    rep.section("Key figures").table(Table {
        columns: vec!["".into(), "value".into()],
        rows: vec![
            ("peak charging load (kW)".into(), vec![n(r.peak_load_kw)]),
            ("energy delivered (kWh)".into(), vec![n(t.delivered_kwh)]),
            ("unmet energy (kWh)".into(), vec![n(r.unmet_energy_kwh())]),
            ("… no free socket".into(), vec![n(t.unmet.no_socket_kwh)]),
            (
                "… held back by smart charging".into(),
                vec![n(t.unmet.capped_kwh)],
            ),
            ("… stay too short".into(), vec![n(t.unmet.short_stay_kwh)]),
            (
                "post-hours overloaded".into(),
                vec![format!("{:.1}", r.overload_hours)],
            ),
            (
                "… without EVs".into(),
                vec![format!("{:.1}", r.base_overload_hours)],
            ),
            (
                "lowest voltage (pu)".into(),
                vec![format!("{:.3}", r.min_voltage_pu)],
            ),
            (
                "public charger occupancy".into(),
                vec![format!("{:.1} %", 100.0 * r.charger_utilisation)],
            ),
        ],
    });
    // The mean day of the load curve, by step of the day.
    let per_day = (24.0 / r.step_h).round() as usize;
    let days = (r.load_curve_kw.len() / per_day.max(1)).max(1);
    let mean_day: Vec<f64> = (0..per_day)
        .map(|s| {
            (0..days)
                .map(|d| r.load_curve_kw[d * per_day + s])
                .sum::<f64>()
                / days as f64
        })
        .collect();
    let max_day: Vec<f64> = (0..per_day)
        .map(|s| {
            (0..days)
                .map(|d| r.load_curve_kw[d * per_day + s])
                .fold(0.0, f64::max)
        })
        .collect();
    let hours: Vec<f64> = (0..per_day).map(|s| s as f64 * r.step_h).collect();
    rep.section("Charging load")
        .line_chart(LineChart {
            title: "Charging load over the day".into(),
            x_label: "hour of day".into(),
            y_label: "kW".into(),
            x: hours,
            series: vec![
                Series::new("mean day", mean_day),
                Series::new("highest", max_day),
            ],
        })
        .line_chart(LineChart {
            title: "Charging load over the study".into(),
            x_label: "day".into(),
            y_label: "kW".into(),
            x: (0..r.load_curve_kw.len())
                .map(|k| k as f64 * r.step_h / 24.0)
                .collect(),
            series: vec![Series::new("charging", r.load_curve_kw.clone())],
        });
    let top: Vec<_> = r.posts.iter().take(12).collect();
    if !top.is_empty() {
        rep.section("Most overloaded transformer posts")
            .bar_chart(BarChart {
                title: "Hours above rating".into(),
                y_label: "hours".into(),
                categories: top
                    .iter()
                    .map(|p| p.id.trim_start_matches("power:").to_string())
                    .collect(),
                series: vec![
                    Series::new("with EVs", top.iter().map(|p| p.overload_hours).collect()),
                    Series::new(
                        "without EVs",
                        top.iter().map(|p| p.base_overload_hours).collect(),
                    ),
                ],
            });
    }
    let busiest: Vec<_> = r.sites.iter().take(12).collect();
    rep.section("Public chargers").bar_chart(BarChart {
        title: "Socket-hours occupied".into(),
        y_label: "%".into(),
        categories: busiest
            .iter()
            .map(|s| s.name.trim_start_matches("charger:").to_string())
            .collect(),
        series: vec![Series::new(
            "occupancy",
            busiest.iter().map(|s| 100.0 * s.utilisation).collect(),
        )],
    });
    rep
}

/// `twin ev sweep`: the study at several shares, without and with smart charging.
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
    let city = twin_core::load_city(&args.study.city)
        .with_context(|| format!("loading the city {}", args.study.city.display()))?;
    let fit = load_fit(&args.study.sessions)?;
    let mut rows = Vec::new();
    let mut results = Vec::new();
    for &share in &shares {
        for smart in ["off", "on"] {
            let mut a = args.study.clone();
            a.smart = smart.into();
            let c = config_of(&a, share)?;
            let r = run(&city, &fit, &c, args.study.json)?;
            rows.push((
                share,
                smart,
                r.overload_hours,
                r.peak_load_kw,
                r.unmet_energy_kwh(),
                r.min_voltage_pu,
                r.charging.unmet.capped_kwh,
            ));
            results.push(json!({"ev_share": share, "smart": smart == "on",
                "ev_count": r.ev_count, "overload_hours": round(r.overload_hours, 2),
                "posts_overloaded": r.posts_overloaded, "peak_load_kw": round(r.peak_load_kw, 1),
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
    let mut rep = HtmlReport::new(
        format!("{}: overload hours as the EV share grows", city.meta.name),
        format!(
            "{} days from {}; each share without and with smart charging.",
            args.study.days, args.study.start
        ),
    );
    rep.section("Overload and unmet energy")
        .table(Table {
            columns: [
                "EV share",
                "smart",
                "post-hours overloaded",
                "peak kW",
                "unmet kWh",
                "held back by cap (kWh)",
                "lowest V (pu)",
            ]
            .map(String::from)
            .to_vec(),
            rows: rows
                .iter()
                .map(|r| {
                    (
                        format!("{:.0} %", 100.0 * r.0),
                        vec![
                            r.1.to_string(),
                            format!("{:.1}", r.2),
                            format_number(r.3.round()),
                            format_number(r.4.round()),
                            format_number(r.6.round()),
                            format!("{:.3}", r.5),
                        ],
                    )
                })
                .collect(),
        })
        .bar_chart(BarChart {
            title: "Post-hours above rating".into(),
            y_label: "hours".into(),
            categories: shares
                .iter()
                .map(|s| format!("{:.0} %", 100.0 * s))
                .collect(),
            series: ["off", "on"]
                .iter()
                .map(|m| {
                    Series::new(
                        format!("smart {m}"),
                        rows.iter().filter(|r| r.1 == *m).map(|r| r.2).collect(),
                    )
                })
                .collect(),
        });
    rep.write(&args.study.out.join("sweep.html"))
        .with_context(|| format!("writing {}", args.study.out.display()))?;
    if args.study.json {
        println!("{j}");
        return Ok(());
    }
    println!(
        "{:>9} {:>6} {:>14} {:>10} {:>12} {:>10}",
        "EV share", "smart", "overload h", "peak kW", "unmet kWh", "min V pu"
    );
    for r in &rows {
        println!(
            "{:>8.0}% {:>6} {:>14.1} {:>10.0} {:>12.0} {:>10.3}",
            100.0 * r.0,
            r.1,
            r.2,
            r.3,
            r.4,
            r.5
        );
    }
    println!("report: {}", args.study.out.join("sweep.html").display());
    Ok(())
}

/// `twin bench ev`: a month with a fixed fleet, grid coupling at 15-minute steps.
pub fn bench(args: BenchArgs) -> Result<()> {
    let city = twin_core::load_city(&args.city)
        .with_context(|| format!("loading the city {}", args.city.display()))?;
    let fit = load_fit(&args.sessions)?;
    let mut c = EvStudyConfig::new(0.0, args.days);
    c.fleet_override = Some(args.evs);
    let mut best = f64::INFINITY;
    let mut last = None;
    for smart in [false, true] {
        c.smart = smart;
        for _ in 0..3 {
            let started = Instant::now();
            let r = run_ev_study(&city, &fit, &c, &|_| {})?;
            let s = started.elapsed().as_secs_f64();
            println!(
                "{} EVs, {} days, smart {}: {s:.2} s ({} steps, {} sessions, {} load flows)",
                args.evs,
                args.days,
                if smart { "on" } else { "off" },
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
