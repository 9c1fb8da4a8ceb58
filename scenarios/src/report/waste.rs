//! The waste comparison's reports (`twin waste compare`): one policy's outcome as JSON, and
//! both policies side by side as an HTML report.

use chrono::NaiveDate;
use serde_json::{Value as Json, json};
use twin_core::waste::simulate::PolicyOutcome;

use super::{BarChart, HtmlReport, LineChart, Series, Table, format_number, round};

/// One policy's outcome as JSON: km, fuel, CO2, overflows, emptyings, trips, fill at pickup,
/// tonnes by stream, recycling share and the daily series.
pub fn waste_outcome_json(o: &PolicyOutcome) -> Json {
    json!({
        "km": round(o.km, 1),
        "fuel_l": round(o.fuel_l, 1),
        "co2_kg": round(o.co2_kg, 1),
        "overflow_events": o.overflow_events,
        "bin_days_full": o.bin_days_full,
        "uncollected_l": round(o.uncollected_l, 0),
        "bins_emptied": o.bins_emptied,
        "trips": o.trips,
        "truck_shifts": o.truck_shifts,
        "mean_fill_at_pickup": round(o.mean_fill_at_pickup, 3),
        "bins_per_trip": round(o.bins_per_trip, 1),
        "tonnes_by_stream": o.tonnes_by_stream.iter()
            .map(|(k, t)| (k.name().to_string(), json!(round(*t, 2))))
            .collect::<serde_json::Map<_, _>>(),
        "recycling_share": round(o.recycling_share, 4),
        "daily_km": o.daily_km.iter().map(|k| round(*k, 1)).collect::<Vec<_>>(),
        "daily_full": o.daily_full,
        "failed_plans": o.failed_plans,
    })
}

/// The comparison as an HTML report: the KPI table, km and full bins per day, tonnes by stream.
pub fn waste_compare_report(
    city: &str,
    start: NaiveDate,
    days: u32,
    fixed: &PolicyOutcome,
    dynamic: &PolicyOutcome,
) -> HtmlReport {
    let mut r = HtmlReport::new(
        format!("{city}: waste collection, fixed calendar against sensor-driven rounds"),
        format!(
            "{days} simulated days from {start}; both policies on the same bins, fill rates and sensor noise."
        ),
    );
    let change = |a: f64, b: f64| {
        if a.abs() > f64::EPSILON {
            format!("{:+.1} %", 100.0 * (b - a) / a)
        } else {
            "–".to_string()
        }
    };
    let row = |label: &str, f: &dyn Fn(&PolicyOutcome) -> f64, shown: &dyn Fn(f64) -> String| {
        let (a, b) = (f(fixed), f(dynamic));
        (label.to_string(), vec![shown(a), shown(b), change(a, b)])
    };
    let n = |v: f64| format_number(v.round());
    let pct = |v: f64| format!("{:.1} %", 100.0 * v);
    let one = |v: f64| format!("{v:.1}");
    let total_t = |o: &PolicyOutcome| o.tonnes_by_stream.iter().map(|t| t.1).sum::<f64>();
    let kpis = Table {
        columns: ["", "fixed", "dynamic", "change"]
            .map(String::from)
            .to_vec(),
        rows: vec![
            row("km driven", &|o| o.km, &n),
            row("fuel (l)", &|o| o.fuel_l, &n),
            row("CO2 (kg)", &|o| o.co2_kg, &n),
            row("overflow events", &|o| o.overflow_events as f64, &n),
            row("bin-days full", &|o| o.bin_days_full as f64, &n),
            row("bins emptied", &|o| o.bins_emptied as f64, &n),
            row("trips", &|o| o.trips as f64, &n),
            row("bins per trip", &|o| o.bins_per_trip, &one),
            row("mean fill at pickup", &|o| o.mean_fill_at_pickup, &pct),
            row("tonnes collected", &total_t, &one),
            row("recycling share", &|o| o.recycling_share, &pct),
        ],
    };
    let verdict = format!(
        "The sensor-driven policy drives {} km ({}) and has {} overflow events ({}) against the calendar's {} km and {}. Recycling share, after how people sort and what the sorting plants keep: {:.1} % and {:.1} % (Romania recycled {:.1} % of its municipal waste in 2022; the EU target for 2025 is 55 %).",
        n(dynamic.km),
        change(fixed.km, dynamic.km),
        n(dynamic.overflow_events as f64),
        change(fixed.overflow_events as f64, dynamic.overflow_events as f64),
        n(fixed.km),
        n(fixed.overflow_events as f64),
        100.0 * fixed.recycling_share,
        100.0 * dynamic.recycling_share,
        100.0 * twin_core::waste::sorting::ROMANIA_RECYCLING_RATE_2022,
    );
    r.section("Key figures").paragraph(verdict).table(kpis);
    let day_axis: Vec<f64> = (1..=days).map(f64::from).collect();
    r.section("Day by day")
        .line_chart(LineChart {
            title: "Kilometres driven per day".into(),
            x_label: "day".into(),
            y_label: "km".into(),
            x: day_axis.clone(),
            series: vec![
                Series::new("fixed", fixed.daily_km.clone()),
                Series::new("dynamic", dynamic.daily_km.clone()),
            ],
        })
        .line_chart(LineChart {
            title: "Bins full at the end of each day".into(),
            x_label: "day".into(),
            y_label: "bins".into(),
            x: day_axis,
            series: vec![
                Series::new(
                    "fixed",
                    fixed.daily_full.iter().map(|&v| v as f64).collect(),
                ),
                Series::new(
                    "dynamic",
                    dynamic.daily_full.iter().map(|&v| v as f64).collect(),
                ),
            ],
        });
    r.section("Tonnes by stream").bar_chart(BarChart {
        title: "Waste collected by stream".into(),
        y_label: "tonnes".into(),
        categories: fixed
            .tonnes_by_stream
            .iter()
            .map(|(k, _)| k.name().to_string())
            .collect(),
        series: [fixed, dynamic]
            .iter()
            .map(|o| {
                Series::new(
                    o.policy.name(),
                    o.tonnes_by_stream.iter().map(|t| t.1).collect(),
                )
            })
            .collect(),
    });
    if !fixed.failed_plans.is_empty() || !dynamic.failed_plans.is_empty() {
        let s = r.section("Days without a feasible plan");
        for e in fixed.failed_plans.iter().chain(&dynamic.failed_plans) {
            s.paragraph(e.clone());
        }
    }
    r
}
