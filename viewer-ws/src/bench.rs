//! `twin bench ws`: many WebSocket clients on loopback subscribed to the whole twin, the latency
//! from a reading accepted (durable) to the delta carrying it received, server CPU and memory,
//! and the memory of stalled clients that never read.
//!
//! The twin, the server and the load clients run in one process: the clients run on their own
//! runtime whose threads are named `ws-load`, so the server's CPU time is the process's minus
//! theirs (read per thread from /proc).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;
use twin_actors::LiveTwin;
use twin_actors::twin::Rejection;
use twin_core::reading::RawReading;

/// The entity whose `temperature` carries probe numbers.
pub const PROBE_ENTITY: &str = "bin:1";

/// What the benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct WsBenchReport {
    pub clients: usize,
    pub rate_hz: f64,
    pub background_readings_per_s: f64,
    pub probes: usize,
    pub samples: usize,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_max: f64,
    pub snapshot_bytes: usize,
    pub connect_s: f64,
    pub server_cpu_percent: f64,
    pub rss_before_mb: f64,
    pub rss_connected_mb: f64,
    pub rss_end_mb: f64,
}

/// Memory of stalled clients.
#[derive(Debug, Clone, Serialize)]
pub struct StalledReport {
    pub stalled_clients: usize,
    pub readings: u64,
    pub rss_before_mb: f64,
    pub rss_after_mb: f64,
}

fn rss_mb() -> f64 {
    twin_actors::bench::rss_bytes() as f64 / 1e6
}

/// CPU seconds of this process's threads, split into (load clients, everything else).
fn cpu_seconds() -> (f64, f64) {
    twin_actors::bench::thread_cpu_seconds("ws-load")
}

pub(crate) fn reading(
    entity: &str,
    ms: i64,
    field: &str,
    value: f64,
) -> Result<RawReading, Rejection> {
    let mut values = std::collections::BTreeMap::new();
    values.insert(field.to_string(), serde_json::json!(value));
    Ok(RawReading {
        entity: entity.to_string(),
        observed_at: twin_core::live::rfc3339(ms),
        values,
    })
}

/// Whether a snapshot message is the last of its parts.
fn last_part(text: &str) -> bool {
    let number = |key: &str| -> Option<usize> {
        let v = text.split(key).nth(1)?;
        v[..v.find([',', '}'])?].parse().ok()
    };
    matches!((number("\"part\":"), number("\"parts\":")), (Some(p), Some(n)) if p + 1 == n)
}

/// The probe number in a delta, if it carries one.
fn probe_in(text: &str) -> Option<u64> {
    let key = format!("\"{PROBE_ENTITY}\":{{");
    let at = text.find(&key)? + key.len();
    let object = &text[at..at + text[at..].find('}')?];
    let v = object.split("\"temperature\":").nth(1)?;
    let end = v.find([',', '}']).unwrap_or(v.len());
    let t: f64 = v[..end].parse().ok()?;
    // Probes are sent as 10 + k / 1000 °C.
    Some(((t - 10.0) * 1000.0).round() as u64)
}

pub(crate) struct Probes {
    /// Nanoseconds after `epoch` when probe k was accepted (0 = not yet).
    pub(crate) accepted_ns: Vec<AtomicU64>,
    pub(crate) epoch: Instant,
    pub(crate) samples: Mutex<Vec<f64>>,
    pub(crate) snapshot_bytes: AtomicU64,
}

/// The loopback address of load client `k`: 127.1.x.y, spread as hosts on a network would be
/// (the server limits WebSockets per address).
pub(crate) fn loopback_of(k: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(127, 1, (k / 250) as u8, (1 + k % 250) as u8)
}

/// A TCP connection to `addr` from the loopback address `from`, without Nagle's delay.
pub(crate) async fn connect_from(
    from: std::net::Ipv4Addr,
    addr: std::net::SocketAddr,
) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind((from, 0).into())?;
    let tcp = socket.connect(addr).await?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// A WebSocket to the feed of the server at `addr`, from the loopback address `from`.
pub(crate) async fn ws_from(
    from: std::net::Ipv4Addr,
    addr: std::net::SocketAddr,
) -> Option<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>> {
    let tcp = connect_from(from, addr).await.ok()?;
    tokio_tungstenite::client_async(format!("ws://{addr}/ws"), tcp)
        .await
        .ok()
        .map(|(ws, _)| ws)
}

/// A runtime of `threads` workers named `name` for load clients, apart from the server's
/// threads (their CPU time is told apart by the name).
pub(crate) fn load_runtime(threads: usize, name: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("a runtime for the load clients")
}

impl Probes {
    /// Room for `n` probes, none sent yet.
    pub(crate) fn new(n: usize) -> Arc<Probes> {
        Arc::new(Probes {
            accepted_ns: (0..n).map(|_| AtomicU64::new(0)).collect(),
            epoch: Instant::now(),
            samples: Mutex::new(Vec::new()),
            snapshot_bytes: AtomicU64::new(0),
        })
    }

    /// The latencies measured so far, ms, in ascending order.
    pub(crate) fn sorted_samples(&self) -> Vec<f64> {
        let mut samples = self
            .samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        samples.sort_by(f64::total_cmp);
        samples
    }
}

/// Send probe `k` (observed at `ms`) through the durable path and note when it was accepted,
/// for the viewers that time it.
pub(crate) async fn send_probe(twin: &LiveTwin, probes: &Probes, k: usize, ms: i64) {
    let value = 10.0 + k as f64 / 1000.0;
    let out = twin
        .ingest_durable(vec![reading(PROBE_ENTITY, ms, "temperature", value)], None)
        .await;
    if out.is_ok_and(|o| o.accepted == 1) {
        probes.accepted_ns[k].store(probes.epoch.elapsed().as_nanos() as u64, Ordering::Release);
    }
}

/// A viewer subscribed to every entity layer at `rate` Hz, timing the probes it receives.
pub(crate) async fn client(
    from: std::net::Ipv4Addr,
    addr: std::net::SocketAddr,
    rate: f64,
    probes: Arc<Probes>,
    ready: Arc<tokio::sync::Barrier>,
) {
    let Some(mut ws) = ws_from(from, addr).await else {
        ready.wait().await;
        return;
    };
    let sub = serde_json::json!({"type": "subscribe", "layers":
        ["street", "power", "water", "bin", "charger"], "rate": rate});
    let _ = ws.send(Message::Text(sub.to_string().into())).await;
    let mut snapshot = false;
    let mut snapshot_bytes = 0;
    let mut waited = false;
    while let Some(Ok(m)) = ws.next().await {
        let Message::Text(t) = m else { continue };
        let text = t.as_str();
        if !snapshot && text.starts_with("{\"type\":\"snapshot\"") {
            snapshot_bytes += text.len();
            if !last_part(text) {
                continue;
            }
            snapshot = true;
            probes
                .snapshot_bytes
                .store(snapshot_bytes as u64, Ordering::Relaxed);
            if !waited {
                waited = true;
                ready.wait().await;
            }
            continue;
        }
        if let Some(k) = probe_in(text) {
            let now = probes.epoch.elapsed().as_nanos() as u64;
            if let Some(sent) = probes.accepted_ns.get(k as usize) {
                let sent = sent.load(Ordering::Acquire);
                if sent > 0 && now >= sent {
                    let ms = (now - sent) as f64 / 1e6;
                    probes
                        .samples
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(ms);
                }
            }
        }
    }
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let k = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[k.min(sorted.len() - 1)]
}

/// Run the latency benchmark: `clients` subscribed to every entity layer at `rate` Hz, a probe
/// reading every `probe_every` for `duration`, with `background` other readings per second.
pub async fn ws_latency(
    twin: LiveTwin,
    addr: std::net::SocketAddr,
    clients: usize,
    rate: f64,
    duration: Duration,
    probe_every: Duration,
    background: f64,
) -> WsBenchReport {
    let probes_n = (duration.as_secs_f64() / probe_every.as_secs_f64()).ceil() as usize + 1;
    let probes = Probes::new(probes_n);
    let rss_before_mb = rss_mb();
    let load = load_runtime(2, "ws-load");
    let ready = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let connect_started = Instant::now();
    for k in 0..clients {
        load.spawn(client(
            loopback_of(k),
            addr,
            rate,
            probes.clone(),
            ready.clone(),
        ));
    }
    ready.wait().await;
    let connect_s = connect_started.elapsed().as_secs_f64();
    let rss_connected_mb = rss_mb();
    let (_, all_cpu0) = cpu_seconds();
    let started = Instant::now();
    let base_ms = chrono::Utc::now().timestamp_millis() - 60_000;
    let bins: Vec<String> = twin
        .shared
        .city
        .entities_of(twin_core::entity::AssetKind::WasteBin)
        .map(|e| e.id.to_string())
        .filter(|id| id != PROBE_ENTITY)
        .collect();
    let mut probe = 0usize;
    let mut next_probe = Instant::now();
    let mut background_sent = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    while started.elapsed() < duration {
        tick.tick().await;
        let elapsed = started.elapsed().as_secs_f64();
        let due = (elapsed * background) as u64;
        let mut batch = Vec::new();
        while background_sent < due {
            let id = &bins[(background_sent as usize * 7919) % bins.len()];
            let ms = base_ms + (elapsed * 1000.0) as i64;
            batch.push(reading(
                id,
                ms,
                "fillingLevel",
                (background_sent % 97) as f64 / 100.0,
            ));
            background_sent += 1;
        }
        if !batch.is_empty() {
            let _ = twin
                .ingest(twin_actors::twin::IngestBatch {
                    readings: batch,
                    now: None,
                    done: None,
                })
                .await;
        }
        if Instant::now() >= next_probe && probe < probes_n {
            next_probe += probe_every;
            send_probe(&twin, &probes, probe, base_ms + (elapsed * 1000.0) as i64).await;
            probe += 1;
        }
    }
    // Let the last probes arrive.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let wall = started.elapsed().as_secs_f64();
    let (_, all_cpu1) = cpu_seconds();
    let rss_end_mb = rss_mb();
    load.shutdown_background();
    let samples = probes.sorted_samples();
    WsBenchReport {
        clients,
        rate_hz: rate,
        background_readings_per_s: background,
        probes: probe,
        samples: samples.len(),
        latency_ms_p50: percentile(&samples, 0.5),
        latency_ms_p99: percentile(&samples, 0.99),
        latency_ms_max: samples.last().copied().unwrap_or(f64::NAN),
        snapshot_bytes: probes.snapshot_bytes.load(Ordering::Relaxed) as usize,
        connect_s,
        server_cpu_percent: 100.0 * (all_cpu1 - all_cpu0) / wall,
        rss_before_mb,
        rss_connected_mb,
        rss_end_mb,
    }
}

/// Clients that subscribe and then never read, while `readings` go through the twin: the
/// process's memory before and after.
pub async fn ws_stalled(
    twin: LiveTwin,
    addr: std::net::SocketAddr,
    stalled: usize,
    readings: u64,
) -> StalledReport {
    let mut sockets = Vec::new();
    for k in 0..stalled {
        if let Some(mut ws) = ws_from(loopback_of(k), addr).await {
            let sub = serde_json::json!({"type": "subscribe", "layers":
                ["street", "power", "water", "bin", "charger", "kpi"], "rate": 20});
            let _ = ws.send(Message::Text(sub.to_string().into())).await;
            sockets.push(ws); // never read again
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before_mb = rss_mb();
    let base_ms = chrono::Utc::now().timestamp_millis() - 60_000;
    let ids: Vec<String> = twin
        .shared
        .city
        .entities_of(twin_core::entity::AssetKind::WasteBin)
        .map(|e| e.id.to_string())
        .collect();
    let mut sent = 0u64;
    while sent < readings {
        let batch: Vec<_> = (0..1000u64.min(readings - sent))
            .map(|k| {
                let n = sent + k;
                reading(
                    &ids[(n as usize * 7919) % ids.len()],
                    base_ms + (n / 1000) as i64,
                    "fillingLevel",
                    (n % 89) as f64 / 100.0,
                )
            })
            .collect();
        sent += batch.len() as u64;
        let _ = twin.ingest_durable(batch, None).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_after_mb = rss_mb();
    drop(sockets);
    StalledReport {
        stalled_clients: stalled,
        readings,
        rss_before_mb,
        rss_after_mb,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_are_found_in_deltas() {
        let d = r#"{"type":"delta","entities":{"bin:10":{"temperature":99},"bin:1":{"temperature":10.042,"observedAt":"x"}}}"#;
        assert_eq!(probe_in(d), Some(42));
        assert_eq!(
            probe_in(r#"{"entities":{"bin:1":{"fillingLevel":0.5}}}"#),
            None
        );
        assert_eq!(
            probe_in(r#"{"entities":{"bin:12":{"temperature":10.001}}}"#),
            None
        );
        assert!(last_part(
            r#"{"type":"snapshot","part":2,"parts":3,"entities":{}}"#
        ));
        assert!(!last_part(
            r#"{"type":"snapshot","part":1,"parts":3,"entities":{}}"#
        ));
    }
}
