//! The ingest pipeline: one loop on its own thread that takes the twin's commands in order:
//! batches of readings (validate → log → flush → acknowledge → dispatch), snapshots between
//! batches, citizen reports, shard states and adoptions for a cluster, and the status file.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use actix::Addr;
use chrono::Utc;
use tokio::sync::{mpsc, oneshot};
use twin_core::live::EntityLive;
use twin_core::reading::validate_reading;
use twin_core::waste::report::CitizenReport;
use twin_core::{CityModel, Reading};

use super::status::{TwinStatus, apply_store_status, write_status_file};
use super::{BatchOutcome, IngestBatch, Rejection, TwinConfig};
use crate::entity::{Apply, EntityActor, GetState, SetState};
use crate::shared::Shared;
use crate::store::{Snapshot, Store};

/// The part named in the twin's degradations when the store cannot take writes.
const STORE: &str = "store";
/// How the store's degradation for a full disk begins.
const DISK_FULL: &str = "disk nearly full";

/// Commands waiting for the pipeline; senders wait beyond it (backpressure on every source).
pub(super) const PIPELINE_CAPACITY: usize = 64;

pub(super) enum Command {
    Batch(IngestBatch),
    Snapshot(oneshot::Sender<Result<u64, String>>),
    Shutdown(oneshot::Sender<()>),
    /// Stop without a final snapshot, as a crash would (tests of recovery).
    Abandon(oneshot::Sender<()>),
    /// A citizen report's JSON body: validated, numbered, made durable, then answered.
    Report {
        body: Vec<u8>,
        reply: oneshot::Sender<Result<CitizenReport, Rejection>>,
    },
    /// An operator resolves a report.
    ResolveReport {
        id: u64,
        resolution: String,
        reply: oneshot::Sender<Result<CitizenReport, Rejection>>,
    },
    /// The states of some entities after every batch sent before (a shard's snapshot).
    States {
        indices: Vec<usize>,
        reply: oneshot::Sender<Result<Vec<EntityLive>, String>>,
    },
    /// Replace the states of some entities (a shard adopted from its snapshot).
    Adopt {
        states: Vec<(usize, EntityLive)>,
        reply: oneshot::Sender<()>,
    },
    /// Rejections counted at a cluster edge, to be stored with the others.
    CountRejections(BTreeMap<String, u64>),
}

/// Ask every entity actor for its state, a chunk of requests in flight at a time.
pub(super) async fn collect_states(addrs: &[Addr<EntityActor>]) -> Result<Vec<EntityLive>, String> {
    const CHUNK: usize = 4096;
    let mut states = Vec::with_capacity(addrs.len());
    for chunk in addrs.chunks(CHUNK) {
        let requests: Vec<_> = chunk.iter().map(|a| a.send(GetState)).collect();
        for req in requests {
            states.push(req.await.map_err(|e| format!("entity actor: {e}"))?);
        }
    }
    Ok(states)
}

pub(super) struct Pipeline {
    pub(super) city: Arc<CityModel>,
    pub(super) shared: Arc<Shared>,
    pub(super) addrs: Arc<Vec<Addr<EntityActor>>>,
    pub(super) store: Store,
    /// Sequence number of the last reading logged and dispatched.
    pub(super) last_seq: u64,
    pub(super) config: TwinConfig,
    pub(super) status: Arc<std::sync::Mutex<TwinStatus>>,
    pub(super) rejected_pending: BTreeMap<String, u64>,
    /// When the history was last pruned (it is pruned at most once per [`HISTORY_PRUNE_EVERY`],
    /// after a snapshot, on a thread of its own), and whether a prune still runs.
    pub(super) history_pruned: Option<(Instant, Arc<std::sync::atomic::AtomicBool>)>,
}

/// How often the history drops readings older than its retention.
const HISTORY_PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

impl Pipeline {
    pub(super) async fn run(
        mut self,
        mut rx: mpsc::Receiver<Command>,
    ) -> Option<oneshot::Sender<()>> {
        let mut snapshot_tick = tokio::time::interval(self.config.snapshot_every);
        snapshot_tick.tick().await;
        let mut status_tick = tokio::time::interval(self.config.status_every);
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Command::Batch(b)) => self.process(b).await,
                    Some(Command::Snapshot(reply)) => {
                        let r = self.snapshot().await;
                        let _ = reply.send(r);
                    }
                    Some(Command::Shutdown(reply)) => {
                        if let Err(e) = self.snapshot().await {
                            tracing::error!(error = %e, "final snapshot failed");
                        }
                        self.write_status(false);
                        return Some(reply);
                    }
                    Some(Command::Abandon(reply)) => return Some(reply),
                    Some(Command::Report { body, reply }) => {
                        let _ = reply.send(self.report(&body));
                    }
                    Some(Command::ResolveReport { id, resolution, reply }) => {
                        let _ = reply.send(self.resolve_report(id, &resolution));
                    }
                    Some(Command::States { indices, reply }) => {
                        let addrs: Vec<_> = indices
                            .iter()
                            .filter_map(|&i| self.addrs.get(i).cloned())
                            .collect();
                        let _ = reply.send(collect_states(&addrs).await);
                    }
                    Some(Command::Adopt { states, reply }) => {
                        for (i, live) in states {
                            if let Some(addr) = self.addrs.get(i)
                                && addr.send(SetState(live)).await.is_err()
                            {
                                tracing::error!(entity = i, "entity actor is gone");
                            }
                        }
                        let _ = reply.send(());
                    }
                    Some(Command::CountRejections(counts)) => {
                        for (reason, n) in counts {
                            *self.rejected_pending.entry(reason).or_default() += n;
                        }
                        // Stored now (flushed with the next batch or by sled's own timer), so
                        // a node that only publishes still keeps its counts.
                        match self.store.count_rejections(&self.rejected_pending) {
                            Ok(()) => self.rejected_pending.clear(),
                            Err(e) => tracing::warn!(error = %e, "cannot count rejections"),
                        }
                    }
                    None => return None,
                },
                _ = snapshot_tick.tick() => {
                    if let Err(e) = self.snapshot().await {
                        tracing::error!(error = %e, "snapshot failed");
                    }
                }
                _ = status_tick.tick() => self.write_status(true),
            }
        }
    }

    async fn process(&mut self, batch: IngestBatch) {
        let wall = Utc::now();
        let now = batch.now.map_or(wall, |t| t.max(wall));
        let mut outcome = BatchOutcome::default();
        let mut accepted: Vec<Reading> = Vec::with_capacity(batch.readings.len());
        for (i, raw) in batch.readings.into_iter().enumerate() {
            let result = raw.and_then(|raw| {
                validate_reading(&raw, &self.city, now).map_err(|e| Rejection {
                    reason: e.reason().to_string(),
                    message: e.to_string(),
                })
            });
            match result {
                Ok(r) => accepted.push(r),
                Err(rej) => outcome.rejected.push((i, rej)),
            }
        }
        if let Some(why) = self.disk_too_full() {
            outcome.store_error = Some(why);
            if let Some(done) = batch.done {
                let _ = done.send(outcome);
            }
            return;
        }
        // Rejections are counted with the batch, so a batch refused and sent again (an MQTT
        // retry) counts them once.
        let mut counts = self.rejected_pending.clone();
        for (_, rej) in &outcome.rejected {
            *counts.entry(rej.reason.clone()).or_default() += 1;
        }
        let durable = self
            .store
            .append(&accepted)
            .and_then(|_| self.store.count_rejections(&counts))
            .and_then(|_| self.store.flush());
        match durable {
            Ok(()) => {
                self.rejected_pending.clear();
                outcome.accepted = accepted.len();
                self.shared.degraded.clear(STORE);
            }
            Err(e) => {
                tracing::error!(error = %e, "store write failed; batch not acknowledged");
                self.shared
                    .degraded
                    .set(STORE, format!("the last write failed: {e}"));
                outcome.store_error = Some(e.to_string());
                if let Some(done) = batch.done {
                    let _ = done.send(outcome);
                }
                return;
            }
        }
        self.last_seq = self.store.next_seq() - 1;
        self.resolve_emptied_bins(&accepted, now);
        if !outcome.rejected.is_empty() {
            for (_, r) in outcome.rejected.iter().take(3) {
                tracing::debug!(reason = %r.reason, "{}", r.message);
            }
        }
        if let Some(done) = batch.done {
            let _ = done.send(outcome);
        }
        self.dispatch(accepted).await;
    }

    async fn dispatch(&self, readings: Vec<Reading>) {
        for r in readings {
            let Some(i) = self.city.entity_index(&r.entity) else {
                continue;
            };
            let addr = &self.addrs[i];
            match addr.try_send(Apply(r)) {
                Ok(()) => {}
                Err(actix::dev::SendError::Full(msg)) => {
                    // Backpressure: wait for room in this actor's mailbox.
                    self.shared
                        .counters
                        .mailbox_full
                        .fetch_add(1, Ordering::Relaxed);
                    if addr.send(msg).await.is_err() {
                        tracing::error!(entity = i, "entity actor is gone");
                    }
                }
                Err(actix::dev::SendError::Closed(_)) => {
                    tracing::error!(entity = i, "entity actor is gone");
                }
            }
        }
    }

    /// Why nothing may be written now (the disk holds less than the free space the twin
    /// keeps), marking the store degraded; `None` when there is room, clearing the mark.
    pub(super) fn disk_too_full(&self) -> Option<String> {
        let free = match self.store.free_bytes() {
            Ok(free) => free,
            Err(e) => {
                // Not knowing the free space is no reason to stop: the write itself will tell.
                tracing::warn!(error = %e, "cannot read the store's free space");
                return None;
            }
        };
        if free >= self.config.min_free_bytes {
            self.shared.degraded.clear_if(STORE, DISK_FULL);
            return None;
        }
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        let why = format!(
            "{DISK_FULL}: {:.1} MiB free under {}, below the {:.0} MiB the twin keeps \
             free; writes are refused until space returns",
            mib(free),
            self.config.data_dir.display(),
            mib(self.config.min_free_bytes)
        );
        self.shared.degraded.set(STORE, why.clone());
        Some(why)
    }

    async fn snapshot(&mut self) -> Result<u64, String> {
        if let Some(why) = self.disk_too_full() {
            return Err(format!("no snapshot: {why}"));
        }
        let started = Instant::now();
        // Every reading up to last_seq was sent before these requests, and mailboxes are FIFO.
        let entities = collect_states(&self.addrs)
            .await?
            .into_iter()
            .zip(self.city.entities())
            .map(|(live, e)| (e.id.to_string(), live))
            .collect();
        let snapshot = Snapshot {
            seq: self.last_seq,
            taken_ms: Utc::now().timestamp_millis(),
            entities,
        };
        self.store
            .write_snapshot(&snapshot)
            .map_err(|e| e.to_string())?;
        let pruned = self
            .store
            .prune_log(self.config.log_retention.as_millis() as i64)
            .map_err(|e| e.to_string())?;
        self.prune_history();
        tracing::info!(
            seq = self.last_seq,
            pruned,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "snapshot written"
        );
        Ok(self.last_seq)
    }

    /// Compact the history's chunks written since the last time and drop readings older than
    /// the retention, at most once an hour, on a blocking thread so that ingest goes on
    /// meanwhile (sled takes concurrent writers).
    fn prune_history(&mut self) {
        if let Some((at, running)) = &self.history_pruned
            && (at.elapsed() < HISTORY_PRUNE_EVERY || running.load(Ordering::Relaxed))
        {
            return;
        }
        let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
        self.history_pruned = Some((Instant::now(), running.clone()));
        let history = self.store.history();
        let retention =
            i64::try_from(self.config.history_retention.as_millis()).unwrap_or(i64::MAX);
        let cutoff = Utc::now().timestamp_millis().saturating_sub(retention);
        tokio::task::spawn_blocking(move || {
            // Cleared however this ends, a panic included, so the next hour tries again.
            struct Done(Arc<std::sync::atomic::AtomicBool>);
            impl Drop for Done {
                fn drop(&mut self) {
                    self.0.store(false, Ordering::Relaxed);
                }
            }
            let _done = Done(running);
            let started = Instant::now();
            match history
                .compact()
                .and_then(|merged| Ok((merged, history.prune(cutoff)?)))
            {
                Ok((merged, removed)) => tracing::info!(
                    merged,
                    removed,
                    before = %twin_core::live::rfc3339(cutoff),
                    ms = started.elapsed().as_secs_f64() * 1e3,
                    "history compacted and pruned"
                ),
                Err(e) => tracing::warn!(error = %e, "cannot compact or prune the history"),
            }
        });
    }

    fn write_status(&self, running: bool) {
        // An idle twin says so too when its disk fills or frees up.
        let _ = self.disk_too_full();
        let store = match self.store.status() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read store status");
                return;
            }
        };
        let mut s = self.status.lock().unwrap_or_else(|p| p.into_inner());
        s.running = running;
        s.updated_at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        apply_store_status(&mut s, store);
        s.counters = Some(self.shared.counters.values());
        s.alerts = self.shared.networks.alerts().len();
        let reports = self.shared.reports().kpis();
        (s.reports, s.reports_open) = (reports.open + reports.resolved, reports.open);
        s.degraded = self.shared.degraded.reasons();
        if let Err(e) = write_status_file(&self.config.data_dir, &s) {
            tracing::warn!(error = %e, "cannot write status.json");
        }
    }
}
