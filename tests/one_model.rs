//! One model, one answer: the same question asked through two commands gets the same number.
//! The EV study and a scenario of the same case charge the same cars on the same grid; the
//! scenario's water demand is the hydraulic model's; the scenario's waste baseline is `twin
//! waste compare`'s fixed calendar.

mod common;

use serde_json::Value;

fn run_json(args: &[&str]) -> Value {
    let out = common::twin(args);
    assert!(out.status.success(), "{args:?}: {}", common::stderr(&out));
    serde_json::from_str(&common::stdout(&out)).expect("JSON")
}

/// A scenario file in `dir` on the repository's Pitești.
fn scenario_file(dir: &std::path::Path, body: &str) -> String {
    let city = common::root().join("data/pitesti");
    let text = format!(
        "name = \"one model\"\ncity = \"{}\"\nstart = \"2026-03-02T00:00\"\nseed = 1\nstep = \"15min\"\n{body}",
        city.display()
    );
    let path = dir.join("case.toml");
    std::fs::write(&path, text).expect("write scenario");
    path.to_str().expect("utf-8").to_string()
}

fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!(
        (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs())),
        "{what}: {a} against {b}"
    );
}

#[test]
fn the_ev_study_and_the_ev_scenario_give_the_same_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    for smart in ["off", "valley"] {
        let file = scenario_file(
            dir.path(),
            &format!(
                "horizon = \"2d\"\nmodels = [\"power\", \"ev\"]\nev_share = 0.02\n\
                 [[intervention]]\nkind = \"ev_share\"\nshare = 0.15\n\
                 [[intervention]]\nkind = \"add_chargers\"\ncount = 40\n\
                 [[intervention]]\nkind = \"smart_charging\"\nmode = \"{smart}\"\n"
            ),
        );
        let out = dir.path().join(format!("scenario-{smart}"));
        let scenario = run_json(&[
            "scenario",
            "run",
            &file,
            "--out",
            out.to_str().expect("utf-8"),
            "--json",
        ]);
        let s = &scenario["scenario"];
        let out = dir.path().join(format!("study-{smart}"));
        let study = run_json(&[
            "ev",
            "study",
            "--ev-share",
            "0.15",
            "--add-chargers",
            "40",
            "--days",
            "2",
            "--seed",
            "1",
            "--smart",
            smart,
            "--out",
            out.to_str().expect("utf-8"),
            "--json",
        ]);
        let f = |j: &Value, k: &str| j[k].as_f64().unwrap_or_else(|| panic!("{k} in {j}"));
        close(f(s, "evs"), f(&study, "ev_count"), 0.0, "cars");
        close(
            f(s, "ev_energy_kwh"),
            f(&study, "energy_delivered_kwh"),
            1e-4,
            "energy delivered",
        );
        close(
            f(s, "ev_unmet_energy_kwh"),
            f(&study, "unmet_energy_kwh"),
            1e-4,
            "unmet energy",
        );
        close(
            f(s, "ev_peak_load_kw"),
            f(&study, "peak_load_kw"),
            1e-4,
            "charging peak",
        );
        close(
            f(s, "post_overload_hours"),
            f(&study, "overload_hours"),
            0.0,
            "post-hours overloaded",
        );
        close(
            f(s, "peak_load_kw"),
            f(&study, "grid_peak_kw"),
            1e-4,
            "grid peak",
        );
        assert!(f(s, "ev_energy_kwh") > 1_000.0, "{smart}: cars charged");
    }
}

#[test]
fn the_scenario_draws_the_hydraulic_models_water() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = scenario_file(dir.path(), "horizon = \"24h\"\nmodels = [\"water\"]\n");
    let out = dir.path().join("scenario");
    let scenario = run_json(&[
        "scenario",
        "run",
        &file,
        "--out",
        out.to_str().expect("utf-8"),
        "--json",
    ]);
    let in_scenario = scenario["baseline"]["water_demand_m3"]
        .as_f64()
        .expect("water_demand_m3");
    // The hydraulic solver's junction demands over the same day, hour by hour.
    let city = common::root().join("data/pitesti");
    let solved = run_json(&[
        "solve",
        "water",
        "--city",
        city.to_str().expect("utf-8"),
        "--duration-h",
        "23",
        "--json",
    ]);
    let steps = solved["timesteps"].as_array().expect("timesteps");
    assert_eq!(steps.len(), 24, "hourly steps 0 h … 23 h");
    let mut solver_m3 = 0.0;
    for s in steps {
        let nodes = s["nodes"].as_array().expect("nodes");
        let d: f64 = nodes
            .iter()
            .filter(|n| n["id"].as_str().is_some_and(|id| id.starts_with('j')))
            .map(|n| n["demand_m3s"].as_f64().expect("demand").max(0.0))
            .sum();
        solver_m3 += d * 3600.0;
    }
    close(in_scenario, solver_m3, 1e-6, "a day's water demand");
    // 141,275 residents at 180 l a day, times the daily pattern's mean (0.973).
    let per_resident_l = in_scenario * 1000.0 / 141_275.0;
    assert!(
        (170.0..180.0).contains(&per_resident_l),
        "{per_resident_l} l per resident"
    );
}

#[test]
fn the_waste_scenario_baseline_is_waste_compares_fixed_calendar() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = scenario_file(dir.path(), "horizon = \"2d\"\nmodels = [\"waste\"]\n");
    let out = dir.path().join("scenario");
    let scenario = run_json(&[
        "scenario",
        "run",
        &file,
        "--out",
        out.to_str().expect("utf-8"),
        "--json",
    ]);
    let s = &scenario["baseline"];
    let out = dir.path().join("compare");
    let compare = run_json(&[
        "waste",
        "compare",
        "--days",
        "2",
        "--start",
        "2026-03-02",
        "--seed",
        "1",
        "--out",
        out.to_str().expect("utf-8"),
        "--json",
    ]);
    let fixed = &compare["fixed"];
    let f = |j: &Value, k: &str| j[k].as_f64().unwrap_or_else(|| panic!("{k} in {j}"));
    assert!(
        f(fixed, "bins_emptied") > 100.0,
        "a Monday round empties bins"
    );
    close(
        f(s, "bins_emptied"),
        f(fixed, "bins_emptied"),
        0.0,
        "bins emptied",
    );
    close(
        f(s, "bin_overflows"),
        f(fixed, "overflow_events"),
        0.0,
        "overflows",
    );
    close(f(s, "collection_km"), f(fixed, "km"), 1e-3, "km");
    close(f(s, "collection_co2_kg"), f(fixed, "co2_kg"), 1e-3, "CO2");
}
