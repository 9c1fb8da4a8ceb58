//! The latest values entity actors inject for the networks (post loads, charger power,
//! junction demands, street congestion, bin levels), latest value per element, with a count of
//! changes since the network last solved; and each network's newest estimates and alerts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use twin_core::Quantity;
use twin_core::entity::{Asset, Entity};
use twin_core::live::{Delta, Field};

use super::published::{Alert, Estimates, NetworkKind};

#[derive(Debug, Default)]
pub(super) struct Pending<T> {
    pub(super) values: HashMap<usize, T>,
    pub(super) changes: usize,
}

/// Latest injected values per network, written by entity actors, read by network actors.
#[derive(Debug, Default)]
pub struct Injections {
    /// Transformer post → measured (kW, kvar).
    pub(super) power: Mutex<Pending<(Option<f64>, Option<f64>)>>,
    /// Charger → charging power kW.
    pub(super) chargers: Mutex<HashMap<usize, f64>>,
    /// Junction → measured demand l/s.
    pub(super) water: Mutex<Pending<f64>>,
    /// Street → congestion level 0–1.
    pub(super) road: Mutex<Pending<f64>>,
    /// Bin → (filling level, hours to full).
    pub(super) waste: Mutex<Pending<(f64, Option<f64>)>>,
    /// One alert per open citizen report, published by the waste watch.
    pub(super) reports: Mutex<Vec<Alert>>,
    pub(super) latest: Mutex<HashMap<NetworkKind, (Arc<Estimates>, Arc<Vec<Alert>>)>>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the maps inconsistent (single
    // inserts), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Injections {
    /// Record what a delta of `entity` (at `index`) means for the networks.
    pub fn inject(&self, index: usize, entity: &Entity, delta: &Delta) {
        let number = |f: Field| {
            delta
                .changes
                .iter()
                .find(|(g, _)| *g == f)
                .and_then(|(_, v)| v.as_f64())
        };
        match &entity.asset {
            Asset::TransformerPost(_) | Asset::Substation(_) => {
                let p = number(Field::Measured(Quantity::ActivePower));
                let q = number(Field::Measured(Quantity::ReactivePower));
                if p.is_some() || q.is_some() {
                    let mut g = lock(&self.power);
                    let e = g.values.entry(index).or_default();
                    e.0 = p.or(e.0);
                    e.1 = q.or(e.1);
                    g.changes += 1;
                }
            }
            Asset::EvCharger(_) => {
                if let Some(kw) = number(Field::ChargingPower) {
                    lock(&self.chargers).insert(index, kw);
                    lock(&self.power).changes += 1;
                }
            }
            Asset::Junction(_) => {
                if let Some(d) = number(Field::Measured(Quantity::Demand)) {
                    let mut g = lock(&self.water);
                    g.values.insert(index, d);
                    g.changes += 1;
                }
            }
            Asset::StreetSegment(_) => {
                if let Some(c) = number(Field::CongestionLevel) {
                    let mut g = lock(&self.road);
                    g.values.insert(index, c);
                    g.changes += 1;
                }
            }
            Asset::WasteBin(_) => {
                let level = number(Field::Measured(Quantity::FillingLevel));
                let to_full = number(Field::HoursToFull);
                let no_longer_filling = delta.removed.contains(&Field::HoursToFull);
                let mut g = lock(&self.waste);
                if level.is_some() || to_full.is_some() {
                    let e = g.values.entry(index).or_insert((0.0, None));
                    e.0 = level.unwrap_or(e.0);
                    e.1 = if no_longer_filling {
                        None
                    } else {
                        to_full.or(e.1)
                    };
                    g.changes += 1;
                } else if no_longer_filling && let Some(e) = g.values.get_mut(&index) {
                    // Only a bin the watch knows: an unknown one has no level to show.
                    e.1 = None;
                    g.changes += 1;
                }
            }
            _ => {}
        }
    }

    /// The changes injected for `network` since the last call; counting starts again.
    pub(super) fn take_changes(&self, network: NetworkKind) -> usize {
        match network {
            NetworkKind::Power => std::mem::take(&mut lock(&self.power).changes),
            NetworkKind::Water => std::mem::take(&mut lock(&self.water).changes),
            NetworkKind::Road => std::mem::take(&mut lock(&self.road).changes),
            NetworkKind::Waste => std::mem::take(&mut lock(&self.waste).changes),
        }
    }

    /// The inputs a network model solves from, in a line for a log: how many elements hold a
    /// measured value and the changes not yet solved.
    pub fn describe(&self, network: NetworkKind) -> String {
        match network {
            NetworkKind::Power => {
                let p = lock(&self.power);
                let chargers = lock(&self.chargers);
                let kw: f64 = p.values.values().filter_map(|v| v.0).sum();
                format!(
                    "{} measured posts ({kw:.0} kW in all), {} chargers ({:.0} kW), {} changes",
                    p.values.len(),
                    chargers.len(),
                    chargers.values().sum::<f64>(),
                    p.changes
                )
            }
            NetworkKind::Water => {
                let w = lock(&self.water);
                format!(
                    "{} measured junction demands ({:.1} l/s in all), {} changes",
                    w.values.len(),
                    w.values.values().sum::<f64>(),
                    w.changes
                )
            }
            NetworkKind::Road => {
                let r = lock(&self.road);
                format!(
                    "{} streets with a congestion level, {} changes",
                    r.values.len(),
                    r.changes
                )
            }
            NetworkKind::Waste => {
                let w = lock(&self.waste);
                format!(
                    "{} bins with a level, {} changes",
                    w.values.len(),
                    w.changes
                )
            }
        }
    }

    /// Keep a network's newest estimates and alerts for [`Injections::latest`].
    pub(super) fn set_latest(
        &self,
        network: NetworkKind,
        estimates: Arc<Estimates>,
        alerts: Arc<Vec<Alert>>,
    ) {
        lock(&self.latest).insert(network, (estimates, alerts));
    }

    /// Replace the citizen-report alerts (the waste watch publishes them on its next tick).
    pub fn set_report_alerts(&self, alerts: Vec<Alert>) {
        *lock(&self.reports) = alerts;
        lock(&self.waste).changes += 1;
    }

    /// The newest estimates and alerts of a network, if it has solved.
    pub fn latest(&self, network: NetworkKind) -> Option<(Arc<Estimates>, Arc<Vec<Alert>>)> {
        lock(&self.latest).get(&network).cloned()
    }

    /// Every current alert, all networks.
    pub fn alerts(&self) -> Vec<Alert> {
        let g = lock(&self.latest);
        NetworkKind::ALL
            .iter()
            .filter_map(|k| g.get(k))
            .flat_map(|(_, a)| a.iter().cloned())
            .collect()
    }
}
