//! `twin bench cluster`: the cluster's hot paths on a real JetStream server.
//!
//! - the edge: readings validated and published to the stream, acknowledged once it holds them
//!   (what an MQTT or HTTP source of a node waits for);
//! - end to end: from the first publish until the shard owner's actors applied the last one;
//! - a graceful hand-over of the whole city to a second node (snapshots, then the stream);
//! - a takeover after a crash: the lease time, then a replay of the whole stream (no snapshot).
//!
//! Both nodes run in this process, each with its own twin, store and NATS connection.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use twin_core::CityModel;

use super::shard::{SNAPSHOTS_BUCKET, snapshot_epoch};
use super::{ClusterConfig, ClusterHandle, start_cluster};
use crate::bench::{bench_config, raw_readings};
use crate::twin::LiveTwin;

/// What `twin bench cluster` measured.
#[derive(Debug, Clone)]
pub struct ClusterBench {
    pub readings: u64,
    pub shards: u32,
    /// Readings acknowledged by the stream per second, through a node's edge.
    pub published_per_s: f64,
    /// Readings applied by the owner's actors per second, from the first publish.
    pub applied_per_s: f64,
    /// From the first node's leave until the second applied everything, ms.
    pub handover_ms: f64,
    /// The lease time of the cluster, ms (a crashed node's shards wait for it).
    pub lease_ttl_ms: f64,
    /// From a crash until the survivor applied everything, ms (the lease time included).
    pub takeover_ms: f64,
    /// Readings replayed per second in that takeover, from the first shard taken.
    pub replay_per_s: f64,
}

/// Run the measurements against the JetStream server at `url`, which should hold no citytwin
/// stream yet (a fresh server): the takeover replays the whole stream.
pub async fn bench_cluster(
    city: Arc<CityModel>,
    dir: &Path,
    url: &str,
    readings: u64,
    batch: usize,
) -> Result<ClusterBench, String> {
    let shards = 16;
    let lease_ttl = Duration::from_secs(2);
    let node = |id: &str| {
        let mut c = ClusterConfig::new(url, format!("bench-{id}-{}", std::process::id()));
        c.shards = shards;
        c.lease_ttl = lease_ttl;
        c.snapshot_every = Duration::from_secs(3600);
        c
    };
    let start = |name: &str| -> Result<(LiveTwin, ClusterHandle), String> {
        let twin = LiveTwin::start(city.clone(), bench_config(&dir.join(name)))
            .map_err(|e| e.to_string())?;
        let handle = start_cluster(twin.clone(), node(name)).map_err(|e| e.to_string())?;
        Ok((twin, handle))
    };

    // One node holds every shard; the readings go through its edge and back to its actors.
    let (a, handle_a) = start("a")?;
    wait_for(&a, "node a to hold every shard", |t| {
        owned(t) == shards as usize
    })
    .await?;
    let raws = raw_readings(&city, readings);
    let applied_before = a.shared.counters.applied.load(Ordering::Relaxed);
    let started = Instant::now();
    for chunk in raws.chunks(batch.max(1)) {
        let outcome = a
            .ingest_durable(chunk.iter().cloned().map(Ok).collect(), None)
            .await?;
        if let Some(e) = outcome.store_error {
            return Err(e);
        }
    }
    let published_per_s = readings as f64 / started.elapsed().as_secs_f64();
    wait_for(&a, "node a to apply every reading", |t| {
        t.shared.counters.applied.load(Ordering::Relaxed) >= applied_before + readings
    })
    .await?;
    let applied_per_s = readings as f64 / started.elapsed().as_secs_f64();

    // A graceful hand-over of the whole city to a second node.
    let (b, handle_b) = start("b")?;
    let applied_b = b.shared.counters.applied.load(Ordering::Relaxed);
    let started = Instant::now();
    handle_a.leave().await;
    wait_for(&b, "node b to hold every shard", |t| {
        owned(t) == shards as usize
    })
    .await?;
    let handover_ms = started.elapsed().as_secs_f64() * 1e3;
    if b.shared.counters.applied.load(Ordering::Relaxed) != applied_b {
        return Err("node b replayed readings that the snapshots held".into());
    }
    a.shutdown().await;

    // A crash with nothing to start from: the snapshots are removed, b stops without a word,
    // and c waits out the leases, then replays the whole stream.
    let client = async_nats::connect(url).await.map_err(|e| e.to_string())?;
    let snapshots = async_nats::jetstream::new(client)
        .get_object_store(SNAPSHOTS_BUCKET)
        .await
        .map_err(|e| e.to_string())?;
    let mut names = Vec::new();
    let mut list = snapshots.list().await.map_err(|e| e.to_string())?;
    while let Some(info) = futures_util::StreamExt::next(&mut list).await {
        let info = info.map_err(|e| e.to_string())?;
        if !info.deleted && (0..shards).any(|s| snapshot_epoch(&info.name, s).is_some()) {
            names.push(info.name);
        }
    }
    for name in names {
        snapshots
            .delete(&name)
            .await
            .map_err(|e| format!("removing snapshot {name}: {e}"))?;
    }
    let (c, handle_c) = start("c")?;
    let applied_c = c.shared.counters.applied.load(Ordering::Relaxed);
    let started = Instant::now();
    handle_b.abandon().await;
    wait_for(&c, "node c to take a shard", |t| owned(t) > 0).await?;
    let first_adopted = started.elapsed();
    wait_for(&c, "node c to replay every reading", |t| {
        owned(t) == shards as usize
            && t.shared.counters.applied.load(Ordering::Relaxed) >= applied_c + readings
    })
    .await?;
    let takeover = started.elapsed();
    b.abandon().await;
    handle_c.leave().await;
    c.shutdown().await;
    Ok(ClusterBench {
        readings,
        shards,
        published_per_s,
        applied_per_s,
        handover_ms,
        lease_ttl_ms: lease_ttl.as_secs_f64() * 1e3,
        takeover_ms: takeover.as_secs_f64() * 1e3,
        replay_per_s: readings as f64 / (takeover - first_adopted).as_secs_f64(),
    })
}

fn owned(twin: &LiveTwin) -> usize {
    twin.status().cluster.map_or(0, |c| c.owned.len())
}

async fn wait_for(
    twin: &LiveTwin,
    what: &str,
    ok: impl Fn(&LiveTwin) -> bool,
) -> Result<(), String> {
    let started = Instant::now();
    while !ok(twin) {
        if started.elapsed() > Duration::from_secs(600) {
            return Err(format!("timed out waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}
