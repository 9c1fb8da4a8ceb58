//! `twin waste plan` and `twin waste compare` on Pitești through the real binary: routes are
//! feasible (each chosen bin once, capacity and shift respected), the GeoJSON has a line per
//! trip, and bad arguments are one-line errors.

mod common;

use std::collections::HashSet;

#[test]
fn a_days_plan_is_feasible_and_mapped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let geo = dir.path().join("routes.geojson");
    let out = common::twin(&[
        "waste",
        "plan",
        "--date",
        "2026-03-04",
        "--stream",
        "residual",
        "--warm-up-days",
        "2",
        "--geojson",
        geo.to_str().expect("utf-8"),
        "--json",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let plan: serde_json::Value = serde_json::from_str(&common::stdout(&out)).expect("JSON");
    let bins = plan["bins"].as_u64().expect("bins") as usize;
    assert!(bins > 50, "a residual round empties many bins: {plan}");
    let mut seen = HashSet::new();
    let mut trips = 0;
    for truck in plan["trucks"].as_array().expect("trucks") {
        assert!(truck["duration_h"].as_f64().expect("h") <= 8.0, "{truck}");
        for trip in truck["trips"].as_array().expect("trips") {
            trips += 1;
            assert!(trip["load_l"].as_f64().expect("load") <= 48_000.0, "{trip}");
            for b in trip["bins"].as_array().expect("bins") {
                let id = b.as_str().expect("id");
                assert!(id.starts_with("bin:"));
                assert!(seen.insert(id.to_string()), "{id} emptied twice");
            }
        }
    }
    assert_eq!(seen.len(), bins);
    assert_eq!(trips, plan["trips"].as_u64().expect("trips") as usize);
    let routes: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&geo).expect("geojson")).expect("JSON");
    let features = routes["features"].as_array().expect("features");
    assert_eq!(features.len(), trips);
    assert!(
        features
            .iter()
            .all(|f| f["geometry"]["type"] == "LineString")
    );
}

#[test]
fn bad_arguments_are_one_line_errors() {
    let out = common::twin(&["waste", "plan", "--date", "2026-03-08"]);
    common::assert_one_line_error(&out, &["2026-03-08", "Sunday"]);
    let out = common::twin(&["waste", "plan", "--date", "2026-03-04", "--stream", "trams"]);
    common::assert_one_line_error(&out, &["trams", "residual"]);
    let out = common::twin(&["waste", "plan", "--date", "03/04"]);
    common::assert_one_line_error(&out, &["03/04"]);
    let out = common::twin(&["waste", "compare", "--days", "0"]);
    common::assert_one_line_error(&out, &["--days"]);
    let out = common::twin(&[
        "waste",
        "plan",
        "--date",
        "2026-03-04",
        "--policy",
        "random",
    ]);
    common::assert_one_line_error(&out, &["random", "fixed or dynamic"]);
}
