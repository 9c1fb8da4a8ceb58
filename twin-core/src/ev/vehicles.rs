//! The vehicles: a fleet mix of models with published specifications, how fast each takes
//! charge, how many electric cars a city has, and Publitrans' electric buses.
//!
//! Specifications are the makers' published figures (Renault Group and Dacia press kits and
//! model pages; the usable capacities and DC curves as tabulated by EV Database); sources and
//! the assumptions are listed in docs/ev.md. DC curves are piecewise linear in state of charge:
//! full power to a knee, then a taper, as fast-charging measurements of these cars show.

use crate::CityModel;
use crate::city::{EvFacts, MissingCityFact};

/// One vehicle model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VehicleModel {
    pub name: &'static str,
    /// Usable battery capacity, kWh.
    pub battery_kwh: f64,
    /// On-board charger limit on AC, kW.
    pub max_ac_kw: f64,
    /// Peak DC charging power, kW.
    pub max_dc_kw: f64,
    /// DC power as a fraction of `max_dc_kw` by state of charge: (SoC, fraction) points,
    /// increasing in SoC, from 0 to 1.
    pub dc_curve: &'static [(f64, f64)],
    /// Energy use, kWh per km (WLTP combined, rounded).
    pub kwh_per_km: f64,
}

impl VehicleModel {
    /// Power the car takes at `soc` from a socket of `socket_kw`; DC when `dc`.
    pub fn charge_power_kw(&self, socket_kw: f64, dc: bool, soc: f64) -> f64 {
        if soc >= 1.0 {
            return 0.0;
        }
        if dc {
            socket_kw.min(self.max_dc_kw * curve_at(self.dc_curve, soc))
        } else {
            // AC charging holds its power to the top, but for a short balancing taper.
            let taper = if soc > 0.95 { 0.5 } else { 1.0 };
            socket_kw.min(self.max_ac_kw) * taper
        }
    }
}

fn curve_at(curve: &[(f64, f64)], soc: f64) -> f64 {
    let Some(&(s0, f0)) = curve.first() else {
        return 1.0;
    };
    if soc <= s0 {
        return f0;
    }
    for w in curve.windows(2) {
        let ((a, fa), (b, fb)) = (w[0], w[1]);
        if soc <= b {
            return fa + (fb - fa) * (soc - a) / (b - a).max(f64::EPSILON);
        }
    }
    curve.last().map_or(1.0, |p| p.1)
}

/// Dacia Spring Electric (2024): 26.8 kWh usable, 7 kW AC, 30 kW DC (CCS option).
pub const DACIA_SPRING: VehicleModel = VehicleModel {
    name: "Dacia Spring",
    battery_kwh: 26.8,
    max_ac_kw: 7.0,
    max_dc_kw: 30.0,
    dc_curve: &[(0.0, 0.9), (0.1, 1.0), (0.6, 1.0), (0.8, 0.75), (1.0, 0.2)],
    kwh_per_km: 0.139,
};

/// Renault Megane E-Tech Electric EV60 (optimum charge): 60 kWh usable, 22 kW AC, 130 kW DC.
pub const RENAULT_MEGANE_E_TECH: VehicleModel = VehicleModel {
    name: "Renault Megane E-Tech",
    battery_kwh: 60.0,
    max_ac_kw: 22.0,
    max_dc_kw: 130.0,
    dc_curve: &[
        (0.0, 0.8),
        (0.1, 1.0),
        (0.4, 1.0),
        (0.6, 0.7),
        (0.8, 0.4),
        (1.0, 0.1),
    ],
    kwh_per_km: 0.158,
};

/// Renault 5 E-Tech electric, comfort range: 52 kWh usable, 11 kW AC, 100 kW DC.
pub const RENAULT_5_E_TECH: VehicleModel = VehicleModel {
    name: "Renault 5 E-Tech",
    battery_kwh: 52.0,
    max_ac_kw: 11.0,
    max_dc_kw: 100.0,
    dc_curve: &[
        (0.0, 0.85),
        (0.1, 1.0),
        (0.5, 1.0),
        (0.8, 0.55),
        (1.0, 0.12),
    ],
    kwh_per_km: 0.150,
};

/// A generic other EV (the mean of the rest of Romania's electric car market): 60 kWh,
/// 11 kW AC, 120 kW DC.
pub const OTHER_EV: VehicleModel = VehicleModel {
    name: "other EV",
    battery_kwh: 60.0,
    max_ac_kw: 11.0,
    max_dc_kw: 120.0,
    dc_curve: &[(0.0, 0.85), (0.1, 1.0), (0.5, 1.0), (0.8, 0.5), (1.0, 0.1)],
    kwh_per_km: 0.170,
};

/// A 12 m battery-electric city bus: 350 kWh usable, charged on DC at the depot (up to 150 kW
/// by CCS or pantograph), about 1.25 kWh/km in city service.
pub const ELECTRIC_BUS: VehicleModel = VehicleModel {
    name: "electric bus 12 m",
    battery_kwh: 350.0,
    max_ac_kw: 22.0,
    max_dc_kw: 150.0,
    dc_curve: &[(0.0, 1.0), (0.8, 1.0), (0.95, 0.5), (1.0, 0.1)],
    kwh_per_km: 1.25,
};

/// Pitești's assumed electric car mix: the Spring leads Romania's electric car sales under the
/// Rabla programme; the Renault models and the rest of the market share the remainder.
pub const FLEET_MIX: [(VehicleModel, f64); 4] = [
    (DACIA_SPRING, 0.35),
    (RENAULT_5_E_TECH, 0.20),
    (RENAULT_MEGANE_E_TECH, 0.15),
    (OTHER_EV, 0.30),
];

/// Kilometres a car drives on an average day (about 11,700 km a year).
pub const KM_PER_DAY: f64 = 32.0;

/// Electric cars in a city of `population` with `cars_per_1000` passenger cars per 1,000
/// inhabitants and `ev_share` of them electric.
pub fn fleet_size(population: u64, cars_per_1000: f64, ev_share: f64) -> usize {
    (population as f64 * cars_per_1000 / 1000.0 * ev_share.clamp(0.0, 1.0)).round() as usize
}

/// The electric cars of `city` at `ev_share`, with its motorisation from city.toml
/// (`[ev] cars_per_1000`); a share of 0 needs none.
pub fn city_fleet(city: &CityModel, ev_share: f64) -> Result<usize, MissingCityFact> {
    if ev_share <= 0.0 {
        return Ok(0);
    }
    let cars = city.meta.ev.cars_per_1000.ok_or_else(|| MissingCityFact {
        city: city.meta.name.clone(),
        what: "[ev] cars_per_1000 (passenger cars per 1,000 inhabitants)".into(),
    })?;
    Ok(fleet_size(city.meta.population, cars, ev_share))
}

/// The model of the k-th car of a fleet: the mix in fixed proportions (car k takes the model
/// whose cumulative share first exceeds (k + 0.5) / n), so a fleet of any size has the mix.
pub fn model_of(k: usize, n: usize) -> &'static VehicleModel {
    let x = (k as f64 + 0.5) / n.max(1) as f64;
    let mut acc = 0.0;
    for (m, share) in &FLEET_MIX {
        acc += share;
        if x < acc {
            return m;
        }
    }
    &FLEET_MIX[FLEET_MIX.len() - 1].0
}

/// A city's electric bus duty: the buses charged overnight on the depot's slow sockets, half of
/// them topped up at midday on the fast ones. How many and how far come from city.toml
/// (`[ev] electric_buses`, `bus_km_per_day`); the day's schedule is a typical one (pull-out at
/// 5:00, last return 22:30, a midday layover at 11:00).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BusDuty {
    pub buses: usize,
    /// Kilometres per bus and day.
    pub km_per_day: f64,
    /// First pull-out and last return, hours of day (staggered a few minutes per bus).
    pub pull_out_h: f64,
    pub return_h: f64,
    /// Midday layover at the depot for every second bus: start hour and length.
    pub layover_h: f64,
    pub layover_len_h: f64,
}

impl BusDuty {
    /// `buses` electric buses driving `km_per_day` each on the typical schedule.
    pub fn new(buses: usize, km_per_day: f64) -> BusDuty {
        BusDuty {
            buses,
            km_per_day,
            pull_out_h: 5.0,
            return_h: 22.5,
            layover_h: 11.0,
            layover_len_h: 1.0,
        }
    }

    /// The electric buses city.toml gives (none when it gives none).
    pub fn of_city(ev: &EvFacts) -> BusDuty {
        BusDuty::new(
            ev.electric_buses.unwrap_or(0),
            ev.bus_km_per_day.unwrap_or(0.0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fleet_has_its_mix_and_size() {
        let n = 10_000;
        for (m, share) in &FLEET_MIX {
            let count = (0..n).filter(|&k| model_of(k, n).name == m.name).count();
            assert!(
                (count as f64 / n as f64 - share).abs() < 0.001,
                "{}",
                m.name
            );
        }
        assert!((FLEET_MIX.iter().map(|m| m.1).sum::<f64>() - 1.0).abs() < 1e-12);
        // Pitești: 141,275 people, 400 cars per 1,000, 15 % electric.
        assert_eq!(fleet_size(141_275, 400.0, 0.15), 8_477);
        assert_eq!(fleet_size(141_275, 400.0, 0.0), 0);
    }

    #[test]
    fn dc_power_tapers_at_high_charge_and_ac_is_capped_by_the_car() {
        let m = RENAULT_MEGANE_E_TECH;
        assert_eq!(m.charge_power_kw(150.0, true, 0.3), 130.0);
        assert_eq!(m.charge_power_kw(50.0, true, 0.3), 50.0);
        assert!(m.charge_power_kw(150.0, true, 0.9) < 0.3 * 130.0);
        assert!(m.charge_power_kw(150.0, true, 0.7) < m.charge_power_kw(150.0, true, 0.5));
        assert_eq!(DACIA_SPRING.charge_power_kw(22.0, false, 0.5), 7.0);
        assert_eq!(RENAULT_5_E_TECH.charge_power_kw(7.4, false, 0.5), 7.4);
        assert_eq!(OTHER_EV.charge_power_kw(22.0, false, 1.0), 0.0);
        for m in FLEET_MIX.iter().map(|m| m.0).chain([ELECTRIC_BUS]) {
            let mut last = f64::INFINITY;
            for k in 10..=100 {
                let p = m.charge_power_kw(1_000.0, true, f64::from(k) / 100.0);
                assert!(p <= last + 1e-9 && p >= 0.0, "{} at {k} %", m.name);
                last = p;
            }
        }
    }
}
