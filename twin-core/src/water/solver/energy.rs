//! Pump energy and cost over a run, as EPANET 2.2 accounts them (`hydraul.c` `addenergy`,
//! `getenergy`; `output.c` `saveenergy`): after each hydraulic step, every running pump's power
//! q·h·SG/(8.814·η) (hp → kW), its efficiency from its curve (adjusted for speed by Sarbu and
//! Borza's formula) or the global one, and the price of the period.

use super::Hydraulics;
use crate::water::model::{LinkKind, M3S_PER_CFS, interpolate};

/// A pump's energy use over the run (EPANET's energy report).
#[derive(Debug, Clone, PartialEq)]
pub struct PumpEnergy {
    pub id: String,
    /// Share of the run the pump was on (%).
    pub utilization_percent: f64,
    /// Average efficiency while on (%).
    pub efficiency_percent: f64,
    /// Energy per volume pumped (kWh/m³), averaged while on.
    pub kwh_per_m3: f64,
    /// Average power while on and peak power (kW).
    pub average_kw: f64,
    pub peak_kw: f64,
    /// Energy cost per day (price units).
    pub cost_per_day: f64,
}

/// The energy report of a run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EnergyReport {
    pub pumps: Vec<PumpEnergy>,
    /// Peak of the total pump power (kW) and its demand charge.
    pub peak_kw: f64,
    pub demand_charge: f64,
}

/// Running sums per pump (EPANET's `Senergy` before `saveenergy`).
#[derive(Debug, Clone, Default)]
pub(super) struct EnergyTotals {
    hours_on: f64,
    efficiency_hours: f64,
    kw_per_cfs_hours: f64,
    kwh: f64,
    peak_kw: f64,
    cost: f64,
}

/// Accumulated over a run: per link (pumps only used) and the peak total.
#[derive(Debug, Clone, Default)]
pub(super) struct EnergyAccount {
    totals: Vec<EnergyTotals>,
    peak_total_kw: f64,
}

impl Hydraulics<'_> {
    /// Power (kW) and efficiency (fraction) of pump `k` now (EPANET's `getenergy`).
    fn pump_power(&self, k: usize) -> (f64, f64) {
        let m = self.m;
        if self.status[k].is_closed() {
            return (0.0, 0.0);
        }
        let link = &m.links[k];
        let q = self.flow[k].abs();
        let dh = (self.head[link.from] - self.head[link.to]).abs();
        let mut e = m.energy.efficiency_percent;
        if let Some(curve) = &m.energy.pumps[k].efficiency_curve {
            let speed = self.setting[k].unwrap_or(1.0);
            e = interpolate(curve.iter().copied(), q / speed);
            e = 100.0 - (100.0 - e) * (1.0 / speed).powf(0.1);
        }
        let e = e.clamp(1.0, 100.0) / 100.0;
        (
            dh * q * m.options.specific_gravity / 8.814 / e * crate::water::model::KW_PER_HP,
            e,
        )
    }

    /// Add the pumps' energy over the `hours` after time `t` (EPANET's `addenergy`).
    pub(super) fn add_energy(&self, account: &mut EnergyAccount, t: u64, hours: f64) {
        let m = self.m;
        if account.totals.is_empty() {
            account.totals = vec![EnergyTotals::default(); m.links.len()];
        }
        let period = ((t + m.pattern_start_s) / m.pattern_step_s) as usize;
        let factor = |p: Option<usize>| {
            p.and_then(|p| m.patterns.get(p))
                .filter(|v| !v.is_empty())
                .map_or(1.0, |v| v[period % v.len()])
        };
        let mut total = 0.0;
        for (k, link) in m.links.iter().enumerate() {
            if !matches!(link.kind, LinkKind::Pump { .. }) || self.status[k].is_closed() {
                continue;
            }
            let own = &m.energy.pumps[k];
            let price = own.price.filter(|p| *p > 0.0).unwrap_or(m.energy.price)
                * match own.price_pattern {
                    Some(p) => factor(Some(p)),
                    None => factor(m.energy.price_pattern),
                };
            let q = self.flow[k].abs().max(1e-6);
            let (kw, e) = self.pump_power(k);
            total += kw;
            let a = &mut account.totals[k];
            a.hours_on += hours;
            a.efficiency_hours += e * hours;
            a.kw_per_cfs_hours += kw / q * hours;
            a.kwh += kw * hours;
            a.peak_kw = a.peak_kw.max(kw);
            a.cost += price * kw * hours;
        }
        account.peak_total_kw = account.peak_total_kw.max(total);
    }
}

impl EnergyAccount {
    /// The report over a run of `duration_s` (EPANET's `saveenergy`).
    pub(super) fn report(&self, m: &crate::water::HydModel, duration_s: u64) -> EnergyReport {
        let hours = duration_s as f64 / 3600.0;
        let pumps = m
            .links
            .iter()
            .enumerate()
            .filter(|(_, l)| matches!(l.kind, LinkKind::Pump { .. }))
            .map(|(k, l)| {
                let a = self.totals.get(k).cloned().unwrap_or_default();
                let on = a.hours_on;
                let per_on = |x: f64| if on > 0.0 { x / on } else { x };
                PumpEnergy {
                    id: l.id.clone(),
                    utilization_percent: if hours == 0.0 {
                        on * 100.0
                    } else {
                        on / hours * 100.0
                    },
                    efficiency_percent: per_on(a.efficiency_hours) * 100.0,
                    kwh_per_m3: per_on(a.kw_per_cfs_hours) / (M3S_PER_CFS * 3600.0),
                    average_kw: per_on(a.kwh),
                    peak_kw: a.peak_kw,
                    cost_per_day: if hours == 0.0 {
                        a.cost * 24.0
                    } else {
                        a.cost * 24.0 / hours
                    },
                }
            })
            .collect();
        EnergyReport {
            pumps,
            peak_kw: self.peak_total_kw,
            demand_charge: self.peak_total_kw * m.energy.demand_charge,
        }
    }
}
