//! City facts are data: a second, small bundle (data/testville, not Pitești) runs end to end
//! with no code of its own — served live with its collection plan, planned from the command
//! line, and under a scenario — and the built-in Pitești runs from a folder with no data in it.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Killed, free_port, root, stderr, stdout, twin, wait_for_port};

const TOKEN: &str = "testville-operator-token";

/// `twin serve` on `city` (none: the built-in one), from the folder `cwd`.
fn serve(city: Option<&str>, data: &Path, cwd: &Path, port: u16) -> Killed {
    std::fs::create_dir_all(data).expect("data folder");
    common::write_operator_tokens(&data, TOKEN);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_twin"));
    cmd.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--speed",
        "3600",
    ])
    .arg("--data-dir")
    .arg(data)
    .arg("--tokens")
    .arg(data.join("tokens.toml"))
    .current_dir(cwd)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    if let Some(city) = city {
        cmd.arg("--city").arg(city);
    }
    Killed(cmd.spawn().expect("the twin runs"))
}

fn get(port: u16, path: &str) -> serde_json::Value {
    let (code, body) = common::http(port, "GET", path, Some(TOKEN), None);
    assert_eq!(code, 200, "GET {path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

#[test]
fn a_second_city_is_served_with_its_own_waste_sites() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let city = root().join("data/testville");
    let _twin = serve(city.to_str(), &dir.path().join("twin"), dir.path(), port);
    wait_for_port(port, "the Testville twin");
    let entities = get(port, "/api/entities");
    assert_eq!(entities["count"], 47, "31 streets and 16 bins");
    // Bins report hourly: wait until the simulated feed has filled some enough to collect.
    let started = Instant::now();
    let trips = loop {
        let (code, body) = common::http(
            port,
            "GET",
            "/api/waste/plan?stream=residual",
            Some(TOKEN),
            None,
        );
        assert_eq!(code, 200, "{body}");
        let plan: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        let trips: Vec<serde_json::Value> = plan["trucks"]
            .as_array()
            .expect("trucks")
            .iter()
            .flat_map(|t| t["trips"].as_array().expect("trips").clone())
            .collect();
        if !trips.is_empty() {
            break trips;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no bin to collect yet: {plan}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    // The depot and the landfill are Testville's: every trip drives at least the 6 km out to
    // the landfill and back that its city.toml gives.
    for t in &trips {
        assert!(t["km"].as_f64().expect("km") >= 6.0, "{t}");
    }
}

#[test]
fn a_second_city_plans_its_collection_and_runs_a_scenario_from_the_command_line() {
    let out = twin(&[
        "waste",
        "plan",
        "--city",
        "data/testville",
        "--date",
        "2026-03-04",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let bins: usize = plan["trucks"]
        .as_array()
        .expect("trucks")
        .iter()
        .flat_map(|t| t["trips"].as_array().expect("trips"))
        .map(|t| t["bins"].as_array().expect("bins").len())
        .sum();
    assert!((1..=12).contains(&bins), "residual bins planned: {plan}");

    let dir = tempfile::tempdir().expect("temp dir");
    let out = twin(&[
        "scenario",
        "run",
        "data/testville/closure.toml",
        "--out",
        dir.path().to_str().expect("utf-8"),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let closed = report["most_affected_streets"]
        .as_array()
        .expect("most affected streets")
        .iter()
        .find(|s| s["id"] == "street:6")
        .unwrap_or_else(|| panic!("the closed street is among the most affected: {report}"));
    assert!(
        closed["scenario_vehicle_h"].as_f64() < closed["baseline_vehicle_h"].as_f64(),
        "traffic leaves the closed street: {closed}"
    );
}

#[test]
fn a_city_without_waste_sites_is_refused_by_name_when_planning() {
    let dir = tempfile::tempdir().expect("temp dir");
    common::copy_bundle(&root().join("data/testville"), dir.path());
    let manifest = dir.path().join("city.toml");
    let text = std::fs::read_to_string(&manifest).expect("city.toml");
    let cut = text.find("[waste]").expect("a [waste] table");
    std::fs::write(&manifest, &text[..cut]).expect("write");
    let out = twin(&[
        "waste",
        "plan",
        "--city",
        dir.path().to_str().expect("utf-8"),
        "--date",
        "2026-03-04",
    ]);
    common::assert_one_line_error(&out, &["Testville", "[waste]"]);
}

#[test]
fn the_built_in_city_runs_from_a_folder_without_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_twin"))
        .args(["waste", "plan", "--date", "2026-03-04"])
        .current_dir(dir.path())
        .output()
        .expect("the twin runs");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("Pitești residual collection"),
        "{}",
        stdout(&out)
    );

    let port = free_port();
    let _twin = serve(None, &dir.path().join("twin"), dir.path(), port);
    wait_for_port(port, "the built-in twin");
    let kpis = get(port, "/api/kpis");
    assert_eq!(kpis["entities"], 18_620, "Pitești, built in: {kpis}");
    // The EV sessions are built in too: the feed's chargers charge (2 % of cars electric).
    let started = Instant::now();
    loop {
        let kpis = get(port, "/api/kpis");
        if kpis["charging_power_kw"].as_f64().unwrap_or(0.0) > 0.0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no EV charging on the built-in city: {kpis}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A twin started outside the repository, on a bundle that names no EV sessions, with
/// `--ev-sessions`: a scenario forked through `POST /api/scenarios` runs the EV model on those
/// sessions (the API once looked for them at a path relative to the repository).
#[test]
fn an_ev_scenario_forked_from_a_twin_started_elsewhere_uses_its_ev_sessions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bundle = dir.path().join("pitesti");
    common::copy_bundle(&root().join("data/pitesti"), &bundle);
    let manifest = std::fs::read_to_string(bundle.join("city.toml")).expect("city.toml");
    let without: String = manifest
        .lines()
        .filter(|l| !l.starts_with("sessions = "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(without, manifest, "the copy names no sessions");
    std::fs::write(bundle.join("city.toml"), without).expect("city.toml");
    let data = dir.path().join("twin");
    common::write_operator_tokens(&data, TOKEN);
    let port = free_port();
    let _twin = Killed(
        Command::new(env!("CARGO_BIN_EXE_twin"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(&data)
            .arg("--city")
            .arg(&bundle)
            .arg("--ev-sessions")
            .arg(root().join("data/ev/cp-data-mar-may-2018.csv"))
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the twin runs"),
    );
    wait_for_port(port, "the twin");
    let scenario = "name = \"EV afternoon\"\nstart = \"2026-03-02T00:00\"\nhorizon = \"2h\"\nmodels = [\"ev\"]\n";
    let (code, body) = post_text(port, "/api/scenarios", scenario);
    assert_eq!(code, 202, "{body}");
    let link = serde_json::from_str::<serde_json::Value>(&body).expect("JSON")["links"]["self"]
        .as_str()
        .expect("a link")
        .to_string();
    let started = Instant::now();
    let job = loop {
        let job = get(port, &link);
        if job["status"] != "running" {
            break job;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{job}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(job["status"], "done", "{job}");
}

/// POST a text body with the test's token: the status and the body.
fn post_text(port: u16, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/toml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let (head, body) = text.split_once("\r\n\r\n").expect("an answer");
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status");
    (code, body.to_string())
}
