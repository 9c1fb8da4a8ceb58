//! The WebSocket protocol at `/ws` (docs/protocol.md): what clients may send, how it is parsed
//! and checked, and how the server's messages are written.
//!
//! Every stream message of a subscription (`snapshot`, `delta`, `kpi`, `alert`) carries the
//! subscription id and a sequence number that grows by one per message, so a client can prove
//! it missed nothing. Snapshot and delta bodies are shared between clients (see
//! [`crate::feed`]); only the small envelope is written per client.

use serde::Deserialize;
use serde_json::{Value as Json, json};
use twin_core::EntityKind;
use twin_core::geometry::BBox;

use crate::feed::{AlertView, Filter, Kpis};

/// Limits of the WebSocket feed, all configurable.
#[derive(Debug, Clone, Copy)]
pub struct WsLimits {
    /// Largest frame and message a client may send, in bytes.
    pub max_frame_bytes: usize,
    pub max_message_bytes: usize,
    pub max_subscriptions: usize,
    pub max_clients: usize,
    /// Highest and lowest update rates a subscription may ask for, and the rate when it asks
    /// none. The lowest (one update every 100 s) keeps the interval a duration the feed can
    /// wait (a rate of 1e-300 Hz is an interval no clock holds).
    pub max_rate_hz: f64,
    pub min_rate_hz: f64,
    pub default_rate_hz: f64,
    /// A client that has not subscribed this long after connecting is closed: a socket that
    /// upgrades and then says nothing must not hold a `max_clients` slot.
    pub first_subscribe_within: std::time::Duration,
    /// The server pings every `ping_every`; a client from which nothing (not even a pong) has
    /// come for `dead_after` is closed (a dead peer or a half-open connection).
    pub ping_every: std::time::Duration,
    pub dead_after: std::time::Duration,
    /// Messages a client may send per second on average, in bursts of
    /// [`WsLimits::message_burst`]: a client over it is told `too_fast` and closed (a flood of
    /// subscriptions would otherwise hold the server's threads).
    pub max_messages_per_s: f64,
    pub message_burst: f64,
}

impl Default for WsLimits {
    fn default() -> Self {
        WsLimits {
            max_frame_bytes: 64 * 1024,
            max_message_bytes: 64 * 1024,
            max_subscriptions: 8,
            max_clients: 2000,
            max_rate_hz: 20.0,
            min_rate_hz: 0.01,
            default_rate_hz: 5.0,
            first_subscribe_within: std::time::Duration::from_secs(30),
            ping_every: std::time::Duration::from_secs(20),
            dead_after: std::time::Duration::from_secs(60),
            max_messages_per_s: 10.0,
            message_burst: 20.0,
        }
    }
}

/// The layers a client can subscribe to.
pub const LAYERS: [&str; 8] = [
    "street", "power", "water", "bin", "charger", "kpi", "alert", "scenario",
];

/// A subscription, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub id: String,
    pub filter: Filter,
    pub kpi: bool,
    pub alert: bool,
    /// Scenario runs forked from the twin: their progress and end.
    pub scenario: bool,
    pub rate_hz: f64,
}

impl Subscription {
    pub fn wants_entities(&self) -> bool {
        self.filter.layers != 0
    }
}

/// A message from a client, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    Subscribe(Subscription),
    Unsubscribe { id: String },
    Ping { id: Option<Json> },
}

/// A client message that cannot be accepted: a reason code and a message naming the problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct ProtocolError {
    pub reason: &'static str,
    pub message: String,
}

fn bad(reason: &'static str, message: impl Into<String>) -> ProtocolError {
    ProtocolError {
        reason,
        message: message.into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscribeWire {
    #[serde(rename = "type")]
    _type: String,
    #[serde(default)]
    id: Option<String>,
    layers: Vec<String>,
    #[serde(default)]
    bbox: Option<[f64; 4]>,
    #[serde(default)]
    rate: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnsubscribeWire {
    #[serde(rename = "type")]
    _type: String,
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PingWire {
    #[serde(rename = "type")]
    _type: String,
    #[serde(default)]
    id: Option<Json>,
}

pub const DEFAULT_SUBSCRIPTION: &str = "default";

/// Parse and check one text message from a client.
pub fn parse_client_message(text: &str, limits: &WsLimits) -> Result<ClientMessage, ProtocolError> {
    let value: Json = twin_core::formats::json::from_str_strict(text)
        .map_err(|e| bad("malformed", format!("not JSON: {e}")))?;
    let Some(kind) = value.get("type").and_then(Json::as_str) else {
        return Err(bad(
            "malformed",
            "a message is a JSON object with a string `type` (subscribe, unsubscribe or ping)",
        ));
    };
    let fields = |e: serde_json::Error| bad("malformed", format!("{kind}: {e}"));
    match kind {
        "subscribe" => {
            let w: SubscribeWire = serde_json::from_value(value.clone()).map_err(fields)?;
            subscription(w, limits).map(ClientMessage::Subscribe)
        }
        "unsubscribe" => {
            let w: UnsubscribeWire = serde_json::from_value(value.clone()).map_err(fields)?;
            Ok(ClientMessage::Unsubscribe {
                id: w.id.unwrap_or_else(|| DEFAULT_SUBSCRIPTION.into()),
            })
        }
        "ping" => {
            let w: PingWire = serde_json::from_value(value.clone()).map_err(fields)?;
            Ok(ClientMessage::Ping { id: w.id })
        }
        other => Err(bad(
            "unknown_type",
            format!("unknown message type `{other}` (expected subscribe, unsubscribe or ping)"),
        )),
    }
}

fn subscription(w: SubscribeWire, limits: &WsLimits) -> Result<Subscription, ProtocolError> {
    let id = w.id.unwrap_or_else(|| DEFAULT_SUBSCRIPTION.into());
    if id.is_empty() || id.len() > 64 {
        return Err(bad("bad_id", "a subscription id has 1 to 64 characters"));
    }
    if w.layers.is_empty() {
        return Err(bad(
            "bad_layers",
            format!(
                "subscribe: `layers` is empty (choose from {})",
                LAYERS.join(", ")
            ),
        ));
    }
    let mut filter = Filter {
        layers: 0,
        bbox: None,
    };
    let (mut kpi, mut alert, mut scenario) = (false, false, false);
    for layer in &w.layers {
        match layer.as_str() {
            "kpi" => kpi = true,
            "alert" => alert = true,
            "scenario" => scenario = true,
            name => match EntityKind::from_prefix(name) {
                Some(k) => filter.layers |= Filter::bit(k),
                None => {
                    return Err(bad(
                        "bad_layers",
                        format!(
                            "subscribe: unknown layer `{name}` (choose from {})",
                            LAYERS.join(", ")
                        ),
                    ));
                }
            },
        }
    }
    if let Some([min_lon, min_lat, max_lon, max_lat]) = w.bbox {
        let ok = [min_lon, min_lat, max_lon, max_lat]
            .iter()
            .all(|x| x.is_finite())
            && min_lon <= max_lon
            && min_lat <= max_lat
            && (-180.0..=180.0).contains(&min_lon)
            && (-180.0..=180.0).contains(&max_lon)
            && (-90.0..=90.0).contains(&min_lat)
            && (-90.0..=90.0).contains(&max_lat);
        if !ok {
            return Err(bad(
                "bad_bbox",
                "subscribe: `bbox` is [min_lon, min_lat, max_lon, max_lat] in degrees, min ≤ max",
            ));
        }
        filter.bbox = Some(BBox {
            min_lon,
            min_lat,
            max_lon,
            max_lat,
        });
    }
    let rate_hz = w.rate.unwrap_or(limits.default_rate_hz);
    if !(rate_hz.is_finite() && rate_hz >= limits.min_rate_hz && rate_hz <= limits.max_rate_hz) {
        return Err(bad(
            "bad_rate",
            format!(
                "subscribe: `rate` is the maximum update rate in Hz, from {} (one update every {} s; above 0) to at most {}",
                limits.min_rate_hz,
                1.0 / limits.min_rate_hz,
                limits.max_rate_hz
            ),
        ));
    }
    Ok(Subscription {
        id,
        filter,
        kpi,
        alert,
        scenario,
        rate_hz,
    })
}

fn envelope(kind: &str, sub: &str, seq: u64) -> String {
    format!(
        "{{\"type\":\"{kind}\",\"sub\":{},\"seq\":{seq}",
        Json::from(sub)
    )
}

/// One part of a snapshot of entities.
pub struct SnapshotPart<'a> {
    pub index: usize,
    pub parts: usize,
    /// Entities in all parts together.
    pub total: usize,
    /// A JSON object of id → state, and how many entities it holds.
    pub body: &'a str,
    pub count: usize,
}

/// `snapshot`: the subscribed state. Entities come in parts (`part` of `parts`), each its own
/// message with the next sequence number; KPIs and alerts, when subscribed, ride on the last.
pub fn snapshot_message(
    sub: &Subscription,
    seq: u64,
    version: u64,
    part: Option<SnapshotPart<'_>>,
    kpis: Option<&Kpis>,
    alerts: Option<&[AlertView]>,
) -> String {
    let mut out = envelope("snapshot", &sub.id, seq);
    out.push_str(&format!(",\"version\":{version}"));
    match part {
        Some(p) => {
            out.push_str(&format!(
                ",\"part\":{},\"parts\":{},\"total\":{},\"count\":{},\"entities\":",
                p.index, p.parts, p.total, p.count
            ));
            out.push_str(p.body);
        }
        None => out.push_str(",\"part\":0,\"parts\":1"),
    }
    if let Some(k) = kpis {
        out.push_str(",\"kpis\":");
        out.push_str(&serde_json::to_string(k).unwrap_or_else(|_| "null".into()));
    }
    if let Some(a) = alerts {
        out.push_str(",\"alerts\":");
        out.push_str(&serde_json::to_string(a).unwrap_or_else(|_| "[]".into()));
    }
    out.push('}');
    out
}

/// `delta`: the fields changed between versions `from` and `to`, per entity.
pub fn delta_message(sub: &str, seq: u64, from: u64, to: u64, count: usize, body: &str) -> String {
    let mut out = envelope("delta", sub, seq);
    out.push_str(&format!(
        ",\"from\":{from},\"version\":{to},\"count\":{count},\"entities\":"
    ));
    out.push_str(body);
    out.push('}');
    out
}

pub fn kpi_message(sub: &str, seq: u64, kpis: &Kpis) -> String {
    let mut out = envelope("kpi", sub, seq);
    out.push_str(",\"kpis\":");
    out.push_str(&serde_json::to_string(kpis).unwrap_or_else(|_| "null".into()));
    out.push('}');
    out
}

pub fn scenario_message(sub: &str, seq: u64, jobs: &[Json]) -> String {
    let mut out = envelope("scenario", sub, seq);
    out.push_str(",\"jobs\":");
    out.push_str(&serde_json::to_string(jobs).unwrap_or_else(|_| "[]".into()));
    out.push('}');
    out
}

pub fn alert_message(sub: &str, seq: u64, alerts: &[AlertView]) -> String {
    let mut out = envelope("alert", sub, seq);
    out.push_str(",\"alerts\":");
    out.push_str(&serde_json::to_string(alerts).unwrap_or_else(|_| "[]".into()));
    out.push('}');
    out
}

pub fn subscribed_message(sub: &Subscription, layers: &[String]) -> String {
    json!({"type": "subscribed", "sub": sub.id, "layers": layers, "rate": sub.rate_hz}).to_string()
}

pub fn unsubscribed_message(id: &str) -> String {
    json!({"type": "unsubscribed", "sub": id}).to_string()
}

pub fn pong_message(id: Option<Json>) -> String {
    json!({"type": "pong", "id": id, "time": twin_core::live::rfc3339(chrono::Utc::now().timestamp_millis())})
        .to_string()
}

pub fn error_message(reason: &str, message: &str) -> String {
    json!({"type": "error", "reason": reason, "message": message}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ClientMessage, ProtocolError> {
        parse_client_message(text, &WsLimits::default())
    }

    #[test]
    fn subscribe_with_layers_bbox_and_rate() {
        let m = parse(
            r#"{"type":"subscribe","id":"a","layers":["bin","kpi"],"bbox":[24.8,44.8,24.9,44.9],"rate":2}"#,
        )
        .expect("valid");
        let ClientMessage::Subscribe(s) = m else {
            panic!("not a subscription: {m:?}");
        };
        assert_eq!(s.id, "a");
        assert_eq!(s.filter.layers, Filter::bit(EntityKind::Bin));
        assert!(s.kpi && !s.alert);
        assert_eq!(s.rate_hz, 2.0);
        assert!(s.filter.bbox.is_some());
    }

    #[test]
    fn bad_messages_name_the_problem() {
        let cases = [
            ("not json", "malformed", "not JSON"),
            ("[1,2]", "malformed", "`type`"),
            (r#"{"type":"dance"}"#, "unknown_type", "dance"),
            (
                r#"{"type":"subscribe","layers":["trams"]}"#,
                "bad_layers",
                "trams",
            ),
            (r#"{"type":"subscribe","layers":[]}"#, "bad_layers", "empty"),
            (
                r#"{"type":"subscribe","layers":["bin"],"rate":500}"#,
                "bad_rate",
                "at most",
            ),
            (
                r#"{"type":"subscribe","layers":["bin"],"rate":-1}"#,
                "bad_rate",
                "above 0",
            ),
            (
                r#"{"type":"subscribe","layers":["kpi"],"rate":1e-300}"#,
                "bad_rate",
                "every 100 s",
            ),
            (
                r#"{"type":"subscribe","layers":["bin"],"bbox":[5,5,1,1]}"#,
                "bad_bbox",
                "min ≤ max",
            ),
            (
                r#"{"type":"subscribe","layers":["bin"],"colour":"red"}"#,
                "malformed",
                "colour",
            ),
            (
                r#"{"type":"subscribe","layers":"bin"}"#,
                "malformed",
                "subscribe",
            ),
        ];
        for (text, reason, mention) in cases {
            let e = parse(text).expect_err(text);
            assert_eq!(e.reason, reason, "{text}: {e}");
            assert!(e.message.contains(mention), "{text}: {e}");
        }
    }

    #[test]
    fn envelopes_are_json() {
        let s = match parse(r#"{"type":"subscribe","layers":["street"]}"#) {
            Ok(ClientMessage::Subscribe(s)) => s,
            other => panic!("{other:?}"),
        };
        let text = snapshot_message(
            &s,
            7,
            42,
            Some(SnapshotPart {
                index: 0,
                parts: 1,
                total: 1,
                body: "{\"street:1\":{\"intensity\":3}}",
                count: 1,
            }),
            None,
            None,
        );
        let v: Json = serde_json::from_str(&text).expect("json");
        assert_eq!(v["seq"], 7);
        assert_eq!(v["sub"], "default");
        assert_eq!(v["entities"]["street:1"]["intensity"], 3);
        let d: Json =
            serde_json::from_str(&delta_message("x\"y", 8, 42, 45, 0, "{}")).expect("json");
        assert_eq!(d["sub"], "x\"y");
        assert_eq!(d["from"], 42);
    }
}
