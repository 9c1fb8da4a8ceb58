//! The state of every entity at start-up: the newest snapshot, and the log replayed after it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use twin_core::CityModel;
use twin_core::live::EntityLive;

use crate::shared::ApplyFn;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, Serialize, Deserialize)]
/// How the state was restored: the snapshot's sequence number, the readings replayed after
/// it, those the replay set aside because applying them panicked, and the time it took.
pub struct RestoreReport {
    pub snapshot_seq: Option<u64>,
    pub replayed: usize,
    /// Logged readings whose application panicked during the replay: skipped (the entity keeps
    /// its state before them), logged with their sequence number, counted here. A poison
    /// reading in the log never stops the twin from starting.
    #[serde(default)]
    pub quarantined: usize,
    /// Newer snapshots that could not be read (corrupt): the state came from an older one and
    /// the log after it.
    #[serde(default)]
    pub unreadable_snapshots: usize,
    pub millis: f64,
}

/// Load the newest readable snapshot and replay the log after it: the state of every entity
/// (in city order) and the sequence number it includes. A corrupt newest snapshot is passed
/// over for the one before it, as long as the log still holds every reading after that one;
/// otherwise the error says what is lost and how to start again (docs/reliability.md).
pub fn restore(
    city: &CityModel,
    store: &Store,
    apply: ApplyFn,
) -> Result<(Vec<EntityLive>, u64, RestoreReport), StoreError> {
    let started = Instant::now();
    let mut states = vec![EntityLive::default(); city.entities().len()];
    let mut seq = 0;
    let (snapshot, unreadable) = store.latest_good_snapshot()?;
    for e in &unreadable {
        tracing::error!(error = %e, "a snapshot cannot be read; restoring from an older one and the log");
    }
    let snapshot_seq = snapshot.as_ref().map(|s| s.seq);
    if let Some(newest_bad) = unreadable.first() {
        let from = snapshot_seq.unwrap_or(0);
        if let Some(first) = store.first_logged_seq()?
            && first > from + 1
        {
            return Err(StoreError::Corrupt {
                path: store.path().to_path_buf(),
                what: "snapshots".into(),
                why: format!(
                    "{newest_bad}; the readable one before it covers readings up to {from}, but the log starts at {first}: readings {}..{} are lost. Move the store folder aside to start empty (docs/reliability.md, \"Store errors and recovery\")",
                    from + 1,
                    first - 1
                ),
            });
        }
    }
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
    let mut quarantined = 0;
    for (s, reading) in log {
        if let Some(i) = city.entity_index(&reading.entity) {
            // As the entity actors do: apply to a copy, keep it only if nothing panicked.
            let mut next = states[i].clone();
            let entity = &city.entities()[i];
            match catch_unwind(AssertUnwindSafe(|| apply(&mut next, entity, &reading))) {
                Ok(_) => states[i] = next,
                Err(_) => {
                    quarantined += 1;
                    tracing::error!(
                        seq = s,
                        entity = %reading.entity,
                        "applying this logged reading panicked during the replay; it is skipped"
                    );
                }
            }
        }
        seq = s;
    }
    let report = RestoreReport {
        snapshot_seq,
        replayed,
        quarantined,
        unreadable_snapshots: unreadable.len(),
        millis: started.elapsed().as_secs_f64() * 1e3,
    };
    Ok((states, seq, report))
}
