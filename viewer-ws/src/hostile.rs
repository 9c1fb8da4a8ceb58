//! `twin bench hostile`: the server under attack. For each attack, `clients` hostile clients
//! (each from its own loopback address, 127.0.0.2 and up, as hosts on the internet would be)
//! run it while an honest observer on 127.0.0.1 asks `GET /health` every 50 ms and a WebSocket
//! viewer times probe readings from accepted to delta received. The report per attack: the
//! `/health` latency (p50, p99, max) and failures, and the feed's delay (p50, p99).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use twin_actors::LiveTwin;

use crate::bench::{Probes, client, connect_from, load_runtime, percentile, send_probe, ws_from};

/// The attacks, each run by every hostile client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// No attack: the baseline.
    None,
    /// Open 70 TCP connections (over the per-address cap) and send nothing.
    IdleSockets,
    /// Send a request's headers one byte a second, on 8 connections.
    SlowHeaders,
    /// Announce a 1 MB body and send a byte a second, on 8 connections.
    SlowBodies,
    /// Upgrade to WebSocket and never subscribe.
    SilentWebSockets,
    /// `GET /api/entities` (a full dump) in a loop, reading every byte.
    FullDumps,
    /// Subscribe to everything again and again on one WebSocket.
    Resubscribe,
    /// Announce a 100 MB body, in a loop.
    OversizedBodies,
    /// Send garbage and oversized WebSocket frames, in a loop.
    GarbageFrames,
}

impl Attack {
    pub const ALL: [Attack; 9] = [
        Attack::None,
        Attack::IdleSockets,
        Attack::SlowHeaders,
        Attack::SlowBodies,
        Attack::SilentWebSockets,
        Attack::FullDumps,
        Attack::Resubscribe,
        Attack::OversizedBodies,
        Attack::GarbageFrames,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Attack::None => "none (baseline)",
            Attack::IdleSockets => "idle sockets",
            Attack::SlowHeaders => "slow headers",
            Attack::SlowBodies => "slow bodies",
            Attack::SilentWebSockets => "silent WebSockets",
            Attack::FullDumps => "full dump loops",
            Attack::Resubscribe => "resubscribe floods",
            Attack::OversizedBodies => "oversized bodies",
            Attack::GarbageFrames => "garbage frames",
        }
    }
}

/// What the observer saw during one attack.
#[derive(Debug, Clone, Serialize)]
pub struct AttackReport {
    pub attack: &'static str,
    pub clients: usize,
    pub health_requests: usize,
    pub health_failed: usize,
    pub health_ms_p50: f64,
    pub health_ms_p99: f64,
    pub health_ms_max: f64,
    pub feed_samples: usize,
    pub feed_ms_p50: f64,
    pub feed_ms_p99: f64,
    /// Requests or frames the attackers got through (answers read, frames sent).
    pub attacker_operations: u64,
}

/// Run `attack` with `clients` hostile clients for `duration` against the server at `addr`
/// (port of 127.0.0.1) of `twin`.
pub async fn run_attack(
    twin: &LiveTwin,
    addr: std::net::SocketAddr,
    attack: Attack,
    clients: usize,
    duration: Duration,
) -> AttackReport {
    let load = load_runtime(2, "ws-load");
    let probes_n = (duration.as_secs_f64() / 0.2).ceil() as usize + 1;
    let probes = Probes::new(probes_n);
    let ready = Arc::new(tokio::sync::Barrier::new(2));
    let viewer = load.spawn(client(
        std::net::Ipv4Addr::LOCALHOST,
        addr,
        20.0,
        probes.clone(),
        ready.clone(),
    ));
    ready.wait().await;
    let stop = Arc::new(AtomicBool::new(false));
    let operations = Arc::new(AtomicU64::new(0));
    let attackers: Vec<_> = (0..clients)
        .map(|k| {
            let from = std::net::Ipv4Addr::new(127, 0, (2 + k / 250) as u8, (2 + k % 250) as u8);
            load.spawn(attacker(
                attack,
                from,
                addr,
                stop.clone(),
                operations.clone(),
            ))
        })
        .collect();
    // Let the attack build up before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let base_ms = chrono::Utc::now().timestamp_millis() - 60_000;
    let (mut health, mut failed) = (Vec::new(), 0);
    let (mut next_probe, mut probe) = (Instant::now(), 0usize);
    while started.elapsed() < duration {
        if Instant::now() >= next_probe && probe < probes_n {
            next_probe += Duration::from_millis(200);
            send_probe(
                twin,
                &probes,
                probe,
                base_ms + started.elapsed().as_millis() as i64,
            )
            .await;
            probe += 1;
        }
        let asked = Instant::now();
        match tokio::time::timeout(Duration::from_secs(5), get_health(addr)).await {
            Ok(Ok(200)) => health.push(asked.elapsed().as_secs_f64() * 1e3),
            _ => failed += 1,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        a.abort();
    }
    viewer.abort();
    load.shutdown_background();
    health.sort_by(f64::total_cmp);
    let feed = probes.sorted_samples();
    AttackReport {
        attack: attack.name(),
        clients,
        health_requests: health.len() + failed,
        health_failed: failed,
        health_ms_p50: percentile(&health, 0.5),
        health_ms_p99: percentile(&health, 0.99),
        health_ms_max: health.last().copied().unwrap_or(f64::NAN),
        feed_samples: feed.len(),
        feed_ms_p50: percentile(&feed, 0.5),
        feed_ms_p99: percentile(&feed, 0.99),
        attacker_operations: operations.load(Ordering::Relaxed),
    }
}

/// `GET /health` on its own connection from 127.0.0.1: the status code.
async fn get_health(addr: std::net::SocketAddr) -> std::io::Result<u16> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(b"GET /health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .await?;
    let mut text = Vec::new();
    s.read_to_end(&mut text).await?;
    let text = String::from_utf8_lossy(&text);
    Ok(text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0))
}

/// One hostile client: runs `attack` from `from` until `stop`.
async fn attacker(
    attack: Attack,
    from: std::net::Ipv4Addr,
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    operations: Arc<AtomicU64>,
) {
    let count = || operations.fetch_add(1, Ordering::Relaxed);
    let mut held = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match attack {
            Attack::None => return,
            Attack::IdleSockets => {
                while held.len() < 70 {
                    match connect_from(from, addr).await {
                        Ok(s) => held.push(s),
                        Err(_) => break,
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                // Keep only those the server has not closed (it closes those over its caps).
                let mut open = Vec::new();
                for mut s in held.drain(..) {
                    let mut b = [0u8; 1];
                    match tokio::time::timeout(Duration::from_millis(1), s.read(&mut b)).await {
                        Ok(Ok(0)) | Ok(Err(_)) => {}
                        _ => open.push(s),
                    }
                }
                held = open;
            }
            Attack::SlowHeaders | Attack::SlowBodies => {
                let head: &[u8] = if attack == Attack::SlowHeaders {
                    b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: "
                } else {
                    b"POST /api/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"
                };
                let mut conns = Vec::new();
                for _ in 0..8 {
                    if let Ok(mut s) = connect_from(from, addr).await
                        && s.write_all(head).await.is_ok()
                    {
                        conns.push(s);
                    }
                }
                for _ in 0..40 {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let mut alive = Vec::new();
                    for mut s in conns.drain(..) {
                        if s.write_all(b"a").await.is_ok() {
                            count();
                            alive.push(s);
                        }
                    }
                    conns = alive;
                    if conns.is_empty() {
                        break;
                    }
                }
            }
            Attack::SilentWebSockets => {
                match ws_from(from, addr).await {
                    Some(ws) => {
                        count();
                        // Hold it, saying nothing, until the server closes it.
                        let (_sink, mut stream) = ws.split();
                        while let Some(Ok(_)) = stream.next().await {}
                    }
                    None => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
            Attack::FullDumps => {
                if let Ok(mut s) = connect_from(from, addr).await {
                    let _ = s
                        .write_all(
                            b"GET /api/entities HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                        )
                        .await;
                    let mut sink = Vec::new();
                    if s.read_to_end(&mut sink).await.is_ok() {
                        count();
                    }
                }
            }
            Attack::Resubscribe => {
                if let Some(mut ws) = ws_from(from, addr).await {
                    let sub = r#"{"type":"subscribe","id":"a","layers":["street","power","water","bin","charger"],"rate":20}"#;
                    loop {
                        if stop.load(Ordering::Relaxed)
                            || ws.send(Message::Text(sub.into())).await.is_err()
                        {
                            break;
                        }
                        count();
                        // Drain what came back without waiting for it.
                        while let Ok(Some(Ok(_))) =
                            tokio::time::timeout(Duration::from_millis(1), ws.next()).await
                        {
                        }
                    }
                }
            }
            Attack::OversizedBodies => {
                if let Ok(mut s) = connect_from(from, addr).await {
                    let _ = s
                        .write_all(b"POST /api/readings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\nConnection: close\r\n\r\n")
                        .await;
                    let mut answer = Vec::new();
                    if s.read_to_end(&mut answer).await.is_ok() {
                        count();
                    }
                }
            }
            Attack::GarbageFrames => {
                if let Some(mut ws) = ws_from(from, addr).await {
                    let big = "x".repeat(200_000);
                    for text in [
                        "{not json",
                        "{\"type\":\"subscribe\",\"rate\":1e-300}",
                        &big,
                    ] {
                        if ws.send(Message::Text(text.into())).await.is_err() {
                            break;
                        }
                        count();
                    }
                    while let Ok(Some(Ok(_))) =
                        tokio::time::timeout(Duration::from_millis(50), ws.next()).await
                    {
                    }
                }
            }
        }
    }
}
