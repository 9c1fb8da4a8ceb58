//! What a scenario run leaves behind: `report.json` (top-level `baseline`, `scenario` and
//! `difference`, each holding the KPIs by name), `timeseries.csv` (every series, baseline and
//! scenario side by side, one row per step) and `report.html` (the tables and charts, offline).

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value as Json, json};

use crate::file::Scenario;
use crate::report::{HtmlReport, LineChart, Series, Table, format_number};
use crate::run::Comparison;

/// What each KPI means, with its unit, for the report's table.
pub fn kpi_label(name: &str) -> &str {
    match name {
        "travel_time_veh_h" => "travel time (vehicle-hours)",
        "delay_veh_h" => "delay over free flow (vehicle-hours)",
        "customers_interrupted" => "customers interrupted",
        "customers_without_power_max" => "customers without power at once (most)",
        "customer_minutes_interrupted" => "customer-minutes interrupted",
        "saifi" => "SAIFI (interruptions per customer)",
        "saidi_min" => "SAIDI (minutes per customer)",
        "caidi_min" => "CAIDI (minutes per interruption)",
        "ens_kwh" => "energy not supplied (kWh)",
        "overloaded_elements" => "overloaded lines and posts",
        "overload_hours" => "element-hours overloaded",
        "post_overload_hours" => "post-hours overloaded (as the EV study counts)",
        "peak_load_kw" => "peak grid load (kW)",
        "energy_supplied_kwh" => "energy supplied (kWh)",
        "min_voltage_pu" => "lowest voltage (pu)",
        "water_demand_m3" => "water demand (m³)",
        "water_not_supplied_m3" => "water not supplied (m³)",
        "junctions_without_water_max" => "junctions without water (most at once)",
        "junction_hours_without_water" => "junction-hours without water",
        "pressure_deficient_junctions_max" => "junctions a break takes below 15 m (most at once)",
        "pressure_deficient_junction_hours" => "junction-hours below 15 m caused by breaks",
        "junctions_below_service_pressure_intact" => {
            "junctions below 15 m with nothing broken (peak hour; not any change's doing)"
        }
        "water_quality_degraded_junctions_max" => {
            "junctions whose water degrades (older by 6 h or chlorine < 0.2 mg/L; most at once)"
        }
        "bin_overflows" => "bin overflow events",
        "bin_hours_full" => "bin-hours full",
        "bins_emptied" => "bins emptied",
        "collection_km" => "collection rounds driven (km)",
        "collection_fuel_l" => "collection fuel (litres of diesel)",
        "collection_co2_kg" => "collection CO2 (kg)",
        "collection_rounds_failed" => "stream-days left uncollected (no route plan)",
        "evs" => "electric cars",
        "ev_energy_kwh" => "EV charging energy (kWh)",
        "ev_unmet_energy_kwh" => "EV energy not delivered (kWh)",
        "ev_unmet_capped_kwh" => "… of it held back by smart charging (kWh)",
        "ev_peak_load_kw" => "EV charging peak (kW)",
        "charger_utilisation" => "public charger occupancy",
        other => other,
    }
}

/// KPI names in the order reports show them: by model, then anything else by name.
pub const KPI_ORDER: [&str; 36] = [
    "travel_time_veh_h",
    "delay_veh_h",
    "customers_interrupted",
    "customers_without_power_max",
    "customer_minutes_interrupted",
    "saifi",
    "saidi_min",
    "caidi_min",
    "ens_kwh",
    "overloaded_elements",
    "overload_hours",
    "post_overload_hours",
    "peak_load_kw",
    "energy_supplied_kwh",
    "min_voltage_pu",
    "water_demand_m3",
    "water_not_supplied_m3",
    "junctions_without_water_max",
    "junction_hours_without_water",
    "pressure_deficient_junctions_max",
    "pressure_deficient_junction_hours",
    "junctions_below_service_pressure_intact",
    "water_quality_degraded_junctions_max",
    "bin_overflows",
    "bin_hours_full",
    "bins_emptied",
    "collection_km",
    "collection_fuel_l",
    "collection_co2_kg",
    "collection_rounds_failed",
    "evs",
    "ev_energy_kwh",
    "ev_unmet_energy_kwh",
    "ev_unmet_capped_kwh",
    "ev_peak_load_kw",
    "charger_utilisation",
];

/// The KPIs of a run in [`KPI_ORDER`].
pub fn ordered(kpis: &std::collections::BTreeMap<String, f64>) -> Vec<(&String, f64)> {
    let mut v: Vec<(&String, f64)> = kpis.iter().map(|(k, x)| (k, *x)).collect();
    let rank = |k: &str| {
        KPI_ORDER
            .iter()
            .position(|x| *x == k)
            .unwrap_or(KPI_ORDER.len())
    };
    v.sort_by(|a, b| rank(a.0).cmp(&rank(b.0)).then(a.0.cmp(b.0)));
    v
}

fn title_of(series: &str) -> (&str, &str) {
    match series {
        "travel_time_veh_h_per_h" => ("Travel time on the streets", "vehicle-hours per hour"),
        "grid_load_kw" => ("Grid load (20 kV)", "kW"),
        "customers_without_power" => ("Customers without power", "customers"),
        "junctions_without_water" => ("Junctions without water", "junctions"),
        "bins_full" => ("Bins full", "bins"),
        "ev_charging_kw" => ("EV charging load", "kW"),
        other => (other, ""),
    }
}

/// The scenario's change as a percentage of the baseline; none when the baseline is zero
/// (a change from nothing has no percentage).
pub fn change_pct(baseline: f64, scenario: f64) -> Option<f64> {
    (baseline != 0.0 && baseline.is_finite() && scenario.is_finite())
        .then(|| (scenario - baseline) / baseline.abs() * 100.0)
}

/// A percentage change for a person: `+3.4 %`, `−12 %`, or `new` from a zero baseline.
pub fn show_pct(baseline: f64, scenario: f64) -> String {
    match change_pct(baseline, scenario) {
        Some(p) if p.abs() >= 10.0 => format!("{p:+.0} %"),
        Some(p) => format!("{p:+.1} %"),
        None if scenario == baseline => "0 %".to_string(),
        None => "new".to_string(),
    }
}

/// report.json.
pub fn report_json(scenario: &Scenario, c: &Comparison) -> Json {
    json!({
        "name": scenario.name,
        "description": scenario.description,
        "file": scenario.file.display().to_string(),
        "start": scenario.start.format("%Y-%m-%dT%H:%M").to_string(),
        "horizon_h": scenario.horizon_h,
        "step_h": scenario.step_h,
        "seed": scenario.seed,
        "models": scenario.models.iter().map(|m| m.name()).collect::<Vec<_>>(),
        "seconds": c.seconds,
        "baseline": c.baseline.kpis,
        "scenario": c.scenario.kpis,
        "difference": c.difference,
        "difference_pct": c.baseline.kpis.iter().map(|(k, b)| {
            let s = c.scenario.kpis.get(k).copied().unwrap_or(f64::NAN);
            (k.clone(), change_pct(*b, s))
        }).collect::<std::collections::BTreeMap<_, _>>(),
        "affected_places": c.affected_places.iter().map(|a| json!({
            "id": a.place.id.to_string(), "name": a.place.name, "neighbourhood": a.place.neighbourhood,
            "street": a.place.street, "network": a.network, "customers": a.customers,
            "baseline_hours_without_supply": a.baseline_h, "scenario_hours_without_supply": a.scenario_h,
        })).collect::<Vec<_>>(),
        "most_affected_streets": c.most_affected_streets.iter().map(|a| json!({
            "id": a.id, "name": a.name, "baseline_vehicle_h": a.baseline_vehicle_h,
            "scenario_vehicle_h": a.scenario_vehicle_h,
        })).collect::<Vec<_>>(),
    })
}

/// timeseries.csv: `time` then `<series>_baseline,<series>_scenario` for each series.
pub fn timeseries_csv(c: &Comparison) -> String {
    let names: Vec<&String> = c.baseline.series.keys().collect();
    let mut out = String::from("time");
    for n in &names {
        let _ = write!(out, ",{n}_baseline,{n}_scenario");
    }
    out.push('\n');
    for (k, t) in c.times.iter().enumerate() {
        let _ = write!(out, "{}", t.format("%Y-%m-%dT%H:%M"));
        for n in &names {
            let b = c.baseline.series[*n].get(k).copied().unwrap_or(f64::NAN);
            let s = c
                .scenario
                .series
                .get(*n)
                .and_then(|v| v.get(k))
                .copied()
                .unwrap_or(f64::NAN);
            let _ = write!(out, ",{b:.3},{s:.3}");
        }
        out.push('\n');
    }
    out
}

/// report.html.
pub fn report_html(scenario: &Scenario, c: &Comparison) -> HtmlReport {
    let mut r = HtmlReport::new(
        scenario.name.clone(),
        format!(
            "{} From {} for {} h at {}-minute steps, seed {}; models: {}.",
            scenario.description,
            scenario.start.format("%Y-%m-%d %H:%M"),
            scenario.horizon_h,
            (scenario.step_h * 60.0).round(),
            scenario.seed,
            scenario
                .models
                .iter()
                .map(|m| m.name())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let show = |v: f64| {
        if v.abs() >= 100.0 || v == v.round() {
            format_number(v.round())
        } else {
            format!("{v:.3}")
        }
    };
    let rows = ordered(&c.baseline.kpis)
        .into_iter()
        .map(|(k, b)| {
            let s = c.scenario.kpis.get(k).copied().unwrap_or(f64::NAN);
            let d = c.difference.get(k).copied().unwrap_or(f64::NAN);
            let sign = if d > 0.0 { "+" } else { "" };
            (
                kpi_label(k).to_string(),
                vec![
                    show(b),
                    show(s),
                    format!("{sign}{}", show(d)),
                    show_pct(b, s),
                ],
            )
        })
        .collect();
    r.section("Key figures").table(Table {
        columns: ["", "baseline", "scenario", "difference", "change"]
            .map(String::from)
            .to_vec(),
        rows,
    });
    if !c.affected_places.is_empty() {
        r.section("Who loses supply").table(Table {
            columns: [
                "post or junction",
                "network",
                "customers",
                "baseline (hours without)",
                "scenario",
                "change",
            ]
            .map(String::from)
            .to_vec(),
            rows: c
                .affected_places
                .iter()
                .map(|a| {
                    (
                        a.place.label(),
                        vec![
                            a.network.to_string(),
                            a.customers.map_or("-".to_string(), |n| n.to_string()),
                            format!("{:.1}", a.baseline_h),
                            format!("{:.1}", a.scenario_h),
                            format!("{:+.1} h", a.scenario_h - a.baseline_h),
                        ],
                    )
                })
                .collect(),
        });
    }
    let hours: Vec<f64> = (0..c.times.len())
        .map(|k| k as f64 * scenario.step_h)
        .collect();
    let charts = r.section("Over time");
    for (name, base) in &c.baseline.series {
        let (title, unit) = title_of(name);
        charts.line_chart(LineChart {
            title: title.to_string(),
            x_label: "hours from the start".into(),
            y_label: unit.to_string(),
            x: hours.clone(),
            series: vec![
                Series::new("baseline", base.clone()),
                Series::new(
                    "scenario",
                    c.scenario.series.get(name).cloned().unwrap_or_default(),
                ),
            ],
        });
    }
    if !c.most_affected_streets.is_empty() {
        r.section("Streets that lose the most traffic, then those that take it")
            .table(Table {
                columns: [
                    "street",
                    "baseline (vehicle-hours)",
                    "scenario",
                    "change",
                    "change %",
                ]
                .map(String::from)
                .to_vec(),
                rows: c
                    .most_affected_streets
                    .iter()
                    .map(|a| {
                        let label = match &a.name {
                            Some(n) => format!("{n} ({})", a.id),
                            None => a.id.clone(),
                        };
                        let d = a.scenario_vehicle_h - a.baseline_vehicle_h;
                        (
                            label,
                            vec![
                                format!("{:.0}", a.baseline_vehicle_h),
                                format!("{:.0}", a.scenario_vehicle_h),
                                format!("{d:+.0}"),
                                show_pct(a.baseline_vehicle_h, a.scenario_vehicle_h),
                            ],
                        )
                    })
                    .collect(),
            });
    }
    r
}

/// Write the three files into `dir`.
pub fn write_outputs(dir: &Path, scenario: &Scenario, c: &Comparison) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("report.json"),
        format!("{:#}\n", report_json(scenario, c)),
    )?;
    std::fs::write(dir.join("timeseries.csv"), timeseries_csv(c))?;
    report_html(scenario, c).write(&dir.join("report.html"))
}
