//! `twin bench soak`: the live twin for many simulated days, as fast as the machine takes it,
//! to show that its per-day costs do not grow with its age.
//!
//! The simulated feed is stepped one simulated minute at a time and each minute's readings go
//! through the twin's one way in (`ingest_durable`: validated, logged, flushed, applied), so
//! the run is as fast as ingest allows; WebSocket clients stay subscribed to every layer all
//! along, and a scenario is forked from the live state every simulated hour through
//! `POST /api/scenarios`. Per simulated day it records the process's resident memory, the
//! store's size, the ingest time per reading and per batch, the network models' mean solve
//! time and the scenarios' run time ([`SoakDay`]); [`flatness`] compares the last days with the
//! first, and [`plot_svg`] draws every series against its own median.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use twin_actors::LiveTwin;
use twin_actors::ingest::simulated::SimulatedFeed;

use crate::bench::percentile;

/// What a soak run does.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    pub days: u32,
    /// WebSocket clients subscribed to every layer for the whole run.
    pub clients: usize,
    /// An operator token of the server, to post scenarios.
    pub operator_token: String,
    /// The feed's first simulated minute.
    pub start: DateTime<Utc>,
}

/// One simulated day of a soak run.
#[derive(Debug, Clone, Serialize)]
pub struct SoakDay {
    pub day: u32,
    /// Wall-clock seconds the simulated day took.
    pub wall_s: f64,
    pub readings: u64,
    pub batches: u64,
    /// Ingest time (sent to durable) per reading, µs, and the 99th percentile of a batch, ms.
    pub ingest_us_per_reading: f64,
    pub batch_ms_p99: f64,
    /// Network model solves this day and their mean time, ms.
    pub solves: u64,
    pub solve_ms_mean: f64,
    /// Scenario forks finished this day, their mean run time (s), and simulated hours whose
    /// fork was skipped because the last one still ran (or was refused).
    pub scenarios: u64,
    pub scenario_s_mean: f64,
    pub scenarios_refused: u64,
    /// Resident memory and store size at the end of the day, MB.
    pub rss_mb: f64,
    pub store_mb: f64,
    /// WebSocket messages the clients received this day.
    pub ws_messages: u64,
}

/// The series [`flatness`] and [`plot_svg`] look at: name and value of a day.
pub const SERIES: [(&str, fn(&SoakDay) -> f64); 6] = [
    ("RSS MB", |d| d.rss_mb),
    ("store MB", |d| d.store_mb),
    ("ingest µs/reading", |d| d.ingest_us_per_reading),
    ("batch ms p99", |d| d.batch_ms_p99),
    ("solve ms", |d| d.solve_ms_mean),
    ("scenario s", |d| d.scenario_s_mean),
];

/// A scenario forked every simulated hour: an hour of the power model (the fork takes the
/// twin's clock as its start).
const SCENARIO: &str = "name = \"soak\"\nstart = \"2026-01-01T00:00\"\nhorizon = \"1h\"\n\
                        models = [\"power\"]\n";

#[derive(Default)]
struct Shared {
    /// A fork is running: the next simulated hour's is skipped (counted) rather than piled up.
    forking: std::sync::atomic::AtomicBool,
    ws_messages: AtomicU64,
    scenario_seconds: Mutex<Vec<f64>>,
    scenarios_refused: AtomicU64,
}

/// Run the soak: `days` simulated days of `feed` through `twin`, whose server listens on
/// `addr`. `on_day` is told each day as it ends (progress).
pub async fn soak(
    twin: LiveTwin,
    addr: std::net::SocketAddr,
    mut feed: SimulatedFeed,
    config: SoakConfig,
    mut on_day: impl FnMut(&SoakDay),
) -> Vec<SoakDay> {
    let city = twin.shared.city.clone();
    let shared = Arc::new(Shared::default());
    // Clients and scenario posts run on their own threads, apart from the ingest loop.
    let load = crate::bench::load_runtime(1, "soak-load");
    for _ in 0..config.clients {
        load.spawn(ws_client(format!("ws://{addr}/ws"), shared.clone()));
    }
    let mut days = Vec::new();
    let mut t = config.start;
    for day in 1..=config.days {
        let started = Instant::now();
        let before = twin.status().counters.unwrap_or_default();
        let ws_before = shared.ws_messages.load(Ordering::Relaxed);
        let refused_before = shared.scenarios_refused.load(Ordering::Relaxed);
        let (mut readings, mut ingest_s, mut batch_ms) = (0u64, 0.0, Vec::with_capacity(1440));
        for minute in 0..1440 {
            t += chrono::Duration::minutes(1);
            let raws = feed.readings_until(&city, t);
            if !raws.is_empty() {
                let sent = Instant::now();
                let outcome = twin
                    .ingest_durable(raws.into_iter().map(Ok).collect(), Some(t))
                    .await;
                let took = sent.elapsed().as_secs_f64();
                match outcome {
                    Ok(o) => readings += o.accepted as u64,
                    Err(_) => break,
                }
                ingest_s += took;
                batch_ms.push(took * 1e3);
            }
            if minute % 60 == 0 {
                if shared.forking.swap(true, Ordering::AcqRel) {
                    shared.scenarios_refused.fetch_add(1, Ordering::Relaxed);
                } else {
                    let shared = shared.clone();
                    let token = config.operator_token.clone();
                    load.spawn(async move {
                        fork_scenario(addr, token, &shared).await;
                        shared.forking.store(false, Ordering::Release);
                    });
                }
            }
        }
        // Let the day's last solves and forks finish inside the day they belong to.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let after = twin.status();
        let counters = after.counters.unwrap_or_default();
        let solves = counters.network_solves - before.network_solves;
        let scenario_s: Vec<f64> = std::mem::take(
            &mut *shared
                .scenario_seconds
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        batch_ms.sort_by(f64::total_cmp);
        let record = SoakDay {
            day,
            wall_s: started.elapsed().as_secs_f64(),
            readings,
            batches: batch_ms.len() as u64,
            ingest_us_per_reading: ingest_s * 1e6 / readings.max(1) as f64,
            batch_ms_p99: percentile(&batch_ms, 0.99),
            solves,
            solve_ms_mean: (counters.network_solve_us - before.network_solve_us) as f64
                / 1e3
                / solves.max(1) as f64,
            scenarios: scenario_s.len() as u64,
            scenario_s_mean: scenario_s.iter().sum::<f64>() / scenario_s.len().max(1) as f64,
            scenarios_refused: shared.scenarios_refused.load(Ordering::Relaxed) - refused_before,
            rss_mb: twin_actors::bench::rss_bytes() as f64 / 1e6,
            store_mb: after.store_bytes as f64 / 1e6,
            ws_messages: shared.ws_messages.load(Ordering::Relaxed) - ws_before,
        };
        on_day(&record);
        days.push(record);
    }
    load.shutdown_background();
    days
}

/// A viewer subscribed to every layer, counting what it receives; it reconnects if dropped.
async fn ws_client(url: String, shared: Arc<Shared>) {
    loop {
        if let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url.as_str()).await {
            let sub = serde_json::json!({"type": "subscribe", "layers":
                ["street", "power", "water", "bin", "charger", "kpi", "alert"], "rate": 2});
            let _ = ws.send(Message::Text(sub.to_string().into())).await;
            while let Some(Ok(_)) = ws.next().await {
                shared.ws_messages.fetch_add(1, Ordering::Relaxed);
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Fork a scenario from the live state and wait for its end; its run time, or a refusal.
async fn fork_scenario(addr: std::net::SocketAddr, token: String, shared: &Shared) {
    let posted = http(addr, "POST", "/api/scenarios", &token, SCENARIO).await;
    let Some(link) = posted
        .ok()
        .filter(|(code, _)| *code == 202)
        .and_then(|(_, body)| body["links"]["self"].as_str().map(String::from))
    else {
        shared.scenarios_refused.fetch_add(1, Ordering::Relaxed);
        return;
    };
    for _ in 0..6000 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let Ok((_, job)) = http(addr, "GET", &link, &token, "").await else {
            continue;
        };
        if job["status"] != "running" {
            if let Some(s) = job["seconds"].as_f64() {
                shared
                    .scenario_seconds
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(s);
            }
            return;
        }
    }
}

/// One HTTP/1.1 request on its own connection: status and JSON body.
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> std::io::Result<(u16, serde_json::Value)> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).await?;
    let mut text = String::new();
    s.read_to_string(&mut text).await?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((code, serde_json::from_str(body).unwrap_or_default()))
}

/// For each of [`SERIES`], the mean of the last ten days over the mean of days 11 to 20 (by
/// day 10 the store holds its retention's worth of log and the caches are warm): 1.0 is flat.
/// With fewer than 30 days, the second half over the first.
pub fn flatness(days: &[SoakDay]) -> Vec<(&'static str, f64)> {
    let n = days.len();
    let (early, late) = if n >= 30 {
        (&days[10..20], &days[n - 10..])
    } else {
        (&days[..n / 2], &days[n / 2..])
    };
    let mean = |d: &[SoakDay], f: fn(&SoakDay) -> f64| {
        d.iter().map(f).sum::<f64>() / d.len().max(1) as f64
    };
    SERIES
        .iter()
        .map(|(name, f)| {
            let e = mean(early, *f);
            (
                *name,
                if e > 0.0 {
                    mean(late, *f) / e
                } else {
                    f64::NAN
                },
            )
        })
        .collect()
}

/// An SVG line chart of every series of [`SERIES`], each divided by its own median, against
/// the simulated day: flat lines near 1 are what months of uptime need.
pub fn plot_svg(days: &[SoakDay]) -> String {
    const W: f64 = 760.0;
    const H: f64 = 360.0;
    const PAD: f64 = 48.0;
    const COLOURS: [&str; 6] = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    ];
    let y_max = 2.0;
    let last_day = days.last().map_or(1, |d| d.day).max(2) as f64;
    let x = |day: u32| PAD + (f64::from(day) - 1.0) / (last_day - 1.0) * (W - 2.0 * PAD);
    let y = |v: f64| H - PAD - v.clamp(0.0, y_max) / y_max * (H - 2.0 * PAD);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{PAD}\" y=\"20\" font-size=\"13\">twin bench soak: each series over its median, per simulated day</text>\n"
    );
    for v in [0.0, 0.5, 1.0, 1.5, 2.0] {
        let at = y(v);
        svg += &format!(
            "<line x1=\"{PAD}\" x2=\"{}\" y1=\"{at:.1}\" y2=\"{at:.1}\" stroke=\"#ddd\"/><text x=\"8\" y=\"{:.1}\">{v:.1}</text>\n",
            W - PAD,
            at + 4.0,
        );
    }
    svg += &format!(
        "<text x=\"{:.1}\" y=\"{:.1}\">simulated day (1 to {last_day})</text>\n",
        W / 2.0 - 60.0,
        H - 12.0
    );
    for (k, (name, f)) in SERIES.iter().enumerate() {
        let mut values: Vec<f64> = days.iter().map(f).collect();
        values.sort_by(f64::total_cmp);
        let median = percentile(&values, 0.5);
        if median <= 0.0 {
            continue;
        }
        let points: Vec<String> = days
            .iter()
            .map(|d| format!("{:.1},{:.1}", x(d.day), y(f(d) / median)))
            .collect();
        svg += &format!(
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"1.5\" points=\"{}\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"{c}\">{name}</text>\n",
            points.join(" "),
            W - PAD - 120.0,
            40.0 + 14.0 * k as f64,
            c = COLOURS[k % COLOURS.len()]
        );
    }
    svg + "</svg>\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(day: u32, rss: f64) -> SoakDay {
        SoakDay {
            day,
            wall_s: 1.0,
            readings: 100,
            batches: 10,
            ingest_us_per_reading: 5.0,
            batch_ms_p99: 2.0,
            solves: 3,
            solve_ms_mean: 40.0,
            scenarios: 24,
            scenario_s_mean: 0.5,
            scenarios_refused: 0,
            rss_mb: rss,
            store_mb: 30.0,
            ws_messages: 1000,
        }
    }

    #[test]
    fn flat_series_are_one_and_a_growing_one_is_not() {
        let days: Vec<SoakDay> = (1..=30)
            .map(|d| day(d, 100.0 + f64::from(d) * 10.0))
            .collect();
        let f = flatness(&days);
        let of = |name: &str| f.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        assert_eq!(of("store MB"), Some(1.0));
        // Days 11–20 average 255 MB, days 21–30 355 MB.
        assert!((of("RSS MB").expect("rss") - 355.0 / 255.0).abs() < 1e-9);
        let svg = plot_svg(&days);
        assert!(svg.starts_with("<svg") && svg.matches("<polyline").count() == SERIES.len());
    }
}
