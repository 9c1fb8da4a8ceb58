//! Where a twin's sources send their batches. On a twin of its own that is its pipeline
//! ([`LiveTwin::ingest_local`]); a node of a cluster sets another route, its edge, which
//! validates and publishes to the cluster's stream. The sources (simulated feed, MQTT, HTTP,
//! replay) call [`LiveTwin::ingest`] and never know which.

use std::future::Future;
use std::pin::Pin;

use super::{IngestBatch, LiveTwin};

/// A future a route returns: done once the batch is handed on (not necessarily durable; the
/// batch's `done` channel says when).
pub type RouteFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// A destination for the batches of a twin's sources other than its own pipeline.
pub trait IngestRoute: Send + Sync {
    /// Take one batch from a source of `twin`; answer the batch's `done` channel once the
    /// accepted readings are durable where this route keeps them.
    fn ingest<'a>(&'a self, twin: &'a LiveTwin, batch: IngestBatch) -> RouteFuture<'a>;
}
