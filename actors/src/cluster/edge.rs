//! The edge of a cluster node: readings from the node's own sources (simulated feed, MQTT,
//! HTTP, replay) are validated here, published to the readings stream on their shard's subject,
//! and acknowledged to the source once the stream has stored them. They reach entity actors on
//! whichever node owns the shard.

use std::collections::{BTreeMap, VecDeque};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishAckFuture};
use chrono::Utc;
use twin_core::reading::{RawReading, validate_reading};

use super::shard::reading_subject;
use crate::twin::route::{IngestRoute, RouteFuture};
use crate::twin::{BatchOutcome, IngestBatch, LiveTwin, Rejection};

/// The source's clock of a published reading (RFC 3339), when it is not the wall clock: the
/// simulated feed runs faster than real time, and its readings are checked against its clock.
pub const CLOCK_HEADER: &str = "Citytwin-Clock";

/// Most publish acknowledgements awaited at once. The client refuses more in flight than its
/// limit (5,000) until earlier ones are awaited, so a bigger batch is acknowledged in windows.
const ACK_WINDOW: usize = 1024;

/// Publishes a node's readings to the cluster's stream.
pub struct ClusterEdge {
    js: jetstream::Context,
    shards: u32,
}

impl ClusterEdge {
    pub(crate) fn new(js: jetstream::Context, shards: u32) -> ClusterEdge {
        ClusterEdge { js, shards }
    }

    /// Validate a batch, publish what passes, and tell the source what happened once the stream
    /// holds it. A publish that fails fails the batch: nothing of it is acknowledged, and the
    /// source sends it again (an exact repeat changes no entity's state).
    pub(crate) async fn publish(&self, twin: &LiveTwin, batch: IngestBatch) {
        let wall = Utc::now();
        let now = batch.now.map_or(wall, |t| t.max(wall));
        let mut outcome = BatchOutcome::default();
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut pending: VecDeque<PublishAckFuture> = VecDeque::with_capacity(ACK_WINDOW);
        for (i, raw) in batch.readings.into_iter().enumerate() {
            let checked = raw.and_then(|raw| {
                validate_reading(&raw, &twin.shared.city, now)
                    .map(|reading| (raw, reading))
                    .map_err(|e| Rejection {
                        reason: e.reason().to_string(),
                        message: e.to_string(),
                    })
            });
            let (raw, reading) = match checked {
                Ok(ok) => ok,
                Err(rejection) => {
                    *counts.entry(rejection.reason.clone()).or_default() += 1;
                    outcome.rejected.push((i, rejection));
                    continue;
                }
            };
            if outcome.store_error.is_some() {
                continue;
            }
            if pending.len() >= ACK_WINDOW
                && let Some(ack) = pending.pop_front()
            {
                settle(ack, &mut outcome).await;
            }
            match self.publish_one(&raw, &reading.entity, batch.now).await {
                Ok(ack) => pending.push_back(ack),
                Err(e) => outcome.store_error = Some(e),
            }
        }
        for ack in pending {
            settle(ack, &mut outcome).await;
        }
        if outcome.store_error.is_some() {
            tracing::error!(error = ?outcome.store_error, "cluster publish failed; batch not acknowledged");
            outcome.accepted = 0;
        }
        twin.count_rejections(counts).await;
        if let Some(done) = batch.done {
            let _ = done.send(outcome);
        }
    }

    async fn publish_one(
        &self,
        raw: &RawReading,
        entity: &twin_core::EntityId,
        clock: Option<chrono::DateTime<Utc>>,
    ) -> Result<PublishAckFuture, String> {
        let payload = serde_json::to_vec(raw).map_err(|e| format!("{}: {e}", raw.entity))?;
        let subject = reading_subject(entity, self.shards);
        let published = match clock {
            Some(t) => {
                let mut headers = HeaderMap::new();
                headers.insert(CLOCK_HEADER, t.to_rfc3339().as_str());
                self.js
                    .publish_with_headers(subject, headers, payload.into())
                    .await
            }
            None => self.js.publish(subject, payload.into()).await,
        };
        published.map_err(|e| format!("cannot publish to the readings stream: {e}"))
    }
}

/// Wait for one publish acknowledgement and count it.
async fn settle(ack: PublishAckFuture, outcome: &mut BatchOutcome) {
    match ack.await {
        Ok(_) => outcome.accepted += 1,
        Err(e) => outcome.store_error = Some(format!("the readings stream did not store: {e}")),
    }
}

impl IngestRoute for ClusterEdge {
    fn ingest<'a>(&'a self, twin: &'a LiveTwin, batch: IngestBatch) -> RouteFuture<'a> {
        Box::pin(async move {
            self.publish(twin, batch).await;
            Ok(())
        })
    }
}
