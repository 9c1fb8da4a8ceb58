//! NGSI-LD subscriptions (clause 5.2.12, 5.8): a subscription as a request gives it, checked,
//! and the test of whether a change of an entity notifies it.
//!
//! Supported: `entities` (type with id or idPattern), `watchedAttributes`, `q`, `geoQ`,
//! `notification` (`attributes`, `format` normalized / concise / keyValues, `endpoint.uri`
//! over `http://` or `mqtt://` with `notifierInfo` MQTT-QoS 0 or 1, `endpoint.accept`),
//! `throttling`, `timeInterval`, `expiresAt`, `isActive`,
//! `subscriptionName`, `description`. Refused with the reason: `https://` endpoints (the twin
//! carries no TLS stack; put a TLS proxy in front of the receiver), `notificationTrigger`
//! other than the default, `scopeQ`, `csf`, `lang`, `temporalQ`. `jsonldContext` (the @context
//! notifications are compacted with, clause 5.2.12) is kept: the broker records there the
//! context the subscription was made with; its names are stored expanded and compacted with
//! the core context, as the broker keeps every name.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json, json};

use super::entity::{EntityError, is_uri, types_of};
use super::geo_query::GeoQuery;
use super::query::Query;

fn refuse<T>(why: impl Into<String>) -> Result<T, EntityError> {
    Err(EntityError(why.into()))
}

/// Which entities a subscription is about (clause 5.2.8 EntitySelector).
#[derive(Debug, Clone)]
pub struct EntitySelector {
    pub entity_type: String,
    pub id: Option<String>,
    pub id_pattern: Option<regex::Regex>,
}

impl EntitySelector {
    fn matches(&self, id: &str, types: &[&str]) -> bool {
        types.contains(&self.entity_type.as_str())
            && self.id.as_ref().is_none_or(|i| i == id)
            && self.id_pattern.as_ref().is_none_or(|p| p.is_match(id))
    }
}

/// The representation notifications carry their entities in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NotifyFormat {
    Normalized,
    Concise,
    KeyValues,
}

/// A checked subscription. The JSON it came from is kept beside it by the broker (with the
/// notification's status members), so that it is answered as given.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub entities: Vec<EntitySelector>,
    pub watched_attributes: Vec<String>,
    pub q: Option<Query>,
    pub geo_q: Option<GeoQuery>,
    /// Attributes a notification carries (all when empty).
    pub attributes: Vec<String>,
    pub format: NotifyFormat,
    /// Where notifications go: `http://host[:port]/path` (POSTed) or
    /// `mqtt://host[:port]/topic` (published).
    pub endpoint: String,
    /// The QoS of MQTT notifications (0 or 1; `MQTT-QoS` in `notifierInfo`, default 0).
    pub mqtt_qos: u8,
    /// The @context notifications are given in (`jsonldContext`: a URL, or as a request gave
    /// it); None for the core context.
    pub context: Option<Json>,
    /// The media type the receiver asked for (`application/json` or `application/ld+json`).
    pub accept: String,
    /// Least time between two notifications, seconds.
    pub throttling: Option<f64>,
    /// Periodic notifications every so many seconds, instead of on change.
    pub time_interval: Option<f64>,
    pub expires_at: Option<DateTime<Utc>>,
    pub is_active: bool,
}

/// Members a client may give; the others are refused.
const MEMBERS: &[&str] = &[
    "id",
    "jsonldContext",
    "type",
    "subscriptionName",
    "description",
    "entities",
    "watchedAttributes",
    "q",
    "geoQ",
    "notification",
    "throttling",
    "timeInterval",
    "expiresAt",
    "isActive",
    "@context",
];

/// Members the broker sets (clause 5.2.12); given in a request they are ignored.
const BROKER_MEMBERS: &[&str] = &["status", "createdAt", "modifiedAt"];

/// The notification members the broker keeps up to date (clause 5.2.14).
pub const NOTIFICATION_STATUS: &[&str] = &[
    "status",
    "timesSent",
    "timesFailed",
    "lastNotification",
    "lastFailure",
    "lastSuccess",
];

fn seconds(body: &Map<String, Json>, name: &str) -> Result<Option<f64>, EntityError> {
    match body.get(name) {
        None => Ok(None),
        Some(v) => match v.as_f64() {
            Some(s) if s > 0.0 && s.is_finite() => Ok(Some(s)),
            _ => refuse(format!("{name} must be a number of seconds above 0")),
        },
    }
}

impl Subscription {
    /// Check a subscription as stored or given (`id` must be present: the broker gives one to
    /// a request without).
    pub fn parse(body: &Json) -> Result<Subscription, EntityError> {
        let Some(o) = body.as_object() else {
            return refuse("a subscription is a JSON object");
        };
        if let Some(other) = o
            .keys()
            .find(|k| !MEMBERS.contains(&k.as_str()) && !BROKER_MEMBERS.contains(&k.as_str()))
        {
            return refuse(format!(
                "subscription member `{other}` is not supported by this broker"
            ));
        }
        if o.get("type").and_then(Json::as_str) != Some("Subscription") {
            return refuse("a subscription's type is \"Subscription\"");
        }
        let id = match o.get("id").and_then(Json::as_str) {
            Some(id) if is_uri(id) => id.to_string(),
            _ => return refuse("a subscription's id must be a URI"),
        };
        let entities = match o.get("entities") {
            None => Vec::new(),
            Some(Json::Array(items)) if !items.is_empty() => {
                items.iter().map(parse_selector).collect::<Result<_, _>>()?
            }
            Some(_) => return refuse("entities must be a non-empty array"),
        };
        let watched_attributes = names(o.get("watchedAttributes"), "watchedAttributes")?;
        if entities.is_empty() && watched_attributes.is_empty() {
            return refuse("a subscription needs entities or watchedAttributes (clause 5.8.1)");
        }
        let time_interval = seconds(o, "timeInterval")?;
        let throttling = seconds(o, "throttling")?;
        if time_interval.is_some() && (!watched_attributes.is_empty() || throttling.is_some()) {
            return refuse(
                "timeInterval cannot go with watchedAttributes or throttling (clause 5.2.12)",
            );
        }
        let q = match o.get("q") {
            None => None,
            Some(Json::String(text)) => {
                Some(Query::parse(text).map_err(|e| EntityError(e.to_string()))?)
            }
            Some(_) => return refuse("q must be a string"),
        };
        let geo_q = match o.get("geoQ") {
            None => None,
            Some(g) => Some(parse_geo_q(g)?),
        };
        let Some(notification) = o.get("notification").and_then(Json::as_object) else {
            return refuse("a subscription needs its notification parameters");
        };
        let attributes = names(notification.get("attributes"), "notification.attributes")?;
        let format = match notification.get("format").and_then(Json::as_str) {
            None | Some("normalized") => NotifyFormat::Normalized,
            Some("concise") => NotifyFormat::Concise,
            Some("keyValues") | Some("simplified") => NotifyFormat::KeyValues,
            Some(other) => {
                return refuse(format!(
                    "notification.format `{other}` is not normalized, concise or keyValues"
                ));
            }
        };
        let Some(endpoint) = notification.get("endpoint").and_then(Json::as_object) else {
            return refuse("notification.endpoint is required");
        };
        let uri = endpoint
            .get("uri")
            .and_then(Json::as_str)
            .unwrap_or_default();
        if uri.starts_with("https://") {
            return refuse(
                "https:// endpoints are not supported (the twin carries no TLS stack): notify a TLS-terminating proxy over http://",
            );
        }
        if uri.starts_with("mqtts://") {
            return refuse(
                "mqtts:// endpoints are not supported (the twin carries no TLS stack): use mqtt:// to a broker on a trusted network",
            );
        }
        let mqtt = uri.starts_with("mqtt://");
        if !(uri.starts_with("http://") || mqtt) || !is_uri(uri) {
            return refuse(format!(
                "notification.endpoint.uri `{uri}` is not an http:// or mqtt:// URI"
            ));
        }
        if mqtt
            && uri
                .trim_start_matches("mqtt://")
                .split_once('/')
                .is_none_or(|(_, topic)| topic.is_empty())
        {
            return refuse(format!(
                "notification.endpoint.uri `{uri}` names no MQTT topic (mqtt://host:port/topic)"
            ));
        }
        let allowed: &[&str] = if mqtt {
            &["uri", "accept", "notifierInfo"]
        } else {
            &["uri", "accept"]
        };
        if let Some(other) = endpoint.keys().find(|k| !allowed.contains(&k.as_str())) {
            return refuse(format!(
                "notification.endpoint.{other} is not supported by this broker"
            ));
        }
        let mqtt_qos = parse_notifier_info(endpoint.get("notifierInfo"))?;
        let accept = match endpoint.get("accept").and_then(Json::as_str) {
            None => "application/json".to_string(),
            Some(a @ ("application/json" | "application/ld+json")) => a.to_string(),
            Some(other) => {
                return refuse(format!(
                    "notification.endpoint.accept `{other}` is not application/json or application/ld+json"
                ));
            }
        };
        if let Some(other) = notification.keys().find(|k| {
            !matches!(k.as_str(), "attributes" | "format" | "endpoint")
                && !NOTIFICATION_STATUS.contains(&k.as_str())
        }) {
            return refuse(format!(
                "notification.{other} is not supported by this broker"
            ));
        }
        let expires_at = match o.get("expiresAt") {
            None => None,
            Some(v) => Some(
                v.as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc))
                    .ok_or_else(|| EntityError("expiresAt must be a DateTime".into()))?,
            ),
        };
        let is_active = match o.get("isActive") {
            None => true,
            Some(Json::Bool(b)) => *b,
            Some(_) => return refuse("isActive must be true or false"),
        };
        Ok(Subscription {
            id,
            entities,
            watched_attributes,
            q,
            geo_q,
            attributes,
            format,
            endpoint: uri.to_string(),
            mqtt_qos,
            accept,
            context: match o.get("jsonldContext") {
                None => None,
                Some(c @ (Json::String(_) | Json::Array(_) | Json::Object(_))) => Some(c.clone()),
                Some(_) => return refuse("jsonldContext must be a URI"),
            },
            throttling,
            time_interval,
            expires_at,
            is_active,
        })
    }

    /// Whether it sends notifications at `now`: active and not expired.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.is_active && self.expires_at.is_none_or(|t| t > now)
    }

    /// Whether an entity is one the subscription is about (its selectors; any entity when it
    /// has none, for a subscription on watched attributes alone).
    pub fn covers(&self, id: &str, types: &[&str]) -> bool {
        self.entities.is_empty() || self.entities.iter().any(|s| s.matches(id, types))
    }

    /// Whether a change of `entity` (normalized) in the attributes `changed` notifies: the
    /// entity is covered, a watched attribute changed (any, when none is watched), and `q` and
    /// `geoQ` hold on its new state. Periodic subscriptions are not notified on change.
    pub fn notified_by(&self, entity: &Map<String, Json>, changed: &[&str]) -> bool {
        let id = entity.get("id").and_then(Json::as_str).unwrap_or_default();
        self.time_interval.is_none()
            && self.covers(id, &types_of(entity))
            && (self.watched_attributes.is_empty()
                || changed
                    .iter()
                    .any(|c| self.watched_attributes.iter().any(|w| w == c)))
            && self.holds_on(entity)
    }

    /// Whether `q` and `geoQ` hold on an entity.
    pub fn holds_on(&self, entity: &Map<String, Json>) -> bool {
        self.q.as_ref().is_none_or(|q| q.matches(entity))
            && self.geo_q.as_ref().is_none_or(|g| g.matches(entity))
    }
}

fn names(value: Option<&Json>, what: &str) -> Result<Vec<String>, EntityError> {
    match value {
        None => Ok(Vec::new()),
        Some(Json::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|i| match i.as_str() {
                Some(s) if !s.is_empty() => Ok(s.to_string()),
                _ => refuse(format!("{what} lists attribute names")),
            })
            .collect(),
        Some(_) => refuse(format!("{what} must be a non-empty array of names")),
    }
}

/// The MQTT notifier settings of clause 5.2.22 (`[{"key": "MQTT-QoS", "value": "1"}, …]`):
/// QoS 0 or 1, MQTT version 3.1.1 (`mqtt3.1.1`). Returns the QoS.
fn parse_notifier_info(info: Option<&Json>) -> Result<u8, EntityError> {
    if info.is_some_and(|i| !i.is_array()) {
        return refuse("notifierInfo must be an array of {key, value}");
    }
    let mut qos = 0;
    for item in info.and_then(Json::as_array).into_iter().flatten() {
        let key = item.get("key").and_then(Json::as_str).unwrap_or_default();
        let value = item.get("value").and_then(Json::as_str).unwrap_or_default();
        match (key, value) {
            ("MQTT-QoS", "0") => qos = 0,
            ("MQTT-QoS", "1") => qos = 1,
            ("MQTT-Version", "mqtt3.1.1") => {}
            ("MQTT-QoS", other) => {
                return refuse(format!(
                    "MQTT-QoS `{other}`: this broker publishes at QoS 0 or 1"
                ));
            }
            ("MQTT-Version", other) => {
                return refuse(format!(
                    "MQTT-Version `{other}`: this broker speaks mqtt3.1.1"
                ));
            }
            (other, _) => {
                return refuse(format!(
                    "notifierInfo key `{other}` is not MQTT-QoS or MQTT-Version"
                ));
            }
        }
    }
    Ok(qos)
}

fn parse_selector(item: &Json) -> Result<EntitySelector, EntityError> {
    let Some(o) = item.as_object() else {
        return refuse("an entities item is an object with type, id or idPattern");
    };
    let Some(entity_type) = o.get("type").and_then(Json::as_str) else {
        return refuse("an entities item needs its type");
    };
    let id = match o.get("id") {
        None => None,
        Some(Json::String(id)) if is_uri(id) => Some(id.clone()),
        Some(other) => return refuse(format!("entities id {other} is not a URI")),
    };
    let id_pattern = match o.get("idPattern").and_then(Json::as_str) {
        None => None,
        Some(p) => Some(
            regex::Regex::new(p)
                .map_err(|e| EntityError(format!("entities idPattern `{p}`: {e}")))?,
        ),
    };
    Ok(EntitySelector {
        entity_type: entity_type.to_string(),
        id,
        id_pattern,
    })
}

fn parse_geo_q(g: &Json) -> Result<GeoQuery, EntityError> {
    let text = |k: &str| g.get(k).and_then(Json::as_str);
    let coordinates = match g.get("coordinates") {
        Some(Json::String(s)) => s.clone(),
        Some(c @ Json::Array(_)) => c.to_string(),
        _ => return refuse("geoQ needs coordinates"),
    };
    let (Some(georel), Some(geometry)) = (text("georel"), text("geometry")) else {
        return refuse("geoQ needs georel and geometry");
    };
    GeoQuery::parse(georel, geometry, &coordinates, text("geoproperty"))
        .map_err(|e| EntityError(e.to_string()))
}

/// The notification body (clause 5.3.1): the entities, the subscription's id and the time.
pub fn notification(id: &str, subscription: &str, at: &str, data: Vec<Json>) -> Json {
    json!({
        "id": id,
        "type": "Notification",
        "subscriptionId": subscription,
        "notifiedAt": at,
        "data": data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(extra: Json) -> Result<Subscription, EntityError> {
        let mut body = json!({
            "id": "urn:ngsi-ld:Subscription:1", "type": "Subscription",
            "entities": [{"type": "WasteContainer"}],
            "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}},
        });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        Subscription::parse(&body)
    }

    fn bin(level: f64) -> Map<String, Json> {
        json!({"id": "urn:ngsi-ld:WasteContainer:17", "type": "WasteContainer",
            "fillingLevel": {"type": "Property", "value": level}})
        .as_object()
        .cloned()
        .expect("object")
    }

    #[test]
    fn a_change_notifies_when_type_watched_attributes_and_q_hold() {
        let s = sub(json!({"watchedAttributes": ["fillingLevel"], "q": "fillingLevel>0.8"}))
            .expect("ok");
        assert!(s.notified_by(&bin(0.9), &["fillingLevel"]));
        assert!(!s.notified_by(&bin(0.5), &["fillingLevel"]), "q");
        assert!(!s.notified_by(&bin(0.9), &["temperature"]), "not watched");
        let mut other = bin(0.9);
        other.insert("type".into(), json!("Building"));
        assert!(!s.notified_by(&other, &["fillingLevel"]), "another type");
        let by_id = sub(json!({"entities": [{"type": "WasteContainer", "idPattern": ":1[0-9]$"}]}))
            .expect("ok");
        assert!(by_id.notified_by(&bin(0.1), &["x"]));
        let periodic = sub(json!({"timeInterval": 60})).expect("ok");
        assert!(!periodic.notified_by(&bin(0.9), &["fillingLevel"]));
    }

    #[test]
    fn what_the_broker_cannot_honour_is_refused() {
        for (extra, needle) in [
            (
                json!({"notification": {"endpoint": {"uri": "https://x.org/n"}}}),
                "TLS",
            ),
            (
                json!({"notification": {"endpoint": {"uri": "mailto:a@b"}}}),
                "http://",
            ),
            (
                json!({"notification": {"endpoint": {"uri": "mqtt://broker:1883"}}}),
                "topic",
            ),
            (
                json!({"notification": {"endpoint": {"uri": "mqtt://b/t", "notifierInfo": [{"key": "MQTT-QoS", "value": "2"}]}}}),
                "QoS",
            ),
            (
                json!({"notification": {"endpoint": {"uri": "mqtts://b/t"}}}),
                "TLS",
            ),
            (
                json!({"notification": {"endpoint": {"uri": "http://x/n", "receiverInfo": []}}}),
                "receiverInfo",
            ),
            (
                json!({"notificationTrigger": ["entityDeleted"]}),
                "notificationTrigger",
            ),
            (
                json!({"timeInterval": 10, "watchedAttributes": ["a"]}),
                "timeInterval",
            ),
            (json!({"throttling": -1}), "throttling"),
            (json!({"q": "a>"}), "q"),
            (json!({"entities": [{"id": "urn:x:1"}]}), "type"),
            (json!({"type": "Subscriptions"}), "type"),
            (json!({"expiresAt": "soon"}), "expiresAt"),
            (
                json!({"geoQ": {"georel": "near;maxDistance==5", "geometry": "Point"}}),
                "coordinates",
            ),
        ] {
            let e = sub(extra.clone()).expect_err(&extra.to_string());
            assert!(e.0.contains(needle), "{extra}: {e}");
        }
        let e = Subscription::parse(&json!({"id": "urn:s:1", "type": "Subscription",
            "notification": {"endpoint": {"uri": "http://x/n"}}}))
        .expect_err("no entities");
        assert!(e.0.contains("entities or watchedAttributes"), "{e}");
    }

    #[test]
    fn expiry_and_pause_stop_notifications() {
        let now = Utc::now();
        assert!(sub(json!({})).expect("ok").is_live(now));
        assert!(!sub(json!({"isActive": false})).expect("ok").is_live(now));
        assert!(
            !sub(json!({"expiresAt": "2020-01-01T00:00:00Z"}))
                .expect("ok")
                .is_live(now)
        );
    }
}
