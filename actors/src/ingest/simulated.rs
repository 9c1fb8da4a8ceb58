//! The simulated feed: plausible Pitești sensor traffic so the twin is alive with no hardware.
//!
//! A twin clock runs at `speed` × real time from the start. Every tick it emits the readings due:
//! - street counters on main roads (every 5 min): volume from the daily traffic curve of the
//!   day's type (working day, Saturday, Sunday: `twin_core::profiles`), speed from the BPR
//!   volume-delay function;
//! - transformer posts (every 15 min): active and reactive load from a household/commercial mix
//!   of daily load curves around each post's peak;
//! - water demand meters on one junction in twenty (every 15 min): the hydraulic model's demand
//!   at that time of day (its demand categories and patterns, as `twin solve water` uses them);
//! - bins (every hour): filling at the stream's rate with neighbourhood noise, emptied on the
//!   morning round when above 70 %;
//! - EV chargers (every 15 min): the sessions of `twin_core::ev` (the same demand model, sites
//!   and charging simulation as `twin ev study`, calibrated on the real Dundee sessions), for a
//!   fleet of the city's cars at the feed's EV share: each socket's status and power.
//!
//! Deterministic for a seed and a sequence of tick times.

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use twin_core::CityModel;
use twin_core::entity::Asset;
use twin_core::ev::calibration::DemandFit;
use twin_core::ev::charging::Sharing;
use twin_core::ev::demand::DemandSettings;
use twin_core::ev::stepper::{ChargingSetup, EvStepper, SmartCharging};
use twin_core::profiles::{DayType, post_load, traffic_curve};
use twin_core::reading::RawReading;
use twin_core::waste::fill::prior_rate_per_hour;
use twin_core::water::model::HydModel;

struct Sensor {
    entity: usize,
    next: DateTime<Utc>,
}

pub struct SimulatedFeed {
    rng: ChaCha8Rng,
    streets: Vec<Sensor>,
    posts: Vec<Sensor>,
    /// Metered junctions and their node in `water`.
    junctions: Vec<(Sensor, usize)>,
    /// The hydraulic model whose demands the meters read (the one every command uses).
    water: Option<HydModel>,
    bins: Vec<(Sensor, f64, f64)>,
    ev: Option<EvFeed>,
}

/// What drives the feed's EV sessions.
#[derive(Debug, Clone)]
pub struct EvFeedConfig {
    pub fit: DemandFit,
    /// Share of the city's cars that are electric.
    pub ev_share: f64,
}

/// The city's charging, stepped on the twin clock by the one EV model the study and the
/// scenarios use.
struct EvFeed {
    stepper: EvStepper,
    /// Midnight (UTC) of the first day; steps count from it.
    origin: DateTime<Utc>,
    next_step: usize,
}

/// Minutes per step of the EV simulation.
const EV_STEP_MIN: i64 = 15;

impl EvFeed {
    fn new(
        city: &CityModel,
        config: EvFeedConfig,
        start: DateTime<Utc>,
        seed: u64,
    ) -> Option<EvFeed> {
        let origin = start.date_naive().and_hms_opt(0, 0, 0)?.and_utc();
        let setup = ChargingSetup {
            ev_share: config.ev_share,
            fleet_override: None,
            buses: None,
            demand: DemandSettings::default(),
            add_chargers: 0,
            add_sockets: Vec::new(),
            remove_chargers: Vec::new(),
            site_caps: Vec::new(),
            smart: SmartCharging::Off,
            sharing: Sharing::EarliestDeadline,
            seed: seed ^ 0xe5,
            start: origin.naive_utc(),
            step_h: EV_STEP_MIN as f64 / 60.0,
        };
        let stepper = match EvStepper::new(city, &config.fit, &setup) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "no EV sessions in the simulated feed");
                return None;
            }
        };
        let mut feed = EvFeed {
            stepper,
            origin,
            next_step: 0,
        };
        // Run the day so far silently, so the chargers start with the cars already there.
        let now_step = ((start - origin).num_minutes() / EV_STEP_MIN) as usize;
        while feed.next_step < now_step {
            feed.advance();
        }
        Some(feed)
    }

    fn step_time(&self, k: usize) -> DateTime<Utc> {
        self.origin + Duration::minutes(k as i64 * EV_STEP_MIN)
    }

    /// Simulate the next step (smart charging off: the feed needs no grid).
    fn advance(&mut self) {
        self.stepper.step(self.next_step, &[], &[]);
        self.next_step += 1;
    }
}

const STREET_PERIOD: i64 = 300;
const POST_PERIOD: i64 = 900;
const WATER_PERIOD: i64 = 900;
const BIN_PERIOD: i64 = 3600;

impl SimulatedFeed {
    /// A feed over `city` starting at `start`; `ev` drives EV sessions (none: no EV
    /// sessions are simulated).
    pub fn new(
        city: &CityModel,
        seed: u64,
        start: DateTime<Utc>,
        ev: Option<EvFeedConfig>,
    ) -> SimulatedFeed {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Spread first readings over one period so they do not all arrive at once.
        let sensor = |entity: usize, period: i64, rng: &mut ChaCha8Rng| Sensor {
            entity,
            next: start + Duration::seconds(rng.random_range(0..period)),
        };
        // A network the hydraulic model refuses has no meters to simulate.
        let water = city
            .water_network
            .as_ref()
            .and_then(|n| HydModel::from_epanet(n).ok());
        let mut feed = SimulatedFeed {
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed),
            streets: Vec::new(),
            posts: Vec::new(),
            junctions: Vec::new(),
            water: None,
            bins: Vec::new(),
            ev: ev.and_then(|config| EvFeed::new(city, config, start, seed)),
        };
        for (i, e) in city.entities().iter().enumerate() {
            match &e.asset {
                Asset::StreetSegment(s) if s.road_class.is_main_axis() => {
                    feed.streets.push(sensor(i, STREET_PERIOD, &mut rng));
                }
                Asset::TransformerPost(_) => feed.posts.push(sensor(i, POST_PERIOD, &mut rng)),
                Asset::Junction(_) if i % 20 == 0 => {
                    if let Some(node) = water
                        .as_ref()
                        .and_then(|m| e.source_id.as_deref().and_then(|s| m.node_index(s)))
                    {
                        feed.junctions
                            .push((sensor(i, WATER_PERIOD, &mut rng), node));
                    }
                }
                Asset::WasteBin(_) => {
                    let level = rng.random_range(0.0..0.6);
                    let factor = rng.random_range(0.7..1.4);
                    feed.bins
                        .push((sensor(i, BIN_PERIOD, &mut rng), level, factor));
                }
                _ => {}
            }
        }
        feed.water = water;
        feed
    }

    /// Sensors the feed simulates.
    pub fn sensors(&self) -> usize {
        self.streets.len()
            + self.posts.len()
            + self.junctions.len()
            + self.bins.len()
            + self
                .ev
                .as_ref()
                .map_or(0, |e| e.stepper.network().chargers.len())
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
                let day = DayType::from_weekday(t.weekday().num_days_from_monday());
                let v_c = 0.85 * traffic_curve(day, hour_of(t)) * rng.random_range(0.85..1.15);
                let intensity = (capacity * v_c).round();
                let speed = seg.congested_speed_kmh(v_c);
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
        for (s, node) in &mut self.junctions {
            let Some(model) = &self.water else { break };
            while s.next <= now {
                let t = s.next;
                s.next += Duration::seconds(WATER_PERIOD);
                // The model's own demand at this time of day (its patterns), in l/s.
                let day_s = (hour_of(t) * 3600.0) as u64;
                let d = model.demand_m3s_at(*node, day_s) * 1000.0 * rng.random_range(0.9..1.1);
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
        if let Some(ev) = &mut self.ev {
            while ev.step_time(ev.next_step) <= now {
                let t = ev.step_time(ev.next_step);
                ev.advance();
                for &(entity, site) in &ev.stepper.network().chargers {
                    let sockets = ev.stepper.sim().socket_powers(site);
                    let mut values = serde_json::Map::new();
                    for (k, power) in sockets.iter().enumerate() {
                        let n = k + 1;
                        let (status, kw) = match power {
                            None => ("available", 0.0),
                            Some(p) if *p > 0.0 => ("charging", *p),
                            Some(_) => ("occupied", 0.0),
                        };
                        values.insert(format!("socketStatus.{n}"), json!(status));
                        values.insert(
                            format!("socketPower.{n}"),
                            json!((kw * 10.0).round() / 10.0),
                        );
                    }
                    let free = sockets.iter().filter(|s| s.is_none()).count();
                    values.insert("availableCapacity".into(), json!(free));
                    out.push(RawReading {
                        entity: entities[entity].id.to_string(),
                        observed_at: stamp(t),
                        values: values.into_iter().collect(),
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chargers_report_the_ev_models_sessions_and_every_reading_validates() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let city = twin_core::load_city(&root.join("data/pitesti")).expect("Pitești");
        let sessions =
            twin_core::ev::read_dundee_sessions(&root.join("data/ev/cp-data-mar-may-2018.csv"))
                .expect("sessions");
        let fit = DemandFit::from_sessions(&sessions).expect("fit");
        let start: DateTime<Utc> = "2026-03-03T06:00:00Z".parse().expect("time");
        let config = EvFeedConfig {
            fit,
            ev_share: 0.05,
        };
        let mut feed = SimulatedFeed::new(&city, 3, start, Some(config));
        let until = start + Duration::hours(24);
        let readings = feed.readings_until(&city, until);
        let chargers: Vec<&RawReading> = readings
            .iter()
            .filter(|r| r.entity.starts_with("charger:"))
            .collect();
        // 28 chargers every 15 minutes for a day (the first step at 06:00 included).
        assert_eq!(chargers.len(), 28 * 97);
        for r in &readings {
            twin_core::reading::validate_reading(r, &city, until).unwrap_or_else(|e| panic!("{e}"));
        }
        let power = |r: &RawReading| -> f64 {
            r.values
                .iter()
                .filter(|(k, _)| k.starts_with("socketPower."))
                .filter_map(|(_, v)| v.as_f64())
                .sum()
        };
        // Public chargers are used, and the depot charges the buses overnight at 80 kW each.
        let public: f64 = chargers
            .iter()
            .filter(|r| r.entity != "charger:27")
            .map(|r| power(r))
            .sum();
        assert!(public > 0.0);
        let night = chargers
            .iter()
            .find(|r| r.entity == "charger:27" && r.observed_at.starts_with("2026-03-04T00:00"))
            .expect("depot at midnight");
        assert_eq!(power(night), 40.0 * 80.0, "{night:?}");
    }
}
