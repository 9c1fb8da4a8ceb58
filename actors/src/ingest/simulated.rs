//! The simulated feed: plausible Pitești sensor traffic so the twin is alive with no hardware.
//!
//! A twin clock runs at `speed` × real time from the start. Every tick it emits the readings due:
//! - street counters on main roads (every 5 min): volume from a two-peak daily curve (7–9 h and
//!   16–18 h), speed from the BPR volume-delay function;
//! - transformer posts (every 15 min): active and reactive load from a household/commercial mix
//!   of daily load curves around each post's peak;
//! - water demand meters on one junction in twenty (every 15 min): base demand × a daily curve;
//! - bins (every hour): filling at the stream's rate with neighbourhood noise, emptied on the
//!   morning round when above 70 %;
//! - EV sockets: session arrivals per hour and energy per session drawn from the calibration on
//!   the real Dundee sessions; status on arrival and departure, power every 5 min while charging.
//!
//! Deterministic for a seed and a sequence of tick times.

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use twin_core::CityModel;
use twin_core::entity::{Asset, RoadClass};
use twin_core::ev::ChargingCalibration;
use twin_core::profiles::{post_load, traffic_curve, water_curve};
use twin_core::reading::RawReading;
use twin_core::waste::fill::prior_rate_per_hour;

struct Sensor {
    entity: usize,
    next: DateTime<Utc>,
}

#[derive(Clone, Copy)]
struct Socket {
    max_kw: f64,
    /// Session under way: (end time, power kW).
    session: Option<(DateTime<Utc>, f64)>,
}

pub struct SimulatedFeed {
    rng: ChaCha8Rng,
    streets: Vec<Sensor>,
    posts: Vec<Sensor>,
    junctions: Vec<(Sensor, f64)>,
    bins: Vec<(Sensor, f64, f64)>,
    chargers: Vec<(Sensor, Vec<Socket>)>,
    calibration: Option<ChargingCalibration>,
}

const STREET_PERIOD: i64 = 300;
const POST_PERIOD: i64 = 900;
const WATER_PERIOD: i64 = 900;
const BIN_PERIOD: i64 = 3600;
const CHARGER_PERIOD: i64 = 300;

impl SimulatedFeed {
    /// A feed over `city` starting at `start`; `calibration` drives EV sessions (none: no EV
    /// sessions are simulated).
    pub fn new(
        city: &CityModel,
        seed: u64,
        start: DateTime<Utc>,
        calibration: Option<ChargingCalibration>,
    ) -> SimulatedFeed {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Spread first readings over one period so they do not all arrive at once.
        let sensor = |entity: usize, period: i64, rng: &mut ChaCha8Rng| Sensor {
            entity,
            next: start + Duration::seconds(rng.random_range(0..period)),
        };
        let demand_lps: std::collections::HashMap<&str, f64> = city
            .water_network
            .as_ref()
            .map(|n| {
                let to_lps = n.flow_units.to_m3s() * 1000.0;
                n.junctions
                    .iter()
                    .map(|j| (j.id.as_str(), j.base_demand * to_lps))
                    .collect()
            })
            .unwrap_or_default();
        let mut feed = SimulatedFeed {
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed),
            streets: Vec::new(),
            posts: Vec::new(),
            junctions: Vec::new(),
            bins: Vec::new(),
            chargers: Vec::new(),
            calibration,
        };
        for (i, e) in city.entities().iter().enumerate() {
            match &e.asset {
                Asset::StreetSegment(s)
                    if matches!(
                        s.road_class,
                        RoadClass::Trunk | RoadClass::Primary | RoadClass::Secondary
                    ) =>
                {
                    feed.streets.push(sensor(i, STREET_PERIOD, &mut rng));
                }
                Asset::TransformerPost(_) => feed.posts.push(sensor(i, POST_PERIOD, &mut rng)),
                Asset::Junction(_) if i % 20 == 0 => {
                    if let Some(&d) = demand_lps.get(e.id.local()) {
                        feed.junctions.push((sensor(i, WATER_PERIOD, &mut rng), d));
                    }
                }
                Asset::WasteBin(_) => {
                    let level = rng.random_range(0.0..0.6);
                    let factor = rng.random_range(0.7..1.4);
                    feed.bins
                        .push((sensor(i, BIN_PERIOD, &mut rng), level, factor));
                }
                Asset::EvCharger(c) => {
                    let sockets = c
                        .sockets
                        .iter()
                        .map(|s| Socket {
                            max_kw: s.max_power_kw,
                            session: None,
                        })
                        .collect();
                    feed.chargers
                        .push((sensor(i, CHARGER_PERIOD, &mut rng), sockets));
                }
                _ => {}
            }
        }
        feed
    }

    /// Sensors the feed simulates.
    pub fn sensors(&self) -> usize {
        self.streets.len()
            + self.posts.len()
            + self.junctions.len()
            + self.bins.len()
            + self.chargers.len()
    }

    /// The readings due up to twin time `now`.
    pub fn readings_until(&mut self, city: &CityModel, now: DateTime<Utc>) -> Vec<RawReading> {
        let mut out = Vec::new();
        let entities = city.entities();
        let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let hour_of = |t: DateTime<Utc>| f64::from(t.hour()) + f64::from(t.minute()) / 60.0;
        let reading = |entity: usize, t: DateTime<Utc>, values: serde_json::Value| RawReading {
            entity: entities[entity].id.to_string(),
            observed_at: stamp(t),
            values: serde_json::from_value(values).unwrap_or_default(),
        };
        let rng = &mut self.rng;
        for s in &mut self.streets {
            while s.next <= now {
                let t = s.next;
                s.next += Duration::seconds(STREET_PERIOD);
                let Asset::StreetSegment(seg) = &entities[s.entity].asset else {
                    continue;
                };
                let directions = if seg.oneway { 1.0 } else { 2.0 };
                let capacity = seg.capacity_veh_h * directions;
                let v_c = 0.85 * traffic_curve(hour_of(t)) * rng.random_range(0.85..1.15);
                let intensity = (capacity * v_c).round();
                let speed = seg.free_speed_kmh / (1.0 + 0.15 * v_c.powi(4));
                out.push(reading(
                    s.entity,
                    t,
                    json!({"intensity": intensity, "averageVehicleSpeed": (speed * 10.0).round() / 10.0}),
                ));
            }
        }
        for s in &mut self.posts {
            while s.next <= now {
                let t = s.next;
                s.next += Duration::seconds(POST_PERIOD);
                let Asset::TransformerPost(p) = &entities[s.entity].asset else {
                    continue;
                };
                let (kw, kvar) = post_load(p, hour_of(t));
                let noise = rng.random_range(0.92..1.08);
                let (kw, kvar) = (kw * noise, kvar * noise);
                out.push(reading(
                    s.entity,
                    t,
                    json!({"activePower": (kw * 10.0).round() / 10.0, "reactivePower": (kvar * 10.0).round() / 10.0}),
                ));
            }
        }
        for (s, base) in &mut self.junctions {
            while s.next <= now {
                let t = s.next;
                s.next += Duration::seconds(WATER_PERIOD);
                let d = *base * water_curve(hour_of(t)) * rng.random_range(0.9..1.1);
                out.push(reading(
                    s.entity,
                    t,
                    json!({"demand": (d * 1000.0).round() / 1000.0}),
                ));
            }
        }
        for (s, level, factor) in &mut self.bins {
            while s.next <= now {
                let t = s.next;
                s.next += Duration::seconds(BIN_PERIOD);
                let Asset::WasteBin(b) = &entities[s.entity].asset else {
                    continue;
                };
                let rate = prior_rate_per_hour(
                    b.stored_waste_kind,
                    t.weekday().num_days_from_monday(),
                    t.month(),
                    *factor,
                );
                if t.hour() == 6 && *level > 0.7 {
                    *level = rng.random_range(0.0..0.04);
                } else {
                    *level = (*level + rate * rng.random_range(0.5..1.5)).min(1.0);
                }
                let measured = (*level + rng.random_range(-0.02..0.02)).clamp(0.0, 1.0);
                out.push(reading(
                    s.entity,
                    t,
                    json!({"fillingLevel": (measured * 1000.0).round() / 1000.0}),
                ));
            }
        }
        if let Some(cal) = &self.calibration {
            for (s, sockets) in &mut self.chargers {
                while s.next <= now {
                    let t = s.next;
                    s.next += Duration::seconds(CHARGER_PERIOD);
                    let mut values = serde_json::Map::new();
                    let arrival_p = cal.arrivals_per_point_hour[t.hour() as usize]
                        * CHARGER_PERIOD as f64
                        / 3600.0;
                    for (k, socket) in sockets.iter_mut().enumerate() {
                        let n = k + 1;
                        if let Some((end, _)) = socket.session
                            && end <= t
                        {
                            socket.session = None;
                            values.insert(format!("socketStatus.{n}"), json!("available"));
                            values.insert(format!("socketPower.{n}"), json!(0.0));
                        }
                        if socket.session.is_none() && rng.random_bool(arrival_p.clamp(0.0, 1.0)) {
                            let energy = cal.energy_kwh(rng.random_range(0.0..1.0)).max(0.5);
                            // Cars draw less than a fast charger's rating; AC at the socket's rating.
                            let kw = if socket.max_kw > 22.0 {
                                socket.max_kw * rng.random_range(0.5..0.9)
                            } else {
                                socket.max_kw.min(rng.random_range(3.6..11.0)).max(1.0)
                            };
                            let hours = energy / kw;
                            socket.session =
                                Some((t + Duration::seconds((hours * 3600.0) as i64), kw));
                            values.insert(format!("socketStatus.{n}"), json!("charging"));
                        }
                        if let Some((_, kw)) = socket.session {
                            values.insert(
                                format!("socketPower.{n}"),
                                json!((kw * 10.0).round() / 10.0),
                            );
                        }
                    }
                    let free = sockets.iter().filter(|s| s.session.is_none()).count();
                    values.insert("availableCapacity".into(), json!(free));
                    out.push(RawReading {
                        entity: entities[s.entity].id.to_string(),
                        observed_at: stamp(t),
                        values: values.into_iter().collect(),
                    });
                }
            }
        }
        out
    }
}
