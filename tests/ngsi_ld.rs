//! The NGSI-LD API of `twin serve`, checked by an independent client: a Python script using
//! only the standard library's HTTP client (tests/ngsi_ld/client.py), not the project's types.
//! It posts readings through the twin's own API and reads them back through the temporal API.

mod common;

use std::process::{Command, Stdio};

#[test]
fn an_independent_client_retrieves_and_queries_the_city_as_smart_data_models() {
    let dir = tempfile::tempdir().expect("tempdir");
    const TOKEN: &str = "operator-token-for-the-ngsi-ld-client";
    common::write_operator_tokens(dir.path(), TOKEN);
    let port = common::free_port();
    let listen = format!("127.0.0.1:{port}");
    let _twin = common::Killed(
        Command::new(env!("CARGO_BIN_EXE_twin"))
            .args(["serve", "--speed", "600", "--listen", &listen, "--data-dir"])
            .arg(dir.path())
            .current_dir(common::root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the twin runs"),
    );
    common::wait_for_port(port, "the twin");
    let out = Command::new("python3")
        .arg(common::root().join("tests/ngsi_ld/client.py"))
        .arg(format!("http://{listen}"))
        .arg(TOKEN)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success() && common::stdout(&out).trim() == "ok",
        "{}{}",
        common::stdout(&out),
        common::stderr(&out)
    );
}
