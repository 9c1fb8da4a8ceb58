//! The subscriptions' engine: it follows every change of the twin's published state (the feed
//! hub's journal, the same changes the WebSocket clients get) and of the broker's own entities,
//! and notifies each live subscription a change concerns, in one notification per
//! subscription per round (every [`ROUND`]); periodic subscriptions (`timeInterval`) get every
//! matching entity when due. Deliveries are retried with back-off ([`super::delivery`]); each
//! subscription's notification status (`timesSent`, `lastNotification`, `lastSuccess`,
//! `lastFailure`, …) is kept in the store with the subscription, at most a second late.
//!
//! Throttling drops the notifications that fall inside a subscription's throttling period
//! (clause 5.2.12 says none shall be sent more often); they are not delayed.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use chrono::Utc;
use serde_json::{Map, Value as Json, json};
use tokio::sync::mpsc;
use twin_actors::store::Documents;
use twin_core::ngsi_ld::model::{attribute_name, entity_type, urn};
use twin_core::ngsi_ld::subscription::{self, NotifyFormat, Subscription};

use super::CORE_CONTEXT;
use super::context::Ld;
use super::delivery::{BACK_OFF, post_once, publish_once};
use super::http::{Format, Media, render};
use super::problem::Problem;
use super::twin_entity::normalized;
use crate::AppState;

/// How often changes are gathered into notifications.
const ROUND: Duration = Duration::from_millis(250);
/// How often changed notification statuses are written to the store.
const PERSIST_EVERY: Duration = Duration::from_secs(1);

/// One subscription as the engine keeps it.
pub(super) struct Entry {
    subscription: Subscription,
    /// The subscription as the client gave it, with the notification's status members.
    raw: Json,
    last_sent: Option<Instant>,
    next_due: Option<Instant>,
    /// The status changed since it was last written to the store.
    dirty: bool,
    /// When it was made or last changed: a change before that does not notify it.
    since: Instant,
}

/// A change of one of the broker's own entities: its new state, the attributes changed, and
/// when.
type BrokerChange = (Map<String, Json>, Vec<String>, Instant);

/// The subscriptions and the channel of the broker's entity changes.
pub struct Notifier {
    entries: Mutex<BTreeMap<String, Entry>>,
    changes: mpsc::UnboundedSender<BrokerChange>,
    receiver: Mutex<Option<mpsc::UnboundedReceiver<BrokerChange>>>,
}

impl Notifier {
    /// The engine with the subscriptions kept in `documents`; one that no longer parses is
    /// skipped with a warning (it stays in the store).
    pub fn load(documents: Option<&Documents>) -> Arc<Notifier> {
        let mut entries = BTreeMap::new();
        let stored = documents.map(|d| d.all()).transpose().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the NGSI-LD subscriptions");
            None
        });
        for (id, raw) in stored.unwrap_or_default() {
            match Subscription::parse(&raw) {
                Ok(subscription) => {
                    entries.insert(id, Entry::new(subscription, raw));
                }
                Err(e) => tracing::warn!(subscription = %id, error = %e, "subscription skipped"),
            }
        }
        let (changes, receiver) = mpsc::unbounded_channel();
        Arc::new(Notifier {
            entries: Mutex::new(entries),
            changes,
            receiver: Mutex::new(Some(receiver)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `change` on the subscriptions while no other change or status write runs (a
    /// handler's write to the store and the engine's status writes cannot cross).
    pub(super) fn with_entries<T>(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, Entry>) -> T,
    ) -> T {
        change(&mut self.lock())
    }

    /// A subscription's JSON with its `status` (clause 5.2.12: active, paused or expired).
    pub(super) fn view(&self, id: &str) -> Option<Json> {
        self.lock().get(id).map(Entry::view)
    }

    /// Every subscription's JSON, by id.
    pub(super) fn views(&self) -> Vec<Json> {
        self.lock().values().map(Entry::view).collect()
    }

    /// Tell the engine a broker entity changed.
    pub(super) fn broker_changed(&self, entity: Map<String, Json>, changed: Vec<String>) {
        let _ = self.changes.send((entity, changed, Instant::now()));
    }

    /// Follow the changes and notify, for as long as the server runs.
    pub async fn run(self: Arc<Self>, state: AppState) {
        let Some(mut receiver) = self
            .receiver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        let mut version = state.hub.current_version();
        let mut ticker = tokio::time::interval(ROUND);
        let mut persisted = Instant::now();
        loop {
            ticker.tick().await;
            let mut broker = Vec::new();
            while let Ok(change) = receiver.try_recv() {
                broker.push(change);
            }
            // With no subscription, the changes are skipped, not gathered: the journal walk
            // and its allocations cost nothing then.
            if self.lock().is_empty() {
                version = state.hub.current_version();
                continue;
            }
            let twin = match state.hub.changed_after(version) {
                Some((changed, to)) => {
                    version = to;
                    changed
                }
                None => {
                    tracing::warn!(
                        "NGSI-LD notifications fell behind the feed: some changes were not notified"
                    );
                    version = state.hub.current_version();
                    Vec::new()
                }
            };
            let batches = self.gather(&state, twin, broker);
            for (id, data) in batches {
                self.clone().dispatch(&state, id, data);
            }
            if persisted.elapsed() >= PERSIST_EVERY {
                persisted = Instant::now();
                self.persist(&state);
            }
        }
    }

    /// The notifications of one round: per subscription, the entities to send.
    fn gather(
        &self,
        state: &AppState,
        twin: Vec<(usize, Vec<Arc<str>>)>,
        broker: Vec<BrokerChange>,
    ) -> Vec<(String, Vec<Json>)> {
        let now = Utc::now();
        let instant = Instant::now();
        let (live, since): (Vec<(String, Subscription)>, HashMap<String, Instant>) = {
            let entries = self.lock();
            let live = entries
                .iter()
                .filter(|(_, e)| e.subscription.is_live(now))
                .map(|(id, e)| (id.clone(), e.subscription.clone()))
                .collect();
            let since = entries
                .iter()
                .map(|(id, e)| (id.clone(), e.since))
                .collect();
            (live, since)
        };
        if live.is_empty() {
            return Vec::new();
        }
        let mut batches: HashMap<String, Vec<Json>> = HashMap::new();
        // `at`: when a broker entity changed (a subscription made after it is not notified).
        let mut consider = |entity: &Map<String, Json>, changed: &[&str], at: Option<Instant>| {
            for (id, s) in &live {
                let made_after = at.is_some_and(|at| since.get(id).is_some_and(|s| *s > at));
                if !made_after && s.notified_by(entity, changed) {
                    batches
                        .entry(id.clone())
                        .or_default()
                        .push(render_for(s, entity.clone()));
                }
            }
        };
        let city = &state.hub.city;
        for (i, fields) in twin {
            let e = &city.entities()[i];
            let (id, types) = (urn(e.kind(), &e.id), [entity_type(e.kind())]);
            if !live.iter().any(|(_, s)| s.covers(&id, &types)) {
                continue;
            }
            let names: Vec<String> = fields.iter().map(|f| attribute_name(f)).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            consider(&normalized(state, i), &names, None);
        }
        for (entity, changed, at) in &broker {
            let names: Vec<&str> = changed.iter().map(String::as_str).collect();
            consider(entity, &names, Some(*at));
        }
        // Periodic subscriptions that are due: every entity they cover on which q and geoQ
        // hold.
        let mut due = Vec::new();
        {
            let mut entries = self.lock();
            for (id, s) in &live {
                let Some(every) = s.time_interval else {
                    continue;
                };
                if let Some(entry) = entries.get_mut(id)
                    && entry.next_due.is_none_or(|t| t <= instant)
                {
                    entry.next_due = Some(instant + Duration::from_secs_f64(every));
                    due.push((id.clone(), s.clone()));
                }
            }
        }
        for (id, s) in due {
            let mut data = Vec::new();
            for (i, e) in city.entities().iter().enumerate() {
                if s.covers(&urn(e.kind(), &e.id), &[entity_type(e.kind())]) {
                    let entity = normalized(state, i);
                    if s.holds_on(&entity) {
                        data.push(render_for(&s, entity));
                    }
                }
            }
            for entity in super::broker::all(state).unwrap_or_default() {
                let eid = entity.get("id").and_then(Json::as_str).unwrap_or_default();
                if s.covers(eid, &twin_core::ngsi_ld::entity::types_of(&entity))
                    && s.holds_on(&entity)
                {
                    data.push(render_for(&s, entity));
                }
            }
            if !data.is_empty() {
                batches.entry(id).or_default().extend(data);
            }
        }
        // Throttling drops what falls inside the period.
        let mut entries = self.lock();
        batches
            .into_iter()
            .filter(|(id, _)| {
                let Some(entry) = entries.get_mut(id) else {
                    return false;
                };
                let throttled = entry.subscription.throttling.is_some_and(|t| {
                    entry
                        .last_sent
                        .is_some_and(|at| instant.duration_since(at).as_secs_f64() < t)
                });
                if !throttled {
                    entry.last_sent = Some(instant);
                }
                !throttled
            })
            .collect()
    }

    /// Send one notification in the background, retrying with back-off, and record how it
    /// went.
    fn dispatch(self: Arc<Self>, state: &AppState, id: String, data: Vec<Json>) {
        let Some((endpoint, accept, qos, context)) = self.lock().get(&id).map(|e| {
            (
                e.subscription.endpoint.clone(),
                e.subscription.accept.clone(),
                e.subscription.mqtt_qos,
                e.subscription.context.clone(),
            )
        }) else {
            return;
        };
        let at = twin_core::live::rfc3339(Utc::now().timestamp_millis());
        self.record(&id, |n| {
            n["timesSent"] = json!(n["timesSent"].as_u64().unwrap_or(0) + 1);
            n["lastNotification"] = json!(at);
        });
        let mqtt = endpoint.starts_with("mqtt://");
        let state = state.clone();
        tokio::spawn(async move {
            // The notification, in the subscription's @context (clause 5.2.12 `jsonldContext`):
            // made at the first attempt that can have the context.
            let mut prepared: Option<(Json, Option<String>, Bytes)> = None;
            let mut data = Some(data);
            // Every attempt's outcome is recorded: a receiver that is down shows as failed
            // at once, and as ok again when a retry gets through.
            for (attempt, wait) in std::iter::once(None).chain(BACK_OFF.map(Some)).enumerate() {
                if let Some(wait) = wait {
                    tokio::time::sleep(wait).await;
                }
                if prepared.is_none()
                    && let Some(entities) = data.take()
                {
                    match in_context(&state, context.clone(), entities.clone()).await {
                        Ok((translated, context)) => {
                            prepared =
                                Some(notification_body(&id, &at, translated, context, &accept));
                        }
                        Err(problem) => {
                            data = Some(entities);
                            tracing::warn!(subscription = %id, error = %problem.details(), attempt, "NGSI-LD notification: its @context cannot be had yet");
                        }
                    }
                }
                let outcome = match &prepared {
                    None => Err("the subscription's @context cannot be had".to_string()),
                    Some((body, link, _)) if mqtt => {
                        publish_once(&endpoint, qos, body, &accept, link.as_deref()).await
                    }
                    Some((_, link, bytes)) => {
                        post_once(&endpoint, bytes.clone(), &accept, link.as_deref()).await
                    }
                };
                let when = twin_core::live::rfc3339(Utc::now().timestamp_millis());
                match outcome {
                    Ok(()) => {
                        self.record(&id, |n| {
                            n["status"] = json!("ok");
                            n["lastSuccess"] = json!(when);
                        });
                        return;
                    }
                    Err(why) => {
                        let last = attempt == BACK_OFF.len();
                        tracing::warn!(subscription = %id, error = %why, attempt, gave_up = last, "NGSI-LD notification failed");
                        self.record(&id, |n| {
                            n["status"] = json!("failed");
                            n["lastFailure"] = json!(when);
                            if last {
                                n["timesFailed"] =
                                    json!(n["timesFailed"].as_u64().unwrap_or(0) + 1);
                            }
                        });
                    }
                }
            }
        });
    }

    /// Change a subscription's notification status members.
    fn record(&self, id: &str, change: impl FnOnce(&mut Json)) {
        if let Some(entry) = self.lock().get_mut(id)
            && let Some(notification) = entry.raw.get_mut("notification")
        {
            change(notification);
            entry.dirty = true;
        }
    }

    /// Write the statuses that changed to the store.
    fn persist(&self, state: &AppState) {
        let Some(documents) = state
            .hub
            .twin
            .store_handles()
            .map(|h| h.ngsi_ld_subscriptions)
        else {
            return;
        };
        let mut entries = self.lock();
        let write = documents.write();
        for (id, entry) in entries.iter_mut().filter(|(_, e)| e.dirty) {
            match write.put(id, &entry.raw) {
                Ok(()) => entry.dirty = false,
                Err(e) => {
                    tracing::warn!(subscription = %id, error = %e, "cannot keep a notification status")
                }
            }
        }
    }
}

impl Entry {
    pub(super) fn new(subscription: Subscription, raw: Json) -> Entry {
        Entry {
            subscription,
            raw,
            last_sent: None,
            next_due: None,
            dirty: false,
            since: Instant::now(),
        }
    }

    /// The subscription as given, its status members and its `status`.
    fn view(&self) -> Json {
        let mut out = self.raw.clone();
        let s = &self.subscription;
        out["status"] = json!(if !s.is_active {
            "paused"
        } else if !s.is_live(Utc::now()) {
            "expired"
        } else {
            "active"
        });
        out
    }

    /// The JSON kept in the store for this entry.
    pub(super) fn raw(&self) -> &Json {
        &self.raw
    }
}

/// An entity rendered for a subscription's notifications.
fn render_for(s: &Subscription, entity: Map<String, Json>) -> Json {
    let format = match s.format {
        NotifyFormat::Normalized => Format::Normalized,
        NotifyFormat::Concise => Format::Concise,
        NotifyFormat::KeyValues => Format::KeyValues,
    };
    let pick = (!s.attributes.is_empty()).then_some(s.attributes.as_slice());
    render(entity, format, pick)
}

/// A fresh URN for a notification or a subscription: the time and 64 random bits.
pub(super) fn fresh_urn(kind: &str) -> String {
    format!(
        "urn:ngsi-ld:{kind}:{:x}{:016x}",
        Utc::now().timestamp_millis(),
        rand::random::<u64>()
    )
}

fn notification_id() -> String {
    fresh_urn("Notification")
}

/// A notification's body, its `Link` header (for JSON) and its bytes.
fn notification_body(
    id: &str,
    at: &str,
    data: Vec<Json>,
    context: Json,
    accept: &str,
) -> (Json, Option<String>, Bytes) {
    let mut body = subscription::notification(&notification_id(), id, at, data);
    let link = if accept == "application/ld+json" {
        body["@context"] = context;
        None
    } else {
        let url = super::context::link_url(&context).unwrap_or_else(|| CORE_CONTEXT.to_string());
        Some(format!(
            "<{url}>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\""
        ))
    };
    let bytes = Bytes::from(body.to_string());
    (body, link, bytes)
}

/// Notified entities in a subscription's @context, and that context (the core one when it
/// has none).
async fn in_context(
    state: &AppState,
    context: Option<Json>,
    data: Vec<Json>,
) -> Result<(Vec<Json>, Json), Problem> {
    let Some(context) = context else {
        return Ok((data, json!(CORE_CONTEXT)));
    };
    let ld = Ld {
        media: Media::Json,
        terms: state.ngsi_ld.contexts.terms(&context)?,
    };
    let data = match ld.external_entities(state, Json::Array(data)).await? {
        Json::Array(items) => items,
        other => vec![other],
    };
    Ok((data, context))
}
