//! MQTT ingest (rumqttc, MQTT 3.1.1): subscribe to `citytwin/+/+` at QoS 1 with a persistent
//! session, turn each message into a reading, and acknowledge (PUBACK) only after the batch it
//! belongs to is durable in the store. Messages not yet acknowledged when the twin dies are
//! redelivered by the broker after restart; exact repeats are no-ops in the entity state.
//!
//! Topic `citytwin/<kind>/<local-id>`, payload `{"observedAt": "...", "values": {...}}`.
//! Citizen reports come on `citytwin/reports/new` with the same JSON body as
//! `POST /api/reports` (see `twin_core::waste::report`).
//! Oversized payloads, bad topics and bad JSON are rejected with a counted reason (and
//! acknowledged, so the broker does not redeliver them forever). The connection is retried
//! with exponential backoff when the broker goes away.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use tokio::sync::mpsc;
use twin_core::reading::{RawReading, ReadingError};

use crate::twin::{LiveTwin, Rejection};

/// Largest payload accepted; larger ones are rejected as `payload_too_large`.
pub const MAX_PAYLOAD: usize = 64 * 1024;

/// Messages taken into one durable batch at most.
const MAX_BATCH: usize = 4096;

#[derive(Debug, Clone)]
pub struct MqttConfig {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    /// Messages the broker may send before our acknowledgements (MQTT 3.1.1 has no receive
    /// maximum; this bounds our side).
    pub inflight: u16,
}

impl MqttConfig {
    /// Parse `mqtt://host[:port]` (default port 1883).
    pub fn from_url(url: &str, client_id: &str) -> Result<MqttConfig, String> {
        let rest = url
            .strip_prefix("mqtt://")
            .or_else(|| url.strip_prefix("tcp://"))
            .ok_or_else(|| format!("MQTT URL `{url}` must start with mqtt://"))?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse()
                    .map_err(|_| format!("MQTT URL `{url}`: bad port `{p}`"))?,
            ),
            None => (rest.to_string(), 1883),
        };
        if host.is_empty() {
            return Err(format!("MQTT URL `{url}` has no host"));
        }
        Ok(MqttConfig {
            host,
            port,
            client_id: client_id.to_string(),
            inflight: 1000,
        })
    }
}

/// What one MQTT message carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Reading(RawReading),
    /// A citizen report's JSON body, validated by the twin.
    Report(Vec<u8>),
}

/// The topic citizen reports come on.
pub const REPORT_TOPIC: &str = "citytwin/reports/new";

/// Turn one MQTT message into a raw reading or a report, or say why not.
pub fn parse_message(topic: &str, payload: &[u8]) -> Result<Inbound, Rejection> {
    let reject = |reason: &str, message: String| Rejection {
        reason: reason.to_string(),
        message,
    };
    if payload.len() > MAX_PAYLOAD {
        return Err(reject(
            "payload_too_large",
            format!("topic {topic}: payload over the limit of {MAX_PAYLOAD} bytes"),
        ));
    }
    if topic == REPORT_TOPIC {
        return Ok(Inbound::Report(payload.to_vec()));
    }
    let mut parts = topic.split('/');
    let (Some("citytwin"), Some(kind), Some(local), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(reject(
            "bad_topic",
            format!("topic `{topic}` is not citytwin/<kind>/<local-id>"),
        ));
    };
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Payload {
        #[serde(rename = "observedAt")]
        observed_at: String,
        #[serde(deserialize_with = "twin_core::formats::json::unique_keys")]
        values: std::collections::BTreeMap<String, serde_json::Value>,
    }
    let payload = payload.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(payload);
    let p: Payload = serde_json::from_slice(payload).map_err(|e| {
        let e = ReadingError::from_json_error(e);
        reject(
            e.reason(),
            format!("topic {topic}: payload is not a reading: {e}"),
        )
    })?;
    Ok(Inbound::Reading(RawReading {
        entity: format!("{kind}:{local}"),
        observed_at: p.observed_at,
        values: p.values,
    }))
}

/// The largest MQTT packet: a remaining length of 268,435,455 bytes (MQTT 3.1.1 §2.2.3) plus
/// the fixed header.
const MQTT_MAX_PACKET: usize = 268_435_455 + 5;

/// Capacity of the MQTT client's request queue (our PUBACKs) and of the queue of received
/// publishes waiting for the batcher: when the latter is full, the client stops reading the
/// socket (backpressure onto the broker).
const MQTT_QUEUE: usize = 10_000;

/// Run MQTT ingest until the twin stops. Reconnects with backoff (0.5 s doubling to 30 s).
pub async fn run_mqtt(twin: LiveTwin, config: MqttConfig) {
    let mut options = MqttOptions::new(&config.client_id, &config.host, config.port);
    options
        .set_clean_session(false)
        .set_manual_acks(true)
        .set_keep_alive(Duration::from_secs(15))
        .set_inflight(config.inflight)
        // MQTT's own largest packet, so that every message a broker can deliver is read (and an
        // oversized one rejected with a reason): a smaller limit drops the connection over it,
        // and the broker redelivers it to the persistent session forever.
        .set_max_packet_size(MQTT_MAX_PACKET, MQTT_MAX_PACKET);
    let (client, mut eventloop) = AsyncClient::new(options, MQTT_QUEUE);
    let (tx, rx) = mpsc::channel::<Publish>(MQTT_QUEUE);
    tokio::spawn(batcher(twin, client.clone(), rx));
    let mut backoff = Duration::from_millis(500);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                tracing::info!(host = %config.host, port = config.port, session_present = ack.session_present, "MQTT connected");
                backoff = Duration::from_millis(500);
                if let Err(e) = client.subscribe("citytwin/+/+", QoS::AtLeastOnce).await {
                    tracing::error!(error = %e, "MQTT subscribe failed");
                }
            }
            Ok(Event::Incoming(Packet::Publish(mut p))) => {
                if p.payload.len() > MAX_PAYLOAD {
                    // Keep only what shows it is too big: a queue of huge payloads would
                    // hold their memory until the batcher rejects them.
                    tracing::warn!(topic = %p.topic, bytes = p.payload.len(), "MQTT payload over the limit");
                    p.payload = bytes::Bytes::copy_from_slice(&p.payload[..=MAX_PAYLOAD]);
                }
                if tx.send(p).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "MQTT connection lost");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Collect messages into batches, make each durable through the twin, then acknowledge it.
/// A batch the store cannot take (a full disk) is kept and tried again, waiting longer each
/// time, and acknowledged only once durable. Meanwhile the broker stops sending once its
/// in-flight window for this session is full and queues the rest within its own limits
/// (mosquitto: `max_inflight_messages`, `max_queued_messages`); if the twin stops, the
/// broker redelivers what was not acknowledged (reports then stored twice: at least once).
async fn batcher(twin: LiveTwin, client: AsyncClient, mut rx: mpsc::Receiver<Publish>) {
    let mut publishes = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        publishes.push(first);
        while publishes.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => publishes.push(p),
                Err(_) => break,
            }
        }
        let mut wait = Duration::from_millis(500);
        let mut reports_done = vec![false; publishes.len()];
        loop {
            match make_durable(&twin, &publishes, &mut reports_done).await {
                Durable::Yes => break,
                Durable::Stopped => return,
                Durable::NotYet(why) => {
                    tracing::error!(error = %why, retry_in_ms = wait.as_millis() as u64, "MQTT batch not durable; not acknowledged, trying again");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(10));
                }
            }
        }
        for p in publishes.drain(..) {
            if let Err(e) = client.ack(&p).await {
                tracing::warn!(error = %e, "MQTT ack failed; the broker will redeliver");
            }
        }
    }
}

/// What became of one try at making a batch of messages durable.
enum Durable {
    Yes,
    /// The store did not take it (why); nothing may be acknowledged yet.
    NotYet(String),
    Stopped,
}

/// Send a batch's citizen reports and readings through the twin. Reports made durable (or
/// refused) are marked in `reports_done`, so a retry does not send them twice; they are
/// acknowledged with the rest of the batch.
async fn make_durable(
    twin: &LiveTwin,
    publishes: &[Publish],
    reports_done: &mut [bool],
) -> Durable {
    let mut readings = Vec::with_capacity(publishes.len());
    let mut reports = Vec::new();
    for (k, p) in publishes.iter().enumerate() {
        if reports_done[k] {
            continue;
        }
        match parse_message(&p.topic, &p.payload) {
            Ok(Inbound::Reading(r)) => readings.push(Ok(r)),
            Ok(Inbound::Report(body)) => reports.push((k, body)),
            Err(rej) => readings.push(Err(rej)),
        }
    }
    for (k, body) in reports {
        // A refused report is counted by the twin and acknowledged; only a store failure
        // leaves the batch unacknowledged.
        match twin.submit_report(body).await {
            Ok(_) => {}
            Err(rej) if rej.reason == "stopped" => return Durable::Stopped,
            Err(rej) if rej.reason == "store_error" => return Durable::NotYet(rej.message),
            Err(rej) => {
                tracing::debug!(reason = %rej.reason, "MQTT report refused: {}", rej.message)
            }
        }
        reports_done[k] = true;
    }
    match twin.ingest_durable(readings, None).await {
        Ok(outcome) => match outcome.store_error {
            None => Durable::Yes,
            Some(why) => Durable::NotYet(why),
        },
        Err(e) => {
            tracing::error!(error = %e, "twin stopped; MQTT ingest ends");
            Durable::Stopped
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_become_readings_or_reasons() {
        let r = parse_message(
            "citytwin/bin/17",
            br#"{"observedAt":"2026-11-27T08:00:00Z","values":{"fillingLevel":0.4}}"#,
        )
        .expect("a reading");
        let Inbound::Reading(r) = r else {
            panic!("a reading, not {r:?}")
        };
        assert_eq!(r.entity, "bin:17");
        assert_eq!(
            parse_message(REPORT_TOPIC, b"{}").expect("a report"),
            Inbound::Report(b"{}".to_vec())
        );
        let reason = |t: &str, p: &[u8]| parse_message(t, p).err().map(|r| r.reason);
        assert_eq!(reason("citytwin/bin", b"{}").as_deref(), Some("bad_topic"));
        assert_eq!(
            reason("citytwin/bin/1", b"not json").as_deref(),
            Some("malformed")
        );
        assert_eq!(
            reason("citytwin/bin/1", br#"{"observedAt":1,"values":{}}"#).as_deref(),
            Some("malformed")
        );
        let big = vec![b' '; MAX_PAYLOAD + 1];
        assert_eq!(
            reason("citytwin/bin/1", &big).as_deref(),
            Some("payload_too_large")
        );
    }

    #[test]
    fn urls_parse() {
        let c = MqttConfig::from_url("mqtt://127.0.0.1:18830", "t").expect("url");
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 18830));
        assert_eq!(
            MqttConfig::from_url("mqtt://broker", "t")
                .expect("url")
                .port,
            1883
        );
        assert!(MqttConfig::from_url("http://x", "t").is_err());
    }
}
