//! Starting and running one live twin: restore state from the store, start an entity actor per
//! asset on one Arbiter per core (chosen by hashing the id), start the network actors, and run
//! the ingest pipeline.
//!
//! The ingest pipeline is the one path of every reading: validate → log → flush → acknowledge →
//! dispatch to the entity actor. It runs on its own thread, because sled's flush blocks, and it is
//! the only sender of readings to entity actors, so a snapshot it takes between two batches holds
//! exactly the readings up to a known sequence number.
//!
//! - this file: [`LiveTwin`], the handle sources and front ends hold, and [`TwinConfig`];
//! - [`pipeline`]: the pipeline's commands and its loop (batches, snapshots, status);
//! - [`reports`]: citizen reports through the pipeline, and their alerts;
//! - [`restore`]: the state at start-up, from the newest snapshot and the log after it;
//! - [`status`]: what `twin status` reports, written by a running twin and read by anyone;
//! - [`route`]: where sources' batches go: this twin's pipeline, or another route (a cluster).

mod pipeline;
mod reports;
pub mod restore;
pub mod route;
pub mod status;

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr, Arbiter};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use twin_core::CityModel;
use twin_core::live::EntityLive;
use twin_core::reading::RawReading;
use twin_core::waste::report::{CitizenReport, ReportBook};

use crate::entity::{EntityActor, GetState};
use crate::network::{NetworkActor, NetworkKind, SolvePolicy};
use crate::shared::{ApplyFn, Shared};
use crate::store::{Documents, History, Store, StoreError};
use pipeline::{Command, PIPELINE_CAPACITY, Pipeline, collect_states};
use reports::report_alerts;
pub use restore::{RestoreReport, restore};
pub use route::IngestRoute;
pub use status::{ClusterStatus, TwinStatus, read_status, status_file};

/// Settings of a live twin.
#[derive(Clone)]
pub struct TwinConfig {
    pub data_dir: PathBuf,
    /// Entity arbiters (threads); default: one per core.
    pub arbiters: usize,
    pub snapshot_every: Duration,
    /// Log batches covered by a snapshot are kept this long.
    pub log_retention: Duration,
    /// Readings in the history are kept at least this long after they were observed (default
    /// [`DEFAULT_HISTORY_RETENTION`]); older ones are dropped by whole UTC days, hourly.
    pub history_retention: Duration,
    pub solve_policy: SolvePolicy,
    pub apply: ApplyFn,
    /// Write `status.json` into the data folder this often.
    pub status_every: Duration,
    /// Free bytes the twin keeps on the store's disk: under this, readings, reports and
    /// snapshots are refused (never acknowledged) and the twin says `degraded` until space
    /// returns. Default [`DEFAULT_MIN_FREE_BYTES`].
    pub min_free_bytes: u64,
}

/// The free space a twin keeps on its store's disk by default: 256 MiB, room for several
/// snapshots of a city the size of Pitești and for sled's own segment writes, so the store
/// never meets a full disk (sled does not recover from a failed write in the same process).
pub const DEFAULT_MIN_FREE_BYTES: u64 = 256 << 20;

/// How long the history keeps a reading by default: 400 days, a year and a season to compare
/// it with.
pub const DEFAULT_HISTORY_RETENTION: Duration = Duration::from_secs(400 * 24 * 3600);

impl TwinConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> TwinConfig {
        TwinConfig {
            data_dir: data_dir.into(),
            arbiters: std::thread::available_parallelism().map_or(2, |n| n.get()),
            snapshot_every: Duration::from_secs(60),
            log_retention: Duration::from_secs(7 * 24 * 3600),
            history_retention: DEFAULT_HISTORY_RETENTION,
            solve_policy: SolvePolicy::default(),
            apply: EntityLive::apply_reading,
            status_every: Duration::from_secs(1),
            min_free_bytes: DEFAULT_MIN_FREE_BYTES,
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

impl IngestBatch {
    /// A batch whose outcome the returned receiver gets once its accepted readings are durable.
    pub fn durable(
        readings: Vec<Result<RawReading, Rejection>>,
        now: Option<DateTime<Utc>>,
    ) -> (IngestBatch, oneshot::Receiver<BatchOutcome>) {
        let (done, durable) = oneshot::channel();
        let batch = IngestBatch {
            readings,
            now,
            done: Some(done),
        };
        (batch, durable)
    }
}

/// What happened to a batch: readings accepted (durable) and rejected (with reasons, in order).
#[derive(Debug, Clone, Default, Serialize)]
pub struct BatchOutcome {
    pub accepted: usize,
    pub rejected: Vec<(usize, Rejection)>,
    /// The store failed: nothing of this batch is durable, so nothing may be acknowledged.
    pub store_error: Option<String>,
}

/// The parts of the store that the API reads and writes beside the pipeline.
#[derive(Clone)]
pub struct StoreHandles {
    /// Every accepted reading per entity and time.
    pub history: History,
    /// The NGSI-LD broker's own entities.
    pub ngsi_ld_entities: Documents,
    /// NGSI-LD subscriptions.
    pub ngsi_ld_subscriptions: Documents,
}

/// A running live twin: a handle to send readings and read its state.
#[derive(Clone)]
pub struct LiveTwin {
    pub shared: Arc<Shared>,
    addrs: Arc<Vec<Addr<EntityActor>>>,
    commands: mpsc::Sender<Command>,
    status: Arc<std::sync::Mutex<TwinStatus>>,
    /// Where the sources' batches go when it is not this twin's own pipeline: set when the
    /// twin becomes a node of a cluster (its edge publishes to the cluster's stream, and the
    /// readings come back through [`LiveTwin::ingest_local`] on their shard's owner).
    route: Arc<std::sync::OnceLock<Arc<dyn IngestRoute>>>,
    /// What of the store others read and write while the pipeline runs (the history, the
    /// NGSI-LD documents); None once it stopped (so that the store's folder is free for the
    /// next twin).
    handles: Arc<std::sync::RwLock<Option<StoreHandles>>>,
}

fn arbiter_of(id: &twin_core::EntityId, arbiters: usize) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    (h.finish() % arbiters.max(1) as u64) as usize
}

impl LiveTwin {
    /// Start the twin. Must be called inside a running actix System.
    pub fn start(city: Arc<CityModel>, config: TwinConfig) -> Result<LiveTwin, StoreError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| StoreError::Corrupt {
            path: config.data_dir.clone(),
            what: "folder".into(),
            why: e.to_string(),
        })?;
        let store = Store::open_patiently(&config.data_dir.join("store"))?;
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
        // The network models' inputs as they stood: estimates and alerts after a restart
        // equal those before it, not waiting for every sensor to report again.
        for (i, (live, entity)) in states.iter().zip(city.entities()).enumerate() {
            if live.readings > 0 {
                shared.networks.inject(i, entity, &live.full_delta());
            }
        }
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
        // One thread per network model: a long water solve never holds up the power flow,
        // and a panic stays with its model (see `network::actor`).
        let network_arbiters: Vec<Arbiter> = NetworkKind::ALL
            .iter()
            .map(|&kind| {
                let arbiter = Arbiter::new();
                let shared = shared.clone();
                let policy = config.solve_policy;
                NetworkActor::start_in_arbiter(&arbiter.handle(), move |_| {
                    NetworkActor::new(kind, shared, policy)
                });
                arbiter
            })
            .collect();
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
        let handles = Arc::new(std::sync::RwLock::new(Some(StoreHandles {
            history: store.history(),
            ngsi_ld_entities: store.ngsi_ld_entities(),
            ngsi_ld_subscriptions: store.ngsi_ld_subscriptions(),
        })));
        let handles_of_pipeline = handles.clone();
        let (tx, rx) = mpsc::channel(PIPELINE_CAPACITY);
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
            history_pruned: None,
        };
        std::thread::Builder::new()
            .name("ingest".into())
            .spawn(move || {
                // Keep the arbiters alive as long as the pipeline runs.
                let _arbiters = (arbiters, network_arbiters);
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match rt {
                    Ok(rt) => {
                        // The pipeline (and with it the store's lock) is gone when run returns.
                        let reply = rt.block_on(pipeline.run(rx));
                        // The store is closed: no handle may keep its folder locked.
                        *handles_of_pipeline
                            .write()
                            .unwrap_or_else(|p| p.into_inner()) = None;
                        if let Some(reply) = reply {
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
            route: Arc::default(),
            handles,
        })
    }

    /// Take in a batch from a source (simulated feed, MQTT, HTTP, replay). On a twin of its own
    /// it goes into the pipeline, waiting while the pipeline is busy (backpressure); on a node
    /// of a cluster it is validated and published to the cluster's stream, and acknowledged
    /// once the stream holds it.
    pub async fn ingest(&self, batch: IngestBatch) -> Result<(), String> {
        match self.route.get() {
            Some(route) => route.ingest(self, batch).await,
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

    /// Send the sources' batches along `route` from now on (a cluster's edge): once only.
    pub fn set_route(&self, route: Arc<dyn IngestRoute>) -> Result<(), String> {
        self.route.set(route).map_err(|_| {
            "the twin's readings already go elsewhere (a node of a cluster)".to_string()
        })
    }

    /// Whether this twin's sources feed another route than its own pipeline (a cluster node).
    pub fn is_clustered(&self) -> bool {
        self.route.get().is_some()
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
        let (batch, durable) = IngestBatch::durable(readings, now);
        self.ingest(batch).await?;
        durable
            .await
            .map_err(|_| "the twin has stopped".to_string())
    }

    /// [`LiveTwin::ingest_local`], waiting until the accepted readings are durable.
    pub async fn ingest_local_durable(
        &self,
        readings: Vec<Result<RawReading, Rejection>>,
        now: Option<DateTime<Utc>>,
    ) -> Result<BatchOutcome, String> {
        let (batch, durable) = IngestBatch::durable(readings, now);
        self.ingest_local(batch).await?;
        durable
            .await
            .map_err(|_| "the twin has stopped".to_string())
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
    /// The history of every reading this twin accepted (on a cluster node: the readings of
    /// the shards it owned when they arrived); None once the twin stopped.
    pub fn history(&self) -> Option<History> {
        Some(self.store_handles()?.history)
    }

    /// The store's handles others may use while the twin runs; None once it stopped.
    pub fn store_handles(&self) -> Option<StoreHandles> {
        self.handles
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

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
        s.degraded = self.shared.degraded.reasons();
        s
    }
}
