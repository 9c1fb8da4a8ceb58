//! `twin solve routing` end to end on CVRPLIB's A-n32-k5, and one-line errors for broken files.

mod common;

use common::*;

#[test]
fn a_n32_k5_json_has_feasible_routes_at_the_optimum() {
    let out = twin(&[
        "solve",
        "routing",
        "--vrplib",
        "data/routing/A-n32-k5.vrp",
        "--seconds",
        "2",
        "--seed",
        "3",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(r["cost"].as_f64(), Some(784.0));
    let mut seen: Vec<u64> = r["routes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|route| {
            route
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_u64().unwrap())
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        (1..=31).collect::<Vec<u64>>(),
        "every customer exactly once, numbered as in .sol files"
    );
}

#[test]
fn the_same_seed_and_iterations_give_the_same_routes() {
    let run = || {
        twin(&[
            "solve",
            "routing",
            "--vrplib",
            "data/routing/CMT3.vrp",
            "--no-rounding",
            "--iterations",
            "2000",
            "--seed",
            "7",
            "--json",
        ])
    };
    let (a, b) = (run(), run());
    assert!(a.status.success(), "{}", stderr(&a));
    let strip = |o: &std::process::Output| {
        let mut v: serde_json::Value = serde_json::from_str(&stdout(o)).unwrap();
        v.as_object_mut().unwrap().remove("seconds");
        v
    };
    assert_eq!(strip(&a), strip(&b));
}

#[test]
fn a_vrplib_without_demand_section_is_one_line_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("data/routing/A-n32-k5.vrp")).unwrap();
    let cut = text.split("DEMAND_SECTION").next().unwrap().to_string() + "EOF\n";
    let path = dir.path().join("nodemand.vrp");
    std::fs::write(&path, cut).unwrap();
    let out = twin(&["solve", "routing", "--vrplib", path.to_str().unwrap()]);
    assert_one_line_error(&out, &["nodemand.vrp:", "no DEMAND_SECTION"]);
}
