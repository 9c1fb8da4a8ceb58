//! A shard worker: for as long as its node holds the shard's lease, it follows the shard's
//! readings on the stream (from its snapshot's sequence) through the node's own pipeline, in
//! batches, and writes a snapshot of the shard every `snapshot_every` and when it stops.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_nats::jetstream::consumer;
use chrono::{DateTime, Utc};
use futures_util::{FutureExt, StreamExt};
use tokio::sync::oneshot;
use twin_core::reading::RawReading;

use super::super::edge::CLOCK_HEADER;
use super::super::shard::shard_filter;
use super::snapshots::write_snapshot;
use super::{Ctx, Progress};
use crate::twin::Rejection;

/// Most readings applied in one batch by a shard worker.
const BATCH: usize = 512;

/// Apply one shard's readings from the stream, after its adopted snapshot, until stopped.
pub(super) async fn run_shard(
    ctx: Arc<Ctx>,
    shard: u32,
    epoch: u64,
    lease: super::Lease,
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
                if let Err(e) = write_snapshot(&ctx, shard, epoch, &lease, seq).await {
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
                    match write_snapshot(&ctx, shard, epoch, &lease, seq).await {
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
                serde_json::from_slice::<RawReading>(&m.payload).map_err(|e| {
                    let e = twin_core::reading::ReadingError::from_json_error(e);
                    Rejection {
                        reason: e.reason().into(),
                        message: format!("{}: not a reading: {e}", m.subject),
                    }
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
