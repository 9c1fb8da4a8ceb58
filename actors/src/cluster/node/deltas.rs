//! The delta exchange: an owner publishes what its readings changed on core NATS
//! (`citytwin.deltas.<shard>`), and every node passes the other owners' deltas to its feed and
//! network models, so any node serves the whole city.
//!
//! Core NATS delivers at most once, so each delta carries its owner's id and a sequence number
//! per shard, and every [`TICK`] the owner publishes a tick with the last number sent. A node
//! that sees a gap (a number skipped, a tick ahead of what it got, a new owner) asks the owner
//! for the shard's whole published state on `citytwin.state.<shard>` and takes it as the
//! shard's state: every node's view converges to the owners' within a tick of any loss.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use twin_core::live::Delta;

use super::super::shard::{
    DELTAS_PREFIX, STATE_PREFIX, delta_subject, shard_of_subject, state_subject,
};
use super::Ctx;
use crate::shared::FeedEvent;

/// How often an owner says how far its deltas of each shard have got.
const TICK: Duration = Duration::from_secs(2);
/// How long a node waits for an owner's answer with a shard's state.
const RESYNC_WAIT: Duration = Duration::from_secs(3);

/// A delta on `citytwin.deltas.<shard>`, or a tick (no entity, no delta) saying the last
/// sequence number the owner sent.
#[derive(Debug, Serialize, Deserialize)]
struct DeltaMessage {
    node: String,
    seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delta: Option<Delta>,
}

/// An owner's answer on `citytwin.state.<shard>`, in parts (each under the server's largest
/// message): every entity's published state as a whole delta, after the deltas numbered up
/// to `seq`.
#[derive(Debug, Serialize, Deserialize)]
struct ShardState {
    node: String,
    seq: u64,
    part: usize,
    parts: usize,
    entities: Vec<(String, Delta)>,
}

/// What a node does with a message of a shard's deltas, given the last one it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// The next delta: apply it.
    Apply,
    /// Already seen (a tick at the number taken, an older delta): nothing to do.
    Stale,
    /// Something was missed, or the owner changed: ask the owner for the shard's state.
    Gap,
}

/// The verdict on message `seq` from `node` (a tick when `tick`), after `last` (the owner and
/// number last taken for the shard, if any).
fn observe(last: Option<&(String, u64)>, node: &str, seq: u64, tick: bool) -> Verdict {
    match last {
        Some((owner, taken)) if owner == node => match (tick, seq) {
            (true, s) if s > *taken => Verdict::Gap,
            (true, _) => Verdict::Stale,
            (false, s) if s <= *taken => Verdict::Stale,
            (false, s) if s == taken + 1 => Verdict::Apply,
            (false, _) => Verdict::Gap,
        },
        // A first message, or a new owner: what it adopted may differ from what this node saw.
        _ => Verdict::Gap,
    }
}

/// Publish the deltas of owned entities (numbered, with ticks), pass those of other nodes'
/// entities to this twin's network models and feed, resynchronise a shard after a gap, and
/// answer other nodes' requests for the state of the shards this node owns.
pub(super) async fn exchange_deltas(ctx: Arc<Ctx>) {
    let mut feed = ctx.twin.shared.feed.subscribe();
    let (remote, requests) = match (
        ctx.client.subscribe(format!("{DELTAS_PREFIX}.>")).await,
        ctx.client.subscribe(format!("{STATE_PREFIX}.>")).await,
    ) {
        (Ok(d), Ok(r)) => (d, r),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cannot subscribe to the cluster's deltas");
            return;
        }
    };
    let (mut remote, mut requests) = (remote, requests);
    let node = ctx.config.node_id.clone();
    // Numbers sent per owned shard, and the (owner, number) taken per remote shard.
    let mut sent: HashMap<u32, u64> = HashMap::new();
    let mut taken: HashMap<u32, (String, u64)> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            event = feed.recv() => match event {
                Ok(FeedEvent::Delta { entity, delta }) => {
                    let Some(shard) = ctx.map.of_entity(entity) else { continue };
                    if !ctx.owns(shard) {
                        continue;
                    }
                    let seq = sent.entry(shard).or_default();
                    *seq += 1;
                    let message = DeltaMessage {
                        node: node.clone(),
                        seq: *seq,
                        entity: Some(ctx.twin.shared.city.entities()[entity].id.to_string()),
                        delta: Some((*delta).clone()),
                    };
                    if let Ok(bytes) = serde_json::to_vec(&message)
                        && ctx.client.publish(delta_subject(shard), bytes.into()).await.is_ok()
                    {
                        ctx.status().deltas_out += 1;
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    // Deltas this node should have sent are gone: skipping their numbers makes
                    // the other nodes resynchronise.
                    tracing::warn!(missed = n, "the delta exchange fell behind the feed");
                    for shard in 0..ctx.config.shards {
                        if ctx.owns(shard) {
                            *sent.entry(shard).or_default() += 1;
                        }
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            _ = tick.tick() => {
                for shard in 0..ctx.config.shards {
                    if !ctx.owns(shard) {
                        continue;
                    }
                    let message = DeltaMessage {
                        node: node.clone(),
                        seq: sent.get(&shard).copied().unwrap_or(0),
                        entity: None,
                        delta: None,
                    };
                    if let Ok(bytes) = serde_json::to_vec(&message) {
                        let _ = ctx.client.publish(delta_subject(shard), bytes.into()).await;
                    }
                }
            }
            request = requests.next() => {
                let Some(request) = request else { return };
                let Some(shard) = shard_of_subject(request.subject.as_str()) else { continue };
                let Some(reply) = request.reply else { continue };
                if !ctx.owns(shard) {
                    continue; // the owner answers
                }
                let seq = sent.get(&shard).copied().unwrap_or(0);
                match shard_state(&ctx, shard, &node, seq).await {
                    Ok(parts) => {
                        for bytes in parts {
                            let _ = ctx.client.publish(reply.clone(), bytes.into()).await;
                        }
                    }
                    Err(e) => tracing::warn!(shard, error = %e, "cannot answer for a shard's state"),
                }
            }
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
                if m.node == node {
                    continue;
                }
                let is_tick = m.delta.is_none();
                match observe(taken.get(&shard), &m.node, m.seq, is_tick) {
                    Verdict::Stale => {}
                    Verdict::Apply => {
                        if let (Some(id), Some(delta)) = (m.entity, m.delta) {
                            pass_on(&ctx, &id, delta);
                            ctx.status().deltas_in += 1;
                        }
                        taken.insert(shard, (m.node, m.seq));
                    }
                    Verdict::Gap => match resync(&ctx, shard).await {
                        Ok(owner_and_seq) => {
                            taken.insert(shard, owner_and_seq);
                            ctx.status().resyncs += 1;
                        }
                        Err(e) => {
                            tracing::warn!(shard, error = %e, "cannot resynchronise a shard; trying at its next message");
                            taken.remove(&shard);
                        }
                    },
                }
            }
        }
    }
}

/// Give a remote entity's delta to this twin's network models and feed.
fn pass_on(ctx: &Ctx, id: &str, delta: Delta) {
    let shared = &ctx.twin.shared;
    let Ok(id) = id.parse() else { return };
    let Some(index) = shared.city.entity_index(&id) else {
        return;
    };
    shared
        .networks
        .inject(index, &shared.city.entities()[index], &delta);
    let _ = shared.feed.send(FeedEvent::Delta {
        entity: index,
        delta: Arc::new(delta),
    });
}

/// The published state of every entity of an owned shard, as the answer to a resync request:
/// JSON parts, each well under the server's largest message.
async fn shard_state(ctx: &Ctx, shard: u32, node: &str, seq: u64) -> Result<Vec<Vec<u8>>, String> {
    let members = ctx.map.members(shard).to_vec();
    let states = ctx.twin.states_of(members.clone()).await?;
    let city = &ctx.twin.shared.city;
    let entities: Vec<(String, Delta)> = members
        .iter()
        .zip(states)
        .filter(|(_, live)| live.readings > 0)
        .map(|(&i, live)| (city.entities()[i].id.to_string(), live.full_delta()))
        .collect();
    // Half the largest message, in entities of the mean size.
    let budget = (ctx.client.server_info().max_payload / 2).max(16 * 1024);
    let whole = serde_json::to_vec(&entities)
        .map_err(|e| e.to_string())?
        .len();
    let per_part = (entities.len() * budget / whole.max(1)).max(1);
    let chunks: Vec<&[(String, Delta)]> = if entities.is_empty() {
        vec![&[]]
    } else {
        entities.chunks(per_part).collect()
    };
    let parts = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(part, chunk)| {
            serde_json::to_vec(&ShardState {
                node: node.to_string(),
                seq,
                part,
                parts,
                entities: chunk.to_vec(),
            })
            .map_err(|e| e.to_string())
        })
        .collect()
}

/// Ask a shard's owner for its state and take it: the owner's id and the number its state
/// follows.
async fn resync(ctx: &Ctx, shard: u32) -> Result<(String, u64), String> {
    let inbox = ctx.client.new_inbox();
    let mut answers = ctx
        .client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| e.to_string())?;
    ctx.client
        .publish_with_reply(state_subject(shard), inbox, Default::default())
        .await
        .map_err(|e| e.to_string())?;
    let (mut got, mut owner) = (0, None);
    let mut entities = Vec::new();
    while owner.as_ref().is_none_or(|(_, _, parts)| got < *parts) {
        let answer = tokio::time::timeout(RESYNC_WAIT, answers.next())
            .await
            .map_err(|_| format!("no (whole) answer from the owner in {RESYNC_WAIT:?}"))?
            .ok_or("the answers ended")?;
        let part: ShardState = serde_json::from_slice(&answer.payload)
            .map_err(|e| format!("a state that is not one: {e}"))?;
        owner.get_or_insert((part.node, part.seq, part.parts));
        entities.extend(part.entities);
        got += 1;
    }
    let (node, seq, _) = owner.ok_or("no answer")?;
    for (id, delta) in &entities {
        pass_on(ctx, id, delta.clone());
    }
    tracing::info!(shard, owner = %node, seq, entities = entities.len(), "resynchronised a shard");
    Ok((node, seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_new_owners_and_ticks_ahead_resync_and_the_rest_applies_or_is_stale() {
        let a = ("a".to_string(), 5);
        assert_eq!(observe(Some(&a), "a", 6, false), Verdict::Apply);
        assert_eq!(observe(Some(&a), "a", 5, false), Verdict::Stale);
        assert_eq!(
            observe(Some(&a), "a", 8, false),
            Verdict::Gap,
            "6 and 7 lost"
        );
        assert_eq!(
            observe(Some(&a), "a", 5, true),
            Verdict::Stale,
            "a tick at what was taken"
        );
        assert_eq!(
            observe(Some(&a), "a", 7, true),
            Verdict::Gap,
            "the tail was lost"
        );
        assert_eq!(
            observe(Some(&a), "b", 1, false),
            Verdict::Gap,
            "a new owner"
        );
        assert_eq!(observe(None, "a", 1, false), Verdict::Gap, "first sight");
        assert_eq!(observe(None, "a", 0, true), Verdict::Gap);
    }
}
