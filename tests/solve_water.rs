//! `twin solve water` end to end: Net1 as JSON in SI units, the Pitești network's pressures, and
//! one-line errors for broken .inp files.

mod common;

use common::*;

#[test]
fn net1_json_has_si_timesteps() {
    let out = twin(&[
        "solve",
        "water",
        "--inp",
        "data/water/Net1.inp",
        "--duration-h",
        "2",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let steps = r["timesteps"].as_array().unwrap();
    assert_eq!(
        steps
            .iter()
            .map(|s| s["time_s"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![0, 3600, 7200]
    );
    let n10 = steps[0]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "10")
        .unwrap();
    assert!((n10["pressure_m"].as_f64().unwrap() - 89.717087).abs() < 0.01);
    let pump = steps[0]["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == "9")
        .unwrap();
    assert!((pump["flow_m3s"].as_f64().unwrap() - 0.117737).abs() < 1e-5);
}

#[test]
fn pitesti_pressures_are_plausible_over_a_day() {
    let out = twin(&[
        "solve",
        "water",
        "--city",
        "data/pitesti",
        "--duration-h",
        "24",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let steps = r["timesteps"].as_array().unwrap();
    assert_eq!(steps.len(), 25);
    for s in steps {
        let junctions: Vec<f64> = s["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| {
                n["id"].as_str().unwrap().starts_with("j-")
                    || n["id"].as_str().unwrap().starts_with("jv-")
            })
            .map(|n| n["pressure_m"].as_f64().unwrap())
            .collect();
        let in_band = junctions
            .iter()
            .filter(|&&p| (20.0..=60.0).contains(&p))
            .count();
        assert!(
            in_band * 100 >= junctions.len() * 75,
            "t {}: only {in_band} of {} junctions at 20-60 m",
            s["time_s"],
            junctions.len()
        );
        assert!(
            junctions.iter().all(|&p| p > 0.0),
            "negative pressure at t {}",
            s["time_s"]
        );
    }
}

#[test]
fn broken_inp_files_give_one_line_errors_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("data/water/Net1.inp")).unwrap();
    let path = dir.path().join("bad.inp");
    std::fs::write(
        &path,
        text.replacen(" 11              \t710", " 11              \tseven", 1),
    )
    .unwrap();
    let out = twin(&["solve", "water", "--inp", path.to_str().unwrap()]);
    assert_one_line_error(&out, &["bad.inp:9:", "elevation `seven`"]);
}
