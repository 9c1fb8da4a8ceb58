//! The one interface every model of the runner has: built once for a run from the city and the
//! scenario's changes, advanced one step at a time on the scenario's clock, and asked for its
//! KPIs at the end. Models run in a fixed order each step (EV, power, water, waste, traffic);
//! what one model hands the next within a step travels in [`Coupling`].

use chrono::{Datelike, Duration, NaiveDateTime, Timelike};

use super::{RunError, RunOutput};
use crate::file::{Change, Scenario};

/// Where a step is on the scenario's clock.
pub(super) struct StepClock {
    /// The step's index.
    pub k: usize,
    /// Hours since the scenario's start, at the step's start.
    pub h: f64,
    /// The step's length, hours.
    pub dt: f64,
    /// The step's start.
    pub clock: NaiveDateTime,
    /// Hour of day at the step's middle (profiles are read there).
    pub hour: f64,
    /// Day of the week, Monday 0.
    pub weekday: u32,
}

impl StepClock {
    pub fn of(scenario: &Scenario, k: usize) -> StepClock {
        let dt = scenario.step_h;
        let h = k as f64 * dt;
        let clock = scenario.start + Duration::seconds((h * 3600.0).round() as i64);
        StepClock {
            k,
            h,
            dt,
            clock,
            hour: f64::from(clock.hour()) + f64::from(clock.minute()) / 60.0 + dt / 2.0,
            weekday: clock.weekday().num_days_from_monday(),
        }
    }
}

/// What one model hands another within a step.
#[derive(Default)]
pub(super) struct Coupling {
    /// EV charging this step per transformer post (kW), in the city's post order: the EV
    /// model's output, the power model's extra load.
    pub ev_post_kw: Vec<f64>,
}

/// A model of the runner.
pub(super) trait ModelStep {
    /// Advance one step, writing this model's series values for the step into `out`.
    fn step(
        &mut self,
        at: &StepClock,
        coupling: &mut Coupling,
        out: &mut RunOutput,
    ) -> Result<(), RunError>;

    /// The model's KPIs over the run, into `out`.
    fn finish(self: Box<Self>, out: &mut RunOutput);
}

/// Register a series of `steps` zeros under `name`.
pub(super) fn add_series(out: &mut RunOutput, name: &str, steps: usize) {
    out.series.insert(name.to_string(), vec![0.0; steps]);
}

/// Set the value of series `name` at step `k`, when the run keeps it.
pub(super) fn set_series(out: &mut RunOutput, name: &str, k: usize, v: f64) {
    if let Some(s) = out.series.get_mut(name) {
        s[k] = v;
    }
}

/// The product of the demand factors active at hour `h` among the changes `pick` selects.
pub(super) fn demand_factor(changes: &[Change], h: f64, pick: &dyn Fn(&Change) -> bool) -> f64 {
    changes
        .iter()
        .filter(|c| pick(c))
        .map(|c| match c {
            Change::Demand { factor, window, .. } if window.contains(h) => *factor,
            _ => 1.0,
        })
        .product()
}
