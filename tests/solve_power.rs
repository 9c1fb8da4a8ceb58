//! `twin solve power` and `twin outage` end to end, and one-line errors for broken case files.

mod common;

use common::*;

#[test]
fn case33bw_json_matches_the_published_losses() {
    let out = twin(&[
        "solve",
        "power",
        "--case",
        "data/power/case33bw.m",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(r["converged"], true);
    assert!((r["p_loss_kw"].as_f64().unwrap() - 202.677).abs() < 1e-3);
    let bus18 = r["buses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == 18)
        .unwrap();
    assert!((bus18["vm_pu"].as_f64().unwrap() - 0.913090).abs() < 1e-6);
    assert_eq!(r["branches"].as_array().unwrap().len(), 37);
}

#[test]
fn a_pitesti_feeder_fault_is_switched_back() {
    let out = twin(&[
        "outage",
        "--city",
        "data/pitesti",
        "--fail",
        "power:line-5",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let interrupted = r["customers_interrupted"].as_u64().unwrap();
    assert!(interrupted > 0);
    assert!(r["saifi"].as_f64().unwrap() > 0.0 && r["ens_kwh"].as_f64().unwrap() > 0.0);
    assert_eq!(r["sustained_threshold_min"], 3.0);
    assert!(r["min_voltage_pu_after"].as_f64().unwrap() >= 0.9);
}

#[test]
fn broken_case_files_give_one_line_errors_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("data/power/case33bw.m")).unwrap();
    let path = dir.path().join("bad.m");
    std::fs::write(
        &path,
        text.replacen("\t2\t1\t100\t60", "\t2\t1\tlots\t60", 1),
    )
    .unwrap();
    let out = twin(&["solve", "power", "--case", path.to_str().unwrap()]);
    assert_one_line_error(&out, &["bad.m:23:", "`lots`"]);
    std::fs::write(
        &path,
        text.replacen(
            "mpc.bus(:, [PD, QD]) = mpc.bus(:, [PD, QD]) / 1e3;",
            "mpc.bus(:, PD) = 2 * mpc.bus(:, PD);",
            1,
        ),
    )
    .unwrap();
    let out = twin(&["solve", "power", "--case", path.to_str().unwrap()]);
    assert_one_line_error(&out, &["bad.m:", "not understood"]);
    let out = twin(&["outage", "--city", "data/pitesti", "--fail", "power:nope-1"]);
    assert_one_line_error(
        &out,
        &[
            "`power:nope-1` is neither the id nor the name of a power element or water pipe",
            "twin find",
        ],
    );
}

#[test]
fn a_pitesti_pipe_break_is_isolated_by_its_valves() {
    let out = twin(&[
        "outage",
        "--city",
        "data/pitesti",
        "--fail",
        "water:p-100",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let r = &doc["water_breaks"][0];
    assert!(!r["valves_closed"].as_array().unwrap().is_empty());
    assert!(
        r["segment_links"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "water:p-100")
    );
    // With valves around every junction, a street pipe's segment is small.
    assert!(r["junctions_without_supply"].as_array().unwrap().len() < 20);
    assert!(r["min_pressure_m"].as_f64().is_some());
    let out = twin(&["outage", "--city", "data/pitesti", "--fail", "water:j-1"]);
    assert_one_line_error(&out, &["water:j-1", "not a power element or water pipe"]);
}

#[test]
fn who_loses_power_is_named_with_place_customers_load_and_why() {
    // A substation by its name, as a person writes it (case and diacritics aside).
    let out = twin(&[
        "outage",
        "--city",
        "data/pitesti",
        "--fail",
        "statia 110/20 kv est",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(r["failed"][0], "power:ss-2");
    let dark = r["posts_not_restored"].as_array().unwrap();
    assert!(!dark.is_empty(), "{r}");
    let customers: u64 = dark.iter().map(|p| p["customers"].as_u64().unwrap()).sum();
    assert_eq!(customers, r["customers_not_restored"].as_u64().unwrap());
    for post in dark {
        assert!(
            post["id"].as_str().unwrap().starts_with("power:pt-"),
            "{post}"
        );
        assert!(post["neighbourhood"].is_string(), "{post}");
        assert!(post["street"].is_string(), "{post}");
        assert!(post["load_kw"].as_f64().unwrap() > 0.0, "{post}");
        let why = post["why_not_restored"].as_str().unwrap();
        assert!(
            why.contains("no tie switch reaches") || why.contains("would break a limit"),
            "{why}"
        );
    }
    // Every refused tie says which limit it would break.
    for tie in r["ties_rejected"].as_array().unwrap() {
        let why = tie["why"].as_str().unwrap();
        assert!(
            why.contains(" pu") || why.contains(" %") || why.contains("did not solve"),
            "{why}"
        );
    }
    let out = twin(&[
        "outage",
        "--city",
        "data/pitesti",
        "--fail",
        "statia 110/20 kv est",
    ]);
    let text = stdout(&out);
    let first = &dark[0];
    assert!(
        text.contains(first["neighbourhood"].as_str().unwrap()),
        "{text}"
    );
    assert!(text.contains("customers"), "{text}");
}

#[test]
fn a_year_of_events_adds_up_to_saifi_and_saidi() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.csv");
    std::fs::write(
        &file,
        "fail,repair_h,switching_min\npower:line-5,4,30\npower:ss-2,6,45\n",
    )
    .unwrap();
    let out = twin(&[
        "outage",
        "--city",
        "data/pitesti",
        "--events",
        file.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let events = r["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    let served = r["customers_served"].as_f64().unwrap();
    let ci: f64 = events
        .iter()
        .map(|e| e["customers_interrupted"].as_f64().unwrap())
        .sum();
    let cmi: f64 = events
        .iter()
        .map(|e| e["customer_minutes"].as_f64().unwrap())
        .sum();
    assert!((r["saifi"].as_f64().unwrap() - ci / served).abs() < 1e-9);
    assert!((r["saidi_min"].as_f64().unwrap() - cmi / served).abs() < 1e-6);
    assert!((r["caidi_min"].as_f64().unwrap() - cmi / ci).abs() < 1e-6);

    std::fs::write(&file, "fail,repair_h,switching_min\npower:line-5,four,30\n").unwrap();
    let out = twin(&[
        "outage",
        "--city",
        "data/pitesti",
        "--events",
        file.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, &["events.csv:2:", "repair_h `four`"]);

    // Without its header the file is refused at its first line, not read without its first event.
    std::fs::write(&file, "power:line-5,4,30\npower:ss-2,6,45\n").unwrap();
    let out = twin(&[
        "outage",
        "--city",
        "data/pitesti",
        "--events",
        file.to_str().unwrap(),
    ]);
    assert_one_line_error(
        &out,
        &["events.csv:1:", "header `fail,repair_h,switching_min`"],
    );
}

#[test]
fn the_sample_events_split_each_events_customers_into_sustained_and_momentary() {
    let out = twin(&[
        "outage",
        "--city",
        "data/pitesti",
        "--events",
        "data/pitesti/outage_events.csv",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let served = r["customers_served"].as_f64().unwrap();
    let events = r["events"].as_array().unwrap();
    let sum = |key: &str| -> f64 { events.iter().map(|e| e[key].as_f64().unwrap()).sum() };
    for e in events {
        let split =
            e["customers_sustained"].as_u64().unwrap() + e["customers_momentary"].as_u64().unwrap();
        assert_eq!(split, e["customers_interrupted"].as_u64().unwrap(), "{e}");
    }
    // The 2-minute switching event restores customers within EN 50160's 3 minutes: momentary.
    assert!(sum("customers_momentary") > 0.0);
    assert!((r["saifi"].as_f64().unwrap() - sum("customers_sustained") / served).abs() < 1e-9);
    assert!((r["maifi"].as_f64().unwrap() - sum("customers_momentary") / served).abs() < 1e-9);
    assert!(sum("customers_interrupted") / served > r["saifi"].as_f64().unwrap());

    let out = twin(&[
        "outage",
        "--city",
        "data/pitesti",
        "--events",
        "data/pitesti/outage_events.csv",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("momentary of at most 3 min"), "{text}");
    assert!(text.contains("MAIFI"), "{text}");
}

#[test]
fn an_isolated_bus_is_named_with_its_unserved_load() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("data/power/case33bw.m")).unwrap();
    let isolated = text.replacen("\t18\t1\t90\t40", "\t18\t4\t90\t40", 1);
    assert_ne!(isolated, text);
    let path = dir.path().join("isolated.m");
    std::fs::write(&path, isolated).unwrap();
    let out = twin(&["solve", "power", "--case", path.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1 bus(es) not connected to a reference (slack) bus through closed branches are de-energised, 90.0 kW unserved: 18"),
        "{}",
        stderr(&out)
    );
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(r["de_energised_buses"], serde_json::json!([18]));
    assert!((r["load_unserved_kw"].as_f64().unwrap() - 90.0).abs() < 1e-9);
}

#[test]
fn outage_json_is_one_document_for_pipes_and_power_together() {
    // Two pipes and a post: one JSON document a script can parse, the power event's fields and
    // one entry per broken pipe.
    let out = twin(&[
        "outage",
        "--fail",
        "water:p-100,water:p-101,power:pt-1",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("one JSON document");
    assert_eq!(doc["failed"][0], "power:pt-1");
    let breaks = doc["water_breaks"].as_array().expect("water_breaks");
    assert_eq!(breaks.len(), 2);
    assert_eq!(breaks[0]["broken"], "water:p-100");
    assert_eq!(breaks[1]["broken"], "water:p-101");
}

#[test]
fn the_failed_post_itself_waits_for_its_repair() {
    let out = twin(&[
        "outage",
        "--city",
        "data/pitesti",
        "--fail",
        "power:pt-322",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let own = r["posts_not_restored"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "power:pt-322")
        .expect("the failed post is without supply until its repair");
    assert_eq!(
        own["why_not_restored"],
        "it is the failed element: back at the repair"
    );
}
