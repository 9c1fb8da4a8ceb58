//! The example scenarios in `scenarios/examples/` through the real binary: each runs, writes its
//! reports, and its key result has the expected direction and size. Broken scenario files get
//! one-line errors naming the line and the key.

mod common;

use serde_json::Value;

fn run(example: &str) -> (Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = common::twin(&[
        "scenario",
        "run",
        &format!("scenarios/examples/{example}.toml"),
        "--out",
        dir.path().to_str().expect("utf-8"),
        "--json",
    ]);
    assert!(out.status.success(), "{example}: {}", common::stderr(&out));
    let j: Value = serde_json::from_str(&common::stdout(&out)).expect("JSON");
    // The files: report.json as printed, the time series, an offline HTML report with charts.
    let saved: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report.json")).expect("report.json"),
    )
    .expect("JSON");
    assert_eq!(saved["difference"], j["difference"]);
    let csv = std::fs::read_to_string(dir.path().join("timeseries.csv")).expect("csv");
    let steps = (j["horizon_h"].as_f64().expect("h") / j["step_h"].as_f64().expect("step")).round()
        as usize;
    assert_eq!(
        csv.lines().count(),
        steps + 1,
        "{example}: one row per step"
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("html");
    assert!(html.contains("<svg") && !html.contains("<script") && !html.contains("src="));
    (j, dir)
}

fn num(j: &Value, part: &str, kpi: &str) -> f64 {
    j[part][kpi]
        .as_f64()
        .unwrap_or_else(|| panic!("{part}.{kpi} in {}", j[part]))
}

#[test]
fn roadworks_on_bd_republicii_add_travel_time_and_move_traffic() {
    let (j, _dir) = run("roadworks-republicii");
    let base = num(&j, "baseline", "travel_time_veh_h");
    let more = num(&j, "difference", "travel_time_veh_h");
    // Two weeks of one closed segment: more travel time, by well under 5 %.
    assert!(more > 0.0 && more < 0.05 * base, "+{more} on {base}");
    assert!(num(&j, "difference", "delay_veh_h") > 0.0);
    let streets = j["most_affected_streets"].as_array().expect("streets");
    let closed = streets
        .iter()
        .find(|s| s["id"] == "street:2426")
        .expect("the closed segment is among the most affected");
    assert_eq!(closed["scenario_vehicle_h"], 0.0);
    // Traffic moved somewhere: some street carries more.
    let gained = |s: &&Value| {
        s["scenario_vehicle_h"].as_f64().expect("h") - s["baseline_vehicle_h"].as_f64().expect("h")
    };
    let busier = streets
        .iter()
        .filter(|s| gained(s) > 0.0)
        .max_by(|a, b| gained(a).total_cmp(&gained(b)))
        .expect("a street carries more");
    let name = busier["name"].as_str().unwrap_or("an unnamed street");
    common::check_doc_numbers(
        "docs/scenarios.md",
        "roadworks-republicii",
        &format!(
            "a central segment of Bd. Republicii closed for two weeks: {} vehicle-hours ({}), {} hours of delay; the closed segment's traffic moves mostly to {name} (+{} vehicle-hours)",
            signed(more, 0),
            pct(&j, "travel_time_veh_h"),
            signed(num(&j, "difference", "delay_veh_h"), 0),
            common::people_number(gained(&busier), 0),
        ),
    );
}

/// `+1,234` or `−1,234`.
fn signed(x: f64, decimals: usize) -> String {
    let n = common::people_number(x, decimals);
    if n.starts_with('−') {
        n
    } else {
        format!("+{n}")
    }
}

/// The report's change of a KPI in per cent, as the report shows it (`+0.36 %`).
fn pct(j: &Value, kpi: &str) -> String {
    let p = j["difference_pct"][kpi].as_f64().expect("a percentage");
    let n = common::people_number(p, 2);
    if n.starts_with('−') {
        format!("{n} %")
    } else {
        format!("+{n} %")
    }
}

/// SAIDI, CAIDI and ENS of a power scenario, as docs/scenarios.md quotes them.
fn outage_figures(j: &Value) -> String {
    format!(
        "SAIDI {} min, CAIDI {} min, ENS {} kWh",
        common::people_number(num(j, "scenario", "saidi_min"), 1),
        common::people_number(num(j, "scenario", "caidi_min"), 0),
        common::people_number(num(j, "scenario", "ens_kwh"), 0),
    )
}

#[test]
fn tie_switches_cut_the_substation_outage_short() {
    let (with, _a) = run("substation-failure-switching");
    let (without, _b) = run("substation-failure-no-switching");
    for j in [&with, &without] {
        // Stația Est serves thousands of customers; the baseline has no interruption.
        assert!(num(j, "scenario", "customers_interrupted") > 5_000.0);
        assert_eq!(num(j, "baseline", "customer_minutes_interrupted"), 0.0);
    }
    // Without switching everyone waits the 2 hours.
    assert!((num(&without, "scenario", "caidi_min") - 120.0).abs() < 1e-6);
    let (s_with, s_without) = (
        num(&with, "scenario", "saidi_min"),
        num(&without, "scenario", "saidi_min"),
    );
    assert!(
        s_with < 0.8 * s_without,
        "SAIDI {s_with} with switching, {s_without} without"
    );
    assert!(num(&with, "scenario", "ens_kwh") < num(&without, "scenario", "ens_kwh"));
    assert_eq!(
        num(&with, "scenario", "saifi"),
        num(&without, "scenario", "saifi")
    );
    common::check_doc_numbers(
        "docs/scenarios.md",
        "substation-failure-switching",
        &format!(
            "Stația Est out 08:00–10:00: {} customers; with tie switches {}",
            common::people_number(num(&with, "scenario", "customers_interrupted"), 0),
            outage_figures(&with)
        ),
    );
    common::check_doc_numbers(
        "docs/scenarios.md",
        "substation-failure-no-switching",
        &format!("the same with no switching: {}", outage_figures(&without)),
    );
}

#[test]
fn a_water_main_break_leaves_junctions_dry_for_its_repair() {
    let (j, _dir) = run("water-main-break");
    let dry = num(&j, "scenario", "junctions_without_water_max");
    assert!((1.0..=100.0).contains(&dry), "{dry}");
    // Dry for the whole 8-hour repair.
    assert!((num(&j, "scenario", "junction_hours_without_water") - 8.0 * dry).abs() < 1e-6);
    assert!(num(&j, "difference", "water_not_supplied_m3") > 0.0);
    let plural = |n: f64, one: &str, many: &str| {
        format!(
            "{} {}",
            common::people_number(n, 0),
            if n == 1.0 { one } else { many }
        )
    };
    common::check_doc_numbers(
        "docs/scenarios.md",
        "water-main-break",
        &format!(
            "a 600 mm main in the centre isolated for 8 h: {} dry, {} below 15 m because of the break ({} below 15 m with nothing broken are shown apart), {} m³ not supplied (the looped grid carries around it)",
            plural(dry, "junction", "junctions"),
            common::people_number(num(&j, "scenario", "pressure_deficient_junctions_max"), 0),
            common::people_number(
                num(&j, "baseline", "junctions_below_service_pressure_intact"),
                0
            ),
            common::people_number(num(&j, "difference", "water_not_supplied_m3"), 2),
        ),
    );
    // The day's demand the docs quote is the hydraulic model's, as this baseline runs it.
    common::check_doc_numbers(
        "docs/scenarios.md",
        "water-demand",
        &common::people_number(num(&j, "baseline", "water_demand_m3"), 0),
    );
}

#[test]
fn ev_2030_adds_charging_energy_and_grid_load() {
    let (j, _dir) = run("ev-2030");
    assert_eq!(num(&j, "baseline", "evs"), 1_130.0);
    assert_eq!(num(&j, "scenario", "evs"), 8_477.0);
    let energy = num(&j, "difference", "ev_energy_kwh");
    // About 7,300 more cars × ~5 kWh a day for a week, less what finds no socket.
    assert!(energy > 100_000.0 && energy < 300_000.0, "{energy}");
    assert!(num(&j, "difference", "ev_peak_load_kw") > 0.0);
    assert!(num(&j, "difference", "peak_load_kw") > 0.0);
    assert!(num(&j, "difference", "charger_utilisation") > 0.0);
    let mw = |part: &str, kpi: &str| common::people_number(num(&j, part, kpi) / 1000.0, 1);
    common::check_doc_numbers(
        "docs/scenarios.md",
        "ev-2030",
        &format!(
            "15 % electric cars ({}) and 40 more stations, one week: {} MWh of charging, charging peak {} MW, the grid's peak {} → {} MW ({}), post-hours overloaded {} → {}",
            common::people_number(num(&j, "scenario", "evs"), 0),
            signed(energy / 1000.0, 0),
            signed(num(&j, "difference", "ev_peak_load_kw") / 1000.0, 1),
            mw("baseline", "peak_load_kw"),
            mw("scenario", "peak_load_kw"),
            pct(&j, "peak_load_kw"),
            common::people_number(num(&j, "baseline", "post_overload_hours"), 1),
            common::people_number(num(&j, "scenario", "post_overload_hours"), 1),
        ),
    );
}

#[test]
fn every_model_runs_together_for_a_day() {
    let (j, _dir) = run("city-day-all-models");
    for kpi in [
        "travel_time_veh_h",
        "saidi_min",
        "water_demand_m3",
        "bin_overflows",
        "ev_energy_kwh",
    ] {
        assert!(j["difference"][kpi].is_number(), "{kpi}");
    }
    assert!(num(&j, "scenario", "customers_interrupted") > 0.0);
    assert!(num(&j, "difference", "peak_load_kw") > 0.0);
}

#[test]
fn broken_scenarios_get_errors_with_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.to_str().expect("utf-8").to_string()
    };
    let head = "name = \"x\"\nseed = 1\nstart = \"2026-03-02T00:00\"\nhorizon = \"24h\"\n";
    let f = write("a.toml", &format!("{head}colour = \"red\"\n"));
    common::assert_one_line_error(
        &common::twin(&["scenario", "run", &f]),
        &["a.toml:5", "colour"],
    );
    let f = write(
        "b.toml",
        &format!(
            "{head}\n[[intervention]]\nkind = \"close_street\"\nsegments = [\"street:999999\"]\n"
        ),
    );
    common::assert_one_line_error(
        &common::twin(&["scenario", "run", &f]),
        &["b.toml:6", "segments", "street:999999"],
    );
    let f = write(
        "c.toml",
        &format!(
            "{head}\n[[intervention]]\nkind = \"fail\"\nelements = [\"power:ss-2\"]\nat = \"8h\"\nduration = \"soon\"\n"
        ),
    );
    common::assert_one_line_error(
        &common::twin(&["scenario", "run", &f]),
        &["c.toml:6", "duration", "soon"],
    );
    let f = write(
        "d.toml",
        &format!("{head}\n[[intervention]]\nkind = \"teleport\"\n"),
    );
    common::assert_one_line_error(
        &common::twin(&["scenario", "run", &f]),
        &["d.toml:6", "teleport"],
    );
    let out = common::twin(&["scenario", "run", "nowhere.toml"]);
    common::assert_one_line_error(&out, &["nowhere.toml: No such file"]);
    assert!(
        !common::stderr(&out).contains(":0:"),
        "{}",
        common::stderr(&out)
    );
    // An intervention that would change nothing is refused, not run to a zero difference:
    // one starting after the horizon, one on a model the scenario does not run.
    let f = write(
        "late.toml",
        &format!(
            "{head}
[[intervention]]
kind = \"close_street\"
segments = [\"Bulevardul Republicii\"]
from = \"30h\"
"
        ),
    );
    common::assert_one_line_error(
        &common::twin(&["scenario", "run", &f]),
        &[
            "late.toml:6",
            "`from` = \"30h\"",
            "after the end of the 24 h horizon",
        ],
    );
    let f = write(
        "unseen.toml",
        &format!(
            "{head}models = [\"power\"]

[[intervention]]
kind = \"close_street\"
segments = [\"Bulevardul Republicii\"]
"
        ),
    );
    common::assert_one_line_error(
        &common::twin(&["scenario", "run", &f]),
        &["unseen.toml:7", "traffic model", "`models` = [power]"],
    );
    // A relative city is the scenario file's folder's, and said so when it is not there.
    let f = write(
        "e.toml",
        &head.replace("seed = 1", "city = \"data/pitesti\""),
    );
    common::assert_one_line_error(
        &common::twin(&["scenario", "run", &f]),
        &[
            "e.toml:2",
            "no city bundle at",
            "relative to the scenario file's folder",
        ],
    );
}

#[test]
fn the_n1_sweep_script_ranks_every_post_by_customer_minutes() {
    // Run from another folder: the script's paths are its folder's, its city the built-in one.
    let dir = tempfile::tempdir().expect("tempdir");
    let script = common::root().join("scenarios/examples/n1-posts.rhai");
    let out = common::twin_in(
        dir.path(),
        &["script", script.to_str().expect("utf-8"), "--out", "sweep"],
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(common::stdout(&out).contains("worst single post"));
    let csv = std::fs::read_to_string(dir.path().join("sweep/n1-posts.csv")).expect("csv");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    // The columns in the order the script names them.
    assert_eq!(
        header,
        [
            "post",
            "customer_minutes",
            "customers_interrupted",
            "ens_kwh",
            "saidi_min"
        ]
    );
    let col = |name: &str| header.iter().position(|h| *h == name).expect("column");
    let (cm, post) = (col("customer_minutes"), col("post"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 610, "every post of Pitești");
    let minutes: Vec<f64> = rows
        .iter()
        .map(|r| r[cm].parse().expect("number"))
        .collect();
    assert!(
        minutes.windows(2).all(|w| w[0] >= w[1]),
        "ranked, worst first"
    );
    // A post failing for two hours cuts at least its own customers for two hours.
    assert!(minutes[0] >= 120.0 && minutes.iter().all(|m| *m >= 0.0));
    assert!(rows.iter().all(|r| r[post].starts_with("power:pt-")));
    let customers: f64 = rows[0][col("customers_interrupted")]
        .parse()
        .expect("number");
    common::check_doc_numbers(
        "docs/scenarios.md",
        "n1-posts",
        &format!(
            "{} post failures ranked; the worst ({}) costs {} customer-minutes ({} customers)",
            rows.len(),
            rows[0][post],
            common::people_number(minutes[0], 0),
            common::people_number(customers, 0),
        ),
    );
}

#[test]
fn the_sandbox_stops_endless_loops_and_unbounded_allocation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.to_str().expect("utf-8").to_string()
    };
    let forever = write("forever.rhai", "let n = 0;\nwhile true { n += 1; }\n");
    let out = common::twin(&["script", &forever, "--max-operations", "1000000"]);
    common::assert_one_line_error(
        &out,
        &[
            "forever.rhai:2",
            "stopped by the sandbox",
            "operation budget",
        ],
    );
    let hog = write(
        "hog.rhai",
        "let a = [];\nloop { a.push(\"more and more text \" + a.len()); }\n",
    );
    let out = common::twin(&["script", &hog, "--max-memory-mb", "16"]);
    common::assert_one_line_error(&out, &["hog.rhai", "stopped by the sandbox"]);
    let snoop = write("snoop.rhai", "load_scenario(\"/etc/hostname\")\n");
    let out = common::twin(&["script", &snoop]);
    common::assert_one_line_error(&out, &["snoop.rhai", "outside the folders"]);
}

#[test]
fn batches_run_in_parallel_and_repeat_for_the_same_seeds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let batch = |sub: &str| -> Value {
        let out = common::twin(&[
            "scenario",
            "batch",
            "scenarios/examples/ev-2030.toml",
            "--runs",
            "3",
            "--out",
            dir.path().join(sub).to_str().expect("utf-8"),
            "--json",
        ]);
        assert!(out.status.success(), "{}", common::stderr(&out));
        serde_json::from_str(&common::stdout(&out)).expect("JSON")
    };
    let (a, b) = (batch("a"), batch("b"));
    assert_eq!(
        a["results"], b["results"],
        "identical seeds, identical results"
    );
    let results = a["results"].as_array().expect("results");
    assert_eq!(results.len(), 3);
    let seeds: Vec<u64> = results
        .iter()
        .map(|r| r["seed"].as_u64().expect("seed"))
        .collect();
    assert_eq!(seeds, [1, 2, 3]);
    // Different seeds draw different sessions.
    assert_ne!(
        results[0]["scenario"]["ev_energy_kwh"],
        results[1]["scenario"]["ev_energy_kwh"]
    );
    // The first run is the single run of the file's own seed.
    let (single, _dir) = run("ev-2030");
    assert_eq!(results[0]["difference"], single["difference"]);
    let s = &a["difference_summary"]["ev_energy_kwh"];
    assert!(s["p5"].as_f64() <= s["mean"].as_f64() && s["mean"].as_f64() <= s["p95"].as_f64());
}

#[test]
fn a_snapshot_of_the_live_twin_sets_where_the_bins_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bins: Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("data/pitesti/bins.geojson")).expect("bins"),
    )
    .expect("JSON");
    // A saved GET /api/entities answer with every bin nearly full.
    let entities: Vec<Value> = bins["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| serde_json::json!({"id": f["properties"]["id"], "state": {"fillingLevel": 0.97}}))
        .collect();
    let state = dir.path().join("state.json");
    std::fs::write(
        &state,
        serde_json::json!({"count": entities.len(), "entities": entities}).to_string(),
    )
    .expect("write");
    let scenario = |snapshot: Option<&str>| {
        let extra = snapshot.map_or(String::new(), |s| format!("snapshot = \"{s}\"\n"));
        let f = dir.path().join("waste.toml");
        std::fs::write(
            &f,
            format!(
                "name = \"w\"\ncity = \"{}\"\n{extra}start = \"2026-03-02T00:00\"\nhorizon = \"12h\"\nmodels = [\"waste\"]\n",
                common::root().join("data/pitesti").display()
            ),
        )
        .expect("write");
        f.to_str().expect("utf-8").to_string()
    };
    let overflows = |file: String| -> f64 {
        let out = common::twin(&[
            "scenario",
            "run",
            &file,
            "--out",
            dir.path().join("r").to_str().expect("utf-8"),
            "--json",
        ]);
        assert!(out.status.success(), "{}", common::stderr(&out));
        let j: Value = serde_json::from_str(&common::stdout(&out)).expect("JSON");
        j["baseline"]["bin_overflows"].as_f64().expect("overflows")
    };
    let fresh = overflows(scenario(None));
    let full = overflows(scenario(Some(state.to_str().expect("utf-8"))));
    assert!(
        full > 10.0 * fresh.max(1.0),
        "nearly full bins overflow: {full} against {fresh}"
    );
    std::fs::write(
        &state,
        r#"{"entities":[{"id":"bin:nowhere","state":{"fillingLevel":0.5}}]}"#,
    )
    .expect("write");
    let out = common::twin(&[
        "scenario",
        "run",
        &scenario(Some(state.to_str().expect("utf-8"))),
    ]);
    common::assert_one_line_error(&out, &["waste.toml:3", "snapshot", "bin:nowhere"]);
}

/// A week of the baseline's traffic, Monday 2 March 2026 on, at 15-minute steps: (step start,
/// vehicle-hours per hour).
fn a_week_of_traffic() -> Vec<(chrono::NaiveDateTime, f64)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("week.toml");
    std::fs::write(
        &file,
        "name = \"a week of traffic\"\nstart = \"2026-03-02T00:00\"\nhorizon = \"7d\"\n\
         step = \"15min\"\nmodels = [\"traffic\"]\n",
    )
    .expect("write");
    let out = common::twin(&[
        "scenario",
        "run",
        file.to_str().expect("utf-8"),
        "--out",
        dir.path().join("out").to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let csv = std::fs::read_to_string(dir.path().join("out/timeseries.csv")).expect("csv");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = header
        .iter()
        .position(|c| *c == "travel_time_veh_h_per_h_baseline")
        .expect("travel time column");
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            let t =
                chrono::NaiveDateTime::parse_from_str(cells[0], "%Y-%m-%dT%H:%M").expect("time");
            (t, cells[col].parse::<f64>().expect("number"))
        })
        .collect()
}

#[test]
fn traffic_follows_the_day_smoothly_and_weekends_drive_less() {
    use chrono::{Datelike, Timelike};
    use twin_core::profiles::{DayType, traffic_curve};
    let week = a_week_of_traffic();
    assert_eq!(week.len(), 7 * 96);
    let curve = |t: &chrono::NaiveDateTime| {
        let hour = f64::from(t.hour()) + f64::from(t.minute()) / 60.0 + 0.125;
        traffic_curve(
            DayType::from_weekday(t.weekday().num_days_from_monday()),
            hour,
        )
    };
    // Smooth: whenever the day's demand moves between two steps, travel time moves the same
    // way (no plateaus and jumps from rounding the demand to a few levels, such as the dip
    // between 09:45 and 10:15 there was).
    for pair in week.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let dc = curve(&b.0) - curve(&a.0);
        let dt = b.1 - a.1;
        if dc.abs() > 1e-3 {
            assert!(
                dt * dc > 0.0,
                "{} → {}: demand {:+.4}, travel time {:+.3} veh·h/h",
                a.0,
                b.0,
                dc,
                dt
            );
        }
    }
    // Weekends drive less, and later: daily vehicle-hours by day type.
    let day_total = |d: u32| -> f64 {
        week.iter()
            .filter(|(t, _)| t.day() == d)
            .map(|(_, v)| v / 4.0)
            .sum()
    };
    let (monday, saturday, sunday) = (day_total(2), day_total(7), day_total(8));
    assert!(
        saturday < 0.9 * monday && sunday < saturday,
        "{monday} {saturday} {sunday}"
    );
    let at = |d: u32, h: u32| {
        week.iter()
            .find(|(t, _)| t.day() == d && t.hour() == h && t.minute() == 0)
            .map(|x| x.1)
            .expect("step")
    };
    assert!(at(7, 8) < 0.5 * at(2, 8), "Saturday 08:00 against Monday's");
    // Every working day is the same day.
    assert!((at(3, 8) - at(2, 8)).abs() < 1e-6 && (at(6, 17) - at(2, 17)).abs() < 1e-6);
}
