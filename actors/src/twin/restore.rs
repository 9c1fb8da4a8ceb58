//! The state of every entity at start-up: the newest snapshot, and the log replayed after it.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use twin_core::CityModel;
use twin_core::live::EntityLive;

use crate::shared::ApplyFn;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, Serialize, Deserialize)]
/// How the state was restored: the snapshot's sequence number, the readings replayed after
/// it and the time it took.
pub struct RestoreReport {
    pub snapshot_seq: Option<u64>,
    pub replayed: usize,
    pub millis: f64,
}

/// Load the newest snapshot and replay the log after it: the state of every entity (in city
/// order) and the sequence number it includes.
pub fn restore(
    city: &CityModel,
    store: &Store,
    apply: ApplyFn,
) -> Result<(Vec<EntityLive>, u64, RestoreReport), StoreError> {
    let started = Instant::now();
    let mut states = vec![EntityLive::default(); city.entities().len()];
    let mut seq = 0;
    let snapshot = store.latest_snapshot()?;
    let snapshot_seq = snapshot.as_ref().map(|s| s.seq);
    if let Some(snap) = snapshot {
        seq = snap.seq;
        for (id, live) in snap.entities {
            let index = id.parse().ok().and_then(|id| city.entity_index(&id));
            match index {
                Some(i) => states[i] = live,
                None => {
                    tracing::warn!(entity = %id, "snapshot names an entity this city does not have; skipped")
                }
            }
        }
    }
    let log = store.log_after(seq)?;
    let replayed = log.len();
    for (s, reading) in log {
        if let Some(i) = city.entity_index(&reading.entity) {
            apply(&mut states[i], &city.entities()[i], &reading);
        }
        seq = s;
    }
    let report = RestoreReport {
        snapshot_seq,
        replayed,
        millis: started.elapsed().as_secs_f64() * 1e3,
    };
    Ok((states, seq, report))
}

/// Open the store, waiting up to 5 s while another process (a `twin status` reading a stopped
/// twin's store) holds it briefly.
pub(super) fn open_store_patiently(dir: &Path) -> Result<Store, StoreError> {
    let started = Instant::now();
    loop {
        match Store::open(dir) {
            Err(StoreError::Locked(_)) if started.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}
