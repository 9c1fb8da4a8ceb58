//! The OSM importer on real extracts (data/osm-samples, © OpenStreetMap contributors, ODbL),
//! checked against expectations computed independently by data/osm-samples/expected.py.

use std::path::PathBuf;

use twin_core::entity::{Asset, StreetSegment};
use twin_core::geometry::{Boundary, polyline_length_m};
use twin_core::osm::{RoadImport, build_street_segments, read_osm_file};

fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/osm-samples")
}

fn expected(case: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(samples().join("expected.json")).unwrap();
    let all: serde_json::Value = serde_json::from_str(&text).unwrap();
    all[case].clone()
}

fn boundary(case: &str) -> Boundary {
    Boundary::from_geojson_str(
        &std::fs::read_to_string(samples().join(case).join("boundary.json")).unwrap(),
    )
    .unwrap()
}

fn import(case: &str, file: &str) -> RoadImport {
    let osm = read_osm_file(&samples().join(case).join(file)).unwrap();
    build_street_segments(&osm, Some(&boundary(case)))
}

fn segments(import: &RoadImport) -> Vec<&StreetSegment> {
    import
        .segments
        .iter()
        .map(|e| match &e.asset {
            Asset::StreetSegment(s) => s,
            other => panic!("not a street: {other:?}"),
        })
        .collect()
}

fn check(case: &str, file: &str) {
    let import = import(case, file);
    let want = expected(case);
    let s = &import.stats;
    assert_eq!(
        s.segments as u64,
        want["segments"].as_u64().unwrap(),
        "{case}: segments"
    );
    assert_eq!(
        s.intersections as u64,
        want["intersections"].as_u64().unwrap(),
        "{case}: intersections"
    );
    assert_eq!(
        s.oneway_segments as u64,
        want["oneway_segments"].as_u64().unwrap(),
        "{case}: oneway segments"
    );
    let total: f64 = segments(&import).iter().map(|s| s.length_m).sum();
    let want_len = want["length_m"].as_f64().unwrap();
    assert!(
        (total - want_len).abs() < 1e-4 * want_len,
        "{case}: length {total} vs {want_len}"
    );
    // Every point of every segment lies inside the boundary; lengths match their geometry.
    let b = boundary(case);
    for seg in segments(&import) {
        assert!(
            seg.geometry.iter().all(|p| b.contains(*p)),
            "{case}: a segment leaves the boundary"
        );
        assert!((polyline_length_m(&seg.geometry) - seg.length_m).abs() < 1e-9);
        assert!(seg.capacity_veh_h > 0.0 && seg.speed_limit_kmh > 0.0 && seg.lanes >= 1);
    }
}

#[test]
fn neukolln_xml_matches_independent_expectations() {
    check("neukolln", "input.osm");
}

#[test]
fn neukolln_pbf_gives_the_same_graph_as_xml() {
    check("neukolln", "input.osm.pbf");
    let xml = import("neukolln", "input.osm");
    let pbf = import("neukolln", "input.osm.pbf");
    let ids = |i: &RoadImport| {
        i.segments
            .iter()
            .map(|e| e.id.to_string())
            .collect::<Vec<_>>()
    };
    let mut a = ids(&xml);
    let mut b = ids(&pbf);
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[test]
fn bristol_matches_independent_expectations() {
    check("bristol_contraflow_cycleway", "input.osm");
}

#[test]
fn neukolln_has_no_footways_and_keeps_oneways_directed() {
    let import = import("neukolln", "input.osm");
    let city_graph_arcs: usize = segments(&import)
        .iter()
        .map(|s| if s.oneway { 1 } else { 2 })
        .sum();
    let oneway = segments(&import).iter().filter(|s| s.oneway).count();
    assert_eq!(city_graph_arcs, 2 * import.stats.segments - oneway);
    // 211 highway ways in the extract, of which 100 are residential, secondary or service.
    assert_eq!(import.stats.drivable_ways, 100);
}
