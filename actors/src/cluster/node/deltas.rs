//! The delta exchange: an owner publishes what its readings changed on core NATS
//! (`citytwin.deltas.<shard>`), and every node passes the other owners' deltas to its feed and
//! network models, so any node serves the whole city.

use std::sync::Arc;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use twin_core::live::Delta;

use super::super::shard::{DELTAS_PREFIX, delta_subject, shard_of_subject};
use super::Ctx;
use crate::shared::FeedEvent;

/// A delta on `citytwin.deltas.<shard>`.
#[derive(Debug, Serialize, Deserialize)]
struct DeltaMessage {
    entity: String,
    delta: Delta,
}

/// Publish the deltas of owned entities, and pass those of other nodes' entities to this twin's
/// network models and feed, so that every node's viewer shows the whole city.
pub(super) async fn exchange_deltas(ctx: Arc<Ctx>) {
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
