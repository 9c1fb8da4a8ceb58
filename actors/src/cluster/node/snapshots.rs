//! Shard snapshots in the JetStream object store: every entity state of a shard and the stream
//! sequence they include, read when a node adopts the shard. Each is written under its
//! writer's lease epoch (the revision that created the lease, [`snapshot_object`]) and then
//! committed by a compare-and-set on the lease revision (which renews the lease): if the lease
//! changed hands meanwhile, the commit fails and the object is removed. An adopter reads the
//! newest epoch's, so even a writer paused between its write and its commit never shadows the
//! new holder's snapshot.

use async_nats::jetstream::{kv, object_store};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use twin_core::live::EntityLive;

use futures_util::StreamExt;

use super::super::shard::{lease_key, snapshot_epoch, snapshot_object};
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

/// The names and epochs of a shard's snapshot objects.
async fn snapshot_objects(ctx: &Ctx, shard: u32) -> Result<Vec<(u64, String)>, String> {
    let mut list = ctx
        .snapshots
        .list()
        .await
        .map_err(|e| format!("cannot list snapshots: {e}"))?;
    let mut out = Vec::new();
    while let Some(info) = list.next().await {
        let info = info.map_err(|e| format!("cannot list snapshots: {e}"))?;
        if !info.deleted
            && let Some(epoch) = snapshot_epoch(&info.name, shard)
        {
            out.push((epoch, info.name));
        }
    }
    out.sort();
    Ok(out)
}

pub(super) async fn read_snapshot(ctx: &Ctx, shard: u32) -> Result<Option<ShardSnapshot>, String> {
    let Some((_, name)) = snapshot_objects(ctx, shard).await?.pop() else {
        return Ok(None);
    };
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

/// Write a shard's snapshot under the lease `epoch` and commit it by compare-and-set on the
/// lease's revision (held locked meanwhile); then remove the shard's snapshots of older epochs.
pub(super) async fn write_snapshot(
    ctx: &Ctx,
    shard: u32,
    epoch: u64,
    lease: &super::Lease,
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
    // Held from the check to the commit, not while the states are gathered: the lease round
    // renews under the same lock.
    let mut revision = lease.lock().await;
    // A lease plainly lost: no need to write the object at all.
    match ctx.leases.entry(lease_key(shard)).await {
        Ok(Some(e))
            if e.revision == *revision
                && e.operation == kv::Operation::Put
                && e.value.as_ref() == ctx.config.node_id.as_bytes() => {}
        Ok(_) => return Err("the lease is no longer this node's".into()),
        Err(e) => return Err(format!("cannot check the lease: {e}")),
    }
    let name = snapshot_object(shard, epoch);
    ctx.snapshots
        .put(name.as_str(), &mut bytes.as_slice())
        .await
        .map_err(|e| format!("cannot write the snapshot: {e}"))?;
    // The commit: a compare-and-set on the lease revision. A node that lost the lease (paused,
    // cut off) fails here and takes its object back.
    match ctx
        .leases
        .update(
            lease_key(shard),
            ctx.config.node_id.clone().into(),
            *revision,
        )
        .await
    {
        Ok(next) => *revision = next,
        Err(e) => {
            let _ = ctx.snapshots.delete(&name).await;
            return Err(format!(
                "the lease is no longer this node's ({e}); snapshot withdrawn"
            ));
        }
    }
    drop(revision);
    for (older, old_name) in snapshot_objects(ctx, shard).await? {
        if older < epoch
            && let Err(e) = ctx.snapshots.delete(&old_name).await
        {
            tracing::debug!(shard, error = %e, object = %old_name, "cannot remove an older snapshot");
        }
    }
    ctx.status().snapshots += 1;
    tracing::debug!(shard, seq, bytes = bytes.len(), "shard snapshot written");
    Ok(())
}
