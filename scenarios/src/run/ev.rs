//! The EV model in a run: the fleet's sessions on the city's chargers and homes
//! (`twin_core::ev`), day by day, and the charging per post that the power model adds.

use chrono::{Datelike, Duration, Timelike};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use twin_core::CityModel;
use twin_core::ev::calibration::DemandFit;
use twin_core::ev::charging::{ChargingSim, Sharing};
use twin_core::ev::demand::{DemandModel, DemandSettings};
use twin_core::ev::study::ChargingNetwork;
use twin_core::ev::vehicles::{BusDuty, city_fleet};

use super::step::{Coupling, ModelStep, StepClock, add_series, set_series};
use super::{RunError, RunOutput};
use crate::file::{Change, Scenario};

pub(super) struct EvStep {
    network: ChargingNetwork,
    demand: DemandModel,
    sim: ChargingSim,
    fleet: usize,
    rng: ChaCha8Rng,
    start: chrono::NaiveDateTime,
    days_loaded: u32,
}

impl EvStep {
    pub fn new(
        city: &CityModel,
        scenario: &Scenario,
        changes: &[Change],
        fit: Option<&DemandFit>,
        out: &mut RunOutput,
    ) -> Result<EvStep, RunError> {
        let ev_share = changes
            .iter()
            .rev()
            .find_map(|c| match c {
                Change::EvShare(s) => Some(*s),
                _ => None,
            })
            .unwrap_or_else(|| scenario.ev_share.or(city.meta.ev.share).unwrap_or(0.0));
        let added: usize = changes
            .iter()
            .map(|c| match c {
                Change::AddChargers(n) => *n,
                _ => 0,
            })
            .sum();
        let fit = fit.ok_or_else(|| RunError::Ev("no sessions file".into()))?;
        let mut network =
            ChargingNetwork::for_city(city, added, &[]).map_err(|e| RunError::Ev(e.to_string()))?;
        for c in changes {
            if let Change::RemoveChargers(list) = c {
                network.remove_chargers(list);
            }
        }
        let fleet = city_fleet(city, ev_share).map_err(|e| RunError::Ev(e.to_string()))?;
        let demand = DemandModel::new(
            fit.clone(),
            DemandSettings::default(),
            fleet,
            BusDuty::of_city(&city.meta.ev),
        );
        let sim = network.simulation(scenario.step_h, Sharing::EarliestDeadline);
        add_series(out, "ev_charging_kw", scenario.steps());
        Ok(EvStep {
            network,
            demand,
            sim,
            fleet,
            rng: ChaCha8Rng::seed_from_u64(scenario.seed ^ 0xe7),
            start: scenario.start,
            days_loaded: 0,
        })
    }
}

impl ModelStep for EvStep {
    fn step(
        &mut self,
        at: &StepClock,
        coupling: &mut Coupling,
        out: &mut RunOutput,
    ) -> Result<(), RunError> {
        let day = (at.h / 24.0).floor() as u32;
        while self.days_loaded <= day {
            let date = self.start + Duration::days(i64::from(self.days_loaded));
            let wd = date.weekday().num_days_from_monday();
            // Requests are in hours from the start's midnight; the run starts at `start`.
            let offset = f64::from(self.start.hour()) + f64::from(self.start.minute()) / 60.0;
            let mut requests =
                self.network
                    .day_requests(&self.demand, self.days_loaded, wd, &mut self.rng);
            for (_, r) in &mut requests {
                r.arrival_h -= offset;
            }
            self.sim.add(requests);
            self.days_loaded += 1;
        }
        coupling.ev_post_kw = self.sim.step(at.k, None).to_vec();
        let total: f64 = coupling.ev_post_kw.iter().sum();
        set_series(out, "ev_charging_kw", at.k, total);
        Ok(())
    }

    fn finish(self: Box<Self>, out: &mut RunOutput) {
        let t = self.sim.totals();
        let (mut occ, mut avail) = (0.0, 0.0);
        for &s in &self.network.public {
            occ += t.occupied_h[s];
            avail += t.available_h[s];
        }
        let peak = out
            .series
            .get("ev_charging_kw")
            .map_or(0.0, |s| s.iter().copied().fold(0.0, f64::max));
        let mut kpi = |name: &str, v: f64| {
            out.kpis.insert(name.to_string(), v);
        };
        kpi("evs", self.fleet as f64);
        kpi("ev_energy_kwh", t.delivered_kwh);
        kpi("ev_unmet_energy_kwh", t.unmet.total());
        kpi("ev_peak_load_kw", peak);
        kpi("charger_utilisation", occ / avail.max(f64::EPSILON));
    }
}
