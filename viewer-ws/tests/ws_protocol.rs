//! The WebSocket protocol and the HTTP API against a live Pitești twin in this process, with a
//! real WebSocket client (tokio-tungstenite) and plain HTTP/1.1 over TCP.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value as Json, json};
use tokio_tungstenite::tungstenite::Message;
use twin_actors::twin::{LiveTwin, Rejection, TwinConfig};
use twin_core::reading::RawReading;
use twin_viewer_ws::auth::Auth;
use twin_viewer_ws::feed::HubConfig;
use twin_viewer_ws::{Limits, ServerConfig, ServerHandle, spawn_server};

const OPERATOR: &str = "operator-token-0123456789";
const VIEWER: &str = "viewer-token-0123456789";

fn tokens() -> Auth {
    Auth::from_toml(
        &format!(
            "[[token]]\nname = \"ops\"\nrole = \"operator\"\ntoken = \"{OPERATOR}\"\n\
             [[token]]\nname = \"screen\"\nrole = \"viewer\"\ntoken = \"{VIEWER}\"\n"
        ),
        "test",
    )
    .expect("tokens")
}

struct Running {
    twin: LiveTwin,
    server: ServerHandle,
    _dir: tempfile::TempDir,
}

fn start(limits: Limits, hub: HubConfig) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let city = Arc::new(
        twin_core::load_city(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/pitesti"))
            .expect("Pitești bundle"),
    );
    let mut config = TwinConfig::new(dir.path());
    config.arbiters = 2;
    config.snapshot_every = Duration::from_secs(3600);
    // Tests run wherever /tmp is: the free-space margin has its own test (a small tmpfs).
    config.min_free_bytes = 0;
    let twin = LiveTwin::start(city, config).expect("twin");
    let server = spawn_server(
        twin.clone(),
        ServerConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            auth: tokens(),
            limits,
            hub,
            ev_fit: Default::default(),
            ngsi_ld_upstream: None,
            ngsi_ld_subscribe: None,
            ngsi_ld_contexts: None,
        },
        2,
    )
    .expect("server");
    Running {
        twin,
        server,
        _dir: dir,
    }
}

fn at(offset_ms: i64) -> String {
    let t = chrono::Utc::now() - chrono::Duration::seconds(60)
        + chrono::Duration::milliseconds(offset_ms);
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn reading(entity: &str, t: &str, values: Json) -> Result<RawReading, Rejection> {
    Ok(RawReading {
        entity: entity.into(),
        observed_at: t.into(),
        values: serde_json::from_value(values).expect("object"),
    })
}

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(addr: SocketAddr) -> Client {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .expect("websocket connects");
    ws
}

async fn send(ws: &mut Client, v: Json) {
    ws.send(Message::Text(v.to_string().into()))
        .await
        .expect("send");
}

/// The next text message as JSON, skipping control frames; panics after `wait`.
async fn next(ws: &mut Client, wait: Duration) -> Json {
    loop {
        let m = tokio::time::timeout(wait, ws.next())
            .await
            .expect("a message in time")
            .expect("stream open")
            .expect("no error");
        if let Message::Text(t) = m {
            return serde_json::from_str(t.as_str()).expect("server sends JSON");
        }
    }
}

/// A whole snapshot: its parts in order with consecutive sequence numbers, merged.
async fn snapshot(ws: &mut Client, first_seq: u64) -> Json {
    let mut entities = serde_json::Map::new();
    let mut seq = first_seq;
    loop {
        let m = next(ws, Duration::from_secs(10)).await;
        assert_eq!(m["type"], "snapshot", "{m}");
        assert_eq!(m["seq"], seq, "snapshot parts are numbered in order");
        if let Some(e) = m["entities"].as_object() {
            entities.extend(e.clone());
        }
        seq += 1;
        if m["part"].as_u64().expect("part") + 1 == m["parts"].as_u64().expect("parts") {
            assert_eq!(m["total"].as_u64(), Some(entities.len() as u64));
            return json!({"count": entities.len(), "entities": entities, "next_seq": seq});
        }
    }
}

/// Messages until one satisfies `done`, collecting them all.
async fn until(ws: &mut Client, wait: Duration, done: impl Fn(&Json) -> bool) -> Vec<Json> {
    let mut all = Vec::new();
    loop {
        let m = next(ws, wait).await;
        let stop = done(&m);
        all.push(m);
        if stop {
            return all;
        }
    }
}

#[actix_rt::test]
async fn snapshot_then_deltas_with_no_gaps_and_only_changed_fields() {
    let run = start(Limits::default(), HubConfig::default());
    let mut ws = connect(run.server.addr).await;
    send(
        &mut ws,
        json!({"type": "subscribe", "id": "bins", "layers": ["bin"], "rate": 20}),
    )
    .await;
    let ack = next(&mut ws, Duration::from_secs(10)).await;
    assert_eq!(ack["type"], "subscribed");
    assert_eq!(ack["layers"], json!(["bin"]));
    let snap = snapshot(&mut ws, 0).await;
    let bins = run
        .twin
        .shared
        .city
        .entities_of(twin_core::entity::AssetKind::WasteBin)
        .count();
    assert_eq!(snap["count"], bins as u64);
    assert!(snap["entities"]["bin:17"].is_object());
    assert!(
        snap["entities"].get("street:1").is_none(),
        "only the subscribed layer"
    );

    for k in 0..5 {
        let out = run
            .twin
            .ingest_durable(
                vec![reading(
                    "bin:17",
                    &at(k * 1000),
                    json!({"fillingLevel": 0.1 + 0.1 * k as f64}),
                )],
                None,
            )
            .await
            .expect("ingest");
        assert_eq!(out.accepted, 1);
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    // A reading changing only the temperature: its delta must not repeat the fill level.
    run.twin
        .ingest_durable(
            vec![reading("bin:17", &at(9000), json!({"temperature": 21.5}))],
            None,
        )
        .await
        .expect("ingest");
    let msgs = until(&mut ws, Duration::from_secs(10), |m| {
        m["entities"]["bin:17"]["temperature"] == json!(21.5)
    })
    .await;
    let mut seq = snap["next_seq"].as_u64().expect("seq");
    let mut fill = None;
    for m in &msgs {
        assert_eq!(m["type"], "delta", "{m}");
        assert_eq!(m["seq"], seq, "no gap in sequence numbers");
        seq += 1;
        if let Some(f) = m["entities"]["bin:17"]["fillingLevel"].as_f64() {
            fill = Some(f);
        }
    }
    assert!((fill.expect("fill level was sent") - 0.5).abs() < 1e-9);
    let last = msgs.last().expect("a delta");
    assert!(
        last["entities"]["bin:17"].get("fillingLevel").is_none(),
        "unchanged fields are not repeated: {last}"
    );
    assert!(msgs.len() >= 2, "several deltas at 20 Hz: {}", msgs.len());

    // The whole city comes in several parts, merged they hold every entity once.
    let mut all = connect(run.server.addr).await;
    send(
        &mut all,
        json!({"type": "subscribe", "layers": ["street", "power", "water", "bin", "charger"]}),
    )
    .await;
    assert_eq!(
        next(&mut all, Duration::from_secs(10)).await["type"],
        "subscribed"
    );
    let whole = snapshot(&mut all, 0).await;
    assert_eq!(whole["count"], run.twin.shared.city.entities().len() as u64);
    assert!(
        whole["next_seq"].as_u64().expect("seq") >= 2,
        "a city-wide snapshot has parts"
    );
    assert_eq!(whole["entities"]["bin:17"]["temperature"], 21.5);
}

#[actix_rt::test]
async fn a_slow_subscription_is_coalesced_and_a_far_behind_one_re_snapshots() {
    let run = start(
        Limits::default(),
        HubConfig {
            journal_len: 200,
            ..HubConfig::default()
        },
    );
    let mut ws = connect(run.server.addr).await;
    send(
        &mut ws,
        json!({"type": "subscribe", "layers": ["bin"], "rate": 1}),
    )
    .await;
    assert_eq!(
        next(&mut ws, Duration::from_secs(10)).await["type"],
        "subscribed"
    );
    snapshot(&mut ws, 0).await;
    // 40 changes of one bin within a second: at 1 Hz (bursts of 2) the client sees at most a
    // few deltas, and the last value wins.
    for k in 0..40 {
        run.twin
            .ingest_durable(
                vec![reading(
                    "bin:5",
                    &at(k * 100),
                    json!({"fillingLevel": 0.01 * k as f64}),
                )],
                None,
            )
            .await
            .expect("ingest");
    }
    let msgs = until(&mut ws, Duration::from_secs(10), |m| {
        m["entities"]["bin:5"]["fillingLevel"] == json!(0.39)
    })
    .await;
    assert!(
        msgs.len() <= 4,
        "40 changes coalesced into {} deltas",
        msgs.len()
    );
    let last_seq = msgs.last().expect("delta")["seq"].as_u64().expect("seq");

    // Now 600 changes on distinct bins: more than the journal of 200 holds before the client is
    // due again, so it is sent a fresh snapshot, continuing the sequence.
    let batch: Vec<_> = (0..600)
        .map(|k| {
            reading(
                &format!("bin:{}", k + 1),
                &at(20_000 + k),
                json!({"fillingLevel": 0.77}),
            )
        })
        .collect();
    let out = run.twin.ingest_durable(batch, None).await.expect("ingest");
    assert_eq!(out.accepted, 600);
    let msgs = until(&mut ws, Duration::from_secs(10), |m| {
        m["type"] == "snapshot"
    })
    .await;
    let first = msgs.last().expect("snapshot");
    assert_eq!(first["part"], 0);
    assert_eq!(
        first["seq"],
        last_seq + msgs.len() as u64,
        "sequence continues"
    );
    let mut entities = first["entities"].as_object().expect("entities").clone();
    let mut m = first.clone();
    while m["part"].as_u64() != m["parts"].as_u64().map(|n| n - 1) {
        m = next(&mut ws, Duration::from_secs(10)).await;
        entities.extend(m["entities"].as_object().expect("entities").clone());
    }
    assert_eq!(entities.len() as u64, m["total"].as_u64().expect("total"));
    // The snapshot reflects the new state, or a delta brings it right after.
    if entities["bin:600"]["fillingLevel"] != json!(0.77) {
        until(&mut ws, Duration::from_secs(10), |m| {
            m["entities"]["bin:600"]["fillingLevel"] == json!(0.77)
        })
        .await;
    }
}

#[actix_rt::test]
async fn malformed_messages_get_errors_and_the_connection_stays() {
    let run = start(Limits::default(), HubConfig::default());
    let mut ws = connect(run.server.addr).await;
    let cases: [(Message, &str); 6] = [
        (Message::Text("this is not json".into()), "malformed"),
        (Message::Text(r#"{"type":"dance"}"#.into()), "unknown_type"),
        (
            Message::Text(r#"{"type":"subscribe","layers":["trams"]}"#.into()),
            "bad_layers",
        ),
        (
            Message::Text(r#"{"type":"subscribe","layers":["bin"],"rate":1000}"#.into()),
            "bad_rate",
        ),
        (
            Message::Text(r#"{"type":"unsubscribe","id":"nothing"}"#.into()),
            "unknown_subscription",
        ),
        (Message::Binary(vec![1u8, 2, 3].into()), "binary_frame"),
    ];
    for (msg, reason) in cases {
        ws.send(msg).await.expect("send");
        let e = next(&mut ws, Duration::from_secs(5)).await;
        assert_eq!(e["type"], "error");
        assert_eq!(e["reason"], reason, "{e}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    send(&mut ws, json!({"type": "ping", "id": 7})).await;
    let pong = next(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(pong["type"], "pong");
    assert_eq!(pong["id"], 7);

    // Too many subscriptions.
    for k in 0..8 {
        send(
            &mut ws,
            json!({"type": "subscribe", "id": format!("s{k}"), "layers": ["kpi"]}),
        )
        .await;
    }
    let msgs = until(&mut ws, Duration::from_secs(5), |m| {
        m["type"] == "subscribed" && m["sub"] == "s7"
    })
    .await;
    assert!(msgs.iter().all(|m| m["type"] != "error"));
    send(
        &mut ws,
        json!({"type": "subscribe", "id": "s8", "layers": ["kpi"]}),
    )
    .await;
    let msgs = until(&mut ws, Duration::from_secs(5), |m| m["type"] == "error").await;
    assert_eq!(
        msgs.last().expect("error")["reason"],
        "too_many_subscriptions"
    );
}

#[actix_rt::test]
async fn oversized_frames_and_too_many_clients_are_refused_and_the_server_goes_on() {
    let mut limits = Limits::default();
    limits.ws.max_clients = 2;
    limits.ws.max_frame_bytes = 1024;
    limits.ws.max_message_bytes = 1024;
    let run = start(limits, HubConfig::default());
    let addr = run.server.addr;
    let mut big = connect(addr).await;
    let _ = big
        .send(Message::Text(
            format!("{{\"type\":\"ping\",\"id\":\"{}\"}}", "x".repeat(4096)).into(),
        ))
        .await;
    // The server answers with an error naming the limit, or closes; either way no pong.
    let reply = tokio::time::timeout(Duration::from_secs(5), big.next())
        .await
        .expect("an answer");
    match reply {
        Some(Ok(Message::Text(t))) => {
            let e: Json = serde_json::from_str(t.as_str()).expect("json");
            assert_eq!(e["type"], "error", "{e}");
            assert_eq!(e["reason"], "too_large", "{e}");
            assert!(
                e["message"].as_str().is_some_and(|m| m.contains("1024")),
                "{e}"
            );
        }
        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {}
        Some(Ok(other)) => panic!("unexpected answer {other:?}"),
    }
    drop(big);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut a = connect(addr).await;
    let _b = connect(addr).await;
    let third = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await;
    match third {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 503),
        other => panic!(
            "a third client should be refused, got {:?}",
            other.map(|_| ())
        ),
    }
    send(&mut a, json!({"type": "ping"})).await;
    assert_eq!(next(&mut a, Duration::from_secs(5)).await["type"], "pong");
}

/// One HTTP/1.1 request; returns the status and the body as JSON (or as a JSON string).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, Json) {
    let s = std::net::TcpStream::connect(addr).expect("connect");
    http_on(s, method, path, token, body)
}

/// A connection to `addr` from the local address `from` (any of 127.0.0.0/8 on Linux), with a
/// receive buffer of `recv_buffer` bytes when given (a slow reader).
async fn connect_from(
    from: &str,
    addr: SocketAddr,
    recv_buffer: Option<u32>,
) -> std::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    if let Some(n) = recv_buffer {
        socket.set_recv_buffer_size(n).expect("SO_RCVBUF");
    }
    socket
        .bind(format!("{from}:0").parse().expect("addr"))
        .expect("bind");
    let s = socket.connect(addr).await.expect("connect");
    let s = s.into_std().expect("std");
    s.set_nonblocking(false).expect("blocking");
    s
}

/// One request on an open connection (`Connection: close`), its status and JSON body.
fn http_on(
    mut s: std::net::TcpStream,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, Json) {
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let (head, body) = text.split_once("\r\n\r\n").expect("a response");
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    let json = serde_json::from_str(body).unwrap_or(Json::String(body.to_string()));
    (status, json)
}

#[actix_rt::test]
async fn http_api_reads_and_posts_readings_through_validation() {
    let run = start(Limits::default(), HubConfig::default());
    let addr = run.server.addr;
    let (s, health) = tokio::task::spawn_blocking(move || http(addr, "GET", "/health", None, ""))
        .await
        .expect("join");
    assert_eq!(s, 200);
    assert_eq!(
        health["entities"],
        run.twin.shared.city.entities().len() as u64
    );

    let good = json!([
        {"entity": "bin:9", "observedAt": at(0), "values": {"fillingLevel": 0.64}},
        {"entity": "bin:9", "observedAt": at(1), "values": {"fillingLevel": 7}},
        {"entity": "bin:nowhere", "observedAt": at(2), "values": {"fillingLevel": 0.2}},
        {"entity": "bin:9", "values": {"fillingLevel": 0.2}},
        {"entity": "street:1", "observedAt": at(3), "values": {"intensity": 420}}
    ])
    .to_string();
    let body = good.clone();
    let (s, e) =
        tokio::task::spawn_blocking(move || http(addr, "POST", "/api/readings", None, &body))
            .await
            .expect("join");
    assert_eq!(s, 401, "{e}");
    assert_eq!(e["error"], "unauthorized");
    let body = good.clone();
    let (s, e) = tokio::task::spawn_blocking(move || {
        http(addr, "POST", "/api/readings", Some(VIEWER), &body)
    })
    .await
    .expect("join");
    assert_eq!(s, 403, "{e}");
    let body = good.clone();
    let (s, r) = tokio::task::spawn_blocking(move || {
        http(addr, "POST", "/api/readings", Some(OPERATOR), &body)
    })
    .await
    .expect("join");
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["accepted"], json!([0, 4]));
    let reasons: Vec<&str> = r["rejected"]
        .as_array()
        .expect("list")
        .iter()
        .map(|x| x["reason"].as_str().expect("reason"))
        .collect();
    assert_eq!(reasons, ["out_of_range", "unknown_entity", "malformed"]);
    assert_eq!(r["rejected"][1]["entity"], "bin:nowhere");

    let (s, e) = tokio::task::spawn_blocking(move || {
        http(addr, "POST", "/api/readings", Some(OPERATOR), "{\"no\":1}")
    })
    .await
    .expect("join");
    assert_eq!((s, e["error"].as_str()), (400, Some("malformed")));

    // The accepted reading shows in the entity, its history and its layer.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (s, bin) =
        tokio::task::spawn_blocking(move || http(addr, "GET", "/api/entities/bin:9", None, ""))
            .await
            .expect("join");
    assert_eq!(s, 200);
    assert_eq!(bin["state"]["fillingLevel"], 0.64);
    assert_eq!(bin["attributes"]["type"], "WasteContainer");
    let (s, hist) = tokio::task::spawn_blocking(move || {
        http(addr, "GET", "/api/entities/bin:9/history", None, "")
    })
    .await
    .expect("join");
    assert_eq!(s, 200);
    assert_eq!(hist["count"], 1);
    assert_eq!(hist["points"][0]["value"], 0.64);
    assert_eq!(
        (hist["readings"].as_u64(), hist["truncated"].as_bool()),
        (Some(1), Some(false))
    );
    assert!(
        hist["oldest"].is_string() && hist["oldest"] == hist["newest"],
        "{hist}"
    );
    let (s, layer) =
        tokio::task::spawn_blocking(move || http(addr, "GET", "/api/layers/bin.geojson", None, ""))
            .await
            .expect("join");
    assert_eq!(s, 200);
    let features = layer["features"].as_array().expect("features");
    let bins = run
        .twin
        .shared
        .city
        .entities_of(twin_core::entity::AssetKind::WasteBin)
        .count();
    assert_eq!(features.len(), bins);
    let nine = features.iter().find(|f| f["id"] == "bin:9").expect("bin:9");
    assert_eq!(nine["properties"]["state"]["fillingLevel"], 0.64);

    // Filters and errors.
    let c = run.twin.shared.city.meta.centre;
    let q = format!(
        "/api/entities?layer=bin&bbox={},{},{},{}",
        c.lon - 0.005,
        c.lat - 0.005,
        c.lon + 0.005,
        c.lat + 0.005
    );
    let (s, near) = tokio::task::spawn_blocking(move || http(addr, "GET", &q, None, ""))
        .await
        .expect("join");
    assert_eq!(s, 200);
    let n = near["count"].as_u64().expect("count") as usize;
    assert!(n > 0 && n < bins, "bbox keeps some bins: {n} of {bins}");
    for (path, status, reason) in [
        ("/api/entities/bin:none", 404, "unknown_entity"),
        ("/api/entities/tram:1", 400, "bad_id"),
        ("/api/entities?layer=bin&bbox=1,2", 400, "bad_parameter"),
        ("/api/entities?colour=red", 400, "bad_parameter"),
        (
            "/api/entities/bin:9/history?from=yesterday",
            400,
            "bad_parameter",
        ),
        ("/api/entities/bin:9/history?limit=0", 400, "bad_parameter"),
        (
            "/api/entities/bin:9/history?last=maybe",
            400,
            "bad_parameter",
        ),
        ("/api/layers/trams.geojson", 404, "unknown_layer"),
        ("/api/nothing", 404, "not_found"),
    ] {
        let p = path.to_string();
        let (s, e) = tokio::task::spawn_blocking(move || http(addr, "GET", &p, None, ""))
            .await
            .expect("join");
        assert_eq!(
            (s, e["error"].as_str()),
            (status, Some(reason)),
            "{path}: {e}"
        );
    }
    let (s, k) = tokio::task::spawn_blocking(move || http(addr, "GET", "/api/kpis", None, ""))
        .await
        .expect("join");
    assert_eq!(s, 200);
    assert_eq!(k["entities"], run.twin.shared.city.entities().len() as u64);
}

/// [`http`] off the async runtime's threads.
async fn api(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, Json) {
    let (method, path, token, body) = (
        method.to_string(),
        path.to_string(),
        token.map(str::to_string),
        body.to_string(),
    );
    tokio::task::spawn_blocking(move || http(addr, &method, &path, token.as_deref(), &body))
        .await
        .expect("join")
}

#[actix_rt::test]
async fn citizen_reports_become_alerts_rank_first_in_the_plan_and_resolve_when_the_bin_is_emptied()
{
    let run = start(Limits::default(), HubConfig::default());
    let addr = run.server.addr;
    let city = run.twin.shared.city.clone();
    // Two glass bins near the centre (glass is the smallest stream, so the plan is quick).
    let centre = city.meta.centre;
    let mut glass: Vec<&twin_core::entity::Entity> = city
        .entities()
        .iter()
        .filter(|e| {
            matches!(&e.asset, twin_core::entity::Asset::WasteBin(b)
                if b.stored_waste_kind == twin_core::entity::WasteKind::Glass)
        })
        .collect();
    glass.sort_by(|a, b| {
        a.location
            .distance_m(centre)
            .total_cmp(&b.location.distance_m(centre))
    });
    let (full, broken) = (glass[0].id.to_string(), glass[1].id.to_string());

    // An overflowing bin, reported by a citizen without an account (reads are open).
    let body = json!({"reporter": "app-42", "kind": "overflowing", "bin": full,
        "photoUrl": "https://example.org/p/1.jpg", "note": "bags on the pavement"});
    let (s, r) = api(addr, "POST", "/api/reports", None, &body.to_string()).await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(
        (r["id"].as_u64(), r["bin"].as_str()),
        (Some(1), Some(full.as_str()))
    );
    assert!(
        !r["neighbourhood"]
            .as_str()
            .expect("neighbourhood")
            .is_empty()
    );

    // Bad reports: clear errors naming the problem, nothing kept.
    for (body, status, reason, needle) in [
        ("{\"reporter\":", 400, "malformed", "not valid JSON"),
        (
            r#"{"reporter":"a","kind":"smelly","bin":"bin:1"}"#,
            422,
            "bad_field",
            "kind",
        ),
        (
            r#"{"reporter":"a","kind":"damaged","bin":"bin:nowhere"}"#,
            422,
            "unknown_entity",
            "bin:nowhere",
        ),
        (
            r#"{"reporter":"a","kind":"damaged","bin":"charger:1"}"#,
            422,
            "not_a_bin",
            "charger:1",
        ),
        (
            r#"{"reporter":"a","kind":"illegal_dumping","location":{"lat":52.5,"lon":13.4}}"#,
            422,
            "outside_city",
            "outside",
        ),
        (
            r#"{"reporter":"a","kind":"damaged"}"#,
            422,
            "bad_field",
            "location",
        ),
    ] {
        let (s, e) = api(addr, "POST", "/api/reports", None, body).await;
        assert_eq!(
            (s, e["error"].as_str()),
            (status, Some(reason)),
            "{body}: {e}"
        );
        assert!(
            e["message"].as_str().expect("message").contains(needle),
            "{body}: {e}"
        );
    }
    let big = format!(
        r#"{{"reporter":"a","kind":"damaged","bin":"{full}","note":"{}"}}"#,
        "x".repeat(20_000)
    );
    let (s, e) = api(addr, "POST", "/api/reports", None, &big).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (413, Some("payload_too_large")),
        "{e}"
    );

    // A busy reporter is limited to five an hour.
    let damaged = json!({"reporter": "busy", "kind": "damaged", "bin": broken}).to_string();
    for _ in 0..5 {
        let (s, r) = api(addr, "POST", "/api/reports", None, &damaged).await;
        assert_eq!(s, 201, "{r}");
    }
    let (s, e) = api(addr, "POST", "/api/reports", None, &damaged).await;
    assert_eq!((s, e["error"].as_str()), (429, Some("rate_limited")), "{e}");
    assert!(e["message"].as_str().expect("message").contains("busy"));

    // The reports become alerts in the twin (through the waste watch).
    let mut seen = false;
    for _ in 0..40 {
        let (_, a) = api(addr, "GET", "/api/alerts", None, "").await;
        let reports: Vec<&Json> = a["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .filter(|x| x["code"] == "citizen_report")
            .collect();
        if reports.len() == 6 {
            assert!(reports.iter().any(|x| x["entities"] == json!([full])));
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(seen, "six citizen_report alerts");

    // The live plan for glass takes both reported bins, whatever their sensors say.
    let (s, e) = api(addr, "GET", "/api/waste/plan?stream=glass", None, "").await;
    assert_eq!(
        (s, e["error"].as_str()),
        (401, Some("unauthorized")),
        "operators only"
    );
    let (s, plan) = api(
        addr,
        "GET",
        "/api/waste/plan?stream=glass",
        Some(OPERATOR),
        "",
    )
    .await;
    assert_eq!(s, 200, "{plan}");
    assert_eq!(plan["source"], "live");
    let mut reported: Vec<&str> = plan["reported_bins"]
        .as_array()
        .expect("reported")
        .iter()
        .map(|b| b.as_str().expect("id"))
        .collect();
    reported.sort();
    let mut expected = vec![full.as_str(), broken.as_str()];
    expected.sort();
    assert_eq!(reported, expected);
    let routed: Vec<&str> = plan["trucks"]
        .as_array()
        .expect("trucks")
        .iter()
        .flat_map(|t| t["trips"].as_array().expect("trips").iter())
        .flat_map(|t| t["bins"].as_array().expect("bins").iter())
        .map(|b| b.as_str().expect("id"))
        .collect();
    for b in &expected {
        assert_eq!(
            routed.iter().filter(|r| *r == b).count(),
            1,
            "{b} once in the routes"
        );
    }
    let (s, e) = api(
        addr,
        "GET",
        "/api/waste/plan?stream=wood",
        Some(OPERATOR),
        "",
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("bad_parameter")),
        "{e}"
    );

    // The truck empties the overflowing bin: its report resolves itself.
    let outcome = run
        .twin
        .ingest_durable(
            vec![reading(&full, &at(0), json!({"fillingLevel": 0.04}))],
            None,
        )
        .await
        .expect("ingest");
    assert_eq!(outcome.accepted, 1);
    let (_, list) = api(addr, "GET", "/api/reports", None, "").await;
    let first = list["reports"]
        .as_array()
        .expect("reports")
        .iter()
        .find(|r| r["id"] == 1)
        .expect("report 1");
    assert_eq!(first["resolution"], "bin_emptied", "{first}");
    let (_, open) = api(addr, "GET", "/api/reports?open=true", None, "").await;
    assert_eq!(open["count"], 5);

    // An operator closes a damaged-bin report; the viewer may not.
    let (s, _) = api(addr, "POST", "/api/reports/2/resolve", Some(VIEWER), "").await;
    assert_eq!(s, 403);
    let (s, r) = api(
        addr,
        "POST",
        "/api/reports/2/resolve",
        Some(OPERATOR),
        r#"{"resolution":"lid replaced"}"#,
    )
    .await;
    assert_eq!(
        (s, r["resolution"].as_str()),
        (200, Some("lid replaced")),
        "{r}"
    );
    let (s, e) = api(addr, "POST", "/api/reports/2/resolve", Some(OPERATOR), "").await;
    assert_eq!((s, e["error"].as_str()), (409, Some("already_resolved")));
    let (s, e) = api(addr, "POST", "/api/reports/99/resolve", Some(OPERATOR), "").await;
    assert_eq!((s, e["error"].as_str()), (404, Some("unknown_report")));

    // KPIs count them per neighbourhood, with the time to resolve.
    let (_, k) = api(addr, "GET", "/api/reports/kpis", None, "").await;
    assert_eq!(
        (k["open"].as_u64(), k["resolved"].as_u64()),
        (Some(4), Some(2)),
        "{k}"
    );
    let per_nbh: u64 = k["by_neighbourhood"]
        .as_object()
        .expect("neighbourhoods")
        .values()
        .map(|n| n["total"].as_u64().expect("total"))
        .sum();
    assert_eq!(per_nbh, 6);
    assert!(k["mean_hours_to_resolve"].as_f64().is_some());

    // One address cannot dodge the limit by changing reporter ids: 30 reports an hour (this
    // test has sent 14 so far), while an operator (a city app's backend) is not limited here.
    for k in 0..16 {
        let body =
            json!({"reporter": format!("fresh-{k}"), "kind": "damaged", "bin": broken}).to_string();
        let (s, r) = api(addr, "POST", "/api/reports", None, &body).await;
        assert_eq!(s, 201, "{r}");
    }
    let body = json!({"reporter": "one-more", "kind": "damaged", "bin": broken}).to_string();
    let (s, e) = api(addr, "POST", "/api/reports", None, &body).await;
    assert_eq!((s, e["error"].as_str()), (429, Some("rate_limited")), "{e}");
    assert!(
        e["message"]
            .as_str()
            .expect("message")
            .contains("127.0.0.1"),
        "{e}"
    );
    let (s, r) = api(addr, "POST", "/api/reports", Some(OPERATOR), &body).await;
    assert_eq!(s, 201, "{r}");

    // Reports are durable: after a restart the book, its resolutions and the rate limit are
    // back, and refused reports were counted under their reasons.
    run.twin.shutdown().await;
    let status = twin_actors::twin::read_status(run._dir.path(), None).expect("status");
    assert_eq!(
        status.rejected.get("report_rate_limited"),
        Some(&1),
        "{:?}",
        status.rejected
    );
    assert_eq!(status.rejected.get("report_malformed"), Some(&1));
    let mut config = TwinConfig::new(run._dir.path());
    config.arbiters = 1;
    let again = LiveTwin::start(city.clone(), config).expect("restart");
    let k = again.shared.reports().kpis();
    assert_eq!((k.open, k.resolved), (4 + 17, 2));
    let (s, e) = {
        let r = again.submit_report(damaged.into_bytes()).await;
        (r.is_err(), r.err().map(|r| r.reason))
    };
    assert_eq!((s, e.as_deref()), (true, Some("rate_limited")));
    again.shutdown().await;
}

#[actix_rt::test]
async fn a_scenario_forked_from_the_twin_reports_progress_and_its_result() {
    let run = start(Limits::default(), HubConfig::default());
    let addr = run.server.addr;
    let mut ws = connect(addr).await;
    send(
        &mut ws,
        json!({"type": "subscribe", "id": "s", "layers": ["scenario"], "rate": 20}),
    )
    .await;
    let subscribed = next(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(subscribed["type"], "subscribed", "{subscribed}");
    assert_eq!(subscribed["layers"], json!(["scenario"]));
    let file = r#"
name = "Est substation out"
city = "data/pitesti"
start = "2026-03-02T00:00"
horizon = "3h"
models = ["power", "waste"]

[[intervention]]
kind = "fail"
elements = ["power:ss-2"]
at = "30min"
duration = "1h"
restoration = "none"
"#;
    let (s, e) = api(addr, "POST", "/api/scenarios", Some(VIEWER), file).await;
    assert_eq!(s, 403, "operators only: {e}");
    let bad = file.replace("power:ss-2", "power:ss-99");
    let (s, e) = api(addr, "POST", "/api/scenarios", Some(OPERATOR), &bad).await;
    assert_eq!((s, e["error"].as_str()), (422, Some("bad_scenario")), "{e}");
    assert!(
        e["message"]
            .as_str()
            .expect("message")
            .contains("scenario.toml:8"),
        "{e}"
    );
    let (s, job) = api(addr, "POST", "/api/scenarios", Some(OPERATOR), file).await;
    assert_eq!(s, 202, "{job}");
    let id = job["id"].as_u64().expect("id");
    // Progress comes over the WebSocket until the run is done.
    let mut seen_done = false;
    for _ in 0..100 {
        let m = next(&mut ws, Duration::from_secs(30)).await;
        if m["type"] != "scenario" {
            continue;
        }
        let j = m["jobs"]
            .as_array()
            .expect("jobs")
            .iter()
            .find(|j| j["id"] == id)
            .cloned()
            .expect("our run");
        assert_ne!(j["status"], "failed", "{j}");
        if j["status"] == "done" {
            assert_eq!(j["progress"], 1.0);
            // The result comes over the WebSocket too.
            assert!(
                j["difference"]["customer_minutes_interrupted"]
                    .as_f64()
                    .expect("cmi")
                    > 0.0,
                "{j}"
            );
            seen_done = true;
            break;
        }
    }
    assert!(seen_done, "the run ends and says so");
    let (s, done) = api(addr, "GET", &format!("/api/scenarios/{id}"), None, "").await;
    assert_eq!(s, 200);
    let report = &done["report"];
    // It started from the twin's clock, not the file's start.
    assert_ne!(report["start"], "2026-03-02T00:00");
    assert!(
        report["difference"]["customer_minutes_interrupted"]
            .as_f64()
            .expect("cmi")
            > 0.0
    );
    assert!((report["scenario"]["caidi_min"].as_f64().expect("caidi") - 60.0).abs() < 1e-6);
    let (s, html) = api(
        addr,
        "GET",
        &format!("/api/scenarios/{id}/report.html"),
        None,
        "",
    )
    .await;
    assert_eq!(s, 200);
    assert!(html.as_str().expect("html text").contains("<svg"));
    let (s, e) = api(addr, "GET", "/api/scenarios/77", None, "").await;
    assert_eq!((s, e["error"].as_str()), (404, Some("unknown_scenario")));
}

#[actix_rt::test]
async fn subscribing_again_never_beats_the_subscriptions_rate() {
    let run = start(Limits::default(), HubConfig::default());
    let mut ws = connect(run.server.addr).await;
    // 20 identical subscriptions at 1 Hz on one socket (the burst a client may send at
    // once): each is acknowledged, but snapshots come no faster than the rate allows (a burst
    // of 2, then 1 a second), not 20 of them.
    let sub = json!({"type": "subscribe", "id": "a", "layers": ["charger"], "rate": 1});
    for _ in 0..20 {
        send(&mut ws, sub.clone()).await;
    }
    let window = Duration::from_secs(3);
    let started = tokio::time::Instant::now();
    let (mut acks, mut snapshots) = (0, 0);
    while let Some(left) = window.checked_sub(started.elapsed()) {
        let t = match tokio::time::timeout(left, ws.next()).await {
            Err(_) => break,
            Ok(Some(Ok(Message::Text(t)))) => t,
            Ok(Some(Ok(_))) => continue,
            Ok(other) => panic!("the connection ended: {other:?}"),
        };
        let m: Json = serde_json::from_str(t.as_str()).expect("JSON");
        match m["type"].as_str() {
            Some("subscribed") => acks += 1,
            Some("snapshot") if m["part"] == 0 => snapshots += 1,
            _ => {}
        }
    }
    assert_eq!(acks, 20);
    assert!(
        (1..=6).contains(&snapshots),
        "{snapshots} snapshots in 3 s at 1 Hz"
    );
}

#[actix_rt::test]
async fn a_client_sending_faster_than_its_allowance_is_told_and_closed() {
    let run = start(Limits::default(), HubConfig::default());
    let mut ws = connect(run.server.addr).await;
    // A flood: 100 pings at once, past the burst of 20.
    for k in 0..100 {
        if ws
            .send(Message::Text(
                json!({"type": "ping", "id": k}).to_string().into(),
            ))
            .await
            .is_err()
        {
            break;
        }
    }
    let mut pongs = 0;
    let told = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let m: Json = serde_json::from_str(t.as_str()).expect("JSON");
                match m["type"].as_str() {
                    Some("pong") => pongs += 1,
                    Some("error") => break m,
                    _ => {}
                }
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("no error before the end: {other:?}"),
        }
    };
    assert_eq!(told["reason"], "too_fast", "{told}");
    assert!((20..100).contains(&pongs), "{pongs} pongs before the limit");
    // Then the server closes the connection.
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return true,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert_eq!(closed, Ok(true));
}

#[actix_rt::test]
async fn a_body_announced_over_the_limit_is_refused_from_its_headers() {
    let run = start(Limits::default(), HubConfig::default());
    let addr = run.server.addr;
    // 100 MB announced, nothing sent after the headers: the answer cannot wait for the body.
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(
            s,
            "POST /api/reports HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"
        )
        .expect("write");
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).expect("an answer before any body is sent");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    })
    .await
    .expect("client");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
}

#[actix_rt::test]
async fn silent_clients_lose_their_slot_and_dead_ones_are_dropped() {
    let mut limits = Limits::default();
    limits.ws.max_clients = 2;
    limits.ws.first_subscribe_within = Duration::from_secs(1);
    let run = start(limits, HubConfig::default());
    let addr = run.server.addr;
    // Two sockets that upgrade and say nothing hold both slots, but only for a second.
    let mut silent = [connect(addr).await, connect(addr).await];
    let refused = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await;
    assert!(refused.is_err(), "both slots are taken");
    for ws in &mut silent {
        let m = next(ws, Duration::from_secs(10)).await;
        assert_eq!(
            (m["type"].as_str(), m["reason"].as_str()),
            (Some("error"), Some("idle")),
            "{m}"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ws = connect(addr).await;
    send(&mut ws, json!({"type": "subscribe", "layers": ["kpi"]})).await;
    assert_eq!(
        next(&mut ws, Duration::from_secs(10)).await["type"],
        "subscribed"
    );
    // Subscribed, it stays past the first deadline: tungstenite answers the server's pings.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    send(&mut ws, json!({"type": "ping", "id": 7})).await;
    let pong = until(&mut ws, Duration::from_secs(10), |m| m["type"] == "pong").await;
    assert_eq!(pong.last().expect("pong")["id"], 7);
}

/// Read from `s` until the server closes it; the bytes, or an error when it did not close
/// within the socket's read timeout.
fn read_until_closed(s: &mut std::net::TcpStream) -> std::io::Result<Vec<u8>> {
    let mut all = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(all),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(all),
            Err(e) => return Err(e),
        }
    }
}

#[actix_rt::test]
async fn connections_over_the_per_address_cap_are_closed_and_other_addresses_still_served() {
    let mut limits = Limits::default();
    limits.connections.max_per_address = 5;
    let run = start(limits, HubConfig::default());
    let addr = run.server.addr;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(connect_from("127.0.0.1", addr, None).await);
    }
    // Let the server admit the five before the sixth comes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut sixth = connect_from("127.0.0.1", addr, None).await;
    let other = connect_from("127.0.0.2", addr, None).await;
    let (closed, health) = tokio::task::spawn_blocking(move || {
        sixth
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let closed = read_until_closed(&mut sixth);
        (closed, http_on(other, "GET", "/health", None, ""))
    })
    .await
    .expect("client");
    assert_eq!(
        closed.expect("the sixth connection is closed at once, not held"),
        Vec::<u8>::new()
    );
    assert_eq!(health.0, 200, "another address is served: {}", health.1);
    assert!(
        health.1["connections"]["refused"].as_u64() >= Some(1),
        "{}",
        health.1
    );
    drop(held);
}

#[actix_rt::test]
async fn half_sent_headers_idle_keep_alive_and_half_sent_bodies_are_closed() {
    let mut limits = Limits::default();
    limits.connections.header_timeout = Duration::from_secs(1);
    limits.connections.body_timeout = Duration::from_secs(1);
    let run = start(limits, HubConfig::default());
    let addr = run.server.addr;
    let outcome = tokio::task::spawn_blocking(move || {
        let open = || {
            let s = std::net::TcpStream::connect(addr).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            s
        };
        // Headers that never end.
        let mut half = open();
        write!(half, "GET /health HTTP/1.1\r\nHost: test\r\n").expect("write");
        let half_headers = read_until_closed(&mut half);
        // A whole request, then silence on a keep-alive connection.
        let mut idle = open();
        write!(idle, "GET /health HTTP/1.1\r\nHost: test\r\n\r\n").expect("write");
        let idle_answer = read_until_closed(&mut idle);
        // Headers announcing 100 bytes of body, and 10 of them.
        let mut body = open();
        write!(
            body,
            "POST /api/readings HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {OPERATOR}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[{{\"entity\""
        )
        .expect("write");
        let body_answer = read_until_closed(&mut body);
        (half_headers, idle_answer, body_answer)
    })
    .await
    .expect("client");
    let text = |r: std::io::Result<Vec<u8>>, what: &str| {
        String::from_utf8_lossy(&r.unwrap_or_else(|e| panic!("{what}: held open ({e})")))
            .into_owned()
    };
    let half = text(outcome.0, "half-sent headers");
    assert!(
        half.is_empty() || half.starts_with("HTTP/1.1 408"),
        "half-sent headers are dropped: {half}"
    );
    let idle = text(outcome.1, "an idle keep-alive connection");
    assert!(
        idle.starts_with("HTTP/1.1 200"),
        "answered, then closed: {idle}"
    );
    let body = text(outcome.2, "a half-sent body");
    assert!(body.starts_with("HTTP/1.1 408"), "{body}");
    assert!(body.contains("body_timeout"), "{body}");
}

#[actix_rt::test]
async fn a_full_dump_is_streamed_in_chunks_and_arrives_whole() {
    let run = start(Limits::default(), HubConfig::default());
    let addr = run.server.addr;
    let entities = run.twin.shared.city.entities().len();
    let raw = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        write!(
            s,
            "GET /api/entities HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        read_until_closed(&mut s).expect("the whole answer")
    })
    .await
    .expect("client");
    let text = String::from_utf8(raw).expect("UTF-8");
    let (head, mut rest) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "streamed, not built whole in memory: {head}"
    );
    // Undo the chunked transfer coding (RFC 9112 §7.1).
    let mut body = String::new();
    let mut chunks = 0;
    loop {
        let (size, after) = rest.split_once("\r\n").expect("a chunk size");
        let size = usize::from_str_radix(size.trim(), 16).expect("hex size");
        if size == 0 {
            break;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
        chunks += 1;
    }
    assert!(chunks > 2, "several chunks, not one: {chunks}");
    let dump: Json = serde_json::from_str(&body).expect("the chunks make one JSON document");
    assert_eq!(dump["count"], entities as u64);
    let list = dump["entities"].as_array().expect("entities");
    assert_eq!(list.len(), entities);
    assert_eq!(
        list.last().expect("last")["id"],
        run.twin.shared.city.entities()[entities - 1].id.to_string()
    );
}
