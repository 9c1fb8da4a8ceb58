//! The NGSI-LD API of `twin serve`, checked by an independent client: a Python script using
//! only the standard library's HTTP client (tests/ngsi_ld/client.py), not the project's types.
//! It posts readings through the twin's own API and reads them back through the temporal API,
//! writes entities, attributes and batches, runs geo-queries,
//! subscribes its own HTTP receiver and watches the notifications, validates the entities
//! against the Smart Data Models' JSON Schemas (`jsonschema`), and checks after the twin
//! was killed and restarted that the broker's own entities and subscriptions are still there.

mod common;

use std::process::{Command, Stdio};

/// Start `twin serve` on `dir` and wait for its port.
fn start_twin(dir: &std::path::Path, port: u16) -> common::Killed {
    let listen = format!("127.0.0.1:{port}");
    let twin = common::Killed(
        Command::new(env!("CARGO_BIN_EXE_twin"))
            .args(["serve", "--speed", "600", "--listen", &listen, "--data-dir"])
            .arg(dir)
            .current_dir(common::root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the twin runs"),
    );
    common::wait_for_port(port, "the twin");
    twin
}

/// Run one of the Python clients against the twin on `port`; it prints `ok` when every check
/// held.
fn run_client(script: &str, port: u16, token: &str, extra: &[&str]) {
    // scripts/test.sh gives a venv's interpreter with the packages the clients import.
    let python = std::env::var("CITYTWIN_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .arg(common::root().join("tests/ngsi_ld").join(script))
        .arg(format!("http://127.0.0.1:{port}"))
        .arg(token)
        .args(extra)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success() && common::stdout(&out).trim() == "ok",
        "{script}: {}{}",
        common::stdout(&out),
        common::stderr(&out)
    );
}

#[test]
fn an_independent_client_reads_writes_and_queries_the_city_as_smart_data_models() {
    let dir = tempfile::tempdir().expect("tempdir");
    const TOKEN: &str = "operator-token-for-the-ngsi-ld-client";
    common::write_operator_tokens(dir.path(), TOKEN);
    let port = common::free_port();
    let twin = start_twin(dir.path(), port);
    run_client("client.py", port, TOKEN, &[]);
    run_client("writes.py", port, TOKEN, &[]);
    run_client("subscriptions.py", port, TOKEN, &[]);
    let root = common::root();
    let root = root.to_str().expect("a UTF-8 path");
    run_client("schemas.py", port, TOKEN, &[root]);
    // Killed, not stopped: what the broker acknowledged must be on disk already.
    drop(twin);
    let port = common::free_port();
    let _twin = start_twin(dir.path(), port);
    run_client("writes.py", port, TOKEN, &["after-restart"]);
    run_client("subscriptions.py", port, TOKEN, &["after-restart"]);
}

/// An NGSI-LD subscription with an `mqtt://` endpoint: the notification arrives on a real
/// mosquitto, in the MQTT binding's envelope (`metadata` with the headers, `body` with the
/// notification), at the QoS asked for.
#[test]
fn notifications_reach_an_mqtt_endpoint_on_a_real_broker() {
    use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
    let dir = tempfile::tempdir().expect("tempdir");
    const TOKEN: &str = "operator-token-for-the-ngsi-ld-client";
    common::write_operator_tokens(dir.path(), TOKEN);
    let (_broker, mqtt_port) = common::start_mosquitto(dir.path());
    let port = common::free_port();
    let _twin = start_twin(dir.path(), port);
    // A listener on the topic, subscribed before anything is published.
    let mut options = MqttOptions::new("ngsi-ld-listener", "127.0.0.1", mqtt_port);
    options.set_keep_alive(std::time::Duration::from_secs(10));
    let (client, mut connection) = Client::new(options, 16);
    client
        .subscribe("city/notifications", QoS::AtLeastOnce)
        .expect("subscribe");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Ok(Ok(Event::Incoming(Packet::SubAck(_)))) =
            connection.recv_timeout(std::time::Duration::from_millis(500))
        {
            break;
        }
    }
    let subscription = serde_json::json!({
        "type": "Subscription",
        "entities": [{"type": "Building"}],
        "watchedAttributes": ["floors"],
        "notification": {
            "format": "keyValues",
            "endpoint": {
                "uri": format!("mqtt://127.0.0.1:{mqtt_port}/city/notifications"),
                "notifierInfo": [{"key": "MQTT-QoS", "value": "1"}],
            },
        },
    });
    let (code, body) = common::http(
        port,
        "POST",
        "/ngsi-ld/v1/subscriptions",
        Some(TOKEN),
        Some(&subscription),
    );
    assert_eq!(code, 201, "{body}");
    let building =
        serde_json::json!({"id": "urn:ngsi-ld:Building:depot", "type": "Building", "floors": 3});
    let (code, body) = common::http(
        port,
        "POST",
        "/ngsi-ld/v1/entities",
        Some(TOKEN),
        Some(&building),
    );
    assert_eq!(code, 201, "{body}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut message = None;
    while message.is_none() && std::time::Instant::now() < deadline {
        if let Ok(Ok(Event::Incoming(Packet::Publish(p)))) =
            connection.recv_timeout(std::time::Duration::from_millis(500))
        {
            message = Some(p);
        }
    }
    let message = message.expect("a notification on the topic within 20 s");
    assert_eq!(message.qos, QoS::AtLeastOnce, "published at QoS 1");
    let envelope: serde_json::Value =
        serde_json::from_slice(&message.payload).expect("the payload is JSON");
    assert_eq!(envelope["metadata"]["Content-Type"], "application/json");
    assert!(
        envelope["metadata"]["Link"]
            .as_str()
            .is_some_and(|l| l.contains("ngsi-ld-core-context")),
        "{envelope}"
    );
    let notification = &envelope["body"];
    assert_eq!(notification["type"], "Notification");
    assert_eq!(
        notification["data"],
        serde_json::json!([{"id": "urn:ngsi-ld:Building:depot", "type": "Building", "floors": 3}])
    );
    // The subscription records the delivery.
    let id = notification["subscriptionId"]
        .as_str()
        .expect("an id")
        .to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (code, body) = common::http(
            port,
            "GET",
            &format!("/ngsi-ld/v1/subscriptions/{id}"),
            Some(TOKEN),
            None,
        );
        assert_eq!(code, 200, "{body}");
        let sub: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        if sub["notification"]["status"] == "ok" {
            assert_eq!(sub["notification"]["timesSent"], 1);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never recorded: {sub}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Start `twin serve` with no simulated feed (an empty replay), `extra` arguments and
/// environment.
fn start_quiet_twin(
    dir: &std::path::Path,
    port: u16,
    extra: &[&str],
    env: &[(&str, &str)],
) -> common::Killed {
    let empty = dir.join("empty.jsonl");
    std::fs::write(&empty, "").expect("an empty replay");
    let listen = format!("127.0.0.1:{port}");
    let mut command = Command::new(env!("CARGO_BIN_EXE_twin"));
    command
        .args(["serve", "--listen", &listen, "--replay"])
        .arg(&empty)
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .envs(env.iter().copied())
        .current_dir(common::root())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let twin = common::Killed(command.spawn().expect("the twin runs"));
    common::wait_for_port(port, "the twin");
    twin
}

/// The fillingLevel instances of `bin` on 2026-11-01 in the twin on `port`, as (value, time).
fn levels_on_nov_1(port: u16, bin: u32) -> Vec<(f64, String)> {
    let (code, body) = common::http(
        port,
        "GET",
        &format!(
            "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:WasteContainer:{bin}?timerel=between&timeAt=2026-11-01T00:00:00Z&endTimeAt=2026-11-02T00:00:00Z&attrs=fillingLevel"
        ),
        None,
        None,
    );
    if code != 200 {
        return Vec::new();
    }
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    v["fillingLevel"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| Some((i["value"].as_f64()?, i["observedAt"].as_str()?.to_string())))
        .collect()
}

/// Data folders with the operator's token, and free ports, for an upstream twin and a twin.
fn upstream_and_twin_folders() -> (tempfile::TempDir, u16, tempfile::TempDir, u16) {
    let (up_dir, dir) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    common::write_operator_tokens(up_dir.path(), UPSTREAM_TOKEN);
    common::write_operator_tokens(dir.path(), UPSTREAM_TOKEN);
    (up_dir, common::free_port(), dir, common::free_port())
}

/// The operator token of the tests with an upstream twin.
const UPSTREAM_TOKEN: &str = "operator-token-for-the-ngsi-ld-client";

/// The bridge: a twin mirrors its assets into an upstream broker (a second twin); readings
/// it takes while the upstream is down reach the upstream once it is back.
#[test]
fn the_bridge_mirrors_into_an_upstream_twin_and_catches_up_after_its_restart() {
    let (up_dir, up_port, dir, port) = upstream_and_twin_folders();
    let upstream = start_quiet_twin(up_dir.path(), up_port, &[], &[]);
    let url = format!("http://127.0.0.1:{up_port}");
    let _twin = start_quiet_twin(
        dir.path(),
        port,
        &["--ngsi-ld-upstream", &url],
        &[("CITYTWIN_NGSI_LD_UPSTREAM_TOKEN", UPSTREAM_TOKEN)],
    );
    let post = |readings: serde_json::Value| {
        let (code, body) = common::http(
            port,
            "POST",
            "/api/readings",
            Some(UPSTREAM_TOKEN),
            Some(&readings),
        );
        assert_eq!(code, 200, "{body}");
    };
    let wait_for = |bin: u32, want: (f64, &str), seconds: u64| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        loop {
            let got = levels_on_nov_1(up_port, bin);
            if got.iter().any(|(v, t)| *v == want.0 && t == want.1) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "bin {bin}: {want:?} never reached the upstream; it has {got:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    post(
        serde_json::json!([{"entity": "bin:17", "observedAt": "2026-11-01T10:00:00Z", "values": {"fillingLevel": 0.37}}]),
    );
    wait_for(17, (0.37, "2026-11-01T10:00:00Z"), 60);
    // The upstream goes down; the twin keeps taking readings.
    drop(upstream);
    post(serde_json::json!([
        {"entity": "bin:17", "observedAt": "2026-11-01T11:00:00Z", "values": {"fillingLevel": 0.58}},
        {"entity": "bin:18", "observedAt": "2026-11-01T11:00:00Z", "values": {"fillingLevel": 0.21}},
    ]));
    std::thread::sleep(std::time::Duration::from_secs(3));
    let _upstream = start_quiet_twin(up_dir.path(), up_port, &[], &[]);
    wait_for(17, (0.58, "2026-11-01T11:00:00Z"), 90);
    wait_for(18, (0.21, "2026-11-01T11:00:00Z"), 30);
    // What the upstream had before its restart is still there.
    assert!(levels_on_nov_1(up_port, 17).contains(&(0.37, "2026-11-01T10:00:00Z".to_string())));
}

/// `--ngsi-ld-subscribe`: a twin takes the readings sensors publish in an upstream broker (a
/// second twin) through its subscription there, while mirroring into the same broker without
/// an echo; after a restart it finds its own subscription rather than adding one.
#[test]
fn a_twin_takes_readings_from_an_upstream_broker_through_its_subscription() {
    let (up_dir, up_port, dir, port) = upstream_and_twin_folders();
    let _upstream = start_quiet_twin(up_dir.path(), up_port, &[], &[]);
    let url = format!("http://127.0.0.1:{up_port}");
    let args = ["--ngsi-ld-subscribe", &url, "--ngsi-ld-upstream", &url];
    let env = [("CITYTWIN_NGSI_LD_UPSTREAM_TOKEN", UPSTREAM_TOKEN)];
    let twin = start_quiet_twin(dir.path(), port, &args, &env);
    // A sensor platform writes a bin's level into the upstream broker.
    let publish = |level: f64, at: &str| {
        let body = serde_json::json!({
            "fillingLevel": {"type": "Property", "value": level, "observedAt": at},
        });
        let path = "/ngsi-ld/v1/entities/urn:ngsi-ld:WasteContainer:21/attrs";
        let (code, answer) =
            common::http(up_port, "PATCH", path, Some(UPSTREAM_TOKEN), Some(&body));
        assert_eq!(code, 204, "{answer}");
    };
    let wait_for = |want: (f64, &str)| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let got = levels_on_nov_1(port, 21);
            if got.iter().any(|(v, t)| *v == want.0 && t == want.1) {
                return got;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{want:?} never reached the twin from its upstream; it has {got:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    let subscriptions = || -> Vec<String> {
        let (code, body) = common::http(
            up_port,
            "GET",
            "/ngsi-ld/v1/subscriptions",
            Some(UPSTREAM_TOKEN),
            None,
        );
        assert_eq!(code, 200, "{body}");
        let list: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        list.as_array()
            .expect("a list")
            .iter()
            .filter_map(|s| s["id"].as_str().map(str::to_string))
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while subscriptions().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the twin never subscribed upstream"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    publish(0.44, "2026-11-01T12:00:00Z");
    let got = wait_for((0.44, "2026-11-01T12:00:00Z"));
    assert_eq!(got.len(), 1, "one reading, not echoes: {got:?}");
    // The twin's mirror of that reading coming back from the broker is not a second reading.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(levels_on_nov_1(port, 21).len(), 1);
    assert_eq!(levels_on_nov_1(up_port, 21).len(), 1);
    let before = subscriptions();
    assert_eq!(before.len(), 1, "{before:?}");
    {
        use std::os::unix::fs::PermissionsExt;
        let secret =
            std::fs::metadata(dir.path().join("ngsi-ld-notify-secret")).expect("the secret");
        assert_eq!(
            secret.permissions().mode() & 0o777,
            0o600,
            "the receiver's secret is its owner's only"
        );
    }
    assert!(
        before[0].starts_with("urn:ngsi-ld:Subscription:citytwin-"),
        "{before:?}"
    );
    // Restarted, the twin keeps its one subscription and takes the next reading.
    drop(twin);
    let _twin = start_quiet_twin(dir.path(), port, &args, &env);
    std::thread::sleep(std::time::Duration::from_secs(2));
    publish(0.61, "2026-11-01T13:00:00Z");
    wait_for((0.61, "2026-11-01T13:00:00Z"));
    assert_eq!(subscriptions(), before);
}

/// A client that names its own @context (served by the client, or pre-loaded with
/// `--ngsi-ld-contexts` for a twin without internet) reads, writes, queries and subscribes in
/// its own terms.
#[test]
fn a_client_with_its_own_context_is_answered_in_its_terms() {
    const TOKEN: &str = "operator-token-for-the-ngsi-ld-client";
    let dir = tempfile::tempdir().expect("tempdir");
    common::write_operator_tokens(dir.path(), TOKEN);
    let contexts = dir.path().join("contexts");
    std::fs::create_dir_all(contexts.join("example.org")).expect("contexts folder");
    std::fs::write(
        contexts.join("example.org/preloaded.jsonld"),
        r#"{"@context": {"Hall": "https://example.org/Building", "tall": "https://example.org/height"}}"#,
    )
    .expect("a pre-loaded context");
    let port = common::free_port();
    let folder = contexts.to_string_lossy().to_string();
    let _twin = start_quiet_twin(dir.path(), port, &["--ngsi-ld-contexts", &folder], &[]);
    run_client("contexts.py", port, TOKEN, &[]);
}
