//! The power model in a run: every post's load from its daily profile (× any demand change)
//! plus the EV charging on it; failed elements out (and, after the switching time, the tie
//! switches the restoration found closed); the 20 kV load flow each step. De-energised posts
//! give customers interrupted, customer-minutes and energy not supplied; overloaded lines and
//! posts are counted in hours.

use std::collections::HashSet;

use twin_core::entity::Asset;
use twin_core::power::outage::{RestorationLimits, analyse_power_outage, customers_served};
use twin_core::power::{GridState, post_overloaded};
use twin_core::profiles::post_load;
use twin_core::{CityModel, EntityId};

use super::step::{Coupling, ModelStep, StepClock, add_series, demand_factor, set_series};
use super::{RunError, RunOutput};
use crate::file::Change;

/// A failure event as the power model sees it.
struct PowerEvent {
    from_h: f64,
    switched_h: f64,
    to_h: f64,
    status_failed: Vec<bool>,
    status_restored: Vec<bool>,
    counted: bool,
}

pub(super) struct PowerStep<'a> {
    city: &'a CityModel,
    changes: &'a [Change],
    /// The grid with this step's loads and branch states.
    grid: GridState<'a>,
    /// Transformer posts: (entity, case row), in the city's post order (the EV model's too).
    posts: Vec<(usize, usize)>,
    /// (case row, customers) of every post, in post order (sums in a fixed order).
    customers_at_row: Vec<(usize, u32)>,
    events: Vec<PowerEvent>,
    served: u32,
    customer_minutes: f64,
    ens_kwh: f64,
    customers_interrupted: f64,
    overloaded: HashSet<usize>,
    overload_h: f64,
    /// Hours of transformer posts over their rating (the EV study's `overload_hours`).
    post_overload_h: f64,
    peak_kw: f64,
    /// Lowest voltage of an energised bus so far; none before the first solve.
    min_v: Option<f64>,
    energy_kwh: f64,
    max_dark: u32,
}

impl<'a> PowerStep<'a> {
    pub fn new(
        city: &'a CityModel,
        changes: &'a [Change],
        steps: usize,
        out: &mut RunOutput,
    ) -> Result<PowerStep<'a>, RunError> {
        let case = city
            .power_case
            .as_ref()
            .ok_or_else(|| RunError::Power("the city has no power grid".into()))?;
        let bus_row = case.bus_rows();
        let posts: Vec<(usize, usize)> = city
            .entities()
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match &e.asset {
                Asset::TransformerPost(t) => Some((i, *bus_row.get(&t.bus)?)),
                _ => None,
            })
            .collect();
        let mut events = Vec::new();
        for c in changes {
            let Change::Fail {
                elements,
                window,
                switching_min,
            } = c
            else {
                continue;
            };
            let ids: Vec<EntityId> = elements
                .iter()
                .filter(|&&e| !matches!(city.entities()[e].asset, Asset::Pipe(_)))
                .map(|&e| city.entities()[e].id.clone())
                .collect();
            if ids.is_empty() {
                continue;
            }
            let o = analyse_power_outage(city, &ids, &RestorationLimits::default(), 1.0)
                .map_err(|e| RunError::Power(e.to_string()))?;
            let switched_h = switching_min.map_or(window.to_h, |m| window.from_h + m / 60.0);
            events.push(PowerEvent {
                from_h: window.from_h,
                switched_h: switched_h.min(window.to_h),
                to_h: window.to_h,
                status_failed: o.status_failed,
                status_restored: o.status_restored,
                counted: false,
            });
        }
        let customers_at_row = posts
            .iter()
            .filter_map(|&(e, row)| match &city.entities()[e].asset {
                Asset::TransformerPost(t) => Some((row, t.customers)),
                _ => None,
            })
            .collect();
        add_series(out, "grid_load_kw", steps);
        add_series(out, "customers_without_power", steps);
        Ok(PowerStep {
            city,
            changes,
            grid: GridState::new(case),
            posts,
            customers_at_row,
            events,
            served: customers_served(city).max(1),
            customer_minutes: 0.0,
            ens_kwh: 0.0,
            customers_interrupted: 0.0,
            overloaded: HashSet::new(),
            overload_h: 0.0,
            post_overload_h: 0.0,
            peak_kw: 0.0,
            min_v: None,
            energy_kwh: 0.0,
            max_dark: 0,
        })
    }

    /// Branches in service this step: failed ones out, closed tie switches in.
    fn branch_status(&self, h: f64) -> Vec<bool> {
        let case = self.grid.case();
        let mut status: Vec<bool> = case.branch.iter().map(|b| b.in_service).collect();
        for ev in self.events.iter().filter(|e| h >= e.from_h && h < e.to_h) {
            let s = if h < ev.switched_h {
                &ev.status_failed
            } else {
                &ev.status_restored
            };
            for ((x, y), b) in status.iter_mut().zip(s).zip(&case.branch) {
                if b.in_service {
                    *x = *x && *y;
                } else {
                    *x = *x || *y;
                }
            }
        }
        status
    }
}

impl ModelStep for PowerStep<'_> {
    fn step(
        &mut self,
        at: &StepClock,
        coupling: &mut Coupling,
        out: &mut RunOutput,
    ) -> Result<(), RunError> {
        let (h, dt) = (at.h, at.dt);
        let factor = demand_factor(self.changes, h, &|c| {
            matches!(c, Change::Demand { power: true, .. })
        });
        let entities = self.city.entities();
        for (p, &(e, row)) in self.posts.iter().enumerate() {
            let Asset::TransformerPost(t) = &entities[e].asset else {
                continue;
            };
            let (kw, kvar) = post_load(t, at.hour);
            let ev_kw = coupling.ev_post_kw.get(p).copied().unwrap_or(0.0);
            self.grid
                .set_load_kw(row, kw * factor + ev_kw, kvar * factor);
        }
        let at_clock = || at.clock.format("%Y-%m-%d %H:%M");
        let status = self.branch_status(h);
        self.grid
            .set_in_service(status)
            .map_err(|e| RunError::Power(format!("at {}: {e}", at_clock())))?;
        let r = self
            .grid
            .solve()
            .map_err(|e| RunError::Power(format!("at {}: {e}", at_clock())))?;
        let mut dark_customers = 0u32;
        let mut dark_kw = 0.0;
        for &(row, c) in &self.customers_at_row {
            if !r.energised[row] {
                dark_customers += c;
                dark_kw += self.grid.load_kw(row).0;
            }
        }
        for &(e, row) in &self.posts {
            if !r.energised[row] {
                *out.supply_lost_h.entry(e).or_default() += dt;
            }
        }
        // Customers interrupted: counted once per event, at its first step.
        for ev in self.events.iter_mut() {
            if !ev.counted && h >= ev.from_h && h < ev.to_h {
                ev.counted = true;
                if ev.to_h - ev.from_h > 3.0 / 60.0 {
                    self.customers_interrupted += f64::from(dark_customers);
                }
            }
        }
        self.max_dark = self.max_dark.max(dark_customers);
        self.customer_minutes += f64::from(dark_customers) * dt * 60.0;
        self.ens_kwh += dark_kw * dt;
        self.peak_kw = self.peak_kw.max(r.slack_p_kw);
        self.energy_kwh += r.slack_p_kw * dt;
        for (v, on) in r.vm_pu.iter().zip(&r.energised) {
            if *on {
                self.min_v = Some(self.min_v.map_or(*v, |m| m.min(*v)));
            }
        }
        let mut over_now = 0;
        for (b, flow) in r.branches.iter().enumerate() {
            if flow.loading_pct.is_some_and(|l| l > 100.0 + 1e-9) {
                self.overloaded.insert(b);
                over_now += 1;
            }
        }
        for (p, &(e, row)) in self.posts.iter().enumerate() {
            let Asset::TransformerPost(t) = &entities[e].asset else {
                continue;
            };
            let s = self.grid.apparent_kva(row);
            if r.energised[row] && post_overloaded(s, t.rated_kva) {
                self.overloaded.insert(self.grid.case().branch.len() + p);
                over_now += 1;
                self.post_overload_h += dt;
            }
        }
        self.overload_h += f64::from(over_now) * dt;
        set_series(out, "grid_load_kw", at.k, r.slack_p_kw);
        set_series(
            out,
            "customers_without_power",
            at.k,
            f64::from(dark_customers),
        );
        Ok(())
    }

    fn finish(self: Box<Self>, out: &mut RunOutput) {
        let served = f64::from(self.served);
        let saifi = self.customers_interrupted / served;
        let saidi = self.customer_minutes / served;
        let mut kpi = |name: &str, v: f64| {
            out.kpis.insert(name.to_string(), v);
        };
        kpi("customers_interrupted", self.customers_interrupted);
        kpi("customers_without_power_max", f64::from(self.max_dark));
        kpi("customer_minutes_interrupted", self.customer_minutes);
        kpi("saifi", saifi);
        kpi("saidi_min", saidi);
        kpi("caidi_min", if saifi > 0.0 { saidi / saifi } else { 0.0 });
        kpi("ens_kwh", self.ens_kwh);
        kpi("overloaded_elements", self.overloaded.len() as f64);
        kpi("overload_hours", self.overload_h);
        kpi("post_overload_hours", self.post_overload_h);
        kpi("peak_load_kw", self.peak_kw);
        kpi("energy_supplied_kwh", self.energy_kwh);
        // Kept as before: 0 when no bus was ever energised (a run of no steps, or a dark grid).
        kpi("min_voltage_pu", self.min_v.unwrap_or(0.0));
    }
}
