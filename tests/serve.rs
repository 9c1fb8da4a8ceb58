//! `twin serve` with no flags beyond a data folder: Pitești comes alive on the simulated feed,
//! `twin status` reports it while it runs, and a clean stop leaves a snapshot that the next
//! start restores.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn serve(data: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_twin"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--speed",
            "3600",
            "--data-dir",
        ])
        .arg(data)
        .current_dir(common::root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the twin runs")
}

fn stop(child: &mut std::process::Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    let status = child.wait().expect("the twin stops");
    assert!(status.success(), "a clean stop exits 0, got {status}");
}

#[test]
fn the_simulated_twin_comes_alive_reports_status_and_restores_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("twin");
    let mut child = serve(&data);
    let started = Instant::now();
    let live = loop {
        let s = common::twin_status(&data);
        // Some hours of Pitești at 3600×: every kind of sensor (bins report hourly) has
        // reported and the networks solved.
        if s["running"] == true
            && s["counters"]["applied"].as_u64().unwrap_or(0) > 40_000
            && s["counters"]["network_solves"].as_u64().unwrap_or(0) >= 4
        {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the twin did not come alive: {s}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(live["entities"], 18_620, "{live}");
    assert_eq!(
        live["rejected"],
        serde_json::json!({}),
        "the simulated feed is valid: {live}"
    );
    stop(&mut child);
    let stopped = common::twin_status(&data);
    assert_eq!(stopped["running"], false);
    let logged = stopped["readings_logged"].as_u64().expect("count");
    assert_eq!(
        stopped["last_snapshot"]["seq"].as_u64(),
        Some(logged),
        "{stopped}"
    );
    // The state of simulated entities is in the store.
    let out = common::twin(&[
        "state",
        "--data-dir",
        data.to_str().expect("utf-8"),
        "power:pt-1",
        "bin:1",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let states: serde_json::Value = serde_json::from_str(&common::stdout(&out)).expect("JSON");
    assert!(
        states["power:pt-1"]["state"]["activePower"]
            .as_f64()
            .is_some_and(|p| p > 0.0),
        "{states}"
    );
    assert!(
        states["bin:1"]["state"]["fillingLevel"].as_f64().is_some(),
        "{states}"
    );
    // Restart: the snapshot is restored, nothing to replay.
    let mut child = serve(&data);
    let started = Instant::now();
    let again = loop {
        let s = common::twin_status(&data);
        if s["running"] == true && s["restored"].is_object() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no restart: {s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        again["restored"]["snapshot_seq"].as_u64(),
        Some(logged),
        "{again}"
    );
    assert_eq!(again["restored"]["replayed"], 0, "{again}");
    stop(&mut child);
}

#[test]
fn status_after_a_crash_before_the_first_snapshot_still_knows_the_city() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("twin");
    let mut child = serve(&data);
    let started = Instant::now();
    loop {
        let s = common::twin_status(&data);
        if s["running"] == true && s["readings_logged"].as_u64().unwrap_or(0) > 0 {
            assert!(s["last_snapshot"].is_null(), "too late: {s}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the twin did not come alive: {s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let s = common::twin_status(&data);
    assert_eq!(s["running"], false, "{s}");
    assert_eq!(s["city"], "Pitești", "{s}");
    assert_eq!(s["entities"], 18_620, "{s}");
}

#[test]
fn status_of_a_folder_without_a_store_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = common::twin(&["status", "--data-dir", dir.path().to_str().expect("utf-8")]);
    common::assert_one_line_error(&out, &["no twin store here"]);
}
