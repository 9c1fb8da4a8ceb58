//! The live state of one entity and how a validated reading changes it: the pure logic that an
//! entity actor runs (the actor only adds a mailbox, panic isolation and publishing).
//!
//! [`EntityLive::apply_reading`] keeps the latest value of every quantity, a short history of
//! recent readings, and the state derived per asset kind:
//! - street segment: a congestion level (0 free flow … 1 jammed) from speed or intensity;
//! - waste bin: the fill rate, hours to full and predicted overflow time (the
//!   [`crate::waste::fill`] estimator), and the last emptying seen;
//! - EV charger: energy of the sessions under way, integrated from socket power, and total power.
//!
//! It returns a [`Delta`] naming only what changed, or nothing when the reading changed nothing
//! (an exact repeat, as an MQTT redelivery after a crash produces, is a no-op).

use std::collections::VecDeque;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::entity::{Asset, Entity};
use crate::quantity::{Quantity, Value};
use crate::reading::Reading;
use crate::waste::fill::{FillEstimator, prior_rate_per_hour};

/// Readings kept per entity for its recent history.
pub const HISTORY_LEN: usize = 32;

/// Level above which a bin counts as overflowing.
pub const BIN_FULL_LEVEL: f64 = 0.95;

/// One past reading of one quantity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    pub observed_ms: i64,
    pub quantity: Quantity,
    pub value: Value,
}

/// State derived from the readings, by asset kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum Derived {
    #[default]
    Nothing,
    Street {
        congestion: f64,
    },
    Bin {
        estimator: FillEstimator,
        fill_rate_per_h: f64,
        hours_to_full: Option<f64>,
        last_emptied_ms: Option<i64>,
    },
    Charger {
        /// Per socket: (ms, kW) of the last power reading and the energy of the session under way.
        sockets: Vec<SocketSession>,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SocketSession {
    pub last_ms: Option<i64>,
    pub power_kw: f64,
    pub energy_kwh: f64,
}

/// A field of the published state: a measured quantity or one derived from readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Field {
    Measured(Quantity),
    CongestionLevel,
    FillRatePerHour,
    HoursToFull,
    PredictedOverflow,
    LastEmptied,
    SessionEnergy,
    ChargingPower,
}

impl Field {
    /// The attribute name in deltas and the API.
    pub fn name(self) -> String {
        match self {
            Field::Measured(q) => q.name(),
            Field::CongestionLevel => "congestionLevel".into(),
            Field::FillRatePerHour => "fillRatePerHour".into(),
            Field::HoursToFull => "hoursToFull".into(),
            Field::PredictedOverflow => "predictedOverflowAt".into(),
            Field::LastEmptied => "dateLastEmptying".into(),
            Field::SessionEnergy => "sessionEnergy".into(),
            Field::ChargingPower => "chargingPower".into(),
        }
    }
}

/// What one reading changed: fields set to new values, and derived fields that no longer have
/// one (a bin whose fill rate fell to zero has no time to full). Applied in order, a state's
/// deltas add up to its published state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub observed_ms: i64,
    pub changes: Vec<(Field, Value)>,
    /// Fields removed from the published state (sent as `null` to viewers, as in a JSON merge
    /// patch, RFC 7396).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<Field>,
}

/// Live state of one entity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EntityLive {
    /// Latest value of each quantity and when it was observed (ms since the epoch).
    pub latest: Vec<(Quantity, Value, i64)>,
    /// The most recent readings, oldest first, at most [`HISTORY_LEN`].
    pub history: VecDeque<HistoryPoint>,
    pub derived: Derived,
    /// Readings applied (duplicates excluded).
    pub readings: u64,
}

impl EntityLive {
    pub fn latest(&self, quantity: Quantity) -> Option<&Value> {
        self.latest
            .iter()
            .find(|(q, _, _)| *q == quantity)
            .map(|(_, v, _)| v)
    }

    /// Time of the most recent reading, in ms since the epoch.
    pub fn observed_ms(&self) -> Option<i64> {
        self.latest.iter().map(|(_, _, t)| *t).max()
    }

    /// Apply a validated reading of `entity`. Returns what changed, or None when nothing did.
    pub fn apply_reading(&mut self, entity: &Entity, reading: &Reading) -> Option<Delta> {
        let ms = reading.observed_at.timestamp_millis();
        // A repeat (an MQTT redelivery, possibly after newer readings) is in the history.
        let duplicate = reading.values.iter().all(|(q, v)| {
            self.history
                .iter()
                .any(|h| h.quantity == *q && h.value == *v && h.observed_ms == ms)
        });
        if duplicate {
            return None;
        }
        self.readings += 1;
        let mut changes = Vec::new();
        for (quantity, value) in &reading.values {
            if self.history.len() == HISTORY_LEN {
                self.history.pop_front();
            }
            self.history.push_back(HistoryPoint {
                observed_ms: ms,
                quantity: *quantity,
                value: value.clone(),
            });
            match self.latest.iter_mut().find(|(q, _, _)| q == quantity) {
                // An older reading arriving late goes to the history only.
                Some((_, _, t)) if *t > ms => {}
                Some((_, v, t)) => {
                    *t = ms;
                    if v != value {
                        *v = value.clone();
                        changes.push((Field::Measured(*quantity), value.clone()));
                    }
                }
                None => {
                    self.latest.push((*quantity, value.clone(), ms));
                    changes.push((Field::Measured(*quantity), value.clone()));
                }
            }
        }
        let mut removed = Vec::new();
        self.derive(entity, reading, ms, &mut changes, &mut removed);
        (!changes.is_empty() || !removed.is_empty()).then_some(Delta {
            observed_ms: ms,
            changes,
            removed,
        })
    }

    fn derive(
        &mut self,
        entity: &Entity,
        reading: &Reading,
        ms: i64,
        changes: &mut Vec<(Field, Value)>,
        removed: &mut Vec<Field>,
    ) {
        match &entity.asset {
            Asset::StreetSegment(street) => {
                let speed = self
                    .latest(Quantity::AverageVehicleSpeed)
                    .and_then(Value::as_f64);
                let intensity = self.latest(Quantity::Intensity).and_then(Value::as_f64);
                // Prefer speed (what drivers feel); else volume over capacity of both directions.
                let level = match (speed, intensity) {
                    (Some(v), _) => {
                        (1.0 - v / street.free_flow_speed_kmh().max(1.0)).clamp(0.0, 1.0)
                    }
                    (None, Some(q)) => {
                        let directions = if street.oneway { 1.0 } else { 2.0 };
                        (q / (street.capacity_veh_h * directions).max(1.0)).clamp(0.0, 1.0)
                    }
                    (None, None) => return,
                };
                let level = (level * 1000.0).round() / 1000.0;
                let old = match &self.derived {
                    Derived::Street { congestion } => Some(*congestion),
                    _ => None,
                };
                if old != Some(level) {
                    self.derived = Derived::Street { congestion: level };
                    changes.push((Field::CongestionLevel, Value::Number(level)));
                }
            }
            Asset::WasteBin(bin) => {
                let Some(level) = reading
                    .values
                    .iter()
                    .find(|(q, _)| *q == Quantity::FillingLevel)
                    .and_then(|(_, v)| v.as_f64())
                else {
                    return;
                };
                if !matches!(self.derived, Derived::Bin { .. }) {
                    let at = reading.observed_at;
                    let prior = prior_rate_per_hour(
                        bin.stored_waste_kind,
                        at.weekday().num_days_from_monday(),
                        at.month(),
                        1.0,
                    );
                    self.derived = Derived::Bin {
                        estimator: FillEstimator::new(prior, 0.5, 0.03),
                        fill_rate_per_h: prior,
                        hours_to_full: None,
                        last_emptied_ms: None,
                    };
                    // Published from the start, so that what the deltas add up to is the state.
                    changes.push((Field::FillRatePerHour, Value::Number(prior)));
                }
                let Derived::Bin {
                    estimator,
                    fill_rate_per_h,
                    hours_to_full,
                    last_emptied_ms,
                } = &mut self.derived
                else {
                    return;
                };
                let hours = ms as f64 / 3_600_000.0;
                if estimator.apply_reading(hours, level) {
                    *last_emptied_ms = Some(ms);
                    changes.push((Field::LastEmptied, Value::Text(rfc3339(ms))));
                }
                if let Some(e) = estimator.estimate() {
                    let rate = round_to(e.rate_per_h, 1e-5);
                    if rate != *fill_rate_per_h {
                        *fill_rate_per_h = rate;
                        changes.push((Field::FillRatePerHour, Value::Number(rate)));
                    }
                    let to_full = e
                        .hours_to_full
                        .is_finite()
                        .then(|| round_to(e.hours_to_full, 0.1));
                    if to_full != *hours_to_full {
                        *hours_to_full = to_full;
                        if let Some(h) = to_full {
                            changes.push((Field::HoursToFull, Value::Number(h)));
                            let at = ms + (h * 3_600_000.0) as i64;
                            changes.push((Field::PredictedOverflow, Value::Text(rfc3339(at))));
                        } else {
                            // No longer filling: the last estimate must not stay on show.
                            removed.extend([Field::HoursToFull, Field::PredictedOverflow]);
                        }
                    }
                }
            }
            Asset::EvCharger(charger) => {
                if !matches!(self.derived, Derived::Charger { .. }) {
                    self.derived = Derived::Charger {
                        sockets: vec![SocketSession::default(); charger.sockets.len()],
                    };
                }
                let Derived::Charger { sockets } = &mut self.derived else {
                    return;
                };
                let mut touched = false;
                for (quantity, value) in &reading.values {
                    match (quantity, value) {
                        (Quantity::SocketPower(n), Value::Number(kw)) => {
                            let Some(s) = sockets.get_mut(usize::from(*n).wrapping_sub(1)) else {
                                continue;
                            };
                            // Energy since the last reading: the trapezoid of the two powers.
                            if let Some(last) = s.last_ms.filter(|&t| t < ms) {
                                let hours = (ms - last) as f64 / 3_600_000.0;
                                s.energy_kwh += 0.5 * (s.power_kw + kw) * hours;
                            }
                            s.last_ms = Some(ms);
                            s.power_kw = *kw;
                            touched = true;
                        }
                        (Quantity::SocketStatus(n), Value::Text(status)) => {
                            let Some(s) = sockets.get_mut(usize::from(*n).wrapping_sub(1)) else {
                                continue;
                            };
                            if status == "available" || status == "outOfService" {
                                // The session ended: a new one starts from zero.
                                *s = SocketSession {
                                    last_ms: Some(ms),
                                    ..SocketSession::default()
                                };
                                touched = true;
                            }
                        }
                        _ => {}
                    }
                }
                if touched {
                    let energy: f64 = sockets.iter().map(|s| s.energy_kwh).sum();
                    let power: f64 = sockets.iter().map(|s| s.power_kw).sum();
                    changes.push((Field::SessionEnergy, Value::Number(round_to(energy, 1e-3))));
                    changes.push((Field::ChargingPower, Value::Number(round_to(power, 1e-3))));
                }
            }
            _ => {}
        }
    }

    /// The whole published state as one delta: every measured and derived field at its current
    /// value. Sent when a state is replaced wholesale (a shard adopted from another node), so
    /// that viewers and network models see the new state as they see a reading's changes.
    pub fn full_delta(&self) -> Delta {
        let observed_ms = self.observed_ms().unwrap_or(0);
        let mut changes: Vec<(Field, Value)> = self
            .latest
            .iter()
            .map(|(q, v, _)| (Field::Measured(*q), v.clone()))
            .collect();
        let mut removed = Vec::new();
        match &self.derived {
            Derived::Nothing => {}
            Derived::Street { congestion } => {
                changes.push((Field::CongestionLevel, Value::Number(*congestion)));
            }
            Derived::Bin {
                fill_rate_per_h,
                hours_to_full,
                last_emptied_ms,
                ..
            } => {
                changes.push((Field::FillRatePerHour, Value::Number(*fill_rate_per_h)));
                if let Some(h) = hours_to_full {
                    changes.push((Field::HoursToFull, Value::Number(*h)));
                    let at = observed_ms + (h * 3_600_000.0) as i64;
                    changes.push((Field::PredictedOverflow, Value::Text(rfc3339(at))));
                } else {
                    removed.extend([Field::HoursToFull, Field::PredictedOverflow]);
                }
                if let Some(t) = last_emptied_ms {
                    changes.push((Field::LastEmptied, Value::Text(rfc3339(*t))));
                }
            }
            Derived::Charger { sockets } => {
                let energy: f64 = sockets.iter().map(|s| s.energy_kwh).sum();
                let power: f64 = sockets.iter().map(|s| s.power_kw).sum();
                changes.push((Field::SessionEnergy, Value::Number(round_to(energy, 1e-3))));
                changes.push((Field::ChargingPower, Value::Number(round_to(power, 1e-3))));
            }
        }
        Delta {
            observed_ms,
            changes,
            removed,
        }
    }

    /// The whole state as a JSON object of field name to value (measured and derived).
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut out: serde_json::Map<String, serde_json::Value> = self
            .full_delta()
            .changes
            .into_iter()
            .map(|(f, v)| (f.name(), v.to_json()))
            .collect();
        if let Some(t) = self.observed_ms() {
            out.insert("observedAt".into(), rfc3339(t).into());
        }
        out
    }
}

/// Round to a multiple of `step` (a power of ten), dividing by an exact integer so the result
/// prints short.
fn round_to(x: f64, step: f64) -> f64 {
    let k = (1.0 / step).round();
    (x * k).round() / k
}

/// RFC 3339 text of a time in ms since the epoch (UTC, second precision or finer).
pub fn rfc3339(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::{ChargerSite, RoadClass};
    use crate::entity::{EvCharger, Socket, StreetSegment, WasteBin, WasteKind};
    use crate::geometry::LonLat;
    use crate::id::EntityId;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(ms).single().expect("valid time")
    }

    fn reading(entity: &Entity, ms: i64, values: Vec<(Quantity, Value)>) -> Reading {
        Reading {
            entity: entity.id.clone(),
            observed_at: at(ms),
            values,
        }
    }

    fn bin() -> Entity {
        Entity::new(
            "bin:1".parse::<EntityId>().expect("id"),
            LonLat::new(24.87, 44.86),
            Asset::WasteBin(WasteBin {
                stored_waste_kind: WasteKind::Residual,
                volume_l: 1100.0,
                collection_point: 1,
            }),
        )
    }

    const T0: i64 = 1_790_000_000_000;
    const HOUR: i64 = 3_600_000;

    proptest::proptest! {
        /// What a bin's deltas add up to is its published state (a viewer or another node
        /// that saw every delta shows what the actor holds); the predicted overflow time is
        /// left out, as it is dated from the reading that changed the estimate.
        #[test]
        fn a_bins_deltas_add_up_to_its_state(levels in proptest::collection::vec(0.0f64..1.0, 1..30)) {
            let e = bin();
            let mut live = EntityLive::default();
            let mut seen: std::collections::BTreeMap<String, serde_json::Value> = Default::default();
            for (h, level) in levels.iter().enumerate() {
                let r = reading(&e, T0 + h as i64 * HOUR, vec![(Quantity::FillingLevel, Value::Number(*level))]);
                if let Some(d) = live.apply_reading(&e, &r) {
                    for (f, v) in d.changes {
                        seen.insert(f.name(), v.to_json());
                    }
                    for f in d.removed {
                        seen.remove(&f.name());
                    }
                }
            }
            let mut state: std::collections::BTreeMap<String, serde_json::Value> = live.to_json().into_iter().collect();
            state.remove("observedAt");
            state.remove("predictedOverflowAt");
            seen.remove("predictedOverflowAt");
            proptest::prop_assert_eq!(seen, state);
        }
    }

    #[test]
    fn a_bin_learns_its_fill_rate_and_sees_the_emptying() {
        let e = bin();
        let mut live = EntityLive::default();
        // 2 % per hour for 20 hours.
        for h in 0..20 {
            let level = 0.1 + 0.02 * h as f64;
            live.apply_reading(
                &e,
                &reading(
                    &e,
                    T0 + h * HOUR,
                    vec![(Quantity::FillingLevel, Value::Number(level))],
                ),
            );
        }
        let Derived::Bin {
            fill_rate_per_h,
            hours_to_full,
            last_emptied_ms,
            ..
        } = live.derived.clone()
        else {
            panic!("bin state expected, got {:?}", live.derived);
        };
        assert!((fill_rate_per_h - 0.02).abs() < 0.002, "{fill_rate_per_h}");
        // At 0.48 after 19 h, 0.52 to go at 2 %/h: 26 h.
        let hours_to_full = hours_to_full.expect("a finite time to full");
        assert!((hours_to_full - 26.0).abs() < 3.0, "{hours_to_full}");
        assert_eq!(last_emptied_ms, None);
        let delta = live
            .apply_reading(
                &e,
                &reading(
                    &e,
                    T0 + 21 * HOUR,
                    vec![(Quantity::FillingLevel, Value::Number(0.02))],
                ),
            )
            .expect("a change");
        assert!(delta.changes.iter().any(|(f, _)| *f == Field::LastEmptied));
        assert_eq!(live.history.len(), 21);
    }

    #[test]
    fn an_exact_repeat_changes_nothing_and_history_is_bounded() {
        let e = bin();
        let mut live = EntityLive::default();
        let r = reading(&e, T0, vec![(Quantity::FillingLevel, Value::Number(0.3))]);
        assert!(live.apply_reading(&e, &r).is_some());
        assert!(live.apply_reading(&e, &r).is_none());
        assert_eq!(live.readings, 1);
        // A redelivery after a newer reading is still a repeat.
        let newer = reading(
            &e,
            T0 + 1,
            vec![(Quantity::FillingLevel, Value::Number(0.31))],
        );
        assert!(live.apply_reading(&e, &newer).is_some());
        assert!(live.apply_reading(&e, &r).is_none());
        assert_eq!(live.readings, 2);
        for i in 1..100 {
            live.apply_reading(
                &e,
                &reading(
                    &e,
                    T0 + i * 60_000,
                    vec![(Quantity::Temperature, Value::Number(i as f64 / 10.0))],
                ),
            );
        }
        assert_eq!(live.history.len(), HISTORY_LEN);
        assert_eq!(
            live.history.back().map(|h| h.observed_ms),
            Some(T0 + 99 * 60_000)
        );
    }

    #[test]
    fn a_late_reading_does_not_overwrite_a_newer_one() {
        let e = bin();
        let mut live = EntityLive::default();
        live.apply_reading(
            &e,
            &reading(
                &e,
                T0 + HOUR,
                vec![(Quantity::Temperature, Value::Number(20.0))],
            ),
        );
        live.apply_reading(
            &e,
            &reading(&e, T0, vec![(Quantity::Temperature, Value::Number(5.0))]),
        );
        assert_eq!(
            live.latest(Quantity::Temperature),
            Some(&Value::Number(20.0))
        );
        assert_eq!(live.history.len(), 2);
    }

    #[test]
    fn a_street_is_congested_when_speed_drops() {
        let e = Entity::new(
            "street:1".parse::<EntityId>().expect("id"),
            LonLat::new(24.87, 44.86),
            Asset::StreetSegment(StreetSegment {
                road_class: RoadClass::Primary,
                geometry: vec![],
                length_m: 100.0,
                lanes: 2,
                speed_limit_kmh: 50.0,
                capacity_veh_h: 1800.0,
                oneway: false,
                from_node: 1,
                to_node: 2,
            }),
        );
        let mut live = EntityLive::default();
        let d = live
            .apply_reading(
                &e,
                &reading(
                    &e,
                    T0,
                    vec![(Quantity::AverageVehicleSpeed, Value::Number(10.0))],
                ),
            )
            .expect("change");
        assert!(
            d.changes
                .contains(&(Field::CongestionLevel, Value::Number(0.8)))
        );
    }

    #[test]
    fn a_charger_integrates_session_energy_and_resets_when_the_car_leaves() {
        let e = Entity::new(
            "charger:1".parse::<EntityId>().expect("id"),
            LonLat::new(24.87, 44.86),
            Asset::EvCharger(EvCharger {
                site: ChargerSite::Public,
                operator: "test".into(),
                sockets: vec![Socket {
                    socket_type: "Type2".into(),
                    max_power_kw: 22.0,
                }],
                grid_connection: "power:pt-1".parse::<EntityId>().expect("id"),
            }),
        );
        let mut live = EntityLive::default();
        let p = |kw: f64| vec![(Quantity::SocketPower(1), Value::Number(kw))];
        live.apply_reading(&e, &reading(&e, T0, p(11.0)));
        live.apply_reading(&e, &reading(&e, T0 + HOUR, p(11.0)));
        live.apply_reading(&e, &reading(&e, T0 + 2 * HOUR, p(0.0)));
        let json = live.to_json();
        assert_eq!(json["sessionEnergy"], serde_json::json!(16.5));
        live.apply_reading(
            &e,
            &reading(
                &e,
                T0 + 3 * HOUR,
                vec![(Quantity::SocketStatus(1), Value::Text("available".into()))],
            ),
        );
        assert_eq!(live.to_json()["sessionEnergy"], serde_json::json!(0.0));
    }

    #[test]
    fn state_survives_a_json_round_trip() {
        let e = bin();
        let mut live = EntityLive::default();
        for h in 0..5 {
            live.apply_reading(
                &e,
                &reading(
                    &e,
                    T0 + h * HOUR,
                    vec![(Quantity::FillingLevel, Value::Number(0.1 * h as f64))],
                ),
            );
        }
        let text = serde_json::to_string(&live).expect("serialise");
        let back: EntityLive = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, live);
    }
}
