//! One step of EV charging on the city's grid, shared by every command that charges cars: the
//! EV study (`twin ev study`, `ev sweep`), the scenario runner's EV model and the live twin's
//! simulated feed. It draws each day's charging requests when the clock reaches the day,
//! places them on the [`ChargingNetwork`], and advances the charging simulation one step under
//! the chosen [`SmartCharging`] mode; the caller owns the grid and hands it each post's load
//! without charging.
//!
//! One seed gives one sequence of requests: the study and a scenario with the same seed, share,
//! chargers and start charge the same cars at the same times.

use chrono::{Datelike, Duration, NaiveDateTime, Timelike};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::calibration::DemandFit;
use super::charging::{ChargingSim, ChargingTotals, Sharing};
use super::demand::{DemandModel, DemandSettings};
use super::error::EvStudyError;
use super::network::{AddedSockets, ChargingNetwork};
use super::vehicles::{BusDuty, city_fleet};
use crate::CityModel;
use crate::entity::Asset;
use crate::profiles::post_load;

/// How charging answers the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmartCharging {
    /// Cars charge as fast as socket and car allow.
    Off,
    /// Each post's charging is capped at what its rating leaves beside its other load
    /// (`--smart on`, the post caps).
    PostCaps,
    /// Valley filling: each post's charging is held under a daily level of total load chosen so
    /// that the valleys of the post's own load curve could take the day's charging with a
    /// quarter to spare (the "water-filling" schedule of Gan, Topcu and Low, "Optimal
    /// decentralized protocol for electric vehicle charging", IEEE Trans. Power Systems 28(2),
    /// 2013), unless the plugged cars need more to finish by their departure (least laxity),
    /// and never above the post caps. Charging moves from the evening peak into the night.
    ValleyFilling,
}

impl SmartCharging {
    /// `off`, `on` (or `post-caps`), `valley`.
    pub fn from_name(name: &str) -> Option<SmartCharging> {
        match name {
            "off" => Some(SmartCharging::Off),
            "on" | "post-caps" => Some(SmartCharging::PostCaps),
            "valley" => Some(SmartCharging::ValleyFilling),
            _ => None,
        }
    }

    /// The name `from_name` reads (`off`, `on`, `valley`).
    pub fn name(self) -> &'static str {
        match self {
            SmartCharging::Off => "off",
            SmartCharging::PostCaps => "on",
            SmartCharging::ValleyFilling => "valley",
        }
    }

    pub fn is_on(self) -> bool {
        self != SmartCharging::Off
    }
}

/// The day's charging over the valleys: spare energy taken beyond the requested energy.
const VALLEY_MARGIN: f64 = 1.25;

/// What the fleet is and where it charges: the parts of a study's or scenario's settings the
/// charging depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargingSetup {
    pub ev_share: f64,
    /// Electric cars instead of `ev_share` (benchmarks).
    pub fleet_override: Option<usize>,
    /// The electric buses; none: the city's own (city.toml `[ev]`).
    pub buses: Option<BusDuty>,
    pub demand: DemandSettings,
    /// Public stations to add (a 22 kW AC and a 50 kW DC socket each).
    pub add_chargers: usize,
    pub add_sockets: Vec<AddedSockets>,
    /// Chargers out of service (entity indices).
    pub remove_chargers: Vec<usize>,
    /// Power caps on named sites (`charger:11`), kW.
    pub site_caps: Vec<(String, f64)>,
    pub smart: SmartCharging,
    pub sharing: Sharing,
    pub seed: u64,
    /// The first step's start.
    pub start: NaiveDateTime,
    /// Step, hours (divides a day).
    pub step_h: f64,
}

/// The fleet charging step by step (see the module's doc).
pub struct EvStepper {
    network: ChargingNetwork,
    demand: DemandModel,
    sim: ChargingSim,
    rng: ChaCha8Rng,
    start: NaiveDateTime,
    step_h: f64,
    days_loaded: u32,
    fleet: usize,
    buses: usize,
    smart: SmartCharging,
    /// Each post's load without charging over a day, kW, by step of the day (valley filling).
    base_day: Vec<Vec<f64>>,
    /// Each post's level of total load for each day loaded, kW (valley filling).
    levels: Vec<Vec<f64>>,
    /// This step's caps per post: the rating's headroom, and the valley level's (kW).
    caps: Vec<f64>,
    soft_caps: Vec<f64>,
}

impl EvStepper {
    /// The fleet of `setup` on `city`'s chargers (its grid must be loaded), calibrated on
    /// `fit`. Errors: no grid or posts, a share out of 0–1, a step that does not divide a day,
    /// an unknown site.
    pub fn new(
        city: &CityModel,
        fit: &DemandFit,
        setup: &ChargingSetup,
    ) -> Result<EvStepper, EvStudyError> {
        if !(0.0..=1.0).contains(&setup.ev_share) {
            return Err(EvStudyError::BadShare(setup.ev_share));
        }
        let per_day = 24.0 / setup.step_h;
        if !(setup.step_h > 0.0) || (per_day - per_day.round()).abs() > 1e-9 {
            return Err(EvStudyError::BadStep((setup.step_h * 60.0).round() as u32));
        }
        let mut network = ChargingNetwork::for_city(city, setup.add_chargers, &setup.site_caps)?;
        for added in &setup.add_sockets {
            network.add_sockets(city, added)?;
        }
        network.remove_chargers(&setup.remove_chargers);
        let fleet = match setup.fleet_override {
            Some(n) => n,
            None => city_fleet(city, setup.ev_share)
                .map_err(|e| EvStudyError::MissingFact(e.to_string()))?,
        };
        let buses = setup
            .buses
            .unwrap_or_else(|| BusDuty::of_city(&city.meta.ev));
        let demand = DemandModel::new(fit.clone(), setup.demand.clone(), fleet, buses);
        let sim = network.simulation(setup.step_h, setup.sharing);
        let per_day = per_day.round() as usize;
        let base_day = network
            .posts
            .iter()
            .map(|p| match &city.entities()[p.entity].asset {
                Asset::TransformerPost(t) => (0..per_day)
                    .map(|s| post_load(t, (s as f64 + 0.5) * setup.step_h).0)
                    .collect(),
                _ => vec![0.0; per_day],
            })
            .collect();
        Ok(EvStepper {
            caps: vec![0.0; network.posts()],
            soft_caps: vec![0.0; network.posts()],
            network,
            demand,
            sim,
            rng: ChaCha8Rng::seed_from_u64(setup.seed),
            start: setup.start,
            step_h: setup.step_h,
            days_loaded: 0,
            fleet,
            buses: buses.buses,
            smart: setup.smart,
            base_day,
            levels: Vec::new(),
        })
    }

    /// Hours from the start's midnight to the start.
    fn offset_h(&self) -> f64 {
        f64::from(self.start.hour()) + f64::from(self.start.minute()) / 60.0
    }

    /// Charge over step `k` (`[start + k·step, start + (k+1)·step)`), given each post's load
    /// without charging, (kW, kvar) in the network's post order (`ChargingNetwork::posts`) and
    /// its rating, kVA. Steps come in order. Returns the charging load per post, kW.
    pub fn step(&mut self, k: usize, base: &[(f64, f64)], rated_kva: &[f64]) -> &[f64] {
        let t_h = self.offset_h() + k as f64 * self.step_h;
        let day = (t_h / 24.0).floor().max(0.0) as u32;
        while self.days_loaded <= day {
            self.load_day();
        }
        if self.smart == SmartCharging::Off {
            return self.sim.step(k, None);
        }
        for (p, cap) in self.caps.iter_mut().enumerate() {
            let (bp, bq) = base.get(p).copied().unwrap_or((0.0, 0.0));
            let rated = rated_kva.get(p).copied().unwrap_or(0.0);
            *cap = post_headroom_kw(bp, bq, rated);
        }
        if self.smart == SmartCharging::PostCaps {
            return self.sim.step(k, Some(&self.caps));
        }
        let levels = &self.levels[day as usize];
        for (p, soft) in self.soft_caps.iter_mut().enumerate() {
            let bp = base.get(p).map_or(0.0, |b| b.0);
            *soft = (levels[p] - bp).max(0.0);
        }
        self.sim.step_flexible(k, &self.caps, &self.soft_caps)
    }

    /// Draw the next day's requests (arrivals in hours from the start) and, for valley filling,
    /// each post's level for the day.
    fn load_day(&mut self) {
        let day = self.days_loaded;
        let date = self.start.date() + Duration::days(i64::from(day));
        let weekday = date.weekday().num_days_from_monday();
        let offset = self.offset_h();
        let mut requests = self
            .network
            .day_requests(&self.demand, day, weekday, &mut self.rng);
        if self.smart == SmartCharging::ValleyFilling {
            let mut energy = vec![0.0; self.network.posts()];
            for (site, r) in &requests {
                energy[self.network.sites[*site].post] += r.energy_kwh;
            }
            let levels = self
                .base_day
                .iter()
                .zip(&energy)
                .map(|(base, &e)| valley_level(base, e * VALLEY_MARGIN, self.step_h))
                .collect();
            self.levels.push(levels);
        }
        for (_, r) in &mut requests {
            r.arrival_h -= offset;
        }
        self.sim.add(requests);
        self.days_loaded += 1;
    }

    pub fn network(&self) -> &ChargingNetwork {
        &self.network
    }

    pub fn sim(&self) -> &ChargingSim {
        &self.sim
    }

    pub fn totals(&self) -> &ChargingTotals {
        self.sim.totals()
    }

    /// Electric cars in the fleet.
    pub fn fleet(&self) -> usize {
        self.fleet
    }

    pub fn buses(&self) -> usize {
        self.buses
    }

    /// Socket-hours occupied over socket-hours available on the public chargers.
    pub fn public_utilisation(&self) -> f64 {
        let t = self.sim.totals();
        let (mut occupied, mut available) = (0.0, 0.0);
        for &s in &self.network.public {
            occupied += t.occupied_h[s];
            available += t.available_h[s];
        }
        occupied / available.max(f64::EPSILON)
    }
}

/// What a post's rating leaves for charging beside a load of `p_kw` + j`q_kvar`, kW:
/// √(S² − Q²) − P, at least 0.
pub fn post_headroom_kw(p_kw: f64, q_kvar: f64, rated_kva: f64) -> f64 {
    ((rated_kva.powi(2) - q_kvar * q_kvar).max(0.0).sqrt() - p_kw).max(0.0)
}

/// The level L of total load (kW) whose valleys over `base` (kW per step of `step_h` hours)
/// hold `energy_kwh`: Σ max(0, L − base)·step_h = energy (water filling, by bisection to
/// 1 W). 0 energy gives the lowest base (no charging room).
pub fn valley_level(base: &[f64], energy_kwh: f64, step_h: f64) -> f64 {
    let lowest = base.iter().copied().fold(f64::INFINITY, f64::min);
    if base.is_empty() || energy_kwh <= 0.0 {
        return if lowest.is_finite() { lowest } else { 0.0 };
    }
    let room =
        |level: f64| -> f64 { base.iter().map(|b| (level - b).max(0.0)).sum::<f64>() * step_h };
    let mut lo = lowest;
    let mut hi = lowest + energy_kwh / step_h;
    while hi - lo > 1e-3 {
        let mid = 0.5 * (lo + hi);
        if room(mid) < energy_kwh {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_valley_level_holds_the_energy() {
        // A day of two levels: 10 kW for 12 h, 30 kW for 12 h, hourly steps.
        let base: Vec<f64> = (0..24).map(|h| if h < 12 { 10.0 } else { 30.0 }).collect();
        // 60 kWh fill the low half by 5 kW.
        assert!((valley_level(&base, 60.0, 1.0) - 15.0).abs() < 1e-2);
        // 480 kWh fill the low half to 30 kW (240) and then the whole day by 10 kW (240).
        assert!((valley_level(&base, 480.0, 1.0) - 40.0).abs() < 1e-2);
        assert_eq!(valley_level(&base, 0.0, 1.0), 10.0);
    }

    #[test]
    fn post_headroom_leaves_the_reactive_load_its_share() {
        assert!((post_headroom_kw(300.0, 0.0, 400.0) - 100.0).abs() < 1e-9);
        // 400 kVA with 240 kvar leave 320 kW of active power.
        assert!((post_headroom_kw(300.0, 240.0, 400.0) - 20.0).abs() < 1e-9);
        assert_eq!(post_headroom_kw(500.0, 0.0, 400.0), 0.0);
    }
}
