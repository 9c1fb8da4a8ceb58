//! Practitioners' files (data/field/, from the shared field cases) through the real binary:
//! each is honoured with the reference tool's answer, or refused by line. The right values come
//! from pandapower 3.5.6, hand solutions and exhaustive search (data/field/README.md).

mod common;

use common::*;

fn json_of(args: &[&str]) -> serde_json::Value {
    let out = twin(args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("JSON on stdout")
}

fn bus_vm(doc: &serde_json::Value, id: u64) -> f64 {
    doc["buses"]
        .as_array()
        .expect("buses")
        .iter()
        .find(|b| b["id"] == id)
        .and_then(|b| b["vm_pu"].as_f64())
        .expect("bus voltage")
}

#[test]
fn matpower_generators_on_pv_and_pq_buses() {
    let doc = json_of(&[
        "solve",
        "power",
        "--case",
        "data/field/matpower-pv-and-pq-generators.m",
        "--json",
    ]);
    assert_eq!(doc["method"], "Newton–Raphson");
    for (bus, vm) in [(5, 1.00228), (7, 1.00942), (12, 1.02000)] {
        assert!(
            (bus_vm(&doc, bus) - vm).abs() < 1e-4,
            "bus {bus}: {}",
            bus_vm(&doc, bus)
        );
    }
    assert!((doc["slack_p_kw"].as_f64().unwrap() - 414.7).abs() < 1.0);
}

#[test]
fn matpower_zero_and_near_zero_impedance_couplers() {
    for file in [
        "data/field/matpower-zero-impedance-branch.m",
        "data/field/matpower-near-zero-impedance-branch.m",
    ] {
        let doc = json_of(&["solve", "power", "--case", file, "--json"]);
        for (bus, vm) in [(2, 0.992909), (3, 0.992909), (4, 0.990280)] {
            assert!((bus_vm(&doc, bus) - vm).abs() < 1e-5, "{file} bus {bus}");
        }
        assert!(
            (doc["slack_p_kw"].as_f64().unwrap() - 2312.54).abs() < 1.0,
            "{file}"
        );
        for b in doc["branches"].as_array().unwrap() {
            assert!(
                b["p_from_kw"].as_f64().is_some_and(f64::is_finite),
                "{file}: {b}"
            );
            assert!(
                b["p_loss_kw"].as_f64().is_some_and(f64::is_finite),
                "{file}: {b}"
            );
        }
    }
}

#[test]
fn matpower_cell_arrays_are_read_with_the_names() {
    let doc = json_of(&[
        "solve",
        "power",
        "--case",
        "data/field/matpower-cell-arrays-bus-names.m",
        "--json",
    ]);
    assert!((bus_vm(&doc, 102) - 0.996323).abs() < 1e-5);
    assert!((bus_vm(&doc, 103) - 0.995384).abs() < 1e-5);
    assert!((doc["slack_p_kw"].as_f64().unwrap() - 1808.75).abs() < 0.5);
    assert_eq!(doc["buses"][2]["name"], "FEEDER B; END");
}

#[test]
fn tntp_toll_and_distance_factors_from_the_file_and_overridden_with_a_note() {
    let args = [
        "solve",
        "traffic",
        "--net",
        "data/field/tntp-toll-factor-net.tntp",
        "--trips",
        "data/field/tntp-toll-factor-trips.tntp",
        "--gap",
        "1e-6",
        "--json",
    ];
    let flows = |doc: &serde_json::Value| -> Vec<f64> {
        doc["links"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["from"] == 3 && l["to"] == 4)
            .map(|l| l["flow"].as_f64().unwrap())
            .collect()
    };
    let doc = json_of(&args);
    let f = flows(&doc);
    assert_eq!(f.len(), 2, "both parallel links are in the output");
    assert!(
        (f[0] - 1040.54).abs() < 1.0 && (f[1] - 1959.46).abs() < 1.0,
        "{f:?}"
    );
    // Weights given on the command line win, and say so.
    let mut with_weights = args.to_vec();
    with_weights.extend(["--toll-weight", "0", "--distance-weight", "0"]);
    let out = twin(&with_weights);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("overrides the network file's <TOLL FACTOR> 0.5"),
        "{}",
        stderr(&out)
    );
    let f = flows(&serde_json::from_str(&stdout(&out)).unwrap());
    assert!((f[0] - 1205.41).abs() < 1.0, "time alone: {f:?}");
}

#[test]
fn vrplib_display_data_is_harmless_and_the_depot_can_be_any_node() {
    for file in [
        "data/field/vrplib-explicit-depot3.vrp",
        "data/field/vrplib-explicit-depot3-display.vrp",
    ] {
        let doc = json_of(&[
            "solve",
            "routing",
            "--vrplib",
            file,
            "--seconds",
            "2",
            "--seed",
            "1",
            "--json",
        ]);
        assert_eq!(doc["cost"].as_f64(), Some(56.0), "{file}");
        let mut routes: Vec<Vec<u64>> = doc["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let mut r: Vec<u64> = r
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_u64().unwrap())
                    .collect();
                r.sort();
                r
            })
            .collect();
        routes.sort();
        assert_eq!(routes, vec![vec![1, 4], vec![2, 3]], "{file}");
    }
}

#[test]
fn readings_as_gateways_send_them_are_judged_line_by_line() {
    let out = twin(&[
        "readings",
        "check",
        "data/field/readings-field-payloads.jsonl",
        "--city",
        "data/pitesti",
    ]);
    let text = stdout(&out);
    let rejected: Vec<usize> = text
        .lines()
        .filter_map(|l| l.split(':').nth(1)?.parse().ok())
        .collect();
    assert_eq!(rejected, vec![3, 4, 6, 7, 8, 9, 10, 11, 12], "{text}");
    assert!(
        stderr(&out).starts_with("4 accepted, 9 rejected"),
        "{}",
        stderr(&out)
    );
    assert!(
        text.contains(":6: malformed reading: duplicate key `fillingLevel`"),
        "{text}"
    );
    assert!(text.contains(":12: byte"), "{text}");
}

#[test]
fn vrplib_distance_limit_service_time_and_fleet_are_honoured() {
    let file = "data/field/vrplib-distance-service-time.vrp";
    let doc = json_of(&[
        "solve",
        "routing",
        "--vrplib",
        file,
        "--seconds",
        "1",
        "--seed",
        "1",
        "--json",
    ]);
    // Exhaustive search: 180, one route of the three customers east of the depot and three
    // single-customer routes (without the limit, one route of cost 142 serves all six).
    assert_eq!(doc["cost"].as_f64(), Some(180.0), "{doc}");
    assert_eq!(doc["routes"].as_array().unwrap().len(), 4, "{doc}");
    // Four routes are needed: with VEHICLES 3 there is no solution, and the twin says so.
    let dir = tempfile::tempdir().unwrap();
    let three = dir.path().join("three.vrp");
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    std::fs::write(
        &three,
        text.replace("DISTANCE : 75", "DISTANCE : 75\nVEHICLES : 3"),
    )
    .unwrap();
    let out = twin(&[
        "solve",
        "routing",
        "--vrplib",
        three.to_str().unwrap(),
        "--seconds",
        "1",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("needs 4 routes and the instance has 3 vehicles"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn epanet_ids_with_no_break_spaces_and_crlf() {
    let doc = json_of(&[
        "solve",
        "water",
        "--inp",
        "data/field/epanet-ids-nbsp-crlf.inp",
        "--json",
    ]);
    let step = &doc["timesteps"][0];
    let head = |id: &str| {
        step["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .and_then(|n| n["head_m"].as_f64())
            .unwrap_or_else(|| panic!("node {id:?} in {step}"))
    };
    // EPANET 2.2 (through WNTR): the ids keep their U+00A0.
    assert!((head("Main\u{a0}St\u{a0}1") - 59.698).abs() < 1e-3);
    assert!((head("Structure\u{a0}-\u{a0}(28)") - 59.443).abs() < 1e-3);
    assert!((head("K/12.b") - 59.219).abs() < 1e-3);
}
