//! The EV model in a run: the fleet's sessions on the city's chargers and homes, stepped by the
//! one EV model every command uses (`twin_core::ev::stepper`), and the charging per post that
//! the power model adds. With the same seed, share, chargers and start, a scenario charges the
//! same cars as `twin ev study`.

use twin_core::CityModel;
use twin_core::entity::Asset;
use twin_core::ev::calibration::DemandFit;
use twin_core::ev::charging::Sharing;
use twin_core::ev::demand::DemandSettings;
use twin_core::ev::stepper::{ChargingSetup, EvStepper, SmartCharging};
use twin_core::profiles::post_load;

use super::step::{Coupling, ModelStep, StepClock, add_series, demand_factor, set_series};
use super::{RunError, RunOutput};
use crate::file::{Change, Scenario};

pub(super) struct EvStep<'a> {
    city: &'a CityModel,
    changes: &'a [Change],
    stepper: EvStepper,
    /// Each post's load without charging this step (kW, kvar), and its rating (kVA).
    base: Vec<(f64, f64)>,
    rated: Vec<f64>,
}

/// The charging setup a scenario's settings and changes give (the last `ev_share` and
/// `smart_charging` win; added stations and sockets add up).
pub(super) fn charging_setup(
    city: &CityModel,
    scenario: &Scenario,
    changes: &[Change],
) -> ChargingSetup {
    let mut setup = ChargingSetup {
        ev_share: scenario.ev_share.or(city.meta.ev.share).unwrap_or(0.0),
        fleet_override: None,
        buses: None,
        demand: DemandSettings::default(),
        add_chargers: 0,
        add_sockets: Vec::new(),
        remove_chargers: Vec::new(),
        site_caps: Vec::new(),
        smart: SmartCharging::Off,
        sharing: Sharing::EarliestDeadline,
        seed: scenario.seed,
        start: scenario.start,
        step_h: scenario.step_h,
    };
    for c in changes {
        match c {
            Change::EvShare(s) => setup.ev_share = *s,
            Change::AddChargers(n) => setup.add_chargers += n,
            Change::AddSockets(a) => setup.add_sockets.push(a.clone()),
            Change::RemoveChargers(list) => setup.remove_chargers.extend(list),
            Change::SmartCharging(mode) => setup.smart = *mode,
            _ => {}
        }
    }
    setup
}

impl<'a> EvStep<'a> {
    pub fn new(
        city: &'a CityModel,
        scenario: &Scenario,
        changes: &'a [Change],
        fit: Option<&DemandFit>,
        out: &mut RunOutput,
    ) -> Result<EvStep<'a>, RunError> {
        let fit = fit.ok_or_else(|| RunError::Ev("no sessions file".into()))?;
        let setup = charging_setup(city, scenario, changes);
        let stepper = EvStepper::new(city, fit, &setup).map_err(|e| RunError::Ev(e.to_string()))?;
        let rated = stepper
            .network()
            .post_entities()
            .map(|e| match &city.entities()[e].asset {
                Asset::TransformerPost(t) => t.rated_kva,
                _ => 0.0,
            })
            .collect::<Vec<_>>();
        add_series(out, "ev_charging_kw", scenario.steps());
        Ok(EvStep {
            city,
            changes,
            stepper,
            base: vec![(0.0, 0.0); rated.len()],
            rated,
        })
    }
}

impl ModelStep for EvStep<'_> {
    fn step(
        &mut self,
        at: &StepClock,
        coupling: &mut Coupling,
        out: &mut RunOutput,
    ) -> Result<(), RunError> {
        let factor = demand_factor(self.changes, at.h, &|c| {
            matches!(c, Change::Demand { power: true, .. })
        });
        let entities = self.city.entities();
        for (slot, e) in self
            .base
            .iter_mut()
            .zip(self.stepper.network().post_entities())
        {
            if let Asset::TransformerPost(t) = &entities[e].asset {
                let (kw, kvar) = post_load(t, at.hour);
                *slot = (kw * factor, kvar * factor);
            }
        }
        coupling.ev_post_kw = self.stepper.step(at.k, &self.base, &self.rated).to_vec();
        let total: f64 = coupling.ev_post_kw.iter().sum();
        set_series(out, "ev_charging_kw", at.k, total);
        Ok(())
    }

    fn finish(self: Box<Self>, out: &mut RunOutput) {
        let t = self.stepper.totals();
        let peak = out
            .series
            .get("ev_charging_kw")
            .map_or(0.0, |s| s.iter().copied().fold(0.0, f64::max));
        let mut kpi = |name: &str, v: f64| {
            out.kpis.insert(name.to_string(), v);
        };
        kpi("evs", self.stepper.fleet() as f64);
        kpi("ev_energy_kwh", t.delivered_kwh);
        kpi("ev_unmet_energy_kwh", t.unmet.total());
        kpi("ev_unmet_capped_kwh", t.unmet.capped_kwh);
        kpi("ev_peak_load_kw", peak);
        kpi("charger_utilisation", self.stepper.public_utilisation());
    }
}
