//! The lease round of a node: each round it renews the leases it holds, hands surplus shards
//! over (with a last snapshot) and takes free ones up to its fair share, adopting each from its
//! snapshot with a shard worker. Leases are JetStream KV entries that expire unless renewed;
//! they change hands only by compare-and-set.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio::sync::oneshot;
use twin_core::live::EntityLive;

use super::super::leases::{fair_share, surplus, try_order};
use super::super::shard::{lease_key, node_key};
use super::shard_worker::run_shard;
use super::snapshots::read_snapshot;
use super::{Held, Node, Progress};
use chrono::Utc;

impl Node {
    /// One round of the lease protocol.
    pub(super) async fn round(&mut self) {
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
            let renewed = {
                let mut revision = held.revision.lock().await;
                let renewed = ctx
                    .leases
                    .update(lease_key(shard), node.clone().into(), *revision)
                    .await;
                if let Ok(next) = &renewed {
                    *revision = *next;
                }
                renewed
            };
            match renewed {
                Ok(_) => {}
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
        // The lease's first revision names this holding's snapshots (the epoch).
        let epoch = revision;
        let revision = Arc::new(tokio::sync::Mutex::new(revision));
        let progress = Arc::new(Progress {
            applied: AtomicU64::new(seq),
            snapshotted: AtomicU64::new(seq),
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        let worker = tokio::spawn(run_shard(
            ctx.clone(),
            shard,
            epoch,
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
    pub(super) async fn hand_over(&mut self, shard: u32) {
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
        let revision = *held.revision.lock().await;
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
}
