//! Ingest adapters: each turns outside messages into raw readings and hands them to the twin's
//! one validation path ([`crate::twin::LiveTwin::ingest`]).
//!
//! - [`simulated`]: the built-in feed that makes Pitești alive with no hardware;
//! - [`mqtt`]: a broker subscription at QoS 1, acknowledged after durability;
//! - [`replay`]: a JSONL file of readings at any speed.

pub mod mqtt;
pub mod replay;
pub mod simulated;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use twin_core::CityModel;

use crate::twin::{IngestBatch, LiveTwin};

/// Run the simulated feed: a twin clock starting at `start` and running `speed` times real time,
/// ticking every `tick` of wall time.
pub async fn run_simulated(
    twin: LiveTwin,
    city: Arc<CityModel>,
    mut feed: simulated::SimulatedFeed,
    start: DateTime<Utc>,
    speed: f64,
    tick: Duration,
) {
    let began = Instant::now();
    let mut interval = tokio::time::interval(tick);
    loop {
        interval.tick().await;
        let elapsed = began.elapsed().as_secs_f64() * speed;
        let now = start + chrono::Duration::milliseconds((elapsed * 1000.0) as i64);
        let readings = feed.readings_until(&city, now);
        if readings.is_empty() {
            continue;
        }
        let batch = IngestBatch {
            readings: readings.into_iter().map(Ok).collect(),
            now: Some(now),
            done: None,
        };
        if twin.ingest(batch).await.is_err() {
            return;
        }
    }
}
