//! docs/scenarios.md documents every key of the scenario file, every intervention kind and
//! every KPI the runner reports (so the documentation cannot fall behind the code).

use twin_scenarios::file::{INTERVENTION_KINDS, TOP_LEVEL_KEYS};
use twin_scenarios::output::KPI_ORDER;

#[test]
fn every_key_kind_and_kpi_is_documented() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/scenarios.md");
    let doc = std::fs::read_to_string(path).expect("docs/scenarios.md");
    for key in TOP_LEVEL_KEYS
        .iter()
        .chain(&INTERVENTION_KINDS)
        .chain(&KPI_ORDER)
    {
        assert!(
            doc.contains(&format!("`{key}`")),
            "docs/scenarios.md does not mention `{key}`"
        );
    }
}
