//! `twin solve traffic` end to end: Sioux Falls from TNTP files, the Pitești morning peak with a
//! closure, and one-line errors for broken TNTP files.

mod common;

use common::*;

#[test]
fn sioux_falls_json_reaches_the_best_known_objective() {
    let out = twin(&[
        "solve",
        "traffic",
        "--net",
        "data/traffic/SiouxFalls_net.tntp",
        "--trips",
        "data/traffic/SiouxFalls_trips.tntp",
        "--gap",
        "1e-7",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(r["relative_gap"].as_f64().unwrap() <= 1e-7);
    assert!((r["objective"].as_f64().unwrap() - 4_231_335.287).abs() < 1e-5 * 4_231_335.287);
    let links = r["links"].as_array().unwrap();
    assert_eq!(links.len(), 76);
    assert_eq!(
        (links[0]["from"].as_u64(), links[0]["to"].as_u64()),
        (Some(1), Some(2))
    );
    assert!(r["iterations"].as_u64().unwrap() > 0 && r["seconds"].as_f64().unwrap() >= 0.0);
}

fn pitesti(extra: &[&str]) -> serde_json::Value {
    pitesti_at("1e-4", extra)
}

/// The Pitești morning peak solved to relative gap `gap`.
fn pitesti_at(gap: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "solve",
        "traffic",
        "--city",
        "data/pitesti",
        "--gap",
        gap,
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = twin(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn closing_the_busiest_segment_reroutes_its_traffic_and_costs_time() {
    let base = pitesti(&[]);
    assert!(base["relative_gap"].as_f64().unwrap() <= 1e-4);
    let demand = base["demand_veh_h"].as_f64().unwrap();
    // A plausible morning peak for 141,275 residents: 0.12 car trips each plus gateway commuters.
    assert!((14_000.0..25_000.0).contains(&demand), "{demand}");
    // data/pitesti/README.md quotes the calibration's figures as the command gives them.
    let ettr = &base["excess_travel_time_ratio"];
    let percent = |x: &serde_json::Value| people_number(100.0 * x.as_f64().unwrap(), 0);
    check_doc_numbers(
        "data/pitesti/README.md",
        "traffic-calibration",
        &format!(
            "{} vehicle trips in the peak hour, a mean trip of {} min; trips take {} % longer than \
             in free flow on the main axes, {} % on all streets",
            people_number(demand, 0),
            people_number(base["tstt"].as_f64().unwrap() / demand, 1),
            percent(&ettr["main_axes"]),
            percent(&ettr["all_streets"]),
        ),
    );
    let busiest = base["segments"]
        .as_array()
        .unwrap()
        .iter()
        .max_by(|a, b| {
            a["flow"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["flow"].as_f64().unwrap())
        })
        .unwrap()
        .clone();
    let id = busiest["id"].as_str().unwrap();
    let closed = pitesti(&["--close", id]);
    assert!(
        closed["segments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["id"] != id),
        "{id} still carries traffic"
    );
    let (t0, t1) = (
        base["tstt"].as_f64().unwrap(),
        closed["tstt"].as_f64().unwrap(),
    );
    assert!(t1 > t0, "closing {id} should cost time: {t0} → {t1}");
    // Doubling its capacity instead lowers the equilibrium's objective (Beckmann's integral:
    // every link's time is at most what it was, so its minimum can only fall). Total travel
    // time need not fall, by Braess's paradox, so it is not what is asserted. The change is a
    // few vehicle-minutes, below what a gap of 1e-4 resolves: both are solved to 1e-7.
    let z0 = pitesti_at("1e-7", &[])["objective"].as_f64().unwrap();
    let wider = pitesti_at("1e-7", &["--capacity", &format!("{id}=2")]);
    let z1 = wider["objective"].as_f64().unwrap();
    assert!(z1 < z0, "widening {id}: objective {z0} → {z1}");
}

#[test]
fn broken_tntp_files_give_one_line_errors_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let net = std::fs::read_to_string(root().join("data/traffic/SiouxFalls_net.tntp")).unwrap();
    let cases = [
        (
            "truncated.tntp",
            net.lines().take(40).collect::<Vec<_>>().join("\n"),
            vec!["truncated.tntp:", "truncated"],
        ),
        (
            "unknown.tntp",
            net.replacen("\t1\t2\t25900.20064", "\t1\t99\t25900.20064", 1),
            vec!["unknown.tntp:10:", "node 99"],
        ),
        (
            "negative.tntp",
            net.replacen("\t1\t2\t25900.20064", "\t1\t2\t-25900.20064", 1),
            vec!["negative.tntp:10:", "capacity"],
        ),
    ];
    for (name, text, fragments) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = twin(&[
            "solve",
            "traffic",
            "--net",
            path.to_str().unwrap(),
            "--trips",
            "data/traffic/SiouxFalls_trips.tntp",
        ]);
        assert_one_line_error(&out, &fragments);
    }
    let out = twin(&[
        "solve",
        "traffic",
        "--city",
        "data/pitesti",
        "--close",
        "bin:1",
    ]);
    assert_one_line_error(
        &out,
        &["--close bin:1", "is a waste bin, not a street segment"],
    );
}

#[test]
fn an_assignment_stopped_at_its_cap_says_it_did_not_converge() {
    let out = twin(&[
        "solve",
        "traffic",
        "--net",
        "data/traffic/SiouxFalls_net.tntp",
        "--trips",
        "data/traffic/SiouxFalls_trips.tntp",
        "--gap",
        "1e-12",
        "--max-iterations",
        "2",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(r["converged"], false);
    assert!(
        stderr(&out).contains("not an equilibrium"),
        "{}",
        stderr(&out)
    );
    let converged = twin(&[
        "solve",
        "traffic",
        "--net",
        "data/traffic/SiouxFalls_net.tntp",
        "--trips",
        "data/traffic/SiouxFalls_trips.tntp",
        "--json",
    ]);
    let r: serde_json::Value = serde_json::from_str(&stdout(&converged)).unwrap();
    assert_eq!(r["converged"], true);
}

#[test]
fn streets_are_closed_by_name_on_the_built_in_city() {
    // No --city: the built-in Pitești. A street's name closes all its segments.
    let out = twin(&[
        "solve",
        "traffic",
        "--close",
        "bulevardul republicii",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let segments = r["segments"].as_array().unwrap();
    assert!(!segments.is_empty());
    assert!(
        segments
            .iter()
            .all(|s| s["name"] != "Bulevardul Republicii"),
        "a closed segment still carries traffic"
    );
    let out = twin(&["solve", "traffic", "--close", "Strada Nicăieri"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--close Strada Nicăieri"),
        "{}",
        stderr(&out)
    );
}
