//! End-to-end tests of the `twin` binary: the README's first command, the bundle generator's
//! determinism, the OSM import, and one-line errors for bad input.

mod common;

use std::path::Path;

use common::*;

/// Generate the Pitești bundle for `seed` into `dir`, which must succeed.
fn synth(seed: u64, dir: &Path) {
    let out = twin(&[
        "city",
        "synth",
        "pitesti",
        "--seed",
        &seed.to_string(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn pitesti_bundle_has_the_required_assets() {
    let s = info_json(&root().join("data/pitesti"));
    let at_least = |key: &str, min: u64| {
        let v = s[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} missing in {s}"));
        assert!(v >= min, "{key} = {v}, at least {min} expected");
    };
    at_least("street_segments", 4_000);
    at_least("transformer_posts", 400);
    at_least("water_junctions", 2_000);
    at_least("bins", 2_500);
    at_least("substations", 2);
    at_least("pipes", 2_000);
    at_least("switches", 1);
    assert_eq!(s["population"], 141_275);
    assert_eq!(s["signalised_intersections"], 13);
    assert_eq!(s["roundabouts"], 14);
    assert!(s["street_km"].as_f64().unwrap() > 100.0);
    // Ten public stations plus the depot's 40 slow and 11 fast sockets, at least.
    at_least("chargers", 12);
    at_least("charger_sockets", 20 + 51);
    for kind in ["paper", "plastic-metal", "glass", "bio", "residual"] {
        assert!(
            s["bins_by_kind"][kind].as_u64().unwrap() > 0,
            "no {kind} bins"
        );
    }
    // Everything inside the real Pitești boundary box (lon 24.7804–24.9427, lat 44.8233–44.8958).
    let bbox: Vec<f64> = s["bbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(
        bbox[0] >= 24.78 && bbox[2] <= 24.943 && bbox[1] >= 44.823 && bbox[3] <= 44.896,
        "{bbox:?}"
    );
}

#[test]
fn the_generator_is_byte_identical_to_the_committed_bundle() {
    let dir = tempfile::tempdir().unwrap();
    synth(1, dir.path());
    let mut compared = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        let fresh = std::fs::read(entry.path()).unwrap();
        let committed = std::fs::read(root().join("data/pitesti").join(entry.file_name()))
            .unwrap_or_else(|_| panic!("{:?} is not in data/pitesti", entry.file_name()));
        assert!(
            fresh == committed,
            "{:?} differs from data/pitesti: regenerate and commit it",
            entry.file_name()
        );
        compared += 1;
    }
    assert!(compared >= 8, "only {compared} files generated");
    // Another seed gives another city.
    let other = tempfile::tempdir().unwrap();
    synth(2, other.path());
    assert_ne!(
        std::fs::read(other.path().join("streets.geojson")).unwrap(),
        std::fs::read(dir.path().join("streets.geojson")).unwrap()
    );
}

#[test]
fn importing_neukolln_gives_a_bundle_with_its_streets() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("neukolln");
    let out = twin(&[
        "import",
        "osm",
        "data/osm-samples/neukolln/input.osm",
        "--boundary",
        "data/osm-samples/neukolln/boundary.json",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("data/osm-samples/expected.json")).unwrap(),
    )
    .unwrap();
    let s = info_json(&out_dir);
    assert_eq!(s["street_segments"], expected["neukolln"]["segments"]);
    assert_eq!(s["road_nodes"], expected["neukolln"]["intersections"]);
    let km = expected["neukolln"]["length_m"].as_f64().unwrap() / 1000.0;
    assert!(
        (s["street_km"].as_f64().unwrap() - km).abs() < 0.01,
        "{} vs {km}",
        s["street_km"]
    );
}

#[test]
fn a_truncated_osm_file_is_one_line_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(
        root().join("data/osm-samples/bristol_contraflow_cycleway/input.osm"),
    )
    .unwrap();
    let cut: String = text.lines().take(500).collect::<Vec<_>>().join("\n");
    let file = dir.path().join("cut.osm");
    std::fs::write(&file, cut).unwrap();
    let out = twin(&[
        "import",
        "osm",
        file.to_str().unwrap(),
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    assert_one_line_error(&out, &["cut.osm:500:", "truncated"]);
}

#[test]
fn a_city_toml_naming_a_missing_file_is_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    copy_bundle(&root().join("data/pitesti"), dir.path());
    std::fs::remove_file(dir.path().join("bins.geojson")).unwrap();
    let out = twin(&["city", "info", dir.path().to_str().unwrap()]);
    assert_one_line_error(
        &out,
        &[
            "city.toml",
            "layer `bins`",
            "bins.geojson",
            "does not exist",
        ],
    );
}

#[test]
fn a_bin_with_filling_level_1_7_is_one_line_naming_the_bin() {
    let dir = tempfile::tempdir().unwrap();
    copy_bundle(&root().join("data/pitesti"), dir.path());
    let path = dir.path().join("bins.geojson");
    let text = std::fs::read_to_string(&path).unwrap();
    let broken = text.replacen(
        "\"id\":\"bin:17\",",
        "\"id\":\"bin:17\",\"fillingLevel\":1.7,",
        1,
    );
    assert_ne!(broken, text, "bin:17 is in the bundle");
    std::fs::write(&path, broken).unwrap();
    let out = twin(&["city", "info", dir.path().to_str().unwrap()]);
    assert_one_line_error(
        &out,
        &[
            "bins.geojson",
            "bin:17",
            "fillingLevel",
            "1.7",
            "out of range",
        ],
    );

    // The same value as a sensor reading is rejected with the file line and the entity.
    let readings = dir.path().join("readings.jsonl");
    std::fs::write(
        &readings,
        "{\"entity\":\"bin:3\",\"observedAt\":\"2026-11-27T08:00:00Z\",\"values\":{\"fillingLevel\":0.4}}\n\
         {\"entity\":\"bin:17\",\"observedAt\":\"2026-11-27T08:00:00Z\",\"values\":{\"fillingLevel\":1.7}}\n",
    )
    .unwrap();
    let out = twin(&[
        "readings",
        "check",
        readings.to_str().unwrap(),
        "--city",
        "data/pitesti",
    ]);
    assert!(!out.status.success());
    let report = stdout(&out);
    assert_eq!(report.lines().count(), 1, "{report}");
    assert!(
        report.contains("readings.jsonl:2: bin:17: `fillingLevel` = 1.7 is out of range"),
        "{report}"
    );
    assert!(
        stderr(&out).contains("1 accepted, 1 rejected"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_generator_lays_networks_over_imported_streets() {
    // Stand-in for an OSM import of the real streets: the streets of another seed's bundle.
    let streets = tempfile::tempdir().unwrap();
    synth(7, streets.path());
    for f in [
        "power.m",
        "power_buses.geojson",
        "water.inp",
        "bins.geojson",
        "chargers.geojson",
        "intersections.geojson",
    ] {
        std::fs::remove_file(streets.path().join(f)).unwrap();
    }
    let manifest = std::fs::read_to_string(streets.path().join("city.toml")).unwrap();
    let kept: String = manifest
        .lines()
        .filter(|l| {
            !l.contains(".m\"")
                && !l.contains("buses")
                && !l.contains(".inp")
                && !l.contains("bins")
                && !l.contains("chargers")
                && !l.contains("intersections")
                && !l.contains("water_valves")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(streets.path().join("city.toml"), kept).unwrap();
    let before = info_json(streets.path());
    assert_eq!(before["bins"], 0);

    let dir = tempfile::tempdir().unwrap();
    let out = twin(&[
        "city",
        "synth",
        "pitesti",
        "--seed",
        "1",
        "--streets",
        streets.path().to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(dir.path().join("streets.geojson")).unwrap(),
        std::fs::read(streets.path().join("streets.geojson")).unwrap(),
        "the imported streets are kept as they are"
    );
    let after = info_json(dir.path());
    assert_eq!(after["street_segments"], before["street_segments"]);
    assert!(after["transformer_posts"].as_u64().unwrap() >= 400);
    assert!(after["water_junctions"].as_u64().unwrap() >= 2_000);
    assert!(after["bins"].as_u64().unwrap() >= 2_500);
}

#[test]
fn a_report_piped_into_a_reader_that_leaves_stops_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    // 50,000 readings of an unknown bin: a line of output each, far more than a pipe holds.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.jsonl");
    let line = r#"{"entity":"bin:99999999","observedAt":"2026-11-27T08:00:00Z","values":{"fillingLevel":0.5}}"#;
    std::fs::write(&file, format!("{line}\n").repeat(50_000)).expect("write readings");
    let mut child = Command::new(env!("CARGO_BIN_EXE_twin"))
        .args(["readings", "check"])
        .arg(&file)
        .args(["--city", "data/pitesti"])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the twin binary runs");
    // Read one line, then go away, as `| head -1` does.
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("a first line");
    assert!(first.contains("unknown"), "{first}");
    let out = child.wait_with_output().expect("the command ends");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "a closed pipe is not an error: {err}"
    );
}
