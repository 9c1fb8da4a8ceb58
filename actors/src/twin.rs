//! Starting and running one live twin: restore state from the store, start an entity actor per
//! asset on one Arbiter per core (chosen by hashing the id), start the network actors, and run
//! the ingest pipeline.
//!
//! The ingest pipeline is the one path of every reading: validate → log → flush → acknowledge →
//! dispatch to the entity actor. It runs on its own thread, because sled's flush blocks, and it is
//! the only sender of readings to entity actors, so a snapshot it takes between two batches holds
//! exactly the readings up to a known sequence number.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix::{Actor, Addr, Arbiter};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use twin_core::live::EntityLive;
use twin_core::reading::{RawReading, validate_reading};
use twin_core::waste::report::{CitizenReport, ReportBook, ReportError, parse_report};
use twin_core::{CityModel, EntityKind, Quantity, Reading};

use crate::cluster::{ClusterEdge, ClusterStatus};
use crate::entity::{Apply, ApplyFn, EntityActor, GetState, SetState};
use crate::network::{Alert, NetworkActor, NetworkKind, SolvePolicy};
use crate::shared::{CounterValues, Shared};
use crate::store::{Snapshot, Store, StoreError, StoreStatus};

/// Settings of a live twin.
#[derive(Clone)]
pub struct TwinConfig {
    pub data_dir: PathBuf,
    /// Entity arbiters (threads); default: one per core.
    pub arbiters: usize,
    pub snapshot_every: Duration,
    /// Log batches covered by a snapshot are kept this long.
    pub log_retention: Duration,
    pub solve_policy: SolvePolicy,
    pub apply: ApplyFn,
    /// Write `status.json` into the data folder this often.
    pub status_every: Duration,
}

impl TwinConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> TwinConfig {
        TwinConfig {
            data_dir: data_dir.into(),
            arbiters: std::thread::available_parallelism().map_or(2, |n| n.get()),
            snapshot_every: Duration::from_secs(60),
            log_retention: Duration::from_secs(7 * 24 * 3600),
            solve_policy: SolvePolicy::default(),
            apply: EntityLive::apply_reading,
            status_every: Duration::from_secs(1),
        }
    }
}

/// A reading that never became a [`RawReading`] (bad topic, not JSON, too large), or one that
/// failed validation: the reason code and a message naming the problem and where.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    pub reason: String,
    pub message: String,
}

/// A batch of readings from one source.
pub struct IngestBatch {
    pub readings: Vec<Result<RawReading, Rejection>>,
    /// The clock to validate timestamps against (the simulated clock when accelerated);
    /// `None` means the wall clock.
    pub now: Option<DateTime<Utc>>,
    /// Told once the accepted readings are durable.
    pub done: Option<oneshot::Sender<BatchOutcome>>,
}

/// What happened to a batch: readings accepted (durable) and rejected (with reasons, in order).
#[derive(Debug, Clone, Default, Serialize)]
pub struct BatchOutcome {
    pub accepted: usize,
    pub rejected: Vec<(usize, Rejection)>,
    /// The store failed: nothing of this batch is durable, so nothing may be acknowledged.
    pub store_error: Option<String>,
}

enum Command {
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

/// A report refused: the same shape as a refused reading.
fn report_rejection(e: &ReportError) -> Rejection {
    Rejection {
        reason: e.reason().to_string(),
        message: e.to_string(),
    }
}

/// A running live twin: a handle to send readings and read its state.
#[derive(Clone)]
pub struct LiveTwin {
    pub shared: Arc<Shared>,
    addrs: Arc<Vec<Addr<EntityActor>>>,
    commands: mpsc::Sender<Command>,
    status: Arc<std::sync::Mutex<TwinStatus>>,
    /// Set when the twin is a node of a cluster: readings from its sources then go to the
    /// cluster's stream, and come back through [`LiveTwin::ingest_local`] on their shard's owner.
    edge: Arc<std::sync::OnceLock<ClusterEdge>>,
}

/// What `twin status` reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TwinStatus {
    pub city: String,
    pub entities: usize,
    pub running: bool,
    pub pid: u32,
    pub started_at: String,
    pub updated_at: String,
    pub readings_logged: u64,
    pub last_snapshot: Option<crate::store::SnapshotInfo>,
    pub rejected: BTreeMap<String, u64>,
    pub restored: Option<RestoreReport>,
    pub counters: Option<CounterValues>,
    pub alerts: usize,
    /// Citizen reports kept, and how many are open.
    #[serde(default)]
    pub reports: usize,
    #[serde(default)]
    pub reports_open: usize,
    pub store_bytes: u64,
    /// The node's part in a cluster (absent for a twin on its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestoreReport {
    pub snapshot_seq: Option<u64>,
    pub replayed: usize,
    pub millis: f64,
}

fn arbiter_of(id: &twin_core::EntityId, arbiters: usize) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    (h.finish() % arbiters.max(1) as u64) as usize
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

impl LiveTwin {
    /// Start the twin. Must be called inside a running actix System.
    pub fn start(city: Arc<CityModel>, config: TwinConfig) -> Result<LiveTwin, StoreError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| StoreError::Corrupt {
            path: config.data_dir.clone(),
            what: "folder".into(),
            why: e.to_string(),
        })?;
        let store = open_store_patiently(&config.data_dir.join("store"))?;
        let (states, seq, report) = restore(&city, &store, config.apply)?;
        tracing::info!(
            entities = states.len(),
            snapshot = ?report.snapshot_seq,
            replayed = report.replayed,
            ms = report.millis,
            "state restored"
        );
        let shared = Shared::new(city.clone(), config.apply);
        *shared.reports() = ReportBook::restore(store.reports()?);
        shared
            .networks
            .set_report_alerts(report_alerts(&shared.reports()));
        let arbiters: Vec<Arbiter> = (0..config.arbiters.max(1))
            .map(|_| Arbiter::new())
            .collect();
        let addrs: Vec<Addr<EntityActor>> = states
            .into_iter()
            .enumerate()
            .map(|(i, live)| {
                let arb = &arbiters[arbiter_of(&city.entities()[i].id, arbiters.len())];
                let shared = shared.clone();
                EntityActor::start_in_arbiter(&arb.handle(), move |_| {
                    EntityActor::new(i, live, shared)
                })
            })
            .collect();
        let network_arbiter = Arbiter::new();
        for kind in NetworkKind::ALL {
            let shared = shared.clone();
            let policy = config.solve_policy;
            NetworkActor::start_in_arbiter(&network_arbiter.handle(), move |_| {
                NetworkActor::new(kind, shared, policy)
            });
        }
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let status = Arc::new(std::sync::Mutex::new(TwinStatus {
            city: city.meta.name.clone(),
            entities: city.entities().len(),
            running: true,
            pid: std::process::id(),
            started_at: now,
            restored: Some(report),
            ..TwinStatus::default()
        }));
        let (tx, rx) = mpsc::channel(64);
        let addrs = Arc::new(addrs);
        let pipeline = Pipeline {
            city,
            shared: shared.clone(),
            addrs: addrs.clone(),
            store,
            last_seq: seq,
            config: config.clone(),
            status: status.clone(),
            rejected_pending: BTreeMap::new(),
        };
        std::thread::Builder::new()
            .name("ingest".into())
            .spawn(move || {
                // Keep the arbiters alive as long as the pipeline runs.
                let _arbiters = (arbiters, network_arbiter);
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match rt {
                    Ok(rt) => {
                        // The pipeline (and with it the store's lock) is gone when run returns.
                        if let Some(reply) = rt.block_on(pipeline.run(rx)) {
                            let _ = reply.send(());
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "cannot start the ingest runtime"),
                }
            })
            .map_err(|e| StoreError::Corrupt {
                path: config.data_dir.clone(),
                what: "ingest thread".into(),
                why: e.to_string(),
            })?;
        Ok(LiveTwin {
            shared,
            addrs,
            commands: tx,
            status,
            edge: Arc::default(),
        })
    }

    /// Take in a batch from a source (simulated feed, MQTT, HTTP, replay). On a twin of its own
    /// it goes into the pipeline, waiting while the pipeline is busy (backpressure); on a node
    /// of a cluster it is validated and published to the cluster's stream, and acknowledged
    /// once the stream holds it.
    pub async fn ingest(&self, batch: IngestBatch) -> Result<(), String> {
        match self.edge.get() {
            Some(edge) => {
                edge.publish(self, batch).await;
                Ok(())
            }
            None => self.ingest_local(batch).await,
        }
    }

    /// Send a batch into this twin's own pipeline (validate → log → dispatch), whatever its
    /// sources do: the path of a shard's readings on the node that owns the shard.
    pub async fn ingest_local(&self, batch: IngestBatch) -> Result<(), String> {
        self.commands
            .send(Command::Batch(batch))
            .await
            .map_err(|_| "the twin has stopped".to_string())
    }

    /// Make this twin a node of a cluster: from now on its sources publish to the cluster.
    pub(crate) fn set_edge(&self, edge: ClusterEdge) -> Result<(), String> {
        self.edge
            .set(edge)
            .map_err(|_| "the twin is already a node of a cluster".to_string())
    }

    /// Whether this twin is a node of a cluster.
    pub fn is_clustered(&self) -> bool {
        self.edge.get().is_some()
    }

    /// Record the node's part in its cluster for `twin status`.
    pub(crate) fn set_cluster_status(&self, cluster: ClusterStatus) {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .cluster = Some(cluster);
    }

    /// The states of some entities, after every batch sent before this call was applied.
    pub async fn states_of(&self, indices: Vec<usize>) -> Result<Vec<EntityLive>, String> {
        let (reply, wait) = oneshot::channel();
        self.commands
            .send(Command::States { indices, reply })
            .await
            .map_err(|_| "the twin has stopped".to_string())?;
        wait.await.map_err(|_| "the twin has stopped".to_string())?
    }

    /// Replace the states of some entities, in order with the batches around this call.
    pub async fn adopt(&self, states: Vec<(usize, EntityLive)>) -> Result<(), String> {
        let (reply, wait) = oneshot::channel();
        self.commands
            .send(Command::Adopt { states, reply })
            .await
            .map_err(|_| "the twin has stopped".to_string())?;
        wait.await.map_err(|_| "the twin has stopped".to_string())
    }

    /// Count rejections made outside the pipeline (at a cluster edge) with the others.
    pub(crate) async fn count_rejections(&self, counts: BTreeMap<String, u64>) {
        if !counts.is_empty() {
            let _ = self.commands.send(Command::CountRejections(counts)).await;
        }
    }

    /// Send a batch and wait until its accepted readings are durable.
    pub async fn ingest_durable(
        &self,
        readings: Vec<Result<RawReading, Rejection>>,
        now: Option<DateTime<Utc>>,
    ) -> Result<BatchOutcome, String> {
        let (done, wait) = oneshot::channel();
        self.ingest(IngestBatch {
            readings,
            now,
            done: Some(done),
        })
        .await?;
        wait.await.map_err(|_| "the twin has stopped".to_string())
    }

    /// [`LiveTwin::ingest_local`], waiting until the accepted readings are durable.
    pub async fn ingest_local_durable(
        &self,
        readings: Vec<Result<RawReading, Rejection>>,
        now: Option<DateTime<Utc>>,
    ) -> Result<BatchOutcome, String> {
        let (done, wait) = oneshot::channel();
        self.ingest_local(IngestBatch {
            readings,
            now,
            done: Some(done),
        })
        .await?;
        wait.await.map_err(|_| "the twin has stopped".to_string())
    }

    /// Submit a citizen report (JSON body); answers once it is durable, or with why not.
    pub async fn submit_report(&self, body: Vec<u8>) -> Result<CitizenReport, Rejection> {
        let stopped = || Rejection {
            reason: "stopped".into(),
            message: "the twin has stopped".into(),
        };
        let (reply, wait) = oneshot::channel();
        self.commands
            .send(Command::Report { body, reply })
            .await
            .map_err(|_| stopped())?;
        wait.await.map_err(|_| stopped())?
    }

    /// Resolve a report (an operator's action); answers once durable.
    pub async fn resolve_report(
        &self,
        id: u64,
        resolution: String,
    ) -> Result<CitizenReport, Rejection> {
        let stopped = || Rejection {
            reason: "stopped".into(),
            message: "the twin has stopped".into(),
        };
        let (reply, wait) = oneshot::channel();
        self.commands
            .send(Command::ResolveReport {
                id,
                resolution,
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        wait.await.map_err(|_| stopped())?
    }

    /// Take a snapshot now; returns the sequence number it covers.
    pub async fn snapshot(&self) -> Result<u64, String> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Snapshot(tx))
            .await
            .map_err(|_| "the twin has stopped".to_string())?;
        rx.await.map_err(|_| "the twin has stopped".to_string())?
    }

    /// Take a final snapshot and stop the pipeline; returns once the store is closed.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Stop the pipeline without a final snapshot, as a crash would, and close the store.
    pub async fn abandon(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Abandon(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// The state of one entity.
    pub async fn state(&self, index: usize) -> Option<EntityLive> {
        self.addrs.get(index)?.send(GetState).await.ok()
    }

    /// The state of every entity, in city order.
    pub async fn states(&self) -> Result<Vec<EntityLive>, String> {
        collect_states(&self.addrs).await
    }

    pub fn status(&self) -> TwinStatus {
        let mut s = self
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        s.counters = Some(self.shared.counters.values());
        s.alerts = self.shared.networks.alerts().len();
        let reports = self.shared.reports().kpis();
        (s.reports, s.reports_open) = (reports.open + reports.resolved, reports.open);
        s
    }
}

/// Ask every entity actor for its state, a chunk of requests in flight at a time.
async fn collect_states(addrs: &[Addr<EntityActor>]) -> Result<Vec<EntityLive>, String> {
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

struct Pipeline {
    city: Arc<CityModel>,
    shared: Arc<Shared>,
    addrs: Arc<Vec<Addr<EntityActor>>>,
    store: Store,
    /// Sequence number of the last reading logged and dispatched.
    last_seq: u64,
    config: TwinConfig,
    status: Arc<std::sync::Mutex<TwinStatus>>,
    rejected_pending: BTreeMap<String, u64>,
}

impl Pipeline {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) -> Option<oneshot::Sender<()>> {
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
                        let result = self
                            .shared
                            .reports()
                            .resolve(id, &resolution, Utc::now())
                            .map_err(|e| report_rejection(&e));
                        let _ = reply.send(result.and_then(|r| {
                            self.persist_reports(std::slice::from_ref(&r))?;
                            Ok(r)
                        }));
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
                Err(rej) => {
                    *self.rejected_pending.entry(rej.reason.clone()).or_default() += 1;
                    outcome.rejected.push((i, rej));
                }
            }
        }
        let durable = self
            .store
            .append(&accepted)
            .and_then(|_| self.store.count_rejections(&self.rejected_pending))
            .and_then(|_| self.store.flush());
        match durable {
            Ok(()) => {
                self.rejected_pending.clear();
                outcome.accepted = accepted.len();
            }
            Err(e) => {
                tracing::error!(error = %e, "store write failed; batch not acknowledged");
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

    /// Validate, number and persist a citizen report. Refusals are counted as `report_<reason>`.
    fn report(&mut self, body: &[u8]) -> Result<CitizenReport, Rejection> {
        let now = Utc::now();
        let accepted = parse_report(body, &self.city)
            .and_then(|draft| self.shared.reports().accept(draft, &self.city, now));
        match accepted {
            Ok(report) => {
                if let Err(rej) = self.persist_reports(std::slice::from_ref(&report)) {
                    self.shared.reports().withdraw(report.id);
                    return Err(rej);
                }
                tracing::info!(id = report.id, kind = report.kind.name(), bin = ?report.bin, "citizen report");
                Ok(report)
            }
            Err(e) => {
                *self
                    .rejected_pending
                    .entry(format!("report_{}", e.reason()))
                    .or_default() += 1;
                if self
                    .store
                    .count_rejections(&self.rejected_pending)
                    .and_then(|_| self.store.flush())
                    .is_ok()
                {
                    self.rejected_pending.clear();
                }
                tracing::debug!(reason = e.reason(), "{e}");
                Err(report_rejection(&e))
            }
        }
    }

    /// Make new or changed reports durable and refresh their alerts.
    fn persist_reports(&mut self, reports: &[CitizenReport]) -> Result<(), Rejection> {
        let written = reports
            .iter()
            .try_for_each(|r| self.store.put_report(r))
            .and_then(|_| self.store.flush());
        if let Err(e) = written {
            tracing::error!(error = %e, "cannot store citizen reports");
            return Err(Rejection {
                reason: "store_error".into(),
                message: e.to_string(),
            });
        }
        self.shared
            .networks
            .set_report_alerts(report_alerts(&self.shared.reports()));
        Ok(())
    }

    /// Readings that show a reported bin emptied resolve its overflowing reports.
    fn resolve_emptied_bins(&mut self, readings: &[Reading], now: DateTime<Utc>) {
        let resolved: Vec<CitizenReport> = {
            let mut book = self.shared.reports();
            if !book.any_open_overflow() {
                return;
            }
            readings
                .iter()
                .filter(|r| r.entity.kind() == EntityKind::Bin)
                .filter_map(|r| {
                    let level = r
                        .values
                        .iter()
                        .find(|(q, _)| *q == Quantity::FillingLevel)
                        .and_then(|(_, v)| v.as_f64())?;
                    Some((r.entity.to_string(), level))
                })
                .flat_map(|(bin, level)| book.bin_level(&bin, level, now))
                .collect()
        };
        if !resolved.is_empty() {
            tracing::info!(
                reports = resolved.len(),
                "citizen reports resolved by emptying"
            );
            // A failure is logged; the book keeps them resolved and the next change retries.
            let _ = self.persist_reports(&resolved);
        }
    }

    async fn snapshot(&mut self) -> Result<u64, String> {
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
        tracing::info!(
            seq = self.last_seq,
            pruned,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "snapshot written"
        );
        Ok(self.last_seq)
    }

    fn write_status(&self, running: bool) {
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
        if let Err(e) = write_status_file(&self.config.data_dir, &s) {
            tracing::warn!(error = %e, "cannot write status.json");
        }
    }
}

/// One `citizen_report` alert per open report.
fn report_alerts(book: &ReportBook) -> Vec<Alert> {
    book.open()
        .map(|r| Alert {
            code: "citizen_report",
            entities: r.bin.iter().cloned().collect(),
            message: format!(
                "report {}: {} at {:.5}, {:.5} ({}){}",
                r.id,
                r.kind.name().replace('_', " "),
                r.lat,
                r.lon,
                r.neighbourhood,
                r.bin.as_ref().map_or(String::new(), |b| format!(", {b}"))
            ),
        })
        .collect()
}

fn apply_store_status(s: &mut TwinStatus, store: StoreStatus) {
    s.readings_logged = store.readings_logged;
    s.last_snapshot = store.last_snapshot;
    s.rejected = store.rejected;
    s.store_bytes = store.size_bytes;
}

/// Open the store, waiting up to 5 s while another process (a `twin status` reading a stopped
/// twin's store) holds it briefly.
fn open_store_patiently(dir: &Path) -> Result<Store, StoreError> {
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

/// Whether the process that wrote a status file is still alive (Linux: /proc/<pid>).
fn process_alive(pid: u32) -> bool {
    pid != 0 && pid != std::process::id() && Path::new(&format!("/proc/{pid}")).exists()
}

/// Where a running twin publishes its status (sled locks the store against other processes).
pub fn status_file(data_dir: &Path) -> PathBuf {
    data_dir.join("status.json")
}

fn write_status_file(data_dir: &Path, s: &TwinStatus) -> std::io::Result<()> {
    let tmp = data_dir.join("status.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(s)?)?;
    std::fs::rename(tmp, status_file(data_dir))
}

/// Status of the twin whose data folder is `data_dir`, running or not: from the store when no
/// process holds it, else from the status the running twin publishes.
pub fn read_status(data_dir: &Path, city: Option<&CityModel>) -> Result<TwinStatus, String> {
    // A running twin holds the store: read what it publishes, without touching the store.
    if let Some(s) = read_status_file(data_dir)
        && s.running
        && process_alive(s.pid)
    {
        return Ok(s);
    }
    match Store::open(&data_dir.join("store")) {
        Ok(store) => {
            let st = store.status().map_err(|e| e.to_string())?;
            let mut s = TwinStatus {
                city: city.map(|c| c.meta.name.clone()).unwrap_or_default(),
                entities: st
                    .last_snapshot
                    .as_ref()
                    .map(|l| l.entities)
                    .or(city.map(|c| c.entities().len()))
                    .unwrap_or(0),
                running: false,
                ..TwinStatus::default()
            };
            apply_store_status(&mut s, st);
            Ok(s)
        }
        Err(StoreError::Locked(_)) => read_status_file(data_dir).ok_or_else(|| {
            format!(
                "{}: the store is in use by another process, and no status file can be read",
                data_dir.display()
            )
        }),
        Err(e) => Err(e.to_string()),
    }
}

fn read_status_file(data_dir: &Path) -> Option<TwinStatus> {
    let text = std::fs::read_to_string(status_file(data_dir)).ok()?;
    serde_json::from_str(&text).ok()
}
