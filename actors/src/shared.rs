//! What every actor of one live twin shares: the city model, the counters, the network
//! injections, the citizen reports and the feed of state changes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use twin_core::CityModel;
use twin_core::live::Delta;
use twin_core::waste::report::ReportBook;

use twin_core::Reading;
use twin_core::live::EntityLive;

use crate::network::injections::Injections;
use crate::network::published::{Alert, Estimates, NetworkKind};

/// How an entity actor applies a validated reading to its state: [`EntityLive::apply_reading`]
/// in the twin; tests put a failing one in to check panic isolation.
pub type ApplyFn = fn(&mut EntityLive, &twin_core::Entity, &Reading) -> Option<Delta>;

/// Events on the feed: entity deltas, network estimates and alerts. Subscribers that lag lose
/// the oldest events (the feed crate coalesces and re-snapshots).
#[derive(Debug, Clone)]
pub enum FeedEvent {
    Delta {
        entity: usize,
        delta: Arc<Delta>,
    },
    Estimates {
        network: NetworkKind,
        estimates: Arc<Estimates>,
    },
    Alerts {
        network: NetworkKind,
        alerts: Arc<Vec<Alert>>,
    },
}

/// Capacity of the feed's broadcast ring.
pub const FEED_CAPACITY: usize = 65_536;

#[derive(Debug, Default)]
pub struct Counters {
    pub applied: AtomicU64,
    pub deltas: AtomicU64,
    pub panics: AtomicU64,
    /// Times a dispatch found a mailbox full and waited (backpressure at work).
    pub mailbox_full: AtomicU64,
    pub solves: AtomicU64,
    /// Network model runs that panicked (caught; the last good estimates stayed).
    pub network_panics: AtomicU64,
    /// Time spent in network solves, µs (with `solves`: the mean solve time).
    pub solve_micros: AtomicU64,
}

/// A copy of the counters for status output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterValues {
    pub applied: u64,
    pub deltas: u64,
    pub panics: u64,
    pub mailbox_full: u64,
    pub network_solves: u64,
    #[serde(default)]
    pub network_panics: u64,
    #[serde(default)]
    pub network_solve_us: u64,
}

impl Counters {
    pub fn values(&self) -> CounterValues {
        CounterValues {
            applied: self.applied.load(Ordering::Relaxed),
            deltas: self.deltas.load(Ordering::Relaxed),
            panics: self.panics.load(Ordering::Relaxed),
            mailbox_full: self.mailbox_full.load(Ordering::Relaxed),
            network_solves: self.solves.load(Ordering::Relaxed),
            network_panics: self.network_panics.load(Ordering::Relaxed),
            network_solve_us: self.solve_micros.load(Ordering::Relaxed),
        }
    }
}

pub struct Shared {
    pub city: Arc<CityModel>,
    pub apply: ApplyFn,
    pub counters: Counters,
    pub networks: Injections,
    pub feed: broadcast::Sender<FeedEvent>,
    /// Citizen reports. Written only by the ingest pipeline (which persists them first); read
    /// by anyone.
    reports: Mutex<ReportBook>,
    /// What is wrong right now: `/health` and `twin status` say `degraded` with these reasons.
    pub degraded: Degradations,
}

/// The twin's degradations: one reason per part (`store`, `network:water`, …), set while the
/// part is impaired and cleared when it recovers. Read by `/health` and written into
/// `status.json` for `twin status`.
#[derive(Debug, Default)]
pub struct Degradations(Mutex<std::collections::BTreeMap<String, String>>);

impl Degradations {
    /// Mark `part` impaired for `reason` (replacing an earlier reason, which may carry
    /// changing figures); logged when it starts.
    pub fn set(&self, part: &str, reason: impl Into<String>) {
        let reason = reason.into();
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(part) {
            tracing::warn!(part, reason = %reason, "degraded");
        }
        map.insert(part.to_string(), reason);
    }

    /// `part` works again, if its reason begins with `prefix` (another cause stays).
    pub fn clear_if(&self, part: &str, prefix: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(part).is_some_and(|r| r.starts_with(prefix)) {
            map.remove(part);
            tracing::info!(part, "recovered");
        }
    }

    /// `part` works again.
    pub fn clear(&self, part: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.remove(part).is_some() {
            tracing::info!(part, "recovered");
        }
    }

    /// The reasons, as `part: reason`, in the order of the parts' names; empty when all is well.
    pub fn reasons(&self) -> Vec<String> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .map(|(part, why)| format!("{part}: {why}"))
            .collect()
    }
}

impl Shared {
    pub fn new(city: Arc<CityModel>, apply: ApplyFn) -> Arc<Shared> {
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        Arc::new(Shared {
            networks: Injections::default(),
            city,
            apply,
            counters: Counters::default(),
            feed,
            reports: Mutex::new(ReportBook::default()),
            degraded: Degradations::default(),
        })
    }

    /// The citizen reports (a short lock: copy out what you need).
    pub fn reports(&self) -> MutexGuard<'_, ReportBook> {
        // Every change to the book is a single insert or update: a poisoned lock is usable.
        self.reports.lock().unwrap_or_else(|p| p.into_inner())
    }
}
