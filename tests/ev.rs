//! `twin ev study` and `twin ev sweep` on Pitești through the real binary: the JSON the partners
//! script against, the reports, the growth of overload with the EV share and what smart charging
//! does to it, and one-line errors.

mod common;

use serde_json::Value;

fn run_json(args: &[&str]) -> Value {
    let out = common::twin(args);
    assert!(out.status.success(), "{}", common::stderr(&out));
    serde_json::from_str(&common::stdout(&out)).expect("JSON")
}

/// The run of a sweep's JSON `runs` at `share` with smart charging `smart`.
fn sweep_run<'a>(runs: &'a [Value], share: f64, smart: &str) -> &'a Value {
    runs.iter()
        .find(|r| r["ev_share"].as_f64() == Some(share) && r["smart"] == smart)
        .unwrap_or_else(|| panic!("no run at {share} with smart {smart}"))
}

#[test]
fn a_study_reports_its_load_curve_grid_and_chargers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("ev");
    let j = run_json(&[
        "ev",
        "study",
        "--ev-share",
        "0.15",
        "--days",
        "2",
        "--add-chargers",
        "10",
        "--out",
        out.to_str().expect("utf-8"),
        "--json",
    ]);
    for key in [
        "peak_load_kw",
        "overload_hours",
        "unmet_energy_kwh",
        "charger_utilisation",
    ] {
        assert!(j[key].is_number(), "{key}: {j}");
    }
    let curve = j["load_curve_kw"].as_array().expect("curve");
    assert_eq!(curve.len(), 2 * 96, "one value per 15-minute step");
    let peak = curve
        .iter()
        .map(|v| v.as_f64().expect("kW"))
        .fold(0.0, f64::max);
    assert!((peak - j["peak_load_kw"].as_f64().expect("peak")).abs() < 0.1);
    // 15 % of Pitești's 56,510 cars.
    assert_eq!(j["ev_count"], 8_477);
    let u = j["charger_utilisation"].as_f64().expect("u");
    assert!(u > 0.0 && u <= 1.0, "{u}");
    // Energy: delivered and unmet never exceed what was asked.
    let asked = j["energy_requested_kwh"].as_f64().expect("asked");
    let got = j["energy_delivered_kwh"].as_f64().expect("got");
    let unmet = j["unmet_energy_kwh"].as_f64().expect("unmet");
    assert!(
        got > 0.0 && got + unmet <= asked + 1.0,
        "{got} + {unmet} > {asked}"
    );
    assert_eq!(j["added_chargers_at"].as_array().map(Vec::len), Some(10));
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(html.matches("<svg").count() >= 3 && !html.contains("<script"));
    let csv = std::fs::read_to_string(out.join("load_curve.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 1 + 2 * 96);
}

#[test]
fn overload_grows_with_the_ev_share_and_smart_charging_removes_it() {
    // Each share without smart charging, with post caps and with valley filling.
    let dir = tempfile::tempdir().expect("tempdir");
    let j = run_json(&[
        "ev",
        "sweep",
        "--shares",
        "0,0.15,0.3",
        "--days",
        "2",
        "--out",
        dir.path().to_str().expect("utf-8"),
        "--json",
    ]);
    let runs = j["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 9);
    let get = |share: f64, smart: &str, key: &str| -> f64 {
        sweep_run(runs, share, smart)[key]
            .as_f64()
            .expect("a number")
    };
    let (o0, o15, o30) = (
        get(0.0, "off", "overload_hours"),
        get(0.15, "off", "overload_hours"),
        get(0.3, "off", "overload_hours"),
    );
    assert!(o0 < o15 && o15 < o30, "overload hours {o0} {o15} {o30}");
    assert!(get(0.15, "off", "peak_load_kw") < get(0.3, "off", "peak_load_kw"));
    for share in [0.0, 0.15, 0.3] {
        // Posts never exceed their rating for charging when it is capped at their headroom.
        for smart in ["on", "valley"] {
            assert_eq!(get(share, smart, "overload_hours"), 0.0, "share {share}");
            assert!(
                get(share, smart, "unmet_energy_kwh")
                    >= get(share, "off", "unmet_energy_kwh") - 1.0
            );
        }
        // The grid's peak counts every load: never below the peak without charging.
        assert!(get(share, "off", "grid_peak_kw") >= get(share, "off", "grid_peak_kw_without_evs"));
    }
    // Valley filling moves charging off the evening peak: the grid's peak comes down.
    let (off, valley) = (
        get(0.3, "off", "grid_peak_kw"),
        get(0.3, "valley", "grid_peak_kw"),
    );
    assert!(
        valley < off,
        "grid peak {valley} with valley filling, {off} without"
    );
    assert!(dir.path().join("sweep.html").exists());
}

#[test]
fn bad_arguments_are_one_line_errors() {
    let out = common::twin(&["ev", "study", "--ev-share", "1.5"]);
    common::assert_one_line_error(&out, &["--ev-share", "1.5"]);
    let out = common::twin(&["ev", "study", "--smart", "maybe"]);
    common::assert_one_line_error(&out, &["--smart", "maybe"]);
    let out = common::twin(&["ev", "study", "--site-cap", "charger:999=10"]);
    common::assert_one_line_error(&out, &["charger:999"]);
    let out = common::twin(&["ev", "study", "--sessions", "nowhere.csv"]);
    common::assert_one_line_error(&out, &["nowhere.csv"]);
    let out = common::twin(&["ev", "sweep", "--shares", "0,lots"]);
    common::assert_one_line_error(&out, &["lots"]);
}

#[test]
fn the_ev_docs_quote_the_sweep_as_it_runs() {
    // docs/ev.md's results: a week at 0, 5, 15 and 30 %, each smart charging mode.
    let dir = tempfile::tempdir().expect("tempdir");
    let j = run_json(&[
        "ev",
        "sweep",
        "--days",
        "7",
        "--out",
        dir.path().to_str().expect("utf-8"),
        "--json",
    ]);
    let runs = j["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 12);
    let n = |r: &Value, key: &str| r[key].as_f64().unwrap_or_else(|| panic!("{key} in {r}"));
    let num = common::people_number;
    let mut table = String::from(
        "\n| EV share | cars | smart charging | post-hours overloaded | posts overloaded | charging peak kW | grid peak kW (without EVs → with) | unmet kWh | of which held back | public occupancy |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        let share = n(r, "ev_share");
        let overload = n(r, "overload_hours");
        table.push_str(&format!(
            "| {} % | {} | {} | {} | {} | {} | {} → {} | {} | {} | {} |\n",
            num(100.0 * share, 0),
            num(n(r, "ev_count"), 0),
            r["smart"].as_str().expect("mode"),
            if r["smart"] == "off" {
                num(overload, 1)
            } else {
                format!("**{}**", num(overload, 1))
            },
            num(n(r, "posts_overloaded"), 0),
            num(n(r, "peak_load_kw"), 0),
            num(n(r, "grid_peak_kw_without_evs"), 0),
            num(n(r, "grid_peak_kw"), 0),
            num(n(r, "unmet_energy_kwh"), 0),
            num(n(r, "unmet_smart_cap_kwh"), 0),
            if share == 0.0 {
                "–".to_string()
            } else {
                format!("{} %", num(100.0 * n(r, "charger_utilisation"), 0))
            },
        ));
    }
    common::check_doc_numbers("docs/ev.md", "sweep-table", &table);
    let get = |share: f64, smart: &str| sweep_run(runs, share, smart);
    let overloads: Vec<String> = [0.0, 0.05, 0.15, 0.3]
        .iter()
        .map(|&s| num(n(get(s, "off"), "overload_hours"), 0))
        .collect();
    common::check_doc_numbers(
        "docs/ev.md",
        "sweep-growth",
        &format!(
            "Without smart charging, overload grows faster than the fleet: {} post-hours at 0, 5, 15 and 30 %.",
            overloads.join(" → ")
        ),
    );
    let held: Vec<f64> = runs
        .iter()
        .filter(|r| r["smart"] != "off")
        .map(|r| n(r, "unmet_smart_cap_kwh"))
        .collect();
    let (off30, valley30) = (get(0.3, "off"), get(0.3, "valley"));
    assert!(n(valley30, "grid_peak_kw") < n(off30, "grid_peak_kw"));
    common::check_doc_numbers(
        "docs/ev.md",
        "sweep-smart",
        &format!(
            "Capping each post's charging at its headroom removes every overload and holds back {}–{} kWh in the week; at 30 %, valley filling takes the grid's peak from {} to {} kW.",
            num(held.iter().copied().fold(f64::INFINITY, f64::min), 0),
            num(held.iter().copied().fold(0.0, f64::max), 0),
            num(n(off30, "grid_peak_kw"), 0),
            num(n(valley30, "grid_peak_kw"), 0),
        ),
    );
}
