//! Readings from an upstream NGSI-LD broker: `twin serve --ngsi-ld-subscribe URL` subscribes
//! to the changes of the twin's asset types in that broker (where the city's sensors publish)
//! and takes the measured attributes of the notifications as readings, through the one
//! validation path ([`twin_write::write_attributes`](super::twin_write::write_attributes)).
//!
//! - **The subscription** has a fixed id per data folder (`urn:ngsi-ld:Subscription:citytwin-…`,
//!   from the receiver's secret), so a restarted twin finds and updates its own subscription
//!   rather than adding one. It is created (or, when the broker has it already, updated with
//!   `PATCH`) at start, checked every minute and made again when the broker lost it; a broker
//!   that cannot be reached is tried again after 1 s, doubling to 60 s.
//! - **The receiver** is `POST /ngsi-ld/notify/{secret}` on the twin's port: the secret in the
//!   path (kept in the data folder, `ngsi-ld-notify-secret`) stands for a token, as brokers
//!   send notifications without one. Of each notified entity that is one of the twin's assets,
//!   the attributes that are measured quantities become readings; static and estimated
//!   attributes, values marked as estimates (`estimated`, as the twin marks its own), and
//!   entities that are not the twin's, are skipped (counted); an attribute
//!   whose value and `observedAt` the twin holds already (the twin's own upsert coming back
//!   when the same broker is `--ngsi-ld-upstream` too) is skipped as well, so nothing loops.
//!   Readings the validation path refuses are counted and logged like any source's. When the
//!   store cannot take them the answer is 500 and the broker sends again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use hyper::{Method, StatusCode};
use serde_json::{Map, Value as Json, json};
use twin_core::ngsi_ld::entity::parse_entity;
use twin_core::ngsi_ld::model::{entity_of_urn, entity_type, is_estimate};

use super::CORE_CONTEXT;
use super::delivery::{http_url, send};
use super::problem::Problem;
use super::twin_entity::normalized;
use super::twin_write::{quantity_name, write_attributes};
use crate::AppState;

/// The largest notification taken, bytes: a broker notifies every changed entity at once, and
/// the city has thousands of assets (about 1 kB each in normalized form).
pub(super) const NOTIFICATION_MAX_BYTES: usize = 64 * 1024 * 1024;
/// How often the subscription is checked in the broker.
const CHECK_EVERY: Duration = Duration::from_secs(60);
/// Waits after a failed request: doubling from the first to the last.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MOST: Duration = Duration::from_secs(60);

/// Where the twin takes readings from: the broker, a bearer token for it, the twin's own
/// base URL as the broker reaches it, and the receiver's secret.
#[derive(Debug, Clone)]
pub struct SubscribeConfig {
    /// The broker's base URL (`http://host:port`, no trailing `/`).
    pub broker: String,
    pub token: Option<String>,
    /// The twin's base URL as the broker reaches it (`http://host:port`).
    pub twin_url: String,
    /// The path secret of the receiver (letters and digits).
    pub secret: String,
}

impl SubscribeConfig {
    /// Check both URLs (`http://`, parseable) and the secret (16 or more letters or digits).
    pub fn new(
        broker: &str,
        token: Option<String>,
        twin_url: &str,
        secret: String,
    ) -> Result<SubscribeConfig, String> {
        if secret.len() < 16 || !secret.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(
                "the notification receiver's secret must be 16 or more letters or digits".into(),
            );
        }
        Ok(SubscribeConfig {
            broker: http_url("--ngsi-ld-subscribe", broker)?,
            token,
            twin_url: http_url("--ngsi-ld-notify-url", twin_url)?,
            secret,
        })
    }

    /// The subscription's id in the broker: fixed for this data folder (from the secret,
    /// which it does not reveal).
    pub fn subscription_id(&self) -> String {
        let hash = twin_core::stable_hash::fnv1a64(self.secret.as_bytes());
        format!("urn:ngsi-ld:Subscription:citytwin-{hash:016x}")
    }

    /// Where the broker sends notifications.
    pub fn endpoint(&self) -> String {
        format!("{}/ngsi-ld/notify/{}", self.twin_url, self.secret)
    }
}

/// The subscriber at work: its settings and what it has taken.
pub struct Subscriber {
    pub config: SubscribeConfig,
    /// Notifications received; attributes taken as readings, refused by the validation path,
    /// and skipped (not measured quantities, not the twin's assets, or held already).
    pub notifications: AtomicU64,
    pub taken: AtomicU64,
    pub refused: AtomicU64,
    pub skipped: AtomicU64,
}

impl Subscriber {
    pub fn new(config: SubscribeConfig) -> Subscriber {
        Subscriber {
            config,
            notifications: AtomicU64::new(0),
            taken: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        }
    }

    /// Keep the subscription in the broker for as long as the server runs.
    pub async fn run(self: Arc<Self>, state: AppState) {
        let mut wait = RETRY_FIRST;
        let mut held = false;
        loop {
            let result = if held {
                self.check().await
            } else {
                self.subscribe(&state).await.map(|()| true)
            };
            match result {
                Ok(true) => {
                    if !held {
                        tracing::info!(broker = %self.config.broker, subscription = %self.config.subscription_id(), "NGSI-LD: subscribed to the broker's sensor readings");
                    }
                    held = true;
                    wait = RETRY_FIRST;
                    tokio::time::sleep(CHECK_EVERY).await;
                }
                Ok(false) => {
                    tracing::warn!(broker = %self.config.broker, "NGSI-LD: the broker lost the twin's subscription; subscribing again");
                    held = false;
                }
                Err(why) => {
                    tracing::warn!(broker = %self.config.broker, error = %why, retry_in_s = wait.as_secs(), "NGSI-LD: cannot subscribe to the broker");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(RETRY_MOST);
                }
            }
        }
    }

    /// The subscription: every asset type of the city, notified in normalized form.
    fn body(&self, state: &AppState) -> Json {
        let mut types: Vec<&str> = state
            .hub
            .city
            .entities()
            .iter()
            .map(|e| entity_type(e.kind()))
            .collect();
        types.sort_unstable();
        types.dedup();
        json!({
            "id": self.config.subscription_id(),
            "type": "Subscription",
            "description": format!("citytwin {}: sensor readings of the city's assets", state.hub.city.meta.name),
            "entities": types.iter().map(|t| json!({"type": t})).collect::<Vec<_>>(),
            "notification": {
                "format": "normalized",
                "endpoint": {"uri": self.config.endpoint(), "accept": "application/json"},
            },
        })
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Json>,
    ) -> Result<(u16, Bytes), String> {
        let link = format!(
            "<{CORE_CONTEXT}>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\""
        );
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        send(
            method,
            &format!("{}{path}", self.config.broker),
            body,
            "application/json",
            Some(&link),
            self.config.token.as_deref(),
        )
        .await
    }

    /// Create the subscription, or update it when the broker has it already.
    async fn subscribe(&self, state: &AppState) -> Result<(), String> {
        let body = self.body(state);
        let (status, answer) = self
            .request(Method::POST, "/ngsi-ld/v1/subscriptions", Some(&body))
            .await?;
        match status {
            200..=299 => Ok(()),
            409 => {
                let mut fragment = body;
                if let Some(members) = fragment.as_object_mut() {
                    members.remove("id");
                    members.remove("type");
                }
                let path = format!(
                    "/ngsi-ld/v1/subscriptions/{}",
                    self.config.subscription_id()
                );
                match self.request(Method::PATCH, &path, Some(&fragment)).await? {
                    (200..=299, _) => Ok(()),
                    (status, answer) => Err(format!(
                        "updating {path} answered {status}: {}",
                        String::from_utf8_lossy(&answer)
                    )),
                }
            }
            _ => Err(format!(
                "creating the subscription answered {status}: {}",
                String::from_utf8_lossy(&answer)
            )),
        }
    }

    /// Whether the broker still holds the subscription as this twin made it, notifying this
    /// twin's receiver (Err when it cannot tell). One that notifies elsewhere (a copy of this
    /// data folder on another machine took it over) is made this twin's again.
    async fn check(&self) -> Result<bool, String> {
        let path = format!(
            "/ngsi-ld/v1/subscriptions/{}",
            self.config.subscription_id()
        );
        match self.request(Method::GET, &path, None).await? {
            (200..=299, answer) => {
                let held: Json = serde_json::from_slice(&answer).unwrap_or(Json::Null);
                let endpoint = held
                    .pointer("/notification/endpoint/uri")
                    .and_then(Json::as_str);
                if endpoint == Some(self.config.endpoint().as_str()) {
                    Ok(true)
                } else {
                    tracing::warn!(broker = %self.config.broker, "NGSI-LD: the twin's subscription notifies another receiver; taking it back");
                    Ok(false)
                }
            }
            (404, _) => Ok(false),
            (status, _) => Err(format!("{path} answered {status}")),
        }
    }
}

/// `POST /ngsi-ld/notify/{secret}`: a notification from the subscribed broker.
pub(super) async fn receive_notification(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    request: axum::extract::Request,
) -> Response {
    let Some(subscriber) = state.ngsi_ld.subscriber.clone() else {
        return Problem::not_found("no notification receiver here").into_response();
    };
    if !constant_time_eq(secret.as_bytes(), subscriber.config.secret.as_bytes()) {
        return Problem::not_found("no notification receiver here").into_response();
    }
    // The body is read only for the right secret, within the twin's body deadline.
    let body = match crate::api::read_body(
        request,
        NOTIFICATION_MAX_BYTES,
        state.limits.connections.body_timeout,
        "body_too_large",
        format!("a notification of more than {NOTIFICATION_MAX_BYTES} bytes"),
    )
    .await
    {
        Ok(body) => body,
        Err(e) => return Problem::new(e.status, "InvalidRequest", e.message).into_response(),
    };
    subscriber.notifications.fetch_add(1, Ordering::Relaxed);
    let notification: Json = match serde_json::from_slice(&body) {
        Ok(n) => n,
        Err(e) => {
            return Problem::bad_request(format!("the notification is not JSON: {e}"))
                .into_response();
        }
    };
    let Some(data) = notification.get("data").and_then(Json::as_array) else {
        return Problem::bad_request("a notification carries its entities in `data`")
            .into_response();
    };
    let (writes, skipped) = readings_of(&state, data);
    subscriber.skipped.fetch_add(skipped, Ordering::Relaxed);
    if writes.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    match write_attributes(&state, writes, false).await {
        Ok(results) => {
            let taken: usize = results.iter().map(|r| r.updated.len()).sum();
            let refused: Vec<_> = results.iter().flat_map(|r| &r.not_updated).collect();
            subscriber.taken.fetch_add(taken as u64, Ordering::Relaxed);
            subscriber
                .refused
                .fetch_add(refused.len() as u64, Ordering::Relaxed);
            for (name, why) in refused {
                tracing::info!(attribute = %name, reason = %why, "NGSI-LD: a notified reading was refused");
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Err(problem) => problem.into_response(),
    }
}

/// The attributes of notified `entities` that become readings, per twin asset, and how many
/// were skipped.
fn readings_of(state: &AppState, entities: &[Json]) -> (Vec<(usize, Map<String, Json>)>, u64) {
    let mut writes = Vec::new();
    let mut skipped = 0;
    for entity in entities {
        let parsed = parse_entity(entity).ok();
        let Some((i, body)) = parsed.and_then(|body| {
            let i = entity_of_urn(&state.hub.city, body.id.as_deref()?)?;
            Some((i, body))
        }) else {
            skipped += entity.as_object().map_or(1, |m| m.len() as u64);
            continue;
        };
        let kind = state.hub.city.entities()[i].kind();
        let held = normalized(state, i);
        let mut attributes = Map::new();
        for (name, attribute) in body.attributes {
            let echo = held.get(&name).is_some_and(|have| {
                have.get("value") == attribute.get("value")
                    && have.get("observedAt") == attribute.get("observedAt")
            });
            if quantity_name(kind, &name).is_none() || echo || is_estimate(&attribute) {
                skipped += 1;
            } else {
                attributes.insert(name, attribute);
            }
        }
        if !attributes.is_empty() {
            writes.push((i, attributes));
        }
    }
    (writes, skipped)
}

/// Compare secrets without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_and_the_subscription_id_is_fixed_by_the_secret() {
        let secret = "a1b2c3d4e5f6a7b8c9d0".to_string();
        let config = SubscribeConfig::new(
            "http://broker:1026/",
            None,
            "http://twin:8080",
            secret.clone(),
        )
        .expect("valid");
        assert_eq!(config.broker, "http://broker:1026");
        assert_eq!(
            config.endpoint(),
            format!("http://twin:8080/ngsi-ld/notify/{secret}")
        );
        let again = SubscribeConfig::new("http://other:1026", None, "http://twin:8080", secret)
            .expect("valid");
        assert_eq!(config.subscription_id(), again.subscription_id());
        assert!(!config.subscription_id().contains("a1b2c3"));
        assert!(SubscribeConfig::new("https://b", None, "http://t", "x".repeat(16)).is_err());
        assert!(SubscribeConfig::new("http://b", None, "http://t", "short".into()).is_err());
        assert!(SubscribeConfig::new("http://b", None, "http://t", "x/".repeat(9)).is_err());
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
