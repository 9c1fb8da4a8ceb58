//! The durable store of the live twin, behind a narrow interface so the backend could change:
//! a log of accepted readings, periodic snapshots of every entity's state, the history of
//! every accepted reading per entity and time ([`History`]), counters (rejections per
//! reason), citizen reports, and documents clients create through the NGSI-LD API
//! ([`Documents`]). Backend: sled; the encoding of readings is in `codec`.
//!
//! - The log is written in batches (one sled entry per batch, keyed by the sequence number of
//!   its first reading); [`Store::flush`] makes everything appended durable, and nothing is
//!   acknowledged to a sensor before it.
//! - A snapshot records the state of every entity after the reading with sequence `seq`; on
//!   start the twin loads the newest snapshot and replays the log after it.
//! - Retention: log batches already covered by a snapshot and older than the retention period
//!   are deleted, but never those the history has not yet written into its chunks; the newest
//!   batch is always kept so sequence numbers continue. The history has its own, longer
//!   retention ([`History::prune`]).
//!
//! sled locks its folder, so only one process opens a store; [`StoreError::Locked`] says so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use twin_core::Reading;
use twin_core::live::EntityLive;
use twin_core::waste::report::CitizenReport;

use codec::{Cursor, encode_reading};
pub use documents::{DocumentWrite, Documents};
pub use history::{History, Window};

mod codec;
mod documents;
mod history;

/// Format version of log batches and snapshots.
const FORMAT: u8 = 1;

/// sled's page cache. The store is written all day and read only at start, so a small cache
/// costs nothing; sled's default (1 GiB) let a twin's memory grow with its store for weeks
/// (`twin bench soak`, docs/reliability.md).
const CACHE_BYTES: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {0} is locked by another process (a running `twin serve`?)")]
    Locked(PathBuf),
    #[error("store {path}: {source}")]
    Backend { path: PathBuf, source: sled::Error },
    #[error("store {path}: corrupt {what}: {why}")]
    Corrupt {
        path: PathBuf,
        what: String,
        why: String,
    },
}

/// A snapshot: the state of every entity after the reading with sequence number `seq`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub seq: u64,
    pub taken_ms: i64,
    pub entities: Vec<(String, EntityLive)>,
}

/// What a snapshot holds, without its entities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    pub seq: u64,
    pub taken_at: String,
    pub entities: usize,
}

impl SnapshotInfo {
    fn of(s: &Snapshot) -> SnapshotInfo {
        SnapshotInfo {
            seq: s.seq,
            taken_at: twin_core::live::rfc3339(s.taken_ms),
            entities: s.entities.len(),
        }
    }
}

/// Counts for `twin status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreStatus {
    pub readings_logged: u64,
    pub log_batches: usize,
    pub last_snapshot: Option<SnapshotInfo>,
    pub rejected: BTreeMap<String, u64>,
    pub size_bytes: u64,
}

pub struct Store {
    path: PathBuf,
    db: sled::Db,
    log: sled::Tree,
    snapshots: sled::Tree,
    meta: sled::Tree,
    /// Citizen reports as JSON, keyed by their id (big-endian).
    reports: sled::Tree,
    /// Every accepted reading per entity and time.
    history: History,
    /// The NGSI-LD broker's own entities (of types that are not the twin's assets), by id.
    ngsi_ld_entities: Documents,
    /// NGSI-LD subscriptions, by id.
    ngsi_ld_subscriptions: Documents,
    next_seq: u64,
    /// Batches in the log, counted once at open and kept up to date: sled's `len` walks every
    /// entry, and the status is read every second.
    log_batches: AtomicUsize,
    /// The newest snapshot's summary, read once at open and set by each snapshot written, so
    /// the status never re-reads a snapshot.
    snapshot_info: Mutex<Option<SnapshotInfo>>,
}

impl Store {
    /// Open (or create) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.to_path_buf();
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|e| match &e {
                sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                    StoreError::Locked(path.clone())
                }
                sled::Error::Io(io) if io.to_string().contains("lock") => {
                    StoreError::Locked(path.clone())
                }
                _ => StoreError::Backend {
                    path: path.clone(),
                    source: e,
                },
            })?;
        let backend = |e| StoreError::Backend {
            path: path.clone(),
            source: e,
        };
        let log = db.open_tree("log").map_err(backend)?;
        let snapshots = db.open_tree("snapshots").map_err(backend)?;
        let meta = db.open_tree("meta").map_err(backend)?;
        let reports = db.open_tree("reports").map_err(backend)?;
        let history = History::new(path.clone(), db.open_tree("history").map_err(backend)?);
        let ngsi_ld_entities = Documents::new(
            path.clone(),
            "NGSI-LD entity",
            db.open_tree("ngsi-ld entities").map_err(backend)?,
        );
        let ngsi_ld_subscriptions = Documents::new(
            path.clone(),
            "NGSI-LD subscription",
            db.open_tree("ngsi-ld subscriptions").map_err(backend)?,
        );
        let mut store = Store {
            path: path.clone(),
            db,
            log,
            snapshots,
            meta,
            reports,
            history,
            ngsi_ld_entities,
            ngsi_ld_subscriptions,
            next_seq: 1,
            log_batches: AtomicUsize::new(0),
            snapshot_info: Mutex::new(None),
        };
        if let Some((key, value)) = store.log.last().map_err(backend)? {
            let first = seq_of(&key);
            let count = batch_len(&value).ok_or_else(|| store.corrupt("log batch", "header"))?;
            store.next_seq = first + count as u64;
        }
        store.log_batches = AtomicUsize::new(store.log.len());
        // Readings logged but not yet in the history's chunks (a crash) are gathered again.
        let watermark = store.history.watermark()?;
        let again = store
            .history
            .regather(store.log_after(watermark.saturating_sub(1))?)?;
        if again > 0 {
            tracing::info!(readings = again, "history: gathered again from the log");
        }
        let info = store.latest_snapshot()?.as_ref().map(SnapshotInfo::of);
        store.snapshot_info = Mutex::new(info);
        Ok(store)
    }

    /// Open the store, waiting up to 5 s while it is locked: by another process reading it
    /// briefly (a `twin status` of a stopped twin), or by this one's previous store, whose
    /// sled threads release the folder's lock a moment after it is dropped.
    pub fn open_patiently(dir: &Path) -> Result<Store, StoreError> {
        let started = std::time::Instant::now();
        loop {
            match Store::open(dir) {
                Err(StoreError::Locked(_))
                    if started.elapsed() < std::time::Duration::from_secs(5) =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    /// The store's folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn backend(&self, e: sled::Error) -> StoreError {
        StoreError::Backend {
            path: self.path.clone(),
            source: e,
        }
    }

    fn corrupt(&self, what: &str, why: &str) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            what: what.to_string(),
            why: why.to_string(),
        }
    }

    /// Keep (or overwrite) a citizen report; durable after the next [`Store::flush`].
    pub fn put_report(&self, report: &CitizenReport) -> Result<(), StoreError> {
        let value =
            serde_json::to_vec(report).map_err(|e| self.corrupt("report", &e.to_string()))?;
        self.reports
            .insert(report.id.to_be_bytes(), value)
            .map_err(|e| self.backend(e))?;
        Ok(())
    }

    /// Every kept citizen report, by id.
    pub fn reports(&self) -> Result<Vec<CitizenReport>, StoreError> {
        self.reports
            .iter()
            .map(|kv| {
                let (_, v) = kv.map_err(|e| self.backend(e))?;
                serde_json::from_slice(&v).map_err(|e| self.corrupt("report", &e.to_string()))
            })
            .collect()
    }

    /// Sequence number the next appended reading gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// A handle on the history of every accepted reading (readable while the twin writes).
    pub fn history(&self) -> History {
        self.history.clone()
    }

    /// A handle on the NGSI-LD broker's own entities (JSON in normalized form, by id).
    pub fn ngsi_ld_entities(&self) -> Documents {
        self.ngsi_ld_entities.clone()
    }

    /// A handle on the NGSI-LD subscriptions (JSON, by id).
    pub fn ngsi_ld_subscriptions(&self) -> Documents {
        self.ngsi_ld_subscriptions.clone()
    }

    /// Append readings as one batch to the log and each to the history (not yet durable:
    /// call [`Store::flush`], which makes both so). Returns the sequence number of the last
    /// one, or None for an empty slice.
    pub fn append(&mut self, readings: &[Reading]) -> Result<Option<u64>, StoreError> {
        if readings.is_empty() {
            return Ok(None);
        }
        let first = self.next_seq;
        let mut buf = Vec::with_capacity(16 + readings.len() * 48);
        buf.push(FORMAT);
        buf.extend_from_slice(&(readings.len() as u32).to_le_bytes());
        buf.extend_from_slice(&Utc::now().timestamp_millis().to_le_bytes());
        for r in readings {
            encode_reading(&mut buf, r);
        }
        self.log
            .insert(first.to_be_bytes(), buf)
            .map_err(|e| self.backend(e))?;
        self.history.add(first, readings)?;
        self.log_batches.fetch_add(1, Ordering::Relaxed);
        self.next_seq += readings.len() as u64;
        Ok(Some(self.next_seq - 1))
    }

    /// Bytes free for this process on the file system holding the store (`statvfs`:
    /// available blocks × fragment size), so writes can be refused before the disk is full.
    /// Errors: the file system cannot be asked (the folder is gone).
    pub fn free_bytes(&self) -> Result<u64, StoreError> {
        let fs = rustix::fs::statvfs(&self.path).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            what: "file system".into(),
            why: format!("cannot read its free space: {e}"),
        })?;
        Ok(fs.f_bavail.saturating_mul(fs.f_frsize))
    }

    /// Make everything appended so far durable (fsync).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(|e| self.backend(e))
    }

    /// Add rejection counts (reason → count) to the persistent totals.
    pub fn count_rejections(&self, counts: &BTreeMap<String, u64>) -> Result<(), StoreError> {
        if counts.is_empty() {
            return Ok(());
        }
        let mut totals = self.rejected()?;
        for (reason, n) in counts {
            *totals.entry(reason.clone()).or_default() += n;
        }
        let text =
            serde_json::to_vec(&totals).map_err(|e| self.corrupt("counters", &e.to_string()))?;
        self.meta
            .insert("rejected", text)
            .map_err(|e| self.backend(e))?;
        Ok(())
    }

    /// Rejections per reason since the store was created.
    pub fn rejected(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        match self.meta.get("rejected").map_err(|e| self.backend(e))? {
            Some(v) => {
                serde_json::from_slice(&v).map_err(|e| self.corrupt("counters", &e.to_string()))
            }
            None => Ok(BTreeMap::new()),
        }
    }

    /// Readings with sequence numbers after `seq`, in order, decoded.
    pub fn log_after(&self, seq: u64) -> Result<Vec<(u64, Reading)>, StoreError> {
        let mut out = Vec::new();
        // The batch holding seq + 1 may start before it: begin at the last batch key ≤ seq + 1.
        let start = match self
            .log
            .range(..=(seq + 1).to_be_bytes())
            .next_back()
            .transpose()
            .map_err(|e| self.backend(e))?
        {
            Some((k, _)) => seq_of(&k),
            None => 0,
        };
        for item in self.log.range(start.to_be_bytes()..) {
            let (key, value) = item.map_err(|e| self.backend(e))?;
            let first = seq_of(&key);
            let readings = decode_batch(&value)
                .map_err(|why| self.corrupt(&format!("log batch {first}"), &why))?;
            for (i, r) in readings.into_iter().enumerate() {
                let s = first + i as u64;
                if s > seq {
                    out.push((s, r));
                }
            }
        }
        Ok(out)
    }

    /// Everything the history still gathers in memory goes into its chunks (durable after the
    /// next flush); [`Store::write_snapshot`] does it too.
    pub fn write_history(&self) -> Result<(), StoreError> {
        self.history.write_gathered(self.next_seq)
    }

    /// Write a snapshot (made durable at once, with the history's gathered readings) and keep
    /// only the two newest.
    pub fn write_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.write_history()?;
        let mut bytes = vec![FORMAT];
        serde_json::to_writer(&mut bytes, snapshot)
            .map_err(|e| self.corrupt("snapshot", &e.to_string()))?;
        self.snapshots
            .insert(snapshot.seq.to_be_bytes(), bytes)
            .map_err(|e| self.backend(e))?;
        let keys: Vec<sled::IVec> = self
            .snapshots
            .iter()
            .keys()
            .collect::<Result<_, _>>()
            .map_err(|e| self.backend(e))?;
        for k in keys.iter().rev().skip(2) {
            self.snapshots.remove(k).map_err(|e| self.backend(e))?;
        }
        self.flush()?;
        if keys.last().map(|k| seq_of(k)) == Some(snapshot.seq) {
            *self.snapshot_info.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(SnapshotInfo::of(snapshot));
        }
        Ok(())
    }

    /// The newest snapshot, if any.
    pub fn latest_snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        Ok(self.latest_good_snapshot()?.0)
    }

    /// The newest snapshot that can be read, and why each newer one could not (a damaged
    /// disk, a copy taken while the twin ran): the recovery path of a corrupt snapshot is the
    /// one before it plus the log after it (the store keeps two).
    pub fn latest_good_snapshot(&self) -> Result<(Option<Snapshot>, Vec<StoreError>), StoreError> {
        let mut unreadable = Vec::new();
        for item in self.snapshots.iter().rev() {
            let (key, value) = item.map_err(|e| self.backend(e))?;
            let what = format!("snapshot {}", seq_of(&key));
            let decoded = match value.split_first() {
                Some((&FORMAT, json)) => serde_json::from_slice::<Snapshot>(json)
                    .map_err(|e| self.corrupt(&what, &e.to_string())),
                _ => Err(self.corrupt(&what, "unknown format version")),
            };
            match decoded {
                Ok(snapshot) => return Ok((Some(snapshot), unreadable)),
                Err(e) => unreadable.push(e),
            }
        }
        Ok((None, unreadable))
    }

    /// The sequence number of the first reading the log holds, if any (older ones were pruned).
    pub fn first_logged_seq(&self) -> Result<Option<u64>, StoreError> {
        Ok(self
            .log
            .first()
            .map_err(|e| self.backend(e))?
            .map(|(key, _)| seq_of(&key)))
    }

    /// Delete log batches covered by the newest snapshot and appended more than `keep_ms` ago;
    /// the newest batch always stays. Returns the number of batches deleted.
    pub fn prune_log(&self, keep_ms: i64) -> Result<usize, StoreError> {
        let Some((snap_key, _)) = self.snapshots.last().map_err(|e| self.backend(e))? else {
            return Ok(0);
        };
        // Readings the history has not written into chunks stay in the log too.
        let covered = seq_of(&snap_key).min(self.history.watermark()?.saturating_sub(1));
        let cutoff = Utc::now().timestamp_millis() - keep_ms;
        let last_key = self
            .log
            .last()
            .map_err(|e| self.backend(e))?
            .map(|(k, _)| k);
        let mut removed = 0;
        for item in self.log.iter() {
            let (key, value) = item.map_err(|e| self.backend(e))?;
            if Some(&key) == last_key.as_ref() {
                break;
            }
            let first = seq_of(&key);
            let (Some(count), Some(appended)) = (batch_len(&value), batch_time(&value)) else {
                return Err(self.corrupt(&format!("log batch {first}"), "header"));
            };
            if first + count as u64 - 1 > covered || appended > cutoff {
                break;
            }
            self.log.remove(&key).map_err(|e| self.backend(e))?;
            self.log_batches.fetch_sub(1, Ordering::Relaxed);
            removed += 1;
        }
        Ok(removed)
    }

    /// Counts for `twin status`, in time independent of the store's age (no walk of the log,
    /// no snapshot read).
    pub fn status(&self) -> Result<StoreStatus, StoreError> {
        let last_snapshot = self
            .snapshot_info
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Ok(StoreStatus {
            readings_logged: self.next_seq - 1,
            log_batches: self.log_batches.load(Ordering::Relaxed),
            last_snapshot,
            rejected: self.rejected()?,
            size_bytes: self.db.size_on_disk().unwrap_or(0),
        })
    }
}

fn seq_of(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[8 - n..].copy_from_slice(&key[key.len() - n..]);
    u64::from_be_bytes(b)
}

fn batch_len(value: &[u8]) -> Option<u32> {
    (value.first() == Some(&FORMAT))
        .then(|| value.get(1..5)?.try_into().ok().map(u32::from_le_bytes))
        .flatten()
}

fn batch_time(value: &[u8]) -> Option<i64> {
    value.get(5..13)?.try_into().ok().map(i64::from_le_bytes)
}

fn decode_batch(value: &[u8]) -> Result<Vec<Reading>, String> {
    let count = batch_len(value).ok_or("bad header")?;
    let mut c = Cursor::new(value, 13);
    (0..count).map(|_| c.reading()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use twin_core::{Quantity, Value};

    fn reading(i: u32) -> Reading {
        Reading {
            entity: format!("bin:{i}").parse().expect("id"),
            observed_at: Utc
                .timestamp_millis_opt(1_790_000_000_000 + i64::from(i) * 1000)
                .single()
                .expect("time"),
            values: vec![
                (Quantity::FillingLevel, Value::Number(f64::from(i) / 1000.0)),
                (Quantity::BinStatus, Value::Text("ok".into())),
                (Quantity::SocketStatus(3), Value::Bool(true)),
            ],
        }
    }

    #[test]
    fn log_survives_reopening_and_replays_after_a_sequence_number() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut store = Store::open(dir.path()).expect("open");
            let batch: Vec<Reading> = (0..10).map(reading).collect();
            assert_eq!(store.append(&batch).expect("append"), Some(10));
            let batch: Vec<Reading> = (10..25).map(reading).collect();
            assert_eq!(store.append(&batch).expect("append"), Some(25));
            store.flush().expect("flush");
        }
        let store = Store::open_patiently(dir.path()).expect("reopen");
        assert_eq!(store.next_seq(), 26);
        let after = store.log_after(7).expect("log");
        assert_eq!(after.len(), 18);
        assert_eq!(after[0].0, 8);
        assert_eq!(after[0].1, reading(7));
        assert_eq!(after.last().map(|r| r.1.clone()), Some(reading(24)));
    }

    #[test]
    fn reports_survive_reopening_and_updates_overwrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let report = |id: u64, resolved: bool| CitizenReport {
            id,
            reporter: "app-1".into(),
            kind: twin_core::waste::report::ReportKind::Damaged,
            bin: Some("bin:3".into()),
            lat: 44.85,
            lon: 24.87,
            photo_url: None,
            note: Some("lid broken".into()),
            neighbourhood: "Centru".into(),
            received_at: Utc.timestamp_opt(1_800_000_000, 0).single().expect("time"),
            resolved_at: resolved
                .then(|| Utc.timestamp_opt(1_800_003_600, 0).single().expect("time")),
            resolution: resolved.then(|| "repaired".into()),
        };
        {
            let store = Store::open(dir.path()).expect("open");
            store.put_report(&report(1, false)).expect("put");
            store.put_report(&report(2, false)).expect("put");
            store.put_report(&report(1, true)).expect("update");
            store.flush().expect("flush");
        }
        let store = Store::open_patiently(dir.path()).expect("reopen");
        assert_eq!(
            store.reports().expect("reports"),
            vec![report(1, true), report(2, false)]
        );
    }

    #[test]
    fn snapshots_keep_the_two_newest_and_pruning_keeps_what_is_not_covered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        for b in 0..5 {
            let batch: Vec<Reading> = (b * 10..b * 10 + 10).map(reading).collect();
            store.append(&batch).expect("append");
        }
        for seq in [10, 20, 30] {
            store
                .write_snapshot(&Snapshot {
                    seq,
                    taken_ms: 0,
                    entities: vec![("bin:1".into(), EntityLive::default())],
                })
                .expect("snapshot");
        }
        assert_eq!(
            store.latest_snapshot().expect("read").map(|s| s.seq),
            Some(30)
        );
        assert_eq!(store.snapshots.len(), 2);
        // Batches 1-10, 11-20, 21-30 are covered by the snapshot at 30.
        assert_eq!(store.prune_log(0).expect("prune"), 3);
        assert_eq!(store.log_after(30).expect("log").len(), 20);
        let status = store.status().expect("status");
        assert_eq!(status.readings_logged, 50);
        assert_eq!(status.log_batches, 2);
        assert_eq!(status.last_snapshot.as_ref().map(|s| s.seq), Some(30));
        // An older snapshot written late is kept but is not the newest.
        store
            .write_snapshot(&Snapshot {
                seq: 25,
                taken_ms: 0,
                entities: vec![],
            })
            .expect("snapshot");
        assert_eq!(
            store.status().expect("status").last_snapshot,
            status.last_snapshot
        );
        // The counts the status keeps without walking the store are the ones a reopen finds.
        drop(store);
        let store = Store::open_patiently(dir.path()).expect("reopen");
        let reopened = store.status().expect("status");
        assert_eq!(
            (
                reopened.readings_logged,
                reopened.log_batches,
                reopened.last_snapshot
            ),
            (50, 2, status.last_snapshot)
        );
    }

    #[test]
    fn rejections_accumulate_per_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let mut counts = BTreeMap::new();
        counts.insert("out_of_range".to_string(), 2);
        store.count_rejections(&counts).expect("count");
        store.count_rejections(&counts).expect("count");
        assert_eq!(store.rejected().expect("read")["out_of_range"], 4);
    }
}
