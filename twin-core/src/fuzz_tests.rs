//! Fuzz harnesses (unit tests) of twin-core's decoders: real inputs with a few field-style edits
//! (`formats::mutate`), each decoder shown to give a value or a clean error, never a panic.
//! The format readers of MATPOWER, EPANET, TNTP, VRPLIB and OSM XML have theirs beside their
//! code. `FUZZ_CASES=1000000` runs each for a million inputs (docs/reliability.md).

use std::path::Path;
use std::sync::OnceLock;

use crate::CityModel;
use crate::formats::mutate::{apply, config, edits};
use crate::reading::{RawReading, validate_reading};
use proptest::prelude::*;

fn pitesti() -> &'static CityModel {
    static CITY: OnceLock<CityModel> = OnceLock::new();
    CITY.get_or_init(|| crate::builtin::load_pitesti().expect("Pitești bundle"))
}

fn data(path: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../data")
            .join(path),
    )
    .expect("a data file")
}

/// The first `n` lines of a data file (a small seed keeps each case fast).
fn head(path: &str, n: usize) -> String {
    data(path).lines().take(n).collect::<Vec<_>>().join("\n")
}

const READINGS: &str = r#"{"entity":"bin:17","observedAt":"2026-11-27T08:00:00Z","values":{"fillingLevel":0.4,"temperature":12.5}}
{"entity":"street:12","observedAt":"2026-11-27T08:05:00+02:00","values":{"intensity":420,"averageVehicleSpeed":31.5}}
{"entity":"power:pt-3","observedAt":"2026-11-27T08:15:00Z","values":{"activePower":212.4,"reactivePower":61.0}}
{"entity":"charger:4","observedAt":"2026-11-27T08:15:00Z","values":{"status":"charging"}}"#;

proptest! {
    #![proptest_config(config(256))]

    /// Readings as JSONL lines (replay) and HTTP items: parsed, then validated against
    /// Pitești; what validation accepts holds only finite numbers.
    #[test]
    fn fuzz_readings(edits in edits()) {
        let text = apply(READINGS, &edits);
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-27T09:00:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        for line in text.as_bytes().split(|b| *b == b'\n') {
            if let Ok(Some(raw)) = RawReading::from_jsonl_line(line)
                && let Ok(r) = validate_reading(&raw, pitesti(), now)
            {
                for (_, v) in &r.values {
                    prop_assert!(v.as_f64().is_none_or(f64::is_finite), "{v:?}");
                }
            }
        }
    }

    /// Citizen reports as their JSON bodies.
    #[test]
    fn fuzz_citizen_reports(edits in edits()) {
        let body = apply(
            r#"{"reporter": "app-42", "kind": "overflowing", "bin": "bin:17",
"photoUrl": "https://example.org/p/1.jpg", "note": "bags on the pavement"}"#,
            &edits,
        );
        let _ = crate::waste::report::parse_report(body.as_bytes(), pitesti());
    }

    /// A city's GeoJSON layers and its intersections.
    #[test]
    fn fuzz_layers(edits in edits()) {
        use crate::formats::layers::{Layer, read_intersections, read_layer};
        let bins = apply(&head("testville/bins.geojson", 60), &edits);
        let _ = read_layer(&bins, Layer::Bins);
        let streets = apply(&head("testville/streets.geojson", 80), &edits);
        let _ = read_layer(&streets, Layer::Streets);
        let crossings = apply(&head("pitesti/intersections.geojson", 6), &edits);
        let _ = read_intersections(&crossings);
    }

    /// A bundle's manifest (city.toml).
    #[test]
    fn fuzz_city_manifest(edits in edits()) {
        let text = apply(&data("testville/city.toml"), &edits);
        let _ = crate::bundle::CityManifest::parse(&text, Path::new("city.toml"));
    }

    /// Tables with a required header: outage events and the valve layer.
    #[test]
    fn fuzz_tables(edits in edits()) {
        let events = apply(&head("pitesti/outage_events.csv", 30), &edits);
        let _ = crate::power::events::parse_outage_events(&events, Path::new("events.csv"));
        let valves = apply(&head("pitesti/water_valves.csv", 30), &edits);
        let _ = crate::formats::table::read_table(&valves, &["valve", "link", "node"]);
    }

    /// Charging sessions (the Dundee CSV the EV model is calibrated on).
    #[test]
    fn fuzz_ev_sessions(edits in edits()) {
        let text = apply(&head("ev/cp-data-mar-may-2018.csv", 40), &edits);
        let _ = crate::ev::sessions::parse_dundee_sessions(text.as_bytes(), "sessions.csv");
    }

    /// Text decoding of the desktop tools' files: any bytes give text (UTF-8 or
    /// Windows-1252), and UTF-8-only formats refuse what is not UTF-8 by line.
    #[test]
    fn fuzz_text_decoding(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = crate::formats::text::decode_text(&bytes);
        let _ = crate::formats::text::decode_utf8(&bytes);
    }

    /// Solution files read back to compare: TNTP link flows and VRPLIB routes.
    #[test]
    fn fuzz_solution_files(edits in edits()) {
        let flows = apply(&head("traffic/SiouxFalls_flow.tntp", 40), &edits);
        let _ = crate::formats::tntp::parse_flow_file(&flows);
        let routes = apply(&data("routing/A-n32-k5.sol"), &edits);
        let _ = crate::formats::vrplib::parse_solution(&routes);
    }

    /// Overpass API JSON (what `twin import osm` reads besides OSM XML and PBF).
    #[test]
    fn fuzz_overpass_json(edits in edits()) {
        let text = apply(
            "{\"version\": 0.6, \"generator\": \"Overpass API\",\n\"elements\": [\n\
             {\"type\": \"node\", \"id\": 1, \"lat\": 44.86, \"lon\": 24.86},\n\
             {\"type\": \"node\", \"id\": 2, \"lat\": 44.87, \"lon\": 24.87},\n\
             {\"type\": \"way\", \"id\": 10, \"nodes\": [1, 2], \"tags\": {\"highway\": \"residential\", \"maxspeed\": \"30\"},\n\
             \"geometry\": [{\"lat\": 44.86, \"lon\": 24.86}, {\"lat\": 44.87, \"lon\": 24.87}]}\n\
             ]}",
            &edits,
        );
        let _ = crate::osm::overpass_json::parse_overpass_json(text.as_bytes());
    }

    /// OSM PBF, a binary format: a real extract with bytes changed or cut short.
    #[test]
    fn fuzz_osm_pbf(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in proptest::option::of(any::<usize>()),
    ) {
        static PBF: OnceLock<Vec<u8>> = OnceLock::new();
        let real = PBF.get_or_init(|| {
            std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/osm-samples/neukolln/input.osm.pbf"))
                .expect("the PBF sample")
        });
        let mut bytes = real.clone();
        for (at, b) in flips {
            let n = bytes.len();
            bytes[at % n] = b;
        }
        if let Some(at) = cut {
            bytes.truncate(at % real.len());
        }
        let _ = crate::osm::pbf::read_pbf_from(bytes.as_slice(), "fuzz.osm.pbf");
    }
}
