//! The EV study's reports: `report.json` and the HTML report of `twin ev study`, and the
//! sweep's HTML report of `twin ev sweep`.

use serde_json::{Value as Json, json};
use twin_core::ev::stepper::SmartCharging;
use twin_core::ev::study::{EvStudyConfig, EvStudyResult};

use super::{BarChart, HtmlReport, LineChart, Series, Table, format_number, round};

/// The study's figures as `report.json`: shares, peak, overloads, voltages, energy by cause,
/// the 50 most overloaded posts, feeders, chargers and the load curve (kW per step).
pub fn ev_study_json(r: &EvStudyResult, c: &EvStudyConfig) -> Json {
    let t = &r.charging;
    json!({
        "ev_share": c.ev_share,
        "ev_count": r.ev_count,
        "buses": r.buses,
        "days": c.days,
        "smart": c.smart.name(),
        "add_chargers": c.add_chargers,
        "step_minutes": c.step_minutes,
        "peak_load_kw": round(r.peak_load_kw, 1),
        "peak_at_step": r.peak_step,
        "overload_hours": round(r.overload_hours, 2),
        "overload_hours_without_evs": round(r.base_overload_hours, 2),
        "posts_overloaded": r.posts_overloaded,
        "min_voltage_pu": round(r.min_voltage_pu, 4),
        "min_voltage_pu_without_evs": round(r.base_min_voltage_pu, 4),
        "grid_peak_kw": round(r.grid_peak_kw, 1),
        "grid_peak_kw_without_evs": round(r.base_grid_peak_kw, 1),
        "smart_charging": smart_charging_summary(c.smart, r),
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

/// The study as an HTML report: key figures, the charging load over the day and the study, the
/// most overloaded posts and the busiest public chargers.
pub fn ev_study_report(city: &str, c: &EvStudyConfig, r: &EvStudyResult) -> HtmlReport {
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
            match c.smart {
                SmartCharging::Off => "off",
                SmartCharging::PostCaps => "on (post caps)",
                SmartCharging::ValleyFilling => "on (valley filling)",
            },
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
            ("grid peak, every load (kW)".into(), vec![n(r.grid_peak_kw)]),
            ("… without charging".into(), vec![n(r.base_grid_peak_kw)]),
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
    rep.section("Smart charging")
        .paragraph(smart_charging_summary(c.smart, r));
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

/// One run of an EV sweep: the share, smart charging off or on, and the figures the sweep
/// compares.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepRow {
    pub share: f64,
    pub smart: SmartCharging,
    /// Post-hours above rating.
    pub overload_hours: f64,
    /// The charging load's peak, kW.
    pub peak_load_kw: f64,
    /// The grid's peak (every load and the charging, with losses), kW.
    pub grid_peak_kw: f64,
    pub unmet_energy_kwh: f64,
    pub min_voltage_pu: f64,
    /// Energy held back by smart charging's caps, kWh.
    pub capped_kwh: f64,
}

/// The sweep as an HTML report: overload and unmet energy per share, without and with smart
/// charging.
pub fn ev_sweep_report(
    city: &str,
    days: u32,
    start: &str,
    shares: &[f64],
    rows: &[SweepRow],
) -> HtmlReport {
    let mut rep = HtmlReport::new(
        format!("{city}: overload hours as the EV share grows"),
        format!(
            "{} days from {}; each share without smart charging, with post caps and with valley filling.",
            days, start
        ),
    );
    rep.section("Overload and unmet energy")
        .table(Table {
            columns: [
                "EV share",
                "smart",
                "post-hours overloaded",
                "charging peak kW",
                "grid peak kW",
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
                        format!("{:.0} %", 100.0 * r.share),
                        vec![
                            r.smart.name().to_string(),
                            format!("{:.1}", r.overload_hours),
                            format_number(r.peak_load_kw.round()),
                            format_number(r.grid_peak_kw.round()),
                            format_number(r.unmet_energy_kwh.round()),
                            format_number(r.capped_kwh.round()),
                            format!("{:.3}", r.min_voltage_pu),
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
            series: [
                SmartCharging::Off,
                SmartCharging::PostCaps,
                SmartCharging::ValleyFilling,
            ]
            .iter()
            .map(|&smart| {
                Series::new(
                    format!("smart {}", smart.name()),
                    rows.iter()
                        .filter(|r| r.smart == smart)
                        .map(|r| r.overload_hours)
                        .collect(),
                )
            })
            .collect(),
        });
    rep
}

/// One sentence on what smart charging does in this study (or, off, what it would do).
pub fn smart_charging_summary(smart: SmartCharging, r: &EvStudyResult) -> String {
    let t = &r.charging;
    let held = t.unmet.capped_kwh;
    let share = 100.0 * held / t.requested_kwh.max(f64::EPSILON);
    let grid = format!(
        "the grid's peak is {} kW against {} kW without charging ({:+.1} %)",
        format_number(r.grid_peak_kw.round()),
        format_number(r.base_grid_peak_kw.round()),
        100.0 * (r.grid_peak_kw - r.base_grid_peak_kw) / r.base_grid_peak_kw.max(f64::EPSILON)
    );
    match smart {
        SmartCharging::Off => format!(
            "Smart charging is off: cars charge as fast as socket and car allow, and {grid}. \
             With --smart on each post's charging is capped at what its rating leaves beside \
             its other load; with --smart valley charging is also moved into the night's \
             valleys, lowering the peak at the cost of energy held back."
        ),
        SmartCharging::PostCaps => format!(
            "Smart charging capped each post's charging at what its rating leaves beside its \
             other load: it held back {} kWh ({share:.1} % of the energy asked); the {:.1} \
             post-hours still overloaded are posts whose other load alone exceeds the rating \
             ({:.1} without any charging); {grid}.",
            format_number(held.round()),
            r.overload_hours,
            r.base_overload_hours
        ),
        SmartCharging::ValleyFilling => format!(
            "Valley filling held each post's charging under a daily level that fills the valleys \
             of its own load, moving charging from the evening peak into the night: {grid}; it \
             held back {} kWh ({share:.1} % of the energy asked) from cars that left before \
             their turn.",
            format_number(held.round())
        ),
    }
}
