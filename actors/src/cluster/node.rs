//! A node of a cluster: the lease loop, one worker per owned shard, and the delta exchange.
//!
//! All of it runs on one thread of its own ("cluster"), with its own runtime, so that the NATS
//! connection lives as long as the node, whatever runtimes its sources run on.
//!
//! A shard worker, for as long as its node holds the shard's lease:
//! 1. adopts the shard: reads the shard's snapshot from the object store (if any) and replaces
//!    its entities' states with it (or with empty states when there is none);
//! 2. replays the shard's readings from the stream after the snapshot's sequence, then follows
//!    it, in batches, through the node's own pipeline (validate → log → dispatch);
//! 3. writes a snapshot of the shard every `snapshot_every`, and a last one when it hands the
//!    shard over; only while the lease is still its node's (the lease revision fences it).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, object_store, stream};
use chrono::{DateTime, Utc};
use futures_util::{FutureExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use twin_core::live::{Delta, EntityLive};
use twin_core::reading::RawReading;

use super::edge::{CLOCK_HEADER, ClusterEdge};
use super::leases::{fair_share, surplus, try_order};
use super::shard::{
    DELTAS_PREFIX, LEASES_BUCKET, READINGS_PREFIX, READINGS_STREAM, SNAPSHOTS_BUCKET, ShardMap,
    check_node_id, delta_subject, lease_key, node_key, shard_filter, shard_of_subject,
    snapshot_name,
};
use crate::shared::FeedEvent;
use crate::twin::{ClusterStatus, LiveTwin, Rejection};

/// Most readings applied in one batch by a shard worker.
const BATCH: usize = 512;
/// The stream's metadata key that records the cluster's shard count.
const SHARDS_METADATA: &str = "citytwin.shards";

/// How a node joins its cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The NATS server (`nats://host:4222`; several separated by commas).
    pub url: String,
    /// This node's id, unique in the cluster.
    pub node_id: String,
    /// Shards of the city's entities; every node of a cluster must use the same number (the
    /// stream records it, and a node with another number is refused).
    pub shards: u32,
    /// A lease not renewed for this long expires, and another node takes the shard. The first
    /// node to create the lease bucket sets it for the cluster.
    pub lease_ttl: Duration,
    /// Time between snapshots of each owned shard.
    pub snapshot_every: Duration,
    /// Replicas of the stream, the lease bucket and the snapshots (1 on a single server; 3 on a
    /// three-server JetStream cluster).
    pub replicas: usize,
    /// Readings older than this leave the stream (snapshots must be taken more often).
    pub retention: Duration,
}

impl ClusterConfig {
    pub fn new(url: impl Into<String>, node_id: impl Into<String>) -> ClusterConfig {
        ClusterConfig {
            url: url.into(),
            node_id: node_id.into(),
            shards: 16,
            lease_ttl: Duration::from_secs(6),
            snapshot_every: Duration::from_secs(30),
            replicas: 1,
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Why a node could not join its cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("bad cluster setting: {0}")]
    Config(String),
    #[error("cannot reach NATS at {url}: {why}")]
    Connect { url: String, why: String },
    #[error("JetStream at {url}: {what}: {why}")]
    JetStream {
        url: String,
        what: String,
        why: String,
    },
}

/// A shard's snapshot in the object store.
#[derive(Debug, Serialize, Deserialize)]
struct ShardSnapshot {
    shard: u32,
    /// Every reading of the shard up to this stream sequence is in the states.
    seq: u64,
    node: String,
    taken_at: DateTime<Utc>,
    entities: Vec<(String, EntityLive)>,
}

/// A delta on `citytwin.deltas.<shard>`.
#[derive(Debug, Serialize, Deserialize)]
struct DeltaMessage {
    entity: String,
    delta: Delta,
}

/// How a node stops.
enum Stop {
    /// Snapshot and release every shard.
    Leave(oneshot::Sender<()>),
    /// Stop at once, as a crash would: the leases expire.
    Abandon(oneshot::Sender<()>),
}

/// A running node; [`ClusterHandle::leave`] hands its shards over.
pub struct ClusterHandle {
    stop: Option<oneshot::Sender<Stop>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ClusterHandle {
    /// Leave the cluster: snapshot every owned shard, release the leases (the other nodes take
    /// them at their next round, not after the lease time) and stop.
    pub async fn leave(self) {
        self.stop_with(Stop::Leave).await;
    }

    /// Stop without a snapshot or a release, as a crash would (measurements of a takeover).
    pub async fn abandon(self) {
        self.stop_with(Stop::Abandon).await;
    }

    async fn stop_with(mut self, how: fn(oneshot::Sender<()>) -> Stop) {
        if let Some(tx) = self.stop.take() {
            let (done, wait) = oneshot::channel();
            if tx.send(how(done)).is_ok() {
                let _ = wait.await;
            }
        }
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// Join the cluster at `config.url` with this twin: from the return on, the twin's sources
/// publish to the cluster, and the twin applies the shards it holds.
pub fn start_cluster(twin: LiveTwin, config: ClusterConfig) -> Result<ClusterHandle, ClusterError> {
    check_node_id(&config.node_id).map_err(ClusterError::Config)?;
    if config.shards == 0 || config.shards > 1024 {
        return Err(ClusterError::Config(format!(
            "shards must be 1 to 1024, got {}",
            config.shards
        )));
    }
    if config.lease_ttl < Duration::from_secs(1) {
        return Err(ClusterError::Config(
            "the lease time must be at least 1 s".into(),
        ));
    }
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("cluster".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(ClusterError::Config(format!(
                        "cannot start the cluster runtime: {e}"
                    ))));
                    return;
                }
            };
            rt.block_on(async move {
                let node = match Node::join(twin, config).await {
                    Ok(node) => {
                        let _ = ready_tx.send(Ok(()));
                        node
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                node.run(stop_rx).await;
            });
        })
        .map_err(|e| ClusterError::Config(format!("cannot start the cluster thread: {e}")))?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(ClusterHandle {
            stop: Some(stop_tx),
            thread: Some(thread),
        }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => Err(ClusterError::Config("the cluster thread stopped".into())),
    }
}

/// What shard workers share with the lease loop.
struct Ctx {
    twin: LiveTwin,
    config: ClusterConfig,
    client: async_nats::Client,
    stream: stream::Stream,
    leases: kv::Store,
    snapshots: object_store::ObjectStore,
    map: ShardMap,
    /// Shards held, read by the delta exchange.
    owned: RwLock<BTreeSet<u32>>,
    status: Mutex<ClusterStatus>,
}

impl Ctx {
    fn status(&self) -> std::sync::MutexGuard<'_, ClusterStatus> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn owns(&self, shard: u32) -> bool {
        self.owned
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&shard)
    }
}

/// How far a shard worker has got in the stream.
#[derive(Default)]
struct Progress {
    /// The last stream sequence applied.
    applied: AtomicU64,
    /// The stream sequence the newest snapshot covers.
    snapshotted: AtomicU64,
}

/// A shard this node holds.
struct Held {
    /// The lease revision this node last wrote; a snapshot is written only while it is current.
    revision: Arc<AtomicU64>,
    progress: Arc<Progress>,
    stop: Option<oneshot::Sender<oneshot::Sender<()>>>,
    worker: JoinHandle<()>,
}

struct Node {
    ctx: Arc<Ctx>,
    held: BTreeMap<u32, Held>,
    lease_ttl: Duration,
}

impl Node {
    async fn join(twin: LiveTwin, config: ClusterConfig) -> Result<Node, ClusterError> {
        let url = config.url.clone();
        let js_err = |what: &str, why: String| ClusterError::JetStream {
            url: url.clone(),
            what: what.to_string(),
            why,
        };
        let client = async_nats::ConnectOptions::new()
            .name(format!("citytwin node {}", config.node_id))
            .connection_timeout(Duration::from_secs(5))
            .connect(config.url.as_str())
            .await
            .map_err(|e| ClusterError::Connect {
                url: url.clone(),
                why: e.to_string(),
            })?;
        let js = jetstream::new(client.clone());
        let stream = js
            .get_or_create_stream(stream::Config {
                name: READINGS_STREAM.to_string(),
                description: Some("citytwin: every accepted sensor reading, by shard".into()),
                subjects: vec![format!("{READINGS_PREFIX}.>")],
                max_age: config.retention,
                storage: stream::StorageType::File,
                num_replicas: config.replicas,
                metadata: [(SHARDS_METADATA.to_string(), config.shards.to_string())].into(),
                ..Default::default()
            })
            .await
            .map_err(|e| js_err("the readings stream", e.to_string()))?;
        let recorded = stream
            .cached_info()
            .config
            .metadata
            .get(SHARDS_METADATA)
            .cloned();
        if let Some(n) = recorded
            && n != config.shards.to_string()
        {
            return Err(ClusterError::Config(format!(
                "the cluster at {url} has {n} shards; this node was started with {} (use --shards {n})",
                config.shards
            )));
        }
        let leases = match js.get_key_value(LEASES_BUCKET).await {
            Ok(kv) => kv,
            Err(_) => js
                .create_key_value(kv::Config {
                    bucket: LEASES_BUCKET.to_string(),
                    description: "citytwin: shard leases and node heartbeats".into(),
                    history: 1,
                    max_age: config.lease_ttl,
                    storage: stream::StorageType::File,
                    num_replicas: config.replicas,
                    ..Default::default()
                })
                .await
                .map_err(|e| js_err("the lease bucket", e.to_string()))?,
        };
        // The bucket's expiry is the cluster's lease time, whoever created it.
        let lease_ttl = match js.get_stream(format!("KV_{LEASES_BUCKET}")).await {
            Ok(s) => s.cached_info().config.max_age,
            Err(e) => return Err(js_err("the lease bucket", e.to_string())),
        };
        if lease_ttl.is_zero() {
            return Err(js_err(
                "the lease bucket",
                "it has no expiry, so a dead node would keep its shards".into(),
            ));
        }
        let snapshots = match js.get_object_store(SNAPSHOTS_BUCKET).await {
            Ok(store) => store,
            Err(_) => js
                .create_object_store(object_store::Config {
                    bucket: SNAPSHOTS_BUCKET.to_string(),
                    description: Some("citytwin: the newest snapshot of every shard".into()),
                    storage: stream::StorageType::File,
                    num_replicas: config.replicas,
                    ..Default::default()
                })
                .await
                .map_err(|e| js_err("the snapshot store", e.to_string()))?,
        };
        let map = ShardMap::new(&twin.shared.city, config.shards);
        twin.set_route(std::sync::Arc::new(ClusterEdge::new(js, config.shards)))
            .map_err(ClusterError::Config)?;
        let status = ClusterStatus {
            node: config.node_id.clone(),
            url: config.url.clone(),
            shards: config.shards,
            ..ClusterStatus::default()
        };
        tracing::info!(node = %config.node_id, %url, shards = config.shards, lease_ms = lease_ttl.as_millis() as u64, "joined the cluster");
        Ok(Node {
            ctx: Arc::new(Ctx {
                twin,
                config,
                client,
                stream,
                leases,
                snapshots,
                map,
                owned: RwLock::new(BTreeSet::new()),
                status: Mutex::new(status),
            }),
            held: BTreeMap::new(),
            lease_ttl,
        })
    }

    async fn run(mut self, mut stop: oneshot::Receiver<Stop>) {
        let exchange = tokio::spawn(exchange_deltas(self.ctx.clone()));
        let mut tick = tokio::time::interval(self.lease_ttl / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                request = &mut stop => {
                    exchange.abort();
                    match request {
                        Ok(Stop::Leave(done)) => {
                            self.leave().await;
                            let _ = done.send(());
                        }
                        Ok(Stop::Abandon(done)) => {
                            for (_, held) in std::mem::take(&mut self.held) {
                                held.worker.abort();
                            }
                            let _ = done.send(());
                        }
                        // The handle is gone: leave properly.
                        Err(_) => self.leave().await,
                    }
                    return;
                }
                _ = tick.tick() => self.round().await,
            }
        }
    }

    /// One round of the lease protocol.
    async fn round(&mut self) {
        let ctx = self.ctx.clone();
        let node = ctx.config.node_id.clone();
        if let Err(e) = ctx
            .leases
            .put(node_key(&node), Utc::now().to_rfc3339().into())
            .await
        {
            tracing::warn!(error = %e, "cannot write the node heartbeat");
        }
        // Renew what is held; a lease that changed hands is lost at once.
        let shards: Vec<u32> = self.held.keys().copied().collect();
        for shard in shards {
            let Some(held) = self.held.get(&shard) else {
                continue;
            };
            let revision = held.revision.load(Ordering::SeqCst);
            match ctx
                .leases
                .update(lease_key(shard), node.clone().into(), revision)
                .await
            {
                Ok(next) => held.revision.store(next, Ordering::SeqCst),
                Err(e) => {
                    tracing::warn!(shard, error = %e, "lost the lease of a shard; stopping it");
                    if let Some(held) = self.held.remove(&shard) {
                        held.worker.abort();
                    }
                    ctx.status().lost += 1;
                }
            }
        }
        // A worker that ended on its own (its stream or pipeline failed) hands its shard over.
        let ended: Vec<u32> = self
            .held
            .iter()
            .filter(|(_, h)| h.worker.is_finished())
            .map(|(&s, _)| s)
            .collect();
        for shard in ended {
            self.hand_over(shard).await;
        }
        let live_nodes = match self.live_nodes().await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the cluster's nodes");
                self.publish_status(None);
                return;
            }
        };
        for shard in surplus(
            &self.held.keys().copied().collect(),
            ctx.config.shards,
            live_nodes,
        ) {
            self.hand_over(shard).await;
        }
        let share = fair_share(ctx.config.shards, live_nodes);
        let started = std::time::Instant::now();
        for shard in try_order(&node, ctx.config.shards) {
            // Adopting takes time; the leases held must be renewed before they expire, so
            // what is left waits for the next round.
            if self.held.len() >= share || started.elapsed() > self.lease_ttl / 3 {
                break;
            }
            if self.held.contains_key(&shard) {
                continue;
            }
            let Ok(revision) = ctx
                .leases
                .create(lease_key(shard), node.clone().into())
                .await
            else {
                continue; // held by another node
            };
            match self.adopt(shard, revision).await {
                Ok(held) => {
                    self.held.insert(shard, held);
                    ctx.status().adopted += 1;
                }
                Err(e) => {
                    tracing::error!(shard, error = %e, "cannot adopt the shard; releasing it");
                    let _ = ctx
                        .leases
                        .delete_expect_revision(lease_key(shard), Some(revision))
                        .await;
                }
            }
        }
        self.publish_status(Some(live_nodes));
    }

    async fn live_nodes(&self) -> Result<usize, String> {
        let mut keys = self.ctx.leases.keys().await.map_err(|e| e.to_string())?;
        let mut n = 0;
        while let Some(key) = keys.next().await {
            if key.map_err(|e| e.to_string())?.starts_with("node-") {
                n += 1;
            }
        }
        Ok(n.max(1))
    }

    fn publish_status(&self, live_nodes: Option<usize>) {
        let owned: BTreeSet<u32> = self.held.keys().copied().collect();
        *self.ctx.owned.write().unwrap_or_else(|p| p.into_inner()) = owned.clone();
        let snapshot = {
            let mut s = self.ctx.status();
            s.owned = owned.into_iter().collect();
            if let Some(n) = live_nodes {
                s.live_nodes = n;
            }
            s.applied = self
                .held
                .iter()
                .map(|(&shard, h)| (shard, h.progress.applied.load(Ordering::SeqCst)))
                .collect();
            s.snapshotted = self
                .held
                .iter()
                .map(|(&shard, h)| (shard, h.progress.snapshotted.load(Ordering::SeqCst)))
                .collect();
            s.clone()
        };
        self.ctx.twin.set_cluster_status(snapshot);
    }

    /// Take over a shard whose lease this node just created: its snapshot, then its readings.
    async fn adopt(&self, shard: u32, revision: u64) -> Result<Held, String> {
        let ctx = &self.ctx;
        let members = ctx.map.members(shard);
        let (states, seq) = match read_snapshot(ctx, shard).await? {
            Some(snap) => {
                let mut by_id: BTreeMap<String, EntityLive> = snap.entities.into_iter().collect();
                let city = &ctx.twin.shared.city;
                let states = members
                    .iter()
                    .map(|&i| {
                        let id = city.entities()[i].id.to_string();
                        (i, by_id.remove(&id).unwrap_or_default())
                    })
                    .collect::<Vec<_>>();
                tracing::info!(shard, seq = snap.seq, from = %snap.node, "adopting a shard from its snapshot");
                ctx.status().adopted_from_snapshot += 1;
                (states, snap.seq)
            }
            None => {
                tracing::info!(
                    shard,
                    "adopting a shard with no snapshot: replaying its whole stream"
                );
                (
                    members
                        .iter()
                        .map(|&i| (i, EntityLive::default()))
                        .collect(),
                    0,
                )
            }
        };
        ctx.twin.adopt(states).await?;
        let revision = Arc::new(AtomicU64::new(revision));
        let progress = Arc::new(Progress {
            applied: AtomicU64::new(seq),
            snapshotted: AtomicU64::new(seq),
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        let worker = tokio::spawn(run_shard(
            ctx.clone(),
            shard,
            revision.clone(),
            progress.clone(),
            stop_rx,
        ));
        Ok(Held {
            revision,
            progress,
            stop: Some(stop_tx),
            worker,
        })
    }

    /// Stop a shard's worker (it writes a last snapshot) and release the lease.
    async fn hand_over(&mut self, shard: u32) {
        let Some(mut held) = self.held.remove(&shard) else {
            return;
        };
        if let Some(stop) = held.stop.take() {
            let (done, wait) = oneshot::channel();
            if stop.send(done).is_ok() {
                let _ = wait.await;
            }
        }
        held.worker.abort();
        let revision = held.revision.load(Ordering::SeqCst);
        if let Err(e) = self
            .ctx
            .leases
            .delete_expect_revision(lease_key(shard), Some(revision))
            .await
        {
            tracing::warn!(shard, error = %e, "cannot release a lease; it will expire");
        }
        self.ctx.status().handed_over += 1;
        tracing::info!(shard, "handed a shard over");
    }

    async fn leave(&mut self) {
        let shards: Vec<u32> = self.held.keys().copied().collect();
        for shard in shards {
            self.hand_over(shard).await;
        }
        let _ = self
            .ctx
            .leases
            .delete(node_key(&self.ctx.config.node_id))
            .await;
        self.publish_status(Some(0));
        tracing::info!(node = %self.ctx.config.node_id, "left the cluster");
    }
}

async fn read_snapshot(ctx: &Ctx, shard: u32) -> Result<Option<ShardSnapshot>, String> {
    let name = snapshot_name(shard);
    let mut object = match ctx.snapshots.get(&name).await {
        Ok(o) => o,
        Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("snapshot {name}: {e}")),
    };
    let mut bytes = Vec::new();
    object
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| format!("snapshot {name}: {e}"))?;
    let snap: ShardSnapshot =
        serde_json::from_slice(&bytes).map_err(|e| format!("snapshot {name}: {e}"))?;
    if snap.shard != shard {
        return Err(format!("snapshot {name} holds shard {}", snap.shard));
    }
    Ok(Some(snap))
}

/// Write a shard's snapshot, if this node still holds the lease at `revision`.
async fn write_snapshot(ctx: &Ctx, shard: u32, revision: u64, seq: u64) -> Result<(), String> {
    let members = ctx.map.members(shard).to_vec();
    let states = ctx.twin.states_of(members.clone()).await?;
    let city = &ctx.twin.shared.city;
    let snap = ShardSnapshot {
        shard,
        seq,
        node: ctx.config.node_id.clone(),
        taken_at: Utc::now(),
        entities: members
            .iter()
            .zip(states)
            .map(|(&i, live)| (city.entities()[i].id.to_string(), live))
            .collect(),
    };
    let bytes = serde_json::to_vec(&snap).map_err(|e| e.to_string())?;
    // The fence: a node that lost the lease (paused, cut off) must not overwrite the snapshot
    // of the node that took the shard over.
    match ctx.leases.entry(lease_key(shard)).await {
        Ok(Some(e))
            if e.revision == revision
                && e.operation == kv::Operation::Put
                && e.value.as_ref() == ctx.config.node_id.as_bytes() => {}
        Ok(_) => return Err("the lease is no longer this node's".into()),
        Err(e) => return Err(format!("cannot check the lease: {e}")),
    }
    ctx.snapshots
        .put(snapshot_name(shard).as_str(), &mut bytes.as_slice())
        .await
        .map_err(|e| format!("cannot write the snapshot: {e}"))?;
    ctx.status().snapshots += 1;
    tracing::debug!(shard, seq, bytes = bytes.len(), "shard snapshot written");
    Ok(())
}

/// Apply one shard's readings from the stream, after its adopted snapshot, until stopped.
async fn run_shard(
    ctx: Arc<Ctx>,
    shard: u32,
    revision: Arc<AtomicU64>,
    progress: Arc<Progress>,
    mut stop: oneshot::Receiver<oneshot::Sender<()>>,
) {
    let applied = &progress.applied;
    let start = applied.load(Ordering::SeqCst) + 1;
    let consumer = ctx
        .stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: shard_filter(shard),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
            ..Default::default()
        })
        .await;
    let mut messages = match consumer {
        Ok(c) => match c.messages().await {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(shard, error = %e, "cannot follow the shard's readings");
                return;
            }
        },
        Err(e) => {
            tracing::error!(shard, error = %e, "cannot follow the shard's readings");
            return;
        }
    };
    let mut snapshot_tick = tokio::time::interval(ctx.config.snapshot_every);
    snapshot_tick.tick().await;
    loop {
        let first = tokio::select! {
            request = &mut stop => {
                let seq = applied.load(Ordering::SeqCst);
                if let Err(e) = write_snapshot(&ctx, shard, revision.load(Ordering::SeqCst), seq).await {
                    tracing::warn!(shard, error = %e, "no snapshot at hand-over; the next owner replays more");
                }
                if let Ok(done) = request {
                    let _ = done.send(());
                }
                return;
            }
            _ = snapshot_tick.tick() => {
                let seq = applied.load(Ordering::SeqCst);
                if seq != progress.snapshotted.load(Ordering::SeqCst) {
                    match write_snapshot(&ctx, shard, revision.load(Ordering::SeqCst), seq).await {
                        Ok(()) => progress.snapshotted.store(seq, Ordering::SeqCst),
                        Err(e) => tracing::warn!(shard, error = %e, "shard snapshot failed"),
                    }
                }
                continue;
            }
            next = messages.next() => next,
        };
        let mut batch = Vec::with_capacity(BATCH);
        match first {
            Some(Ok(m)) => batch.push(m),
            Some(Err(e)) => {
                tracing::warn!(shard, error = %e, "reading the shard's stream");
                continue;
            }
            None => {
                tracing::error!(shard, "the shard's stream ended");
                return;
            }
        }
        // Take what has already arrived, without waiting, up to a batch.
        while batch.len() < BATCH {
            match messages.next().now_or_never() {
                Some(Some(Ok(m))) => batch.push(m),
                _ => break,
            }
        }
        let mut last = 0;
        let mut clock: Option<DateTime<Utc>> = None;
        let readings: Vec<Result<RawReading, Rejection>> = batch
            .iter()
            .map(|m| {
                if let Ok(info) = m.info() {
                    last = last.max(info.stream_sequence);
                }
                if let Some(t) = m
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(CLOCK_HEADER))
                    .and_then(|v| DateTime::parse_from_rfc3339(v.as_str()).ok())
                {
                    let t = t.with_timezone(&Utc);
                    clock = Some(clock.map_or(t, |c| c.max(t)));
                }
                serde_json::from_slice::<RawReading>(&m.payload).map_err(|e| Rejection {
                    reason: "malformed".into(),
                    message: format!("{}: not a reading: {e}", m.subject),
                })
            })
            .collect();
        match ctx.twin.ingest_local_durable(readings, clock).await {
            Ok(outcome) if outcome.store_error.is_none() => {
                applied.store(last, Ordering::SeqCst);
            }
            Ok(outcome) => {
                tracing::error!(shard, error = ?outcome.store_error, "the node's store failed; handing the shard over");
                return;
            }
            Err(e) => {
                tracing::error!(shard, error = %e, "the twin stopped");
                return;
            }
        }
    }
}

/// Publish the deltas of owned entities, and pass those of other nodes' entities to this twin's
/// network models and feed, so that every node's viewer shows the whole city.
async fn exchange_deltas(ctx: Arc<Ctx>) {
    let mut feed = ctx.twin.shared.feed.subscribe();
    let mut remote = match ctx.client.subscribe(format!("{DELTAS_PREFIX}.>")).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot subscribe to the cluster's deltas");
            return;
        }
    };
    let shared = ctx.twin.shared.clone();
    loop {
        tokio::select! {
            event = feed.recv() => match event {
                Ok(FeedEvent::Delta { entity, delta }) => {
                    let Some(shard) = ctx.map.of_entity(entity) else { continue };
                    if !ctx.owns(shard) {
                        continue;
                    }
                    let message = DeltaMessage {
                        entity: shared.city.entities()[entity].id.to_string(),
                        delta: (*delta).clone(),
                    };
                    if let Ok(bytes) = serde_json::to_vec(&message)
                        && ctx.client.publish(delta_subject(shard), bytes.into()).await.is_ok()
                    {
                        ctx.status().deltas_out += 1;
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "the delta exchange fell behind the feed");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            message = remote.next() => {
                let Some(message) = message else { return };
                let Some(shard) = shard_of_subject(message.subject.as_str()) else { continue };
                if ctx.owns(shard) {
                    continue;
                }
                let Ok(m) = serde_json::from_slice::<DeltaMessage>(&message.payload) else {
                    tracing::warn!(subject = %message.subject, "a delta that is not one");
                    continue;
                };
                let Ok(id) = m.entity.parse() else { continue };
                let Some(index) = shared.city.entity_index(&id) else { continue };
                shared.networks.inject(index, &shared.city.entities()[index], &m.delta);
                let _ = shared.feed.send(FeedEvent::Delta { entity: index, delta: Arc::new(m.delta) });
                ctx.status().deltas_in += 1;
            }
        }
    }
}
