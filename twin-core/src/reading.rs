//! Sensor readings and their validation: a reading reaches an actor only after it names a
//! known entity, quantities valid for that entity's kind, finite values in range, and a sane time.
//!
//! Every rejection is a [`ReadingError`] naming the entity, the quantity and the reason, with a
//! short [`ReadingError::reason`] code for counting rejections per reason.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::city::CityModel;
use crate::entity::{Asset, Entity};
use crate::id::{EntityId, IdError};
use crate::quantity::{Quantity, Value, ValueSpec};

/// How far ahead of the receiver's clock a reading may be stamped (sensor clock skew).
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(5);

/// A reading as it arrives, before validation: the JSON of DESIGN section 3,
/// `{"entity": "bin:3310", "observedAt": "2026-11-27T08:00:00Z", "values": {"fillingLevel": 0.82}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReading {
    pub entity: String,
    #[serde(rename = "observedAt")]
    pub observed_at: String,
    /// Quantity name → value; a name given twice is refused ([`ReadingError::DuplicateKey`]).
    #[serde(deserialize_with = "crate::formats::json::unique_keys")]
    pub values: BTreeMap<String, serde_json::Value>,
}

/// A validated reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub entity: EntityId,
    pub observed_at: DateTime<Utc>,
    pub values: Vec<(Quantity, Value)>,
}

/// Why a reading was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReadingError {
    #[error("malformed reading: {0}")]
    Malformed(String),
    /// A key given twice in one JSON object: which value is meant cannot be known.
    #[error("malformed reading: {0} (a key given twice is ambiguous)")]
    DuplicateKey(String),
    /// A line of a readings file that is not UTF-8 (JSON is UTF-8 only, RFC 8259 §8.1).
    #[error("byte {byte} of the line is not UTF-8")]
    NotUtf8 { byte: usize },
    #[error(transparent)]
    BadId(#[from] IdError),
    #[error("{entity}: unknown entity")]
    UnknownEntity { entity: EntityId },
    #[error("{entity}: reading has no values")]
    NoValues { entity: EntityId },
    #[error("{entity}: `{quantity}` is not a quantity of a {kind}")]
    UnknownQuantity {
        entity: EntityId,
        quantity: String,
        kind: &'static str,
    },
    #[error("{entity}: `{quantity}` must be {expected}, got {got}")]
    WrongType {
        entity: EntityId,
        quantity: String,
        expected: String,
        got: String,
    },
    #[error("{entity}: `{quantity}` is not a finite number")]
    NotFinite { entity: EntityId, quantity: String },
    #[error("{entity}: `{quantity}` = {value} is out of range [{min}, {max}] {unit}")]
    OutOfRange {
        entity: EntityId,
        quantity: String,
        value: f64,
        min: f64,
        max: f64,
        unit: String,
    },
    #[error("{entity}: observedAt `{text}` is not an RFC 3339 timestamp")]
    BadTimestamp { entity: EntityId, text: String },
    #[error("{entity}: observedAt {observed_at} is before 2000-01-01")]
    TooOld {
        entity: EntityId,
        observed_at: DateTime<Utc>,
    },
    #[error("{entity}: observedAt {observed_at} is in the future (now {now})")]
    FutureTimestamp {
        entity: EntityId,
        observed_at: DateTime<Utc>,
        now: DateTime<Utc>,
    },
}

impl ReadingError {
    /// A stable short code for counting rejections per reason.
    pub fn reason(&self) -> &'static str {
        match self {
            ReadingError::Malformed(_) => "malformed",
            ReadingError::DuplicateKey(_) => "duplicate_key",
            ReadingError::NotUtf8 { .. } => "not_utf8",
            ReadingError::BadId(_) => "bad_id",
            ReadingError::UnknownEntity { .. } => "unknown_entity",
            ReadingError::NoValues { .. } => "no_values",
            ReadingError::UnknownQuantity { .. } => "unknown_quantity",
            ReadingError::WrongType { .. } => "wrong_type",
            ReadingError::NotFinite { .. } => "not_finite",
            ReadingError::OutOfRange { .. } => "out_of_range",
            ReadingError::BadTimestamp { .. } => "bad_timestamp",
            ReadingError::TooOld { .. } => "too_old",
            ReadingError::FutureTimestamp { .. } => "future_timestamp",
        }
    }
}

impl RawReading {
    /// Parse one reading from JSON text (a leading byte-order mark accepted; a key given twice
    /// refused).
    pub fn from_json(text: &str) -> Result<RawReading, ReadingError> {
        serde_json::from_str(crate::formats::json::strip_bom(text))
            .map_err(ReadingError::from_json_error)
    }

    /// Parse one line of a JSONL readings file (bytes, so a line that is not UTF-8 is rejected
    /// on its own and the lines after it are still read). A trailing CR is removed. `Ok(None)`
    /// for a blank line.
    pub fn from_jsonl_line(line: &[u8]) -> Result<Option<RawReading>, ReadingError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = std::str::from_utf8(line).map_err(|e| ReadingError::NotUtf8 {
            byte: e.valid_up_to() + 1,
        })?;
        let text = crate::formats::json::strip_bom(text);
        if text.trim().is_empty() {
            return Ok(None);
        }
        RawReading::from_json(text).map(Some)
    }
}

impl ReadingError {
    /// The rejection for a reading's JSON that did not parse: [`ReadingError::DuplicateKey`]
    /// for a repeated key, else [`ReadingError::Malformed`].
    pub fn from_json_error(e: serde_json::Error) -> ReadingError {
        if crate::formats::json::is_duplicate_key(&e) {
            ReadingError::DuplicateKey(e.to_string())
        } else {
            ReadingError::Malformed(e.to_string())
        }
    }
}

/// Validate a raw reading against the city: the one validation path of every ingest adapter.
pub fn validate_reading(
    raw: &RawReading,
    city: &CityModel,
    now: DateTime<Utc>,
) -> Result<Reading, ReadingError> {
    let entity_id: EntityId = raw.entity.parse()?;
    let entity = city
        .entity(&entity_id)
        .ok_or_else(|| ReadingError::UnknownEntity {
            entity: entity_id.clone(),
        })?;
    let observed_at = parse_observed_at(&entity_id, &raw.observed_at, now)?;
    if raw.values.is_empty() {
        return Err(ReadingError::NoValues { entity: entity_id });
    }
    let mut values = Vec::with_capacity(raw.values.len());
    for (name, json) in &raw.values {
        let quantity = Quantity::for_asset(entity.kind(), name).ok_or_else(|| {
            ReadingError::UnknownQuantity {
                entity: entity_id.clone(),
                quantity: name.clone(),
                kind: entity.kind().name(),
            }
        })?;
        let value = check_value(entity, quantity, json)?;
        values.push((quantity, value));
    }
    Ok(Reading {
        entity: entity_id,
        observed_at,
        values,
    })
}

fn parse_observed_at(
    entity: &EntityId,
    text: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, ReadingError> {
    let observed_at = DateTime::parse_from_rfc3339(text)
        .map_err(|_| ReadingError::BadTimestamp {
            entity: entity.clone(),
            text: text.to_string(),
        })?
        .with_timezone(&Utc);
    if observed_at > now + MAX_CLOCK_SKEW {
        return Err(ReadingError::FutureTimestamp {
            entity: entity.clone(),
            observed_at,
            now,
        });
    }
    let earliest = Utc
        .with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    if observed_at < earliest {
        return Err(ReadingError::TooOld {
            entity: entity.clone(),
            observed_at,
        });
    }
    Ok(observed_at)
}

/// Check one value against its quantity's type and range, and against the entity itself
/// (a socket number must exist on the station).
pub fn check_value(
    entity: &Entity,
    quantity: Quantity,
    json: &serde_json::Value,
) -> Result<Value, ReadingError> {
    let wrong_type = |expected: &str| ReadingError::WrongType {
        entity: entity.id.clone(),
        quantity: quantity.name(),
        expected: expected.to_string(),
        got: truncate(&json.to_string(), 40),
    };
    if let (Quantity::SocketStatus(n) | Quantity::SocketPower(n), Asset::EvCharger(c)) =
        (quantity, &entity.asset)
        && usize::from(n) > c.sockets.len()
    {
        return Err(ReadingError::UnknownQuantity {
            entity: entity.id.clone(),
            quantity: quantity.name(),
            kind: "station with that many sockets",
        });
    }
    match quantity.spec() {
        ValueSpec::Number { min, max, unit } => {
            let x = json.as_f64().ok_or_else(|| wrong_type("a number"))?;
            if !x.is_finite() {
                return Err(ReadingError::NotFinite {
                    entity: entity.id.clone(),
                    quantity: quantity.name(),
                });
            }
            let max = match (quantity, &entity.asset) {
                (Quantity::AvailableCapacity, Asset::EvCharger(c)) => c.sockets.len() as f64,
                _ => max,
            };
            if x < min || x > max {
                return Err(ReadingError::OutOfRange {
                    entity: entity.id.clone(),
                    quantity: quantity.name(),
                    value: x,
                    min,
                    max,
                    unit: unit.to_string(),
                });
            }
            Ok(Value::Number(x))
        }
        ValueSpec::Bool => json
            .as_bool()
            .map(Value::Bool)
            .ok_or_else(|| wrong_type("true or false")),
        ValueSpec::Text(allowed) => {
            let s = json.as_str().ok_or_else(|| wrong_type("a string"))?;
            if allowed.contains(&s) {
                Ok(Value::Text(s.to_string()))
            } else {
                Err(wrong_type(&format!("one of {}", allowed.join(", "))))
            }
        }
        ValueSpec::DateTime => {
            let s = json
                .as_str()
                .ok_or_else(|| wrong_type("an RFC 3339 timestamp"))?;
            DateTime::parse_from_rfc3339(s)
                .map(|_| Value::Text(s.to_string()))
                .map_err(|_| wrong_type("an RFC 3339 timestamp"))
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::city::tests::tiny_city;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap()
    }

    /// Validate `json` and expect success or an error whose message contains `fragment`.
    fn check(json: &str, expected: Result<usize, (&str, &str)>) {
        let city = tiny_city();
        let got = RawReading::from_json(json).and_then(|raw| validate_reading(&raw, &city, now()));
        match (got, expected) {
            (Ok(r), Ok(n)) => assert_eq!(r.values.len(), n),
            (Err(e), Err((reason, fragment))) => {
                assert_eq!(e.reason(), reason, "{e}");
                assert!(
                    e.to_string().contains(fragment),
                    "`{e}` should contain `{fragment}`"
                );
            }
            (got, expected) => panic!("{json}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn accepts_good_readings() {
        check(
            r#"{"entity":"bin:1","observedAt":"2026-11-27T08:00:00Z","values":{"fillingLevel":0.82}}"#,
            Ok(1),
        );
        check(
            r#"{"entity":"street:1","observedAt":"2026-11-27T08:00:00+02:00","values":{"intensity":820,"congested":false}}"#,
            Ok(2),
        );
        check(
            r#"{"entity":"charger:1","observedAt":"2026-11-27T08:00:00Z","values":{"socketPower.2":11.0,"socketStatus.1":"charging"}}"#,
            Ok(2),
        );
    }

    #[test]
    fn rejects_with_the_entity_the_quantity_and_the_reason() {
        check(
            r#"{"entity":"bin:1","observedAt":"2026-11-27T08:00:00Z","values":{"fillingLevel":1.7}}"#,
            Err((
                "out_of_range",
                "bin:1: `fillingLevel` = 1.7 is out of range [0, 1]",
            )),
        );
        check(
            r#"{"entity":"bin:99","observedAt":"2026-11-27T08:00:00Z","values":{"fillingLevel":0.5}}"#,
            Err(("unknown_entity", "bin:99: unknown entity")),
        );
        check(
            r#"{"entity":"bin:1","observedAt":"2026-11-27T08:00:00Z","values":{"intensity":5}}"#,
            Err((
                "unknown_quantity",
                "`intensity` is not a quantity of a waste bin",
            )),
        );
        check(
            r#"{"entity":"bin:1","observedAt":"2026-11-27T08:00:00Z","values":{"fillingLevel":"full"}}"#,
            Err(("wrong_type", "must be a number")),
        );
        check(
            r#"{"entity":"bin:1","observedAt":"2026-11-28T08:00:00Z","values":{"fillingLevel":0.2}}"#,
            Err(("future_timestamp", "in the future")),
        );
        check(
            r#"{"entity":"bin:1","observedAt":"yesterday","values":{"fillingLevel":0.2}}"#,
            Err(("bad_timestamp", "`yesterday`")),
        );
        check(
            r#"{"entity":"bin:1","observedAt":"2026-11-27T08:00:00Z","values":{}}"#,
            Err(("no_values", "no values")),
        );
        check(
            r#"{"entity":"bin:1","values":{}}"#,
            Err(("malformed", "observedAt")),
        );
        check(
            r#"{"entity":"charger:1","observedAt":"2026-11-27T08:00:00Z","values":{"socketPower.3":11.0}}"#,
            Err(("unknown_quantity", "socketPower.3")),
        );
        check(
            r#"{"entity":"charger:1","observedAt":"2026-11-27T08:00:00Z","values":{"availableCapacity":3}}"#,
            Err(("out_of_range", "[0, 2]")),
        );
    }

    #[test]
    fn gateway_payloads_bom_repeated_keys_and_bad_bytes() {
        let good = r#"{"entity":"bin:1","observedAt":"2026-11-27T08:00:00Z","values":{"fillingLevel":0.5}}"#;
        check(&format!("\u{feff}{good}"), Ok(1));
        check(
            r#"{"entity":"bin:1","observedAt":"2026-11-27T08:00:00Z","values":{"fillingLevel":0.10,"fillingLevel":0.95}}"#,
            Err(("duplicate_key", "`fillingLevel`")),
        );
        check(
            r#"{"entity":"bin:2","entity":"bin:1","observedAt":"2026-11-27T08:00:00Z","values":{"fillingLevel":0.5}}"#,
            Err(("duplicate_key", "`entity`")),
        );
        check(
            r#"{"entity":"bin:1","observedAt":"2026-11-27t08:00:00z","values":{"fillingLevel":0.5}}"#,
            Ok(1),
        );
        check(
            r#"{"entity":"bin:1","observedAt":"2026-11-27T08:00:00-05:00Z","values":{"fillingLevel":0.5}}"#,
            Err(("bad_timestamp", "-05:00Z")),
        );
        let mut latin1 = good.replace("0.5}", "0.5,\"note\":\"x\"}").into_bytes();
        let at = latin1.iter().position(|&b| b == b'x').expect("x");
        latin1[at] = 0xE9;
        let err = RawReading::from_jsonl_line(&latin1).unwrap_err();
        assert_eq!(err.reason(), "not_utf8");
        assert_eq!(
            err.to_string(),
            format!("byte {} of the line is not UTF-8", at + 1)
        );
        let crlf = format!("{good}\r");
        assert!(
            RawReading::from_jsonl_line(crlf.as_bytes())
                .expect("reads")
                .is_some()
        );
        assert_eq!(RawReading::from_jsonl_line(b"  ").expect("blank"), None);
    }

    proptest! {
        #[test]
        fn filling_level_is_accepted_exactly_in_range(level in -2.0f64..3.0) {
            let city = tiny_city();
            let raw = RawReading {
                entity: "bin:1".into(),
                observed_at: "2026-11-27T08:00:00Z".into(),
                values: [("fillingLevel".to_string(), serde_json::json!(level))].into_iter().collect(),
            };
            let ok = validate_reading(&raw, &city, now()).is_ok();
            prop_assert_eq!(ok, (0.0..=1.0).contains(&level));
        }

        #[test]
        fn arbitrary_json_never_panics(s in "\\PC{0,200}") {
            let city = tiny_city();
            if let Ok(raw) = RawReading::from_json(&s) {
                let _ = validate_reading(&raw, &city, now());
            }
        }
    }
}
