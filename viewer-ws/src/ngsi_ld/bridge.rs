//! The bridge to an upstream NGSI-LD broker (Orion-LD, Scorpio, Stellio, or another twin):
//! `twin serve --ngsi-ld-upstream URL` mirrors the twin's assets into it by batch upsert
//! (`POST {URL}/ngsi-ld/v1/entityOperations/upsert?options=update`).
//!
//! The outbox is the set of assets changed since the upstream last confirmed them. It starts
//! as every asset (the twin's state after a restart, restored from its store, may be newer
//! than what the upstream holds: upserts are idempotent, so sending all again loses nothing)
//! and takes every change the feed hub journals. Each round sends up to [`BATCH`] of them in
//! their current state; what the upstream confirms leaves the outbox, what it refuses for good
//! (a 4xx for one entity) is counted and logged and leaves it too, and on a failed request
//! (no connection, 5xx, no answer) nothing leaves: the bridge waits (1 s doubling to 60 s)
//! and sends again, so an upstream that was down catches up with the latest state of every
//! asset when it is back. Changes are coalesced: the upstream gets the newest state of an
//! asset, not every intermediate one (its history is the twin's temporal API).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use serde_json::{Value as Json, json};

use super::CORE_CONTEXT;
use super::delivery::send;
use super::twin_entity::normalized;
use crate::AppState;

/// Entities per upsert request.
const BATCH: usize = 500;
/// Waits after a failed request: doubling from the first to the last.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MOST: Duration = Duration::from_secs(60);

/// Where the twin mirrors its assets: the broker's base URL and a bearer token if it needs
/// one.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// `http://host:port`, without a trailing `/`.
    pub url: String,
    pub token: Option<String>,
}

impl UpstreamConfig {
    /// Check the URL: `http://` (the twin carries no TLS stack) and parseable.
    pub fn new(url: &str, token: Option<String>) -> Result<UpstreamConfig, String> {
        let url = super::delivery::http_url("--ngsi-ld-upstream", url)?;
        Ok(UpstreamConfig { url, token })
    }
}

/// The bridge at work: where it sends and how it stands.
pub struct Upstream {
    pub url: String,
    pub token: Option<String>,
    /// Entities the upstream confirmed, refused for good, and requests that failed.
    pub sent: AtomicU64,
    pub refused: AtomicU64,
    pub failed_requests: AtomicU64,
}

impl Upstream {
    pub fn new(config: UpstreamConfig) -> Upstream {
        Upstream {
            url: config.url,
            token: config.token,
            sent: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            failed_requests: AtomicU64::new(0),
        }
    }

    /// Mirror the twin's assets for as long as the server runs.
    pub async fn run(self: Arc<Self>, state: AppState) {
        let mut outbox: BTreeSet<usize> = (0..state.hub.city.entities().len()).collect();
        let mut version = state.hub.current_version();
        let mut wait = RETRY_FIRST;
        tracing::info!(upstream = %self.url, entities = outbox.len(), "NGSI-LD bridge: mirroring the twin's assets");
        loop {
            match state.hub.changed_after(version) {
                Some((changed, to)) => {
                    version = to;
                    outbox.extend(changed.into_iter().map(|(i, _)| i));
                }
                None => {
                    // The journal moved past the cursor: everything may have changed.
                    version = state.hub.current_version();
                    outbox.extend(0..state.hub.city.entities().len());
                }
            }
            if outbox.is_empty() {
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            let batch: Vec<usize> = outbox.iter().take(BATCH).copied().collect();
            match self.upsert(&state, &batch).await {
                Ok(refused) => {
                    for i in &batch {
                        outbox.remove(i);
                    }
                    let sent = (batch.len() - refused) as u64;
                    self.sent.fetch_add(sent, Ordering::Relaxed);
                    self.refused.fetch_add(refused as u64, Ordering::Relaxed);
                    wait = RETRY_FIRST;
                }
                Err(why) => {
                    self.failed_requests.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(upstream = %self.url, error = %why, pending = outbox.len(), retry_in_s = wait.as_secs(), "NGSI-LD bridge: upsert failed");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(RETRY_MOST);
                }
            }
        }
    }

    /// Upsert entities `batch` in their current state. Ok with how many the upstream refused
    /// for good (logged), Err when the request failed and must be sent again.
    async fn upsert(&self, state: &AppState, batch: &[usize]) -> Result<usize, String> {
        let entities: Vec<Json> = batch
            .iter()
            .map(|&i| Json::Object(normalized(state, i)))
            .collect();
        let uri = format!(
            "{}/ngsi-ld/v1/entityOperations/upsert?options=update",
            self.url
        );
        let link = format!(
            "<{CORE_CONTEXT}>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\""
        );
        let body = Bytes::from(json!(entities).to_string());
        let (status, answer) = send(
            hyper::Method::POST,
            &uri,
            body,
            "application/json",
            Some(&link),
            self.token.as_deref(),
        )
        .await?;
        match status {
            200..=299 if status != 207 => Ok(0),
            207 => {
                let answer: Json = serde_json::from_slice(&answer).unwrap_or(Json::Null);
                let errors = answer["errors"].as_array().cloned().unwrap_or_default();
                let mut refused = 0;
                let mut retry = false;
                for e in &errors {
                    let code = e["error"]["status"].as_u64().unwrap_or(500);
                    if code >= 500 {
                        retry = true;
                    } else {
                        refused += 1;
                        tracing::debug!(entity = %e["entityId"], reason = %e["error"]["detail"], "NGSI-LD bridge: the upstream refused an entity");
                    }
                }
                if refused > 0 {
                    tracing::info!(upstream = %self.url, refused, "NGSI-LD bridge: entities refused by the upstream (not sent again)");
                }
                if retry {
                    Err(format!("{uri}: the upstream failed on some entities"))
                } else {
                    Ok(refused)
                }
            }
            401 | 403 | 404 | 405 => Err(format!(
                "{uri} answered {status}: check the upstream's URL and --ngsi-ld-upstream-token"
            )),
            400..=499 => {
                // The whole request refused: sending it again would be refused again.
                tracing::warn!(upstream = %self.url, status, answer = %String::from_utf8_lossy(&answer), "NGSI-LD bridge: the upstream refused a batch");
                Ok(batch.len())
            }
            _ => Err(format!("{uri} answered {status}")),
        }
    }
}
