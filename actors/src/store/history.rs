//! The history: every accepted reading kept per entity and observation time, read back over
//! any window, compacted, and pruned past its retention.
//!
//! Readings are not written one sled entry each (a measured 80,000 readings/s and 245 bytes on
//! disk per reading, docs/benchmarks.md) but gathered per entity in memory and written as
//! **chunks**: one sled entry holds some of an entity's readings of one UTC day. Layout of the
//! sled tree `history`:
//! - chunk key: the entity id's length (u8, ≥ 1) and UTF-8 bytes, the day (its first ms since
//!   the epoch, an i64 with its sign bit flipped, big-endian, so keys sort by time), and the
//!   sequence number of the chunk's first reading (u64, big-endian). Value: a format byte, then
//!   per reading its ms within the day (u32) and its values in the log's encoding
//!   ([`super::codec`]).
//! - mark key: a zero byte and the entity id: the sequence number of the entity's last reading
//!   written in a chunk (u64, big-endian). The zero byte alone: the **watermark**, every reading
//!   before which is in a chunk.
//!
//! Durability: a reading is durable in the log the moment it is acknowledged; the chunks follow
//! (an entity's readings when 4 KB of them are gathered, everyone's at each snapshot). After a crash the
//! store re-gathers the log after the watermark ([`History::regather`]), skipping readings an
//! entity's mark says are in chunks already, and the log is never pruned past the watermark:
//! the history survives a crash as the log does.
//!
//! Compaction merges an entity's chunks of one day into one (hourly, for the days written to
//! since); pruning drops whole days older than the retention. Reads merge chunks with the
//! readings still gathered in memory, in time order, an exact repeat (an MQTT redelivery) once.
//! A [`History`] is a cheap handle: the HTTP API reads through one while the pipeline writes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::{Bound, ControlFlow};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{TimeZone, Utc};
use twin_core::{EntityId, Reading};

use super::StoreError;
use super::codec::{Cursor, encode_values};

/// Format version of chunks: 3, LZ4-compressed (lz4_flex's block format with the plain size
/// before it).
const FORMAT: u8 = 3;
/// The largest plain chunk a stored one may claim (a day of one entity's readings; a corrupt
/// size is refused rather than allocated).
const MAX_PLAIN_CHUNK: usize = 64 << 20;
/// A UTC day in ms: the span of one chunk.
const DAY_MS: i64 = 86_400_000;
/// An entity's gathered readings are written as chunks once they take this many bytes (about
/// 200 readings of one number).
const CHUNK_BYTES: usize = 4 << 10;
/// Everyone's gathered readings are written once they take this many bytes in all.
const GATHERED_MAX_BYTES: usize = 32 << 20;
/// Bytes of a gathered record before its values: sequence number (8), ms (8), values' length
/// (4).
const RECORD_HEAD: usize = 20;
/// Bytes of a chunk key after the id: day (8) and first sequence number (8).
const CHUNK_SUFFIX: usize = 16;
/// Window bounds are clamped to ± this many ms (about 31,000 years) so day arithmetic cannot
/// overflow.
const TIME_LIMIT: i64 = 1_000_000_000_000_000;

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

/// Readings waiting in memory for their chunks, per entity as encoded records (no allocation
/// per reading: this is on the ingest path): sequence number (u64), ms since the epoch (i64),
/// the values' length (u32) and the values in the log's encoding, little-endian.
#[derive(Default)]
struct Gathered {
    /// foldhash, not SipHash: this map is looked up once per reading on the ingest path, and
    /// its keys are the twin's own ids, not an attacker's.
    by_entity: HashMap<EntityId, Vec<u8>, foldhash::fast::RandomState>,
    bytes: usize,
    /// (entity, day) chunks written since the last compaction.
    touched: HashSet<(EntityId, i64)>,
}

/// A handle on the store's history (cheap to clone; reads never block the writer for long).
#[derive(Clone)]
pub struct History {
    path: PathBuf,
    tree: sled::Tree,
    gathered: Arc<Mutex<Gathered>>,
    /// Reads hold it shared and compaction exclusively: a read walking a day's chunks while
    /// they are merged (an old chunk read, then the merged one gone from under it) would miss
    /// readings. Writes of new chunks need no lock: their records stay in memory, which every
    /// read takes first, until the chunk is in.
    compaction: Arc<std::sync::RwLock<()>>,
}

impl History {
    pub(super) fn new(path: PathBuf, tree: sled::Tree) -> History {
        History {
            path,
            tree,
            gathered: Arc::default(),
            compaction: Arc::default(),
        }
    }

    fn backend(&self, e: sled::Error) -> StoreError {
        StoreError::Backend {
            path: self.path.clone(),
            source: e,
        }
    }

    fn gathered(&self) -> MutexGuard<'_, Gathered> {
        self.gathered.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every reading before this sequence number is in a chunk (1 when none is).
    pub(super) fn watermark(&self) -> Result<u64, StoreError> {
        Ok(self
            .tree
            .get([0u8])
            .map_err(|e| self.backend(e))?
            .map_or(1, |v| seq_of(&v)))
    }

    /// Gather readings numbered from `first_seq`; an entity with [`CHUNK_BYTES`] waiting
    /// (or everyone, past [`GATHERED_MAX_BYTES`]) is written at once (durable with the store's next
    /// flush).
    pub(super) fn add(&self, first_seq: u64, readings: &[Reading]) -> Result<(), StoreError> {
        let mut g = self.gathered();
        let mut full = Vec::new();
        let mut added = 0;
        for (i, r) in readings.iter().enumerate() {
            let records = match g.by_entity.get_mut(&r.entity) {
                Some(records) => records,
                None => g.by_entity.entry(r.entity.clone()).or_default(),
            };
            let before = records.len();
            push_record(records, first_seq + i as u64, r);
            added += records.len() - before;
            if before < CHUNK_BYTES && records.len() >= CHUNK_BYTES {
                full.push(r.entity.clone());
            }
        }
        g.bytes += added;
        if g.bytes > GATHERED_MAX_BYTES {
            full = g.by_entity.keys().cloned().collect();
        }
        if full.is_empty() {
            return Ok(());
        }
        self.write_chunks(&mut g, Some(full), None)
    }

    /// Write every gathered reading as chunks and move the watermark to `next_seq` (durable
    /// with the store's next flush).
    pub(super) fn write_gathered(&self, next_seq: u64) -> Result<(), StoreError> {
        let mut g = self.gathered();
        self.write_chunks(&mut g, None, Some(next_seq))
    }

    /// Write the records of `entities` (all when None) as chunks with their marks, and the
    /// watermark when given, in one sled batch; only once it is applied are the records
    /// dropped from memory, so a failed write loses nothing (they stay gathered, and the
    /// watermark stays where it was).
    fn write_chunks(
        &self,
        g: &mut Gathered,
        entities: Option<Vec<EntityId>>,
        watermark: Option<u64>,
    ) -> Result<(), StoreError> {
        let entities: Vec<EntityId> =
            entities.unwrap_or_else(|| g.by_entity.keys().cloned().collect());
        let mut batch = sled::Batch::default();
        let mut days_written = Vec::with_capacity(entities.len());
        for entity in &entities {
            if let Some(records) = g.by_entity.get(entity) {
                days_written.push(chunk(entity, records, &mut batch));
            } else {
                days_written.push(Vec::new());
            }
        }
        if let Some(seq) = watermark {
            batch.insert(&[0u8][..], &seq.to_be_bytes()[..]);
        }
        self.tree.apply_batch(batch).map_err(|e| self.backend(e))?;
        for (entity, days) in entities.into_iter().zip(days_written) {
            if let Some(records) = g.by_entity.remove(&entity) {
                g.bytes = g.bytes.saturating_sub(records.len());
            }
            g.touched
                .extend(days.into_iter().map(|d| (entity.clone(), d)));
        }
        Ok(())
    }

    /// After a restart: gather again the logged readings after the watermark that are not in a
    /// chunk yet (an entity's mark says which are). `log` is the log after `watermark() - 1`.
    pub(super) fn regather(&self, log: Vec<(u64, Reading)>) -> Result<usize, StoreError> {
        let mut marks: HashMap<EntityId, u64> = HashMap::new();
        let mut g = self.gathered();
        let mut again = 0;
        for (seq, r) in log {
            let mark = match marks.get(&r.entity) {
                Some(&m) => m,
                None => {
                    let m = self
                        .tree
                        .get(mark_key(&r.entity))
                        .map_err(|e| self.backend(e))?
                        .map_or(0, |v| seq_of(&v));
                    marks.insert(r.entity.clone(), m);
                    m
                }
            };
            if seq > mark {
                let records = g.by_entity.entry(r.entity.clone()).or_default();
                let before = records.len();
                push_record(records, seq, &r);
                let added = records.len() - before;
                g.bytes += added;
                again += 1;
            }
        }
        Ok(again)
    }

    /// The readings of `entity` in `window`, oldest first.
    /// Errors: the backend fails, or a chunk cannot be decoded (named by entity and day).
    pub fn read(&self, entity: &EntityId, window: Window) -> Result<Vec<Reading>, StoreError> {
        let mut out = Vec::new();
        if window.limit == 0 {
            return Ok(out);
        }
        self.visit_days(
            entity,
            window.from_ms,
            window.to_ms,
            window.newest,
            |mut day| {
                if window.newest {
                    day.reverse();
                }
                for r in day {
                    out.push(r);
                    if out.len() == window.limit {
                        return Ok(ControlFlow::Break(()));
                    }
                }
                Ok::<_, StoreError>(ControlFlow::Continue(()))
            },
        )?;
        if window.newest {
            out.reverse();
        }
        Ok(out)
    }

    /// Call `visit` with every reading of `entity` observed from `from_ms` to `to_ms`
    /// (inclusive), oldest first, holding one day at a time (a year of minute readings is
    /// fine); stops at the first error of the store or of `visit`.
    pub fn each<E: From<StoreError>>(
        &self,
        entity: &EntityId,
        from_ms: i64,
        to_ms: i64,
        mut visit: impl FnMut(Reading) -> Result<(), E>,
    ) -> Result<(), E> {
        self.visit_days(entity, from_ms, to_ms, false, |day| {
            for r in day {
                visit(r)?;
            }
            Ok(ControlFlow::Continue(()))
        })
    }

    /// Observation time of the oldest and newest kept reading of `entity`, if any.
    pub fn span(&self, entity: &EntityId) -> Result<Option<(i64, i64)>, StoreError> {
        let first = self.read(entity, Window::all(1))?;
        let last = self.read(
            entity,
            Window {
                newest: true,
                ..Window::all(1)
            },
        )?;
        let ms = |r: &Reading| r.observed_at.timestamp_millis();
        Ok(first.first().zip(last.first()).map(|(a, b)| (ms(a), ms(b))))
    }

    /// The readings of `entity` in the window, one UTC day at a time (in time order within the
    /// day; days newest first when `reverse`), merged from its chunks and what is gathered.
    fn visit_days<E: From<StoreError>>(
        &self,
        entity: &EntityId,
        from_ms: i64,
        to_ms: i64,
        reverse: bool,
        mut visit: impl FnMut(Vec<Reading>) -> Result<ControlFlow<()>, E>,
    ) -> Result<(), E> {
        let (from_ms, to_ms) = (from_ms.max(-TIME_LIMIT), to_ms.min(TIME_LIMIT));
        if from_ms > to_ms {
            return Ok(());
        }
        let _no_compaction = self.compaction.read().unwrap_or_else(|p| p.into_inner());
        let mut pending: BTreeMap<i64, Vec<Reading>> = BTreeMap::new();
        let records = self.gathered().by_entity.get(entity).cloned();
        for (_, ms, values) in records.as_deref().map(records_of).into_iter().flatten() {
            if (from_ms..=to_ms).contains(&ms) {
                let corrupt = |why: String| StoreError::Corrupt {
                    path: self.path.clone(),
                    what: format!("gathered readings of {entity}"),
                    why,
                };
                let observed_at = Utc
                    .timestamp_millis_opt(ms)
                    .single()
                    .ok_or_else(|| corrupt(format!("bad time {ms}")))?;
                let values = Cursor::new(values, 0).values().map_err(corrupt)?;
                pending.entry(day_of(ms)).or_default().push(Reading {
                    entity: entity.clone(),
                    observed_at,
                    values,
                });
            }
        }
        let p = prefix(entity);
        let mut lo = p.clone();
        lo.extend_from_slice(&time_key(day_of(from_ms)));
        let mut hi = p.clone();
        hi.extend_from_slice(&time_key(day_of(to_ms)));
        hi.extend_from_slice(&[0xFF; 8]);
        let range = self.tree.range(lo..=hi);
        let mut chunks: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> =
            if reverse {
                Box::new(range.rev())
            } else {
                Box::new(range)
            };
        // Days in visiting order: from the chunks as they come, and the gathered ones.
        let mut current: Option<(i64, Vec<Reading>)> = None;
        loop {
            let next = chunks.next().transpose().map_err(|e| self.backend(e))?;
            let next_day = next.as_ref().map(|(k, _)| time_of(k, p.len()));
            let day_changes = match (&current, next_day) {
                (Some((d, _)), Some(n)) => *d != n,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if day_changes && let Some((day, mut readings)) = current.take() {
                // Gathered days before this one (in visiting order) come first.
                for (_, rs) in take_days_before(&mut pending, day, reverse) {
                    if finish_day(rs, from_ms, to_ms, &mut visit)?.is_break() {
                        return Ok(());
                    }
                }
                readings.extend(pending.remove(&day).unwrap_or_default());
                if finish_day(readings, from_ms, to_ms, &mut visit)?.is_break() {
                    return Ok(());
                }
            }
            let Some((key, value)) = next else {
                break;
            };
            let day = time_of(&key, p.len());
            let decoded = self.decode_chunk(entity, day, &value)?;
            match &mut current {
                Some((_, readings)) => readings.extend(decoded),
                None => current = Some((day, decoded)),
            }
        }
        let rest: Vec<Vec<Reading>> = if reverse {
            std::mem::take(&mut pending).into_values().rev().collect()
        } else {
            std::mem::take(&mut pending).into_values().collect()
        };
        for rs in rest {
            if finish_day(rs, from_ms, to_ms, &mut visit)?.is_break() {
                return Ok(());
            }
        }
        Ok(())
    }

    fn decode_chunk(
        &self,
        entity: &EntityId,
        day: i64,
        value: &[u8],
    ) -> Result<Vec<Reading>, StoreError> {
        let corrupt = |why: String| StoreError::Corrupt {
            path: self.path.clone(),
            what: format!(
                "history of {entity} on {}",
                twin_core::live::rfc3339(day).get(..10).unwrap_or("?")
            ),
            why,
        };
        let body = unseal(value).map_err(corrupt)?;
        let mut c = Cursor::new(&body, 0);
        let mut out = Vec::new();
        while !c.at_end() {
            let offset = c.u32().map_err(corrupt)?;
            let ms = day + i64::from(offset);
            let observed_at = Utc
                .timestamp_millis_opt(ms)
                .single()
                .ok_or_else(|| corrupt(format!("bad time {ms}")))?;
            out.push(Reading {
                entity: entity.clone(),
                observed_at,
                values: c.values().map_err(corrupt)?,
            });
        }
        Ok(out)
    }

    /// Chunks and the bytes of their keys and values, walking the whole tree (for measurements,
    /// not for a hot path).
    pub fn footprint(&self) -> Result<(u64, u64), StoreError> {
        let (mut chunks, mut bytes) = (0, 0);
        for item in self.tree.range::<&[u8], _>(&[1u8][..]..) {
            let (k, v) = item.map_err(|e| self.backend(e))?;
            chunks += 1;
            bytes += (k.len() + v.len()) as u64;
        }
        Ok((chunks, bytes))
    }

    /// Merge each (entity, day) written since the last compaction into one chunk. Returns the
    /// chunks removed.
    pub fn compact(&self) -> Result<usize, StoreError> {
        let touched = std::mem::take(&mut self.gathered().touched);
        let mut removed = 0;
        for (entity, day) in touched {
            let mut p = prefix(&entity);
            p.extend_from_slice(&time_key(day));
            let _no_reads = self.compaction.write().unwrap_or_else(|p| p.into_inner());
            let chunks: Vec<(sled::IVec, sled::IVec)> = self
                .tree
                .scan_prefix(&p)
                .collect::<Result<_, _>>()
                .map_err(|e| self.backend(e))?;
            if chunks.len() < 2 {
                continue;
            }
            let mut readings = Vec::new();
            for (_, value) in &chunks {
                readings.extend(self.decode_chunk(&entity, day, value)?);
            }
            let readings = sorted_unique(readings);
            let mut batch = sled::Batch::default();
            for (key, _) in &chunks[1..] {
                batch.remove(key);
            }
            batch.insert(&chunks[0].0, encode_chunk(day, readings.iter()));
            self.tree.apply_batch(batch).map_err(|e| self.backend(e))?;
            removed += chunks.len() - 1;
        }
        Ok(removed)
    }

    /// Delete every day of readings that ended before `cutoff_ms`, entity by entity (a walk
    /// that jumps from one entity's first chunk to the next: its cost is the chunks deleted
    /// plus the entities kept). Returns the number of readings deleted.
    pub fn prune(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let cutoff_ms = cutoff_ms.clamp(-TIME_LIMIT, TIME_LIMIT);
        let mut removed = 0;
        // Marks (a zero first byte) are not chunks.
        let mut start: Vec<u8> = vec![1];
        let mut inclusive = true;
        loop {
            let bound = if inclusive {
                Bound::Included(start.as_slice())
            } else {
                Bound::Excluded(start.as_slice())
            };
            let first = self
                .tree
                .range::<&[u8], _>((bound, Bound::Unbounded))
                .next()
                .transpose()
                .map_err(|e| self.backend(e))?;
            let Some((key, _)) = first else {
                return Ok(removed);
            };
            let p = key[..1 + usize::from(key[0])].to_vec();
            let mut hi = p.clone();
            // Days that end at or before the cutoff: their start is at least a day before it.
            hi.extend_from_slice(&time_key(day_of(cutoff_ms - DAY_MS) + DAY_MS));
            let mut batch = sled::Batch::default();
            for item in self.tree.range(p.as_slice()..hi.as_slice()) {
                let (old, value) = item.map_err(|e| self.backend(e))?;
                removed += count_in_chunk(&value);
                batch.remove(old);
            }
            self.tree.apply_batch(batch).map_err(|e| self.backend(e))?;
            start = p;
            start.extend_from_slice(&[0xFF; CHUNK_SUFFIX]);
            inclusive = false;
        }
    }
}

/// Sort a day's readings by time (then values) and drop exact repeats.
fn sorted_unique(mut readings: Vec<Reading>) -> Vec<Reading> {
    readings.sort_by(|a, b| {
        a.observed_at.cmp(&b.observed_at).then_with(|| {
            let (mut x, mut y) = (Vec::new(), Vec::new());
            encode_values(&mut x, &a.values);
            encode_values(&mut y, &b.values);
            x.cmp(&y)
        })
    });
    readings.dedup();
    readings
}

/// Give a day's readings, in order and within the window, to `visit`.
fn finish_day<E>(
    readings: Vec<Reading>,
    from_ms: i64,
    to_ms: i64,
    visit: &mut impl FnMut(Vec<Reading>) -> Result<ControlFlow<()>, E>,
) -> Result<ControlFlow<()>, E> {
    let mut day = sorted_unique(readings);
    day.retain(|r| (from_ms..=to_ms).contains(&r.observed_at.timestamp_millis()));
    if day.is_empty() {
        return Ok(ControlFlow::Continue(()));
    }
    visit(day)
}

/// The gathered days that come before `day` in visiting order, removed from `pending`.
fn take_days_before(
    pending: &mut BTreeMap<i64, Vec<Reading>>,
    day: i64,
    reverse: bool,
) -> Vec<(i64, Vec<Reading>)> {
    let keys: Vec<i64> = if reverse {
        pending.range(day + 1..).rev().map(|(k, _)| *k).collect()
    } else {
        pending.range(..day).map(|(k, _)| *k).collect()
    };
    keys.into_iter()
        .filter_map(|k| pending.remove(&k).map(|v| (k, v)))
        .collect()
}

/// Append one reading to an entity's gathered records.
fn push_record(records: &mut Vec<u8>, seq: u64, r: &Reading) {
    records.extend_from_slice(&seq.to_le_bytes());
    records.extend_from_slice(&r.observed_at.timestamp_millis().to_le_bytes());
    let len_at = records.len();
    records.extend_from_slice(&[0; 4]);
    encode_values(records, &r.values);
    // At most 255 values of at most 64 KB each: far below u32::MAX.
    let len = (records.len() - len_at - 4) as u32;
    records[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
}

/// The gathered records of an entity: (sequence number, ms, encoded values), stopping at a
/// truncated record (which [`push_record`] never writes).
fn records_of(records: &[u8]) -> impl Iterator<Item = (u64, i64, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let head = records.get(at..at + RECORD_HEAD)?;
        let seq = u64::from_le_bytes(head[..8].try_into().ok()?);
        let ms = i64::from_le_bytes(head[8..16].try_into().ok()?);
        let len = u32::from_le_bytes(head[16..20].try_into().ok()?) as usize;
        let values = records.get(at + RECORD_HEAD..at + RECORD_HEAD + len)?;
        at += RECORD_HEAD + len;
        Some((seq, ms, values))
    })
}

/// Add an entity's gathered records to `batch` as one chunk per day, and its mark. Returns
/// the days written.
fn chunk(entity: &EntityId, records: &[u8], batch: &mut sled::Batch) -> Vec<i64> {
    let mut last_seq = None;
    let mut days: BTreeMap<i64, (u64, Vec<u8>)> = BTreeMap::new();
    for (seq, ms, values) in records_of(records) {
        let day = day_of(ms);
        let (first, body) = days.entry(day).or_insert_with(|| (seq, Vec::new()));
        *first = (*first).min(seq);
        body.extend_from_slice(&((ms - day).clamp(0, DAY_MS - 1) as u32).to_le_bytes());
        body.extend_from_slice(values);
        last_seq = last_seq.max(Some(seq));
    }
    let Some(last_seq) = last_seq else {
        return Vec::new();
    };
    let p = prefix(entity);
    for (&day, (first_seq, body)) in &days {
        let mut key = p.clone();
        key.extend_from_slice(&time_key(day));
        key.extend_from_slice(&first_seq.to_be_bytes());
        batch.insert(key, seal(body));
    }
    batch.insert(mark_key(entity), &last_seq.to_be_bytes()[..]);
    days.into_keys().collect()
}

fn encode_chunk<'a>(day: i64, readings: impl Iterator<Item = &'a Reading>) -> Vec<u8> {
    let mut buf = Vec::new();
    for r in readings {
        let offset = (r.observed_at.timestamp_millis() - day).clamp(0, DAY_MS - 1) as u32;
        buf.extend_from_slice(&offset.to_le_bytes());
        encode_values(&mut buf, &r.values);
    }
    seal(&buf)
}

/// A chunk as stored: the format byte and the plain records compressed (sensor records repeat
/// their codes and much of their values: a measured 17 bytes per reading become about N).
fn seal(plain: &[u8]) -> Vec<u8> {
    let mut out = vec![FORMAT];
    out.extend_from_slice(&lz4_flex::compress_prepend_size(plain));
    out
}

/// The plain records of a stored chunk. Errors: an unknown format, a claimed size past
/// [`MAX_PLAIN_CHUNK`], or data that does not decompress.
fn unseal(value: &[u8]) -> Result<Vec<u8>, String> {
    let Some((&FORMAT, packed)) = value.split_first() else {
        return Err("unknown format version".into());
    };
    let size = packed
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or("truncated size")?;
    if size as usize > MAX_PLAIN_CHUNK {
        return Err(format!(
            "claims {size} bytes, more than a day of readings takes"
        ));
    }
    lz4_flex::decompress_size_prepended(packed).map_err(|e| e.to_string())
}

/// Readings in a chunk, counted without decoding their values' text.
fn count_in_chunk(value: &[u8]) -> u64 {
    let plain = unseal(value).unwrap_or_default();
    let mut c = Cursor::new(&plain, 0);
    let mut n = 0;
    while !c.at_end() && c.u32().is_ok() && c.values().is_ok() {
        n += 1;
    }
    n
}

/// The key prefix of an entity's chunks: id length and bytes.
fn prefix(entity: &EntityId) -> Vec<u8> {
    let id = entity.to_string();
    let mut key = Vec::with_capacity(1 + id.len() + CHUNK_SUFFIX);
    key.push(id.len() as u8);
    key.extend_from_slice(id.as_bytes());
    key
}

fn mark_key(entity: &EntityId) -> Vec<u8> {
    let mut key = vec![0u8];
    key.extend_from_slice(entity.to_string().as_bytes());
    key
}

/// The first ms of the UTC day holding `ms`.
fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS) * DAY_MS
}

/// A time as 8 bytes that sort as the times do (sign bit flipped, big-endian).
fn time_key(ms: i64) -> [u8; 8] {
    ((ms as u64) ^ (1 << 63)).to_be_bytes()
}

/// The time in a key whose time starts at byte `at`.
fn time_of(key: &[u8], at: usize) -> i64 {
    (seq_of(key.get(at..at + 8).unwrap_or_default()) ^ (1 << 63)) as i64
}

/// A big-endian u64 (zero-padded when short).
fn seq_of(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[8 - n..].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::super::Store;
    use super::*;
    use twin_core::{Quantity, Value};

    const T0: i64 = 1_790_000_000_000;
    const MINUTE: i64 = 60_000;

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

    fn id(text: &str) -> EntityId {
        text.parse().expect("id")
    }

    fn times(readings: &[Reading]) -> Vec<i64> {
        readings
            .iter()
            .map(|r| r.observed_at.timestamp_millis())
            .collect()
    }

    /// Three days of two bins every 10 minutes, sent out of order, plus one from before 1970.
    fn three_days() -> Vec<Reading> {
        let mut batch = Vec::new();
        for i in (0..3 * 144).rev() {
            batch.push(reading("bin:1", T0 + i * 10 * MINUTE, i as f64 / 1000.0));
            batch.push(reading("bin:10", T0 + i * 10 * MINUTE, 0.5));
        }
        batch.push(reading("bin:1", -5 * MINUTE, 0.9));
        batch
    }

    fn check_three_days(history: &History) {
        let bin1 = id("bin:1");
        let all = history.read(&bin1, Window::all(10_000)).expect("read");
        assert_eq!(all.len(), 3 * 144 + 1);
        assert!(all.iter().all(|r| r.entity == bin1));
        assert!(all.windows(2).all(|w| w[0].observed_at < w[1].observed_at));
        assert_eq!(all[0].observed_at.timestamp_millis(), -5 * MINUTE);
        assert_eq!(all[1], reading("bin:1", T0, 0.0));
        // A window across a day boundary, its first 10 and its newest 3.
        let window = Window {
            from_ms: T0 + 100 * 10 * MINUTE,
            to_ms: T0 + 200 * 10 * MINUTE,
            limit: 10_000,
            newest: false,
        };
        let inside = history.read(&bin1, window).expect("read");
        assert_eq!(inside.len(), 101);
        assert_eq!(inside[100], reading("bin:1", T0 + 200 * 10 * MINUTE, 0.2));
        let first = history
            .read(
                &bin1,
                Window {
                    limit: 10,
                    ..window
                },
            )
            .expect("read");
        assert_eq!(first, inside[..10]);
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
        assert_eq!(last3, inside[98..]);
        assert_eq!(
            history.span(&bin1).expect("span"),
            Some((-5 * MINUTE, T0 + (3 * 144 - 1) * 10 * MINUTE))
        );
        let mut streamed = Vec::new();
        history
            .each(&bin1, window.from_ms, window.to_ms, |r| {
                streamed.push(r);
                Ok::<_, StoreError>(())
            })
            .expect("each");
        assert_eq!(streamed, inside);
        assert_eq!(history.span(&id("bin:2")).expect("span"), None);
        assert!(
            history
                .read(&id("bin:2"), Window::all(9))
                .expect("read")
                .is_empty()
        );
    }

    #[test]
    fn windows_read_one_entity_in_time_order_from_memory_chunks_or_a_reopened_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut store = Store::open(dir.path()).expect("open");
            store.append(&three_days()).expect("append");
            // Gathered in memory: 433 readings of bin:1 reached a chunk once, the rest wait.
            check_three_days(&store.history());
            store.write_history().expect("chunks");
            check_three_days(&store.history());
            store.flush().expect("flush");
        }
        let store = Store::open_patiently(dir.path()).expect("reopen");
        check_three_days(&store.history());
        assert_eq!(
            store.history().watermark().expect("watermark"),
            2 * 3 * 144 + 2
        );
    }

    #[test]
    fn after_a_crash_the_log_is_gathered_again_without_doubling_what_is_in_chunks() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut store = Store::open(dir.path()).expect("open");
            // bin:1 passes 4 KB of records (written as chunks with its mark); bin:10 too; the
            // last of each wait in memory when the process dies (no write_history).
            store.append(&three_days()).expect("append");
            store.flush().expect("flush");
            // Dropped without write_history: what was gathered in memory is lost.
        }
        let store = Store::open_patiently(dir.path()).expect("reopen");
        check_three_days(&store.history());
        // The log after the watermark is kept until the history has it in chunks.
        assert_eq!(store.first_logged_seq().expect("first"), Some(1));
    }

    #[test]
    fn a_repeat_is_kept_once_and_a_different_reading_at_the_same_time_twice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        store
            .append(&[reading("bin:1", T0, 0.3), reading("bin:1", T0, 0.3)])
            .expect("append");
        store.write_history().expect("chunks");
        store.append(&[reading("bin:1", T0, 0.3)]).expect("append");
        store.append(&[reading("bin:1", T0, 0.4)]).expect("append");
        let kept = store
            .history()
            .read(&id("bin:1"), Window::all(10))
            .expect("read");
        assert_eq!(kept.len(), 2);
        store.write_history().expect("chunks");
        assert_eq!(store.history().compact().expect("compact"), 1);
        let compacted = store
            .history()
            .read(&id("bin:1"), Window::all(10))
            .expect("read");
        assert_eq!(compacted, kept);
    }

    #[test]
    fn compaction_leaves_one_chunk_per_entity_and_day_and_reads_the_same() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        // Every reading written on its own: many small chunks per day.
        for r in three_days() {
            store.append(&[r]).expect("append");
            store.write_history().expect("chunks");
        }
        let history = store.history();
        let before: usize = history.tree.len();
        let merged = history.compact().expect("compact");
        // One chunk per bin and UTC day (the three days from T0 touch four) and bin:1's day
        // before 1970 stay, plus two marks and the watermark.
        let days = (day_of(T0 + (3 * 144 - 1) * 10 * MINUTE) - day_of(T0)) / DAY_MS + 1;
        assert_eq!(days, 4);
        assert_eq!(before - merged, 2 * days as usize + 1 + 3);
        check_three_days(&history);
        assert_eq!(history.compact().expect("again"), 0);
    }

    #[test]
    fn pruning_drops_whole_days_older_than_the_cutoff_for_every_entity() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        store.append(&three_days()).expect("append");
        store.write_history().expect("chunks");
        let history = store.history();
        let day1 = day_of(T0);
        // A cutoff inside the second day drops the day before 1970 and the first day.
        let removed = history.prune(day1 + DAY_MS + 3 * 3_600_000).expect("prune");
        let first_day = times(
            &history
                .read(&id("bin:1"), Window::all(10_000))
                .expect("read"),
        );
        // The first reading kept is the first of the second day.
        assert!((day1 + DAY_MS..day1 + DAY_MS + 10 * MINUTE).contains(&first_day[0]));
        let per_bin_first_day = ((day1 + DAY_MS - T0 + 10 * MINUTE - 1) / (10 * MINUTE)) as u64;
        assert_eq!(removed, 2 * per_bin_first_day + 1);
        assert_eq!(history.prune(day1 + DAY_MS).expect("prune"), 0);
        history.prune(i64::MAX).expect("prune all");
        assert_eq!(history.span(&id("bin:10")).expect("span"), None);
    }
}

#[cfg(test)]
mod hostile_tests {
    use super::super::Store;
    use super::*;
    use twin_core::{Quantity, Value};

    /// A text value over 64 KB (cut at a character, as the log cuts it) keeps the entity's
    /// other records and its day readable, in memory and from chunks.
    #[test]
    fn a_huge_text_value_neither_scrambles_the_records_nor_breaks_the_day() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        let at = |ms| Utc.timestamp_millis_opt(ms).single().expect("time");
        let big = "ă".repeat(40_000);
        let readings = vec![
            Reading {
                entity: "bin:1".parse().expect("id"),
                observed_at: at(1_790_000_000_000),
                values: vec![(Quantity::DateLastEmptying, Value::Text(big.clone()))],
            },
            Reading {
                entity: "bin:1".parse().expect("id"),
                observed_at: at(1_790_000_060_000),
                values: vec![(Quantity::FillingLevel, Value::Number(0.5))],
            },
        ];
        store.append(&readings).expect("append");
        let bin: EntityId = "bin:1".parse().expect("id");
        for _ in 0..2 {
            let kept = store.history().read(&bin, Window::all(10)).expect("read");
            assert_eq!(kept.len(), 2);
            let Value::Text(cut) = &kept[0].values[0].1 else {
                panic!("text");
            };
            assert!(cut.len() <= usize::from(u16::MAX) && big.starts_with(cut.as_str()));
            assert_eq!(kept[1], readings[1]);
            store.write_history().expect("chunks");
        }
    }
}
