//! A node of a cluster: the lease loop, one worker per owned shard, and the delta exchange.
//!
//! - this file: joining ([`start_cluster`]), the node's loop and status, leaving;
//! - `lease_round`: taking, renewing and handing over shard leases;
//! - `shard_worker`: one shard's readings from the stream through the node's pipeline;
//! - `snapshots`: shard snapshots in the object store;
//! - `deltas`: the delta exchange between nodes.
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

use async_nats::jetstream::{self, kv, object_store, stream};
use futures_util::StreamExt;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::edge::ClusterEdge;
use super::shard::{
    LEASES_BUCKET, READINGS_PREFIX, READINGS_STREAM, SNAPSHOTS_BUCKET, ShardMap, check_node_id,
    node_key,
};
mod deltas;
use deltas::exchange_deltas;
mod lease_round;
mod shard_worker;
mod snapshots;

use crate::twin::{ClusterStatus, LiveTwin};

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

/// The revision a node last wrote to a shard's lease. Every write of the lease (a renewal, a
/// snapshot's commit) holds the lock, so the lease round and the shard worker never race on it.
type Lease = Arc<tokio::sync::Mutex<u64>>;

/// A shard this node holds.
struct Held {
    /// The lease revision this node last wrote, locked while the lease is written (renewed,
    /// or a snapshot committed by compare-and-set on it).
    revision: Lease,
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
