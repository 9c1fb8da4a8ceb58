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
