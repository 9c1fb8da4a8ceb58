//! The history: every accepted reading kept per entity and observation time, read back over
//! any window, pruned past its retention.
//!
//! Layout (sled tree `history`, one entry per reading):
//! - key: the entity id's length (u8) and UTF-8 bytes, the observation time (ms since the epoch,
//!   an i64 with its sign bit flipped, big-endian, so keys sort by time), then a 32-bit FNV-1a
//!   hash of the encoded values (big-endian). An exact repeat (an MQTT redelivery) has the same
//!   key and is stored once; two different readings of one entity in the same millisecond are
//!   both kept.
//! - value: a format byte and the reading's values in the log's encoding ([`super::codec`]).
//!
//! The store writes a batch's history entries with its log batch and makes both durable with
//! the same flush ([`super::Store::append`]), so the history survives a crash as the log does.
//! A [`History`] is a cheap handle (a clone of the sled tree): the HTTP API reads through one
//! while the ingest pipeline writes.

use std::ops::Bound;
use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use twin_core::{EntityId, Reading};

use super::StoreError;
use super::codec::{Cursor, encode_values};

/// Format version of history entries.
const FORMAT: u8 = 1;
/// Bytes after the id prefix: time (8) and value hash (4).
const SUFFIX: usize = 12;

/// Which readings of an entity to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Inclusive lower bound, ms since the epoch.
    pub from_ms: i64,
    /// Inclusive upper bound, ms since the epoch.
    pub to_ms: i64,
    /// At most this many readings.
    pub limit: usize,
    /// The newest `limit` readings of the window (still returned oldest first) rather than the
    /// oldest (NGSI-LD's `lastN`).
    pub newest: bool,
}

impl Window {
    /// Every reading, oldest first, up to `limit`.
    pub fn all(limit: usize) -> Window {
        Window {
            from_ms: i64::MIN,
            to_ms: i64::MAX,
            limit,
            newest: false,
        }
    }
}

/// A handle on the store's history (cheap to clone; reads never block the writer).
#[derive(Clone)]
pub struct History {
    path: PathBuf,
    tree: sled::Tree,
}

impl History {
    pub(super) fn new(path: PathBuf, tree: sled::Tree) -> History {
        History { path, tree }
    }

    fn backend(&self, e: sled::Error) -> StoreError {
        StoreError::Backend {
            path: self.path.clone(),
            source: e,
        }
    }

    /// Add readings (not yet durable: the store's flush makes them so). A reading already
    /// kept (same entity, time and values) is written over itself.
    pub(super) fn record(&self, readings: &[Reading]) -> Result<(), StoreError> {
        let mut value = Vec::with_capacity(64);
        for r in readings {
            value.clear();
            value.push(FORMAT);
            encode_values(&mut value, &r.values);
            let mut key = prefix(&r.entity);
            key.extend_from_slice(&time_key(r.observed_at.timestamp_millis()));
            let hash = twin_core::stable_hash::fnv1a64(&value[1..]) as u32;
            key.extend_from_slice(&hash.to_be_bytes());
            self.tree
                .insert(key, value.as_slice())
                .map_err(|e| self.backend(e))?;
        }
        Ok(())
    }

    /// The readings of `entity` in `window`, oldest first.
    /// Errors: the backend fails, or an entry cannot be decoded (named by entity and time).
    pub fn read(&self, entity: &EntityId, window: Window) -> Result<Vec<Reading>, StoreError> {
        if window.from_ms > window.to_ms || window.limit == 0 {
            return Ok(Vec::new());
        }
        let (lo, hi) = bounds(entity, window.from_ms, window.to_ms);
        let range = self.tree.range(lo..=hi);
        let entries: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> =
            if window.newest {
                Box::new(range.rev())
            } else {
                Box::new(range)
            };
        let mut out = Vec::new();
        for item in entries.take(window.limit) {
            let (key, value) = item.map_err(|e| self.backend(e))?;
            out.push(self.decode(entity, &key, &value)?);
        }
        if window.newest {
            out.reverse();
        }
        Ok(out)
    }

    /// Call `visit` with every reading of `entity` observed from `from_ms` to `to_ms`
    /// (inclusive), oldest first, without holding them all (a year of minute readings);
    /// stops at the first error of the store or of `visit`.
    pub fn each<E: From<StoreError>>(
        &self,
        entity: &EntityId,
        from_ms: i64,
        to_ms: i64,
        mut visit: impl FnMut(Reading) -> Result<(), E>,
    ) -> Result<(), E> {
        if from_ms > to_ms {
            return Ok(());
        }
        let (lo, hi) = bounds(entity, from_ms, to_ms);
        for item in self.tree.range(lo..=hi) {
            let (key, value) = item.map_err(|e| self.backend(e))?;
            visit(self.decode(entity, &key, &value)?)?;
        }
        Ok(())
    }

    /// Observation time of the oldest and newest kept reading of `entity`, if any.
    pub fn span(&self, entity: &EntityId) -> Result<Option<(i64, i64)>, StoreError> {
        let p = prefix(entity);
        let mut range = self.tree.scan_prefix(&p);
        let first = range.next().transpose().map_err(|e| self.backend(e))?;
        let last = range.next_back().transpose().map_err(|e| self.backend(e))?;
        Ok(first.map(|(k, _)| {
            let oldest = time_of(&k, p.len());
            let newest = last.map_or(oldest, |(k, _)| time_of(&k, p.len()));
            (oldest, newest)
        }))
    }

    /// Delete every reading observed before `cutoff_ms`, entity by entity (a walk that jumps
    /// from one entity's first entry to the next: its cost is the entries deleted plus the
    /// entities kept). Returns the number of readings deleted.
    pub fn prune(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let mut removed = 0;
        let mut next: Option<Vec<u8>> = None;
        loop {
            let start = match &next {
                None => Bound::Unbounded,
                Some(after) => Bound::Excluded(after.as_slice()),
            };
            let first = self
                .tree
                .range::<&[u8], _>((start, Bound::Unbounded))
                .next()
                .transpose()
                .map_err(|e| self.backend(e))?;
            let Some((key, _)) = first else {
                return Ok(removed);
            };
            let id_len = usize::from(key[0]);
            let p = key[..1 + id_len].to_vec();
            let mut hi = p.clone();
            hi.extend_from_slice(&time_key(cutoff_ms));
            let mut batch = sled::Batch::default();
            for old in self.tree.range(p.as_slice()..hi.as_slice()).keys() {
                batch.remove(old.map_err(|e| self.backend(e))?);
                removed += 1;
            }
            self.tree.apply_batch(batch).map_err(|e| self.backend(e))?;
            let mut last = p;
            last.extend_from_slice(&[0xFF; SUFFIX]);
            next = Some(last);
        }
    }

    fn decode(&self, entity: &EntityId, key: &[u8], value: &[u8]) -> Result<Reading, StoreError> {
        let ms = time_of(key, key.len() - SUFFIX);
        let corrupt = |why: String| StoreError::Corrupt {
            path: self.path.clone(),
            what: format!("history of {entity} at {}", twin_core::live::rfc3339(ms)),
            why,
        };
        let observed_at = Utc
            .timestamp_millis_opt(ms)
            .single()
            .ok_or_else(|| corrupt(format!("bad time {ms}")))?;
        let values = match value.split_first() {
            Some((&FORMAT, rest)) => Cursor::new(rest, 0).values().map_err(corrupt)?,
            _ => return Err(corrupt("unknown format version".into())),
        };
        Ok(Reading {
            entity: entity.clone(),
            observed_at,
            values,
        })
    }
}

/// The key prefix of an entity's readings: id length and bytes.
fn prefix(entity: &EntityId) -> Vec<u8> {
    let id = entity.to_string();
    let mut key = Vec::with_capacity(1 + id.len() + SUFFIX);
    key.push(id.len() as u8);
    key.extend_from_slice(id.as_bytes());
    key
}

/// The first and last possible keys of `entity`'s readings from `from_ms` to `to_ms`.
fn bounds(entity: &EntityId, from_ms: i64, to_ms: i64) -> (Vec<u8>, Vec<u8>) {
    let p = prefix(entity);
    let mut lo = p.clone();
    lo.extend_from_slice(&time_key(from_ms));
    let mut hi = p;
    hi.extend_from_slice(&time_key(to_ms));
    hi.extend_from_slice(&[0xFF; 4]);
    (lo, hi)
}

/// A time as 8 bytes that sort as the times do (sign bit flipped, big-endian).
fn time_key(ms: i64) -> [u8; 8] {
    ((ms as u64) ^ (1 << 63)).to_be_bytes()
}

/// The time in a key whose time starts at byte `at`.
fn time_of(key: &[u8], at: usize) -> i64 {
    let mut b = [0u8; 8];
    if let Some(bytes) = key.get(at..at + 8) {
        b.copy_from_slice(bytes);
    }
    (u64::from_be_bytes(b) ^ (1 << 63)) as i64
}

#[cfg(test)]
mod tests {
    use super::super::Store;
    use super::*;
    use twin_core::{Quantity, Value};

    fn reading(id: &str, ms: i64, level: f64) -> Reading {
        Reading {
            entity: id.parse().expect("id"),
            observed_at: Utc.timestamp_millis_opt(ms).single().expect("time"),
            values: vec![
                (Quantity::FillingLevel, Value::Number(level)),
                (Quantity::BinStatus, Value::Text("ok".into())),
            ],
        }
    }

    #[test]
    fn windows_read_one_entity_in_time_order_and_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t0 = 1_790_000_000_000;
        let minute = 60_000;
        {
            let mut store = Store::open(dir.path()).expect("open");
            // Two bins interleaved, sent out of time order, one reading before 1970.
            let mut batch = Vec::new();
            for i in (0..50).rev() {
                batch.push(reading("bin:1", t0 + i * minute, i as f64 / 100.0));
                batch.push(reading("bin:10", t0 + i * minute, 0.5));
            }
            batch.push(reading("bin:1", -5 * minute, 0.9));
            store.append(&batch).expect("append");
            store.flush().expect("flush");
        }
        let store = Store::open(dir.path()).expect("reopen");
        let history = store.history();
        let bin1: EntityId = "bin:1".parse().expect("id");
        let all = history.read(&bin1, Window::all(1000)).expect("read");
        assert_eq!(all.len(), 51);
        assert!(all.iter().all(|r| r.entity == bin1));
        assert!(all.windows(2).all(|w| w[0].observed_at < w[1].observed_at));
        assert_eq!(all[0].observed_at.timestamp_millis(), -5 * minute);
        assert_eq!(all[1], reading("bin:1", t0, 0.0));
        let window = Window {
            from_ms: t0 + 10 * minute,
            to_ms: t0 + 19 * minute,
            limit: 1000,
            newest: false,
        };
        let ten = history.read(&bin1, window).expect("read");
        assert_eq!(ten.len(), 10);
        assert_eq!(ten[9], reading("bin:1", t0 + 19 * minute, 0.19));
        let last3 = history
            .read(
                &bin1,
                Window {
                    limit: 3,
                    newest: true,
                    ..window
                },
            )
            .expect("read");
        assert_eq!(
            last3
                .iter()
                .map(|r| r.observed_at.timestamp_millis())
                .collect::<Vec<_>>(),
            vec![t0 + 17 * minute, t0 + 18 * minute, t0 + 19 * minute]
        );
        assert_eq!(
            history.span(&bin1).expect("span"),
            Some((-5 * minute, t0 + 49 * minute))
        );
        let none: EntityId = "bin:2".parse().expect("id");
        assert_eq!(history.span(&none).expect("span"), None);
        assert!(
            history
                .read(&none, Window::all(10))
                .expect("read")
                .is_empty()
        );
    }

    #[test]
    fn a_repeat_is_kept_once_and_a_different_reading_at_the_same_time_twice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        let t = 1_790_000_000_000;
        store
            .append(&[reading("bin:1", t, 0.3), reading("bin:1", t, 0.3)])
            .expect("append");
        store.append(&[reading("bin:1", t, 0.3)]).expect("append");
        store.append(&[reading("bin:1", t, 0.4)]).expect("append");
        let bin1: EntityId = "bin:1".parse().expect("id");
        let kept = store.history().read(&bin1, Window::all(10)).expect("read");
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn pruning_removes_what_is_older_than_the_cutoff_for_every_entity() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        let batch: Vec<Reading> = ["bin:1", "bin:2", "street:7"]
            .iter()
            .flat_map(|id| (0..10).map(move |i| reading(id, 1000 * i, 0.1)))
            .collect();
        store.append(&batch).expect("append");
        let history = store.history();
        assert_eq!(history.prune(5000).expect("prune"), 15);
        for id in ["bin:1", "bin:2", "street:7"] {
            let id: EntityId = id.parse().expect("id");
            assert_eq!(history.span(&id).expect("span"), Some((5000, 9000)));
        }
        assert_eq!(history.prune(5000).expect("prune"), 0);
        assert_eq!(history.prune(i64::MAX).expect("prune"), 15);
        assert!(history.tree.is_empty());
    }
}
