//! Charging demand: who plugs in where, when, for how long and for how much energy, day by day,
//! from a seeded generator.
//!
//! A fleet's daily energy need (km per day × each car's consumption) is split over site types
//! by [`DemandSettings::energy_share`]; each type turns its share into sessions with its own
//! arrival hours, plug-in times and state of charge on arrival:
//! - home or residential street, and workplace: arrival profiles, log-normal plug-in times and
//!   uniform arrival charge to a target (assumptions in docs/ev.md);
//! - public AC posts (street, retail, residential car parks) and fast hubs: the Dundee fit
//!   ([`super::calibration`]) for arrival hours and the joint plug-in time and energy, the
//!   energy capped by what the car's battery can take;
//! - the bus depot: Publitrans' duty ([`super::vehicles::BusDuty`]).

use rand::Rng;

use super::calibration::{ChargerClass, DemandFit};
use super::vehicles::{BusDuty, ELECTRIC_BUS, KM_PER_DAY, VehicleModel, model_of};
use crate::sampling::{poisson, standard_normal};

/// Where a session happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SiteType {
    /// A home wallbox or a residential street post near home.
    Home,
    Workplace,
    /// Public AC posts: street, retail and residential car parks.
    PublicAc,
    /// DC fast chargers: fuel stations, dealers, supermarkets' rapid posts.
    FastHub,
    /// Publitrans' depot: overnight on the slow sockets, midday top-ups on the fast ones.
    BusDepotSlow,
    BusDepotFast,
}

impl SiteType {
    pub fn name(self) -> &'static str {
        match self {
            SiteType::Home => "home",
            SiteType::Workplace => "workplace",
            SiteType::PublicAc => "public-ac",
            SiteType::FastHub => "fast-hub",
            SiteType::BusDepotSlow => "bus-depot-slow",
            SiteType::BusDepotFast => "bus-depot-fast",
        }
    }
}

/// One car (or bus) wanting charge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChargeRequest {
    /// Index of the car in the fleet (buses: `usize::MAX - k`).
    pub vehicle: usize,
    pub model: &'static VehicleModel,
    pub site: SiteType,
    /// Hours from the study's start.
    pub arrival_h: f64,
    /// Hours the car stays plugged in (or waits) at most.
    pub dwell_h: f64,
    /// State of charge on arrival and the energy wanted, kWh.
    pub soc: f64,
    pub energy_kwh: f64,
}

/// The split of demand and the behaviour at private sites.
#[derive(Debug, Clone, PartialEq)]
pub struct DemandSettings {
    /// Share of the fleet's daily energy charged at each site type (cars only; sums to 1).
    pub energy_share: [(SiteType, f64); 4],
    pub km_per_day: f64,
    /// Median plug-in hours and log-normal σ at home and at work.
    pub home_dwell: (f64, f64),
    pub work_dwell: (f64, f64),
    /// Arrival charge range and target charge at home and at work.
    pub home_soc: (f64, f64, f64),
    pub work_soc: (f64, f64, f64),
}

impl Default for DemandSettings {
    fn default() -> Self {
        DemandSettings {
            // Many Pitești drivers live in blocks of flats without a garage: less home charging
            // than in western European studies, more on street posts and fast hubs.
            energy_share: [
                (SiteType::Home, 0.45),
                (SiteType::Workplace, 0.15),
                (SiteType::PublicAc, 0.25),
                (SiteType::FastHub, 0.15),
            ],
            km_per_day: KM_PER_DAY,
            home_dwell: (11.0, 0.35),
            work_dwell: (8.5, 0.2),
            home_soc: (0.2, 0.6, 0.9),
            work_soc: (0.3, 0.7, 0.8),
        }
    }
}

/// Share of home arrivals by hour of day: after work, peaking at 18:00.
pub const HOME_ARRIVALS: [f64; 24] = [
    0.5, 0.3, 0.2, 0.1, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.2, 3.5, 6.0, 9.0, 11.0,
    10.0, 8.0, 6.0, 3.5, 1.5,
];
/// Share of workplace arrivals by hour of day: the morning shift changes (Dacia's 6:00 shift
/// included) and office hours.
pub const WORK_ARRIVALS: [f64; 24] = [
    0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 6.0, 12.0, 14.0, 8.0, 3.0, 1.5, 1.0, 1.5, 2.0, 1.0, 0.5, 0.2,
    0.1, 0.0, 0.0, 0.0, 0.0, 0.0,
];

fn draw_hour(rng: &mut impl Rng, weights: &[f64; 24]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.random::<f64>() * total;
    for (h, w) in weights.iter().enumerate() {
        if x < *w {
            return h;
        }
        x -= w;
    }
    23
}

/// (arrival hour, plug-in hours, arrival charge, kWh) of a session at home or at work.
fn private_session(
    rng: &mut impl Rng,
    t0: f64,
    arrivals: &[f64; 24],
    dwell: (f64, f64),
    soc: (f64, f64, f64),
    battery_kwh: f64,
) -> (f64, f64, f64, f64) {
    let h = draw_hour(rng, arrivals);
    let arrival_h = t0 + h as f64 + rng.random::<f64>();
    let dwell_h = dwell.0 * (dwell.1 * standard_normal(rng)).exp();
    let s = rng.random_range(soc.0..soc.1);
    (arrival_h, dwell_h, s, (soc.2 - s).max(0.0) * battery_kwh)
}

/// The day's sessions generator for a fleet of `fleet` cars and the depot's buses.
pub struct DemandModel {
    pub fit: DemandFit,
    pub settings: DemandSettings,
    pub fleet: usize,
    pub buses: BusDuty,
    /// The fleet's energy need per day, kWh.
    daily_kwh: f64,
    mean_battery_kwh: f64,
}

impl DemandModel {
    pub fn new(fit: DemandFit, settings: DemandSettings, fleet: usize, buses: BusDuty) -> Self {
        let daily_kwh = (0..fleet)
            .map(|k| model_of(k, fleet).kwh_per_km * settings.km_per_day)
            .sum();
        let mean_battery_kwh = if fleet == 0 {
            0.0
        } else {
            (0..fleet)
                .map(|k| model_of(k, fleet).battery_kwh)
                .sum::<f64>()
                / fleet as f64
        };
        DemandModel {
            fit,
            settings,
            fleet,
            buses,
            daily_kwh,
            mean_battery_kwh,
        }
    }

    /// The fleet's (cars') energy need per day, kWh.
    pub fn daily_kwh(&self) -> f64 {
        self.daily_kwh
    }

    /// Mean energy of a session at a site type, kWh.
    fn mean_session_kwh(&self, site: SiteType) -> f64 {
        let (lo, hi, target) = match site {
            SiteType::Home => self.settings.home_soc,
            SiteType::Workplace => self.settings.work_soc,
            SiteType::PublicAc | SiteType::FastHub => {
                let class = if site == SiteType::PublicAc {
                    ChargerClass::Ac
                } else {
                    ChargerClass::Rapid
                };
                let c = self.fit.class(class);
                let shares = c.arrival_shares();
                return (0..24)
                    .map(|h| {
                        let s = &c.shapes[h / super::calibration::BLOCK_HOURS];
                        let var = s.chol[1].powi(2) + s.chol[2].powi(2);
                        shares[h] * (1.0 - s.empty_share) * (s.mean_ln[1] + var / 2.0).exp()
                    })
                    .sum();
            }
            SiteType::BusDepotSlow | SiteType::BusDepotFast => return 0.0,
        };
        (target - (lo + hi) / 2.0) * self.mean_battery_kwh
    }

    /// The sessions of day `day` (0 = the study's first day; `weekday` Monday = 0), in arrival
    /// order. Workplace demand moves home at weekends.
    pub fn day(&self, day: u32, weekday: u32, rng: &mut impl Rng) -> Vec<ChargeRequest> {
        let mut out = Vec::new();
        let t0 = f64::from(day) * 24.0;
        let weekend = weekday >= 5;
        if self.fleet > 0 {
            for &(site, share) in &self.settings.energy_share {
                let share = match (site, weekend) {
                    (SiteType::Workplace, true) => 0.0,
                    (SiteType::Home, true) => share + self.work_share(),
                    _ => share,
                };
                let mean = self.mean_session_kwh(site);
                if share <= 0.0 || mean <= 0.0 {
                    continue;
                }
                let n = poisson(rng, share * self.daily_kwh / mean);
                for _ in 0..n {
                    let vehicle = rng.random_range(0..self.fleet);
                    out.push(self.session(site, vehicle, t0, rng));
                }
            }
        }
        self.bus_sessions(t0, &mut out);
        out.sort_by(|a, b| a.arrival_h.total_cmp(&b.arrival_h));
        out
    }

    fn work_share(&self) -> f64 {
        self.settings
            .energy_share
            .iter()
            .find(|s| s.0 == SiteType::Workplace)
            .map_or(0.0, |s| s.1)
    }

    fn session(
        &self,
        site: SiteType,
        vehicle: usize,
        t0: f64,
        rng: &mut impl Rng,
    ) -> ChargeRequest {
        let model = model_of(vehicle, self.fleet);
        let (arrival_h, dwell_h, soc, energy_kwh) = match site {
            SiteType::Home => private_session(
                rng,
                t0,
                &HOME_ARRIVALS,
                self.settings.home_dwell,
                self.settings.home_soc,
                model.battery_kwh,
            ),
            SiteType::Workplace => private_session(
                rng,
                t0,
                &WORK_ARRIVALS,
                self.settings.work_dwell,
                self.settings.work_soc,
                model.battery_kwh,
            ),
            _ => {
                let class = if site == SiteType::PublicAc {
                    ChargerClass::Ac
                } else {
                    ChargerClass::Rapid
                };
                let fit = self.fit.class(class);
                let h = draw_hour(rng, &fit.arrivals_per_point_day);
                let (dwell_h, energy) = fit.sample(h, rng);
                // The car takes at most from 10 % to 95 % of its battery.
                let energy = energy.min(0.85 * model.battery_kwh);
                let soc = (0.9 - energy / model.battery_kwh).clamp(0.1, 0.9);
                (t0 + h as f64 + rng.random::<f64>(), dwell_h, soc, energy)
            }
        };
        ChargeRequest {
            vehicle,
            model,
            site,
            arrival_h,
            dwell_h,
            soc,
            energy_kwh,
        }
    }

    /// Every bus comes back in the evening and charges overnight on a slow socket; every second
    /// bus also tops up at midday on a fast one.
    fn bus_sessions(&self, t0: f64, out: &mut Vec<ChargeRequest>) {
        let d = &self.buses;
        let daily = d.km_per_day * ELECTRIC_BUS.kwh_per_km;
        for k in 0..d.buses {
            let stagger = k as f64 * 2.0 / 60.0;
            let midday = k % 2 == 0;
            let topup = if midday {
                (0.8 * d.layover_len_h * ELECTRIC_BUS.max_dc_kw).min(daily * 0.4)
            } else {
                0.0
            };
            if midday {
                let arrival_h = t0 + d.layover_h + (k / 2) as f64 * 6.0 / 60.0;
                out.push(ChargeRequest {
                    vehicle: usize::MAX - k,
                    model: &ELECTRIC_BUS,
                    site: SiteType::BusDepotFast,
                    arrival_h,
                    dwell_h: d.layover_len_h,
                    soc: 0.45,
                    energy_kwh: topup,
                });
            }
            let energy = daily - topup;
            out.push(ChargeRequest {
                vehicle: usize::MAX - k,
                model: &ELECTRIC_BUS,
                site: SiteType::BusDepotSlow,
                arrival_h: t0 + d.return_h + stagger,
                dwell_h: 24.0 - d.return_h + d.pull_out_h,
                soc: (0.95 - energy / ELECTRIC_BUS.battery_kwh).max(0.05),
                energy_kwh: energy,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ev::calibration::{ClassFit, SessionShape};
    use rand::SeedableRng;

    pub(crate) fn toy_fit() -> DemandFit {
        let shape = SessionShape {
            empty_share: 0.0,
            mean_ln: [1.0, 2.0],
            chol: [0.5, 0.1, 0.4],
        };
        let class = ClassFit {
            charge_points: 10,
            sessions: 1000,
            arrivals_per_point_day: [0.1; 24],
            shapes: [shape; 6],
        };
        DemandFit {
            ac: class.clone(),
            rapid: class,
            days: 90.0,
        }
    }

    #[test]
    fn a_days_sessions_carry_the_fleets_energy_by_site_type() {
        let fit = toy_fit();
        let model = DemandModel::new(
            fit,
            DemandSettings::default(),
            5_000,
            BusDuty::new(40, 220.0),
        );
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let days = 20;
        let mut by_site = std::collections::BTreeMap::<SiteType, f64>::new();
        for d in 0..days {
            let s = model.day(d, d % 5, &mut rng); // weekdays only
            assert!(s.windows(2).all(|w| w[0].arrival_h <= w[1].arrival_h));
            for r in &s {
                assert!(
                    r.arrival_h >= f64::from(d) * 24.0
                        && r.arrival_h < f64::from(d + 1) * 24.0 + 1.0
                );
                assert!(r.energy_kwh >= 0.0 && r.energy_kwh <= r.model.battery_kwh);
                *by_site.entry(r.site).or_default() += r.energy_kwh;
            }
        }
        let cars: f64 = by_site
            .iter()
            .filter(|(s, _)| !matches!(s, SiteType::BusDepotSlow | SiteType::BusDepotFast))
            .map(|(_, e)| e)
            .sum();
        let expected = model.daily_kwh() * f64::from(days);
        assert!((cars / expected - 1.0).abs() < 0.05, "{cars} vs {expected}");
        let home = by_site[&SiteType::Home] / cars;
        assert!((home - 0.45).abs() < 0.05, "home share {home}");
        // The buses: 40 × 220 km × 1.25 kWh/km a day.
        let buses = by_site[&SiteType::BusDepotSlow] + by_site[&SiteType::BusDepotFast];
        assert!((buses / f64::from(days) - 11_000.0).abs() < 1.0, "{buses}");
        // Same seed, same sessions.
        let a = model.day(3, 2, &mut rand_chacha::ChaCha8Rng::seed_from_u64(9));
        let b = model.day(3, 2, &mut rand_chacha::ChaCha8Rng::seed_from_u64(9));
        assert_eq!(a, b);
        // At weekends no one charges at work.
        let w = model.day(5, 5, &mut rng);
        assert!(w.iter().all(|r| r.site != SiteType::Workplace));
    }
}
