//! Shard snapshots in the JetStream object store: every entity state of a shard and the stream
//! sequence they include. Written only while the writer's lease revision is current (the lease
//! fences it), read when a node adopts the shard.

use async_nats::jetstream::{kv, object_store};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use twin_core::live::EntityLive;

use super::super::shard::{lease_key, snapshot_name};
use super::Ctx;

/// A shard's snapshot in the object store.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ShardSnapshot {
    pub shard: u32,
    /// Every reading of the shard up to this stream sequence is in the states.
    pub seq: u64,
    pub node: String,
    pub taken_at: DateTime<Utc>,
    pub entities: Vec<(String, EntityLive)>,
}

pub(super) async fn read_snapshot(ctx: &Ctx, shard: u32) -> Result<Option<ShardSnapshot>, String> {
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
pub(super) async fn write_snapshot(
    ctx: &Ctx,
    shard: u32,
    revision: u64,
    seq: u64,
) -> Result<(), String> {
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
