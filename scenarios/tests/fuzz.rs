//! Fuzz harnesses of the scenario files and their saved live state: real scenario files with field-style edits
//! (`twin_core::formats::mutate`) are read and resolved against Pitești, giving a scenario or
//! an error naming the file and line, never a panic. `FUZZ_CASES=1000000` runs it for a
//! million inputs (docs/reliability.md).

use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use twin_core::CityModel;
use twin_core::formats::mutate::{apply, config, edits};
use twin_scenarios::file::Scenario;

fn pitesti() -> &'static CityModel {
    static CITY: OnceLock<CityModel> = OnceLock::new();
    CITY.get_or_init(|| twin_core::builtin::load_pitesti().expect("Pitești bundle"))
}

fn example(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name),
    )
    .expect("an example scenario")
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn fuzz_scenario_files(edits in edits(), which in 0usize..4) {
        let real = example([
            "substation-failure-switching.toml",
            "roadworks-republicii.toml",
            "water-main-break.toml",
            "ev-2030.toml",
        ][which]);
        let text = apply(&real, &edits);
        if let Ok((mut scenario, interventions, text)) =
            Scenario::parse(&text, Path::new("scenario.toml"))
        {
            if scenario.city_dir.is_none() {
                let _ = scenario.resolve(interventions, &text, pitesti());
            }
        }
    }

    /// A saved `GET /api/entities` answer, the live state a scenario starts from: levels
    /// accepted are levels (0 to 1.5, an overfull bin).
    #[test]
    fn fuzz_scenario_snapshots(edits in edits()) {
        let text = apply(
            "{\"count\": 2, \"entities\": [\n\
             {\"id\": \"bin:17\", \"type\": \"waste_container\", \"state\": {\"fillingLevel\": 0.93}},\n\
             {\"id\": \"bin:18\", \"type\": \"waste_container\", \"state\": {\"fillingLevel\": 0.2, \"temperature\": 11}}\n\
             ]}",
            &edits,
        );
        if let Ok(levels) = twin_scenarios::file::parse_snapshot(&text, pitesti()) {
            prop_assert!(levels.values().all(|l| (0.0..=1.5).contains(l)), "{levels:?}");
        }
    }
}
