//! Fuzz harness of the MQTT decoder: real topics and payloads with field-style edits
//! (`twin_core::formats::mutate`) give a reading, a citizen report or a reason, never a panic;
//! a reading it gives goes through validation without a panic too. `FUZZ_CASES=1000000` runs
//! it for a million inputs (docs/reliability.md).

use std::sync::OnceLock;

use proptest::prelude::*;
use twin_actors::ingest::mqtt::{Inbound, parse_message};
use twin_core::CityModel;
use twin_core::formats::mutate::{apply, config, edits};

fn pitesti() -> &'static CityModel {
    static CITY: OnceLock<CityModel> = OnceLock::new();
    CITY.get_or_init(|| twin_core::builtin::load_pitesti().expect("Pitești bundle"))
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn fuzz_mqtt_messages(edits in edits(), topic_edits in edits()) {
        let topic = apply("citytwin/bin/17", &topic_edits);
        let payload = apply(
            "{\"observedAt\":\"2026-11-27T08:00:00Z\",\n\"values\":{\"fillingLevel\":0.4,\n\"temperature\":12.5}}",
            &edits,
        );
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-27T09:00:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        match parse_message(&topic, payload.as_bytes()) {
            Ok(Inbound::Reading(raw)) => {
                let _ = twin_core::reading::validate_reading(&raw, pitesti(), now);
            }
            Ok(Inbound::Report(body)) => {
                let _ = twin_core::waste::report::parse_report(&body, pitesti());
            }
            Err(rejection) => prop_assert!(!rejection.reason.is_empty()),
        }
    }
}
