//! Delivering one notification (clause 5.3): to an `http://` endpoint, an HTTP/1.1 POST with
//! hyper's client; to an `mqtt://` endpoint, an MQTT PUBLISH with rumqttc. A deadline per
//! attempt; the retries with back-off are the notifier's.

use std::time::Duration;

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

/// Deadline of one attempt (connect, send, answer).
const ATTEMPT_DEADLINE: Duration = Duration::from_secs(10);
/// Waits before the retries: 1 s, 4 s, 16 s, then the notification is recorded as failed.
pub(super) const BACK_OFF: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(4),
    Duration::from_secs(16),
];

/// Check the URL of a command-line option: `http://` (the twin carries no TLS stack) and
/// parseable; returned without a trailing `/`.
pub(super) fn http_url(option: &str, url: &str) -> Result<String, String> {
    let url = url.trim_end_matches('/').to_string();
    if !url.starts_with("http://") {
        return Err(format!(
            "{option} {url}: give an http:// URL (the twin carries no TLS stack: use a TLS-terminating proxy)"
        ));
    }
    url.parse::<hyper::Uri>()
        .map_err(|e| format!("{option} {url}: {e}"))?;
    Ok(url)
}

/// POST `body` to `uri` once: Ok when the receiver answered 2xx, else why not.
pub(super) async fn post_once(
    uri: &str,
    body: Bytes,
    content_type: &str,
    link: Option<&str>,
) -> Result<(), String> {
    let (status, _) = send(hyper::Method::POST, uri, body, content_type, link, None).await?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("{uri} answered {status}"))
    }
}

/// Send one `method` request with `body` (of `content_type`, left out when the body is empty)
/// to `uri`, with the `Link` header and bearer `token` if given: the status and body of the
/// answer, or why there was none (no connection, no answer within [`ATTEMPT_DEADLINE`]).
pub(super) async fn send(
    method: hyper::Method,
    uri: &str,
    body: Bytes,
    content_type: &str,
    link: Option<&str>,
    token: Option<&str>,
) -> Result<(u16, Bytes), String> {
    let url: hyper::Uri = uri.parse().map_err(|e| format!("{uri}: {e}"))?;
    let host = url.host().ok_or_else(|| format!("{uri} names no host"))?;
    let port = url.port_u16().unwrap_or(80);
    let attempt = async {
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        // Header names in title case (`Link`, `Content-Type`): HTTP says case does not matter,
        // but some receivers look them up as written in the specification.
        let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
            .title_case_headers(true)
            .handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| format!("{uri}: {e}"))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let path = url.path_and_query().map_or("/", |p| p.as_str());
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, format!("{host}:{port}"));
        if body.is_empty() {
            // A GET (a context document, a subscription) takes JSON-LD or JSON.
            request = request.header(
                hyper::header::ACCEPT,
                "application/ld+json, application/json",
            );
        } else {
            request = request.header(hyper::header::CONTENT_TYPE, content_type);
        }
        if let Some(link) = link {
            request = request.header(hyper::header::LINK, link);
        }
        if let Some(token) = token {
            request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| format!("{uri}: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{uri}: {e}"))?;
        let status = response.status().as_u16();
        let answer = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{uri}: {e}"))?
            .to_bytes();
        Ok((status, answer))
    };
    tokio::time::timeout(ATTEMPT_DEADLINE, attempt)
        .await
        .map_err(|_| {
            format!(
                "{uri} did not answer within {} s",
                ATTEMPT_DEADLINE.as_secs()
            )
        })?
}

/// Publish a notification to an `mqtt://host[:port]/topic` endpoint once (the MQTT binding of
/// ETSI GS CIM 009 clause 7.2.x: the payload is `{"metadata": {the HTTP headers it would have
/// had}, "body": notification}`), over MQTT 3.1.1 with the QoS asked for (0 or 1; at QoS 1 the
/// broker's PUBACK is awaited). Ok when the broker took it.
pub(super) async fn publish_once(
    uri: &str,
    qos: u8,
    body: &serde_json::Value,
    content_type: &str,
    link: Option<&str>,
) -> Result<(), String> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
    let url: hyper::Uri = uri.parse().map_err(|e| format!("{uri}: {e}"))?;
    let host = url.host().ok_or_else(|| format!("{uri} names no host"))?;
    let port = url.port_u16().unwrap_or(1883);
    let topic = url.path().trim_start_matches('/');
    if topic.is_empty() {
        return Err(format!("{uri} names no topic"));
    }
    let mut metadata = serde_json::json!({"Content-Type": content_type});
    if let Some(link) = link {
        metadata["Link"] = serde_json::json!(link);
    }
    let payload = serde_json::json!({"metadata": metadata, "body": body}).to_string();
    let client_id = format!("citytwin-notify-{:016x}", rand::random::<u64>());
    let mut options = MqttOptions::new(client_id, host, port);
    // `mqtt://user:password@host/topic` (clause 7.2: the endpoint carries the credentials).
    if let Some((user, password)) = url
        .authority()
        .and_then(|a| a.as_str().rsplit_once('@'))
        .map(|(info, _)| info.split_once(':').unwrap_or((info, "")))
    {
        options.set_credentials(user, password);
    }
    options.set_keep_alive(Duration::from_secs(10));
    options.set_max_packet_size(16 << 20, 16 << 20);
    let (client, mut events) = AsyncClient::new(options, 4);
    let level = if qos >= 1 {
        QoS::AtLeastOnce
    } else {
        QoS::AtMostOnce
    };
    let attempt = async {
        client
            .publish(topic, level, false, payload.into_bytes())
            .await
            .map_err(|e| format!("{uri}: {e}"))?;
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) if qos >= 1 => break,
                Ok(Event::Outgoing(Outgoing::Publish(_))) if qos == 0 => break,
                Ok(Event::Incoming(Packet::ConnAck(ack)))
                    if ack.code != rumqttc::ConnectReturnCode::Success =>
                {
                    return Err(format!(
                        "{uri}: the broker refused the connection ({:?})",
                        ack.code
                    ));
                }
                Ok(_) => {}
                Err(e) => return Err(format!("{uri}: {e}")),
            }
        }
        // Leave cleanly: the DISCONNECT goes out after the PUBLISH.
        let _ = client.disconnect().await;
        while let Ok(event) = events.poll().await {
            if matches!(event, Event::Outgoing(Outgoing::Disconnect)) {
                break;
            }
        }
        Ok(())
    };
    tokio::time::timeout(ATTEMPT_DEADLINE, attempt)
        .await
        .map_err(|_| {
            format!(
                "{uri} did not take the notification within {} s",
                ATTEMPT_DEADLINE.as_secs()
            )
        })?
}
