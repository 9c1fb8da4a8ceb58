//! `twin bench ingest`: the live twin's hot paths, measured on this machine.
//!
//! - readings applied by entity actors (bounded mailboxes, backpressure) against the raw cost of
//!   a bounded tokio mpsc channel between two threads, the floor of any message passing;
//! - durable ingest: the whole pipeline (validate, log, flush, dispatch) in batches;
//! - memory of idle entity actors (RSS growth per actor for a million of them);
//! - restart: restoring Pitești from a snapshot plus a log tail, and starting its actors;
//! - history: one sensor's month read back among many sensors' months, and bytes per reading.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix::{Actor, Addr, Arbiter};
use chrono::{TimeZone, Utc};
use twin_core::live::EntityLive;
use twin_core::reading::RawReading;
use twin_core::{CityModel, Quantity, Reading, Value};

use crate::entity::{Apply, EntityActor};
use crate::shared::Shared;
use crate::twin::{LiveTwin, TwinConfig};

/// A twin configuration for measurements: no periodic snapshot during a run.
pub(crate) fn bench_config(dir: &std::path::Path) -> TwinConfig {
    let mut config = TwinConfig::new(dir);
    config.snapshot_every = Duration::from_secs(3600);
    config
}

/// Resident set size of this process in bytes (Linux).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn bins(city: &CityModel) -> Vec<usize> {
    city.entities()
        .iter()
        .enumerate()
        .filter(|(_, e)| e.id.kind() == twin_core::EntityKind::Bin)
        .map(|(i, _)| i)
        .collect()
}

fn reading(city: &CityModel, index: usize, k: u64) -> Reading {
    Reading {
        entity: city.entities()[index].id.clone(),
        observed_at: Utc
            .timestamp_millis_opt(1_790_000_000_000 + k as i64 * 1000)
            .single()
            .unwrap_or_else(Utc::now),
        values: vec![(
            Quantity::Temperature,
            Value::Number((k % 400) as f64 / 10.0),
        )],
    }
}

/// Readings per second through a bounded tokio mpsc channel to a consumer on another thread.
pub async fn mpsc_floor(n: u64) -> f64 {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(1024);
    let consumer = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().build();
        let mut sum = 0u64;
        if let Ok(rt) = rt {
            rt.block_on(async {
                while let Some(x) = rx.recv().await {
                    sum = sum.wrapping_add(x);
                }
            });
        }
        sum
    });
    let started = Instant::now();
    for i in 0..n {
        if tx.send(i).await.is_err() {
            break;
        }
    }
    drop(tx);
    let _ = consumer.join();
    n as f64 / started.elapsed().as_secs_f64()
}

/// Readings per second applied by the entity actors of `city` (bins, round robin), sent with
/// `try_send` and waiting on full mailboxes. Returns (rate, times a mailbox was full).
pub async fn actor_apply_rate(city: Arc<CityModel>, n: u64, arbiters: usize) -> (f64, u64) {
    let shared = Shared::new(city.clone(), EntityLive::apply_reading);
    let arbs: Vec<Arbiter> = (0..arbiters).map(|_| Arbiter::new()).collect();
    let targets = bins(&city);
    let addrs: Vec<Addr<EntityActor>> = targets
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let shared = shared.clone();
            EntityActor::start_in_arbiter(&arbs[k % arbs.len()].handle(), move |_| {
                EntityActor::new(i, EntityLive::default(), shared)
            })
        })
        .collect();
    let readings: Vec<(usize, Reading)> = (0..n)
        .map(|k| {
            let slot = (k as usize) % targets.len();
            (
                slot,
                reading(&city, targets[slot], k / targets.len() as u64),
            )
        })
        .collect();
    let mut full = 0;
    let started = Instant::now();
    for (slot, r) in readings {
        match addrs[slot].try_send(Apply(r)) {
            Ok(()) => {}
            Err(actix::dev::SendError::Full(msg)) => {
                full += 1;
                let _ = addrs[slot].send(msg).await;
            }
            Err(actix::dev::SendError::Closed(_)) => {}
        }
    }
    while shared.counters.applied.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    for a in arbs {
        a.stop();
    }
    (rate, full)
}

/// Readings per second through the whole pipeline, each batch durable before the next.
pub async fn durable_rate(
    city: Arc<CityModel>,
    dir: &std::path::Path,
    n: u64,
    batch: usize,
) -> f64 {
    let config = bench_config(dir);
    let Ok(twin) = LiveTwin::start(city.clone(), config) else {
        return 0.0;
    };
    let raws = raw_readings(&city, n);
    let started = Instant::now();
    for chunk in raws.chunks(batch) {
        let readings = chunk.iter().cloned().map(Ok).collect();
        if twin.ingest_durable(readings, None).await.is_err() {
            return 0.0;
        }
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    twin.abandon().await;
    rate
}

/// `n` distinct bin temperature readings, a second apart, spread over every bin of the city:
/// what a source sends the twin in the ingest measurements.
pub(crate) fn raw_readings(city: &CityModel, n: u64) -> Vec<RawReading> {
    let targets = bins(city);
    (0..n)
        .map(|k| {
            let i = targets[(k as usize) % targets.len()];
            RawReading {
                entity: city.entities()[i].id.to_string(),
                observed_at: twin_core::live::rfc3339(1_790_000_000_000 + k as i64 * 1000),
                values: [(
                    "temperature".to_string(),
                    serde_json::json!((k % 400) as f64 / 10.0),
                )]
                .into_iter()
                .collect(),
            }
        })
        .collect()
}

/// What [`history_read`] measured.
#[derive(Debug, Clone, Copy)]
pub struct HistoryMeasure {
    /// Readings stored.
    pub readings: u64,
    /// Readings one window read returned.
    pub window_readings: usize,
    /// Median and 99th percentile of one window read, ms.
    pub median_ms: f64,
    pub p99_ms: f64,
    /// The store's bytes on disk per stored reading (history and log together, as sled
    /// reports them).
    pub bytes_per_reading: f64,
    /// The history's own bytes (chunk keys and values) per reading, after compaction.
    pub history_bytes_per_reading: f64,
}

/// Store `sensors` bins' readings every `every_min` minutes over `days` days in batches of
/// 1,000 through `Store::append` (history and log), write and compact the history's chunks,
/// then read one bin's whole window back `reads` times.
pub fn history_read(
    city: &CityModel,
    dir: &std::path::Path,
    sensors: usize,
    days: i64,
    every_min: i64,
    reads: usize,
) -> Result<HistoryMeasure, crate::store::StoreError> {
    let mut store = crate::store::Store::open(dir)?;
    let targets: Vec<usize> = bins(city).into_iter().take(sensors.max(1)).collect();
    let t0 = 1_790_000_000_000i64;
    let steps = days * 24 * 60 / every_min.max(1);
    let mut batch = Vec::with_capacity(1000);
    let mut readings = 0u64;
    for step in 0..steps {
        for (j, &i) in targets.iter().enumerate() {
            let mut r = reading(city, i, (step as u64) * 7 + j as u64);
            r.observed_at = Utc
                .timestamp_millis_opt(t0 + step * every_min * 60_000)
                .single()
                .unwrap_or_else(Utc::now);
            batch.push(r);
            if batch.len() == 1000 {
                store.append(&batch)?;
                readings += batch.len() as u64;
                batch.clear();
            }
        }
    }
    store.append(&batch)?;
    readings += batch.len() as u64;
    store.write_history()?;
    let history = store.history();
    history.compact()?;
    store.flush()?;
    let entity = &city.entities()[targets[targets.len() / 2]].id;
    let window = crate::store::Window {
        from_ms: t0,
        to_ms: t0 + days * 24 * 3_600_000,
        limit: usize::MAX,
        newest: false,
    };
    let mut times = Vec::with_capacity(reads);
    let mut window_readings = 0;
    for _ in 0..reads.max(1) {
        let started = Instant::now();
        window_readings = history.read(entity, window)?.len();
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    let bytes = store.status()?.size_bytes;
    let (_, history_bytes) = history.footprint()?;
    Ok(HistoryMeasure {
        readings,
        window_readings,
        median_ms: at(0.5),
        p99_ms: at(0.99),
        bytes_per_reading: bytes as f64 / readings.max(1) as f64,
        history_bytes_per_reading: history_bytes as f64 / readings.max(1) as f64,
    })
}

/// RSS growth per idle entity actor, in bytes, for `n` actors with default state.
pub async fn idle_actor_bytes(city: Arc<CityModel>, n: usize, arbiters: usize) -> f64 {
    let shared = Shared::new(city, EntityLive::apply_reading);
    let arbs: Vec<Arbiter> = (0..arbiters).map(|_| Arbiter::new()).collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = rss_bytes();
    let addrs: Vec<Addr<EntityActor>> = (0..n)
        .map(|k| {
            let shared = shared.clone();
            EntityActor::start_in_arbiter(&arbs[k % arbs.len()].handle(), move |_| {
                EntityActor::new(0, EntityLive::default(), shared)
            })
        })
        .collect();
    // Wait until every actor has started (each answers a state request).
    for a in addrs.iter().step_by(1000) {
        let _ = a.send(crate::entity::GetState).await;
    }
    if let Some(last) = addrs.last() {
        let _ = last.send(crate::entity::GetState).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = rss_bytes();
    let per = (after.saturating_sub(before)) as f64 / n as f64;
    drop(addrs);
    for a in arbs {
        a.stop();
    }
    per
}

/// Time to restart `city` from a store holding a snapshot after `before` readings and a log
/// tail of `after` readings: (restore ms, full start ms).
pub async fn restart_ms(
    city: Arc<CityModel>,
    dir: &std::path::Path,
    before: u64,
    after: u64,
) -> (f64, f64) {
    {
        let config = bench_config(dir);
        let Ok(twin) = LiveTwin::start(city.clone(), config) else {
            return (f64::NAN, f64::NAN);
        };
        let targets = bins(&city);
        let raw = |k: u64| RawReading {
            entity: city.entities()[targets[(k as usize) % targets.len()]]
                .id
                .to_string(),
            observed_at: twin_core::live::rfc3339(1_790_000_000_000 + k as i64 * 1000),
            values: [(
                "fillingLevel".to_string(),
                serde_json::json!((k % 100) as f64 / 100.0),
            )]
            .into_iter()
            .collect(),
        };
        for chunk in (0..before).collect::<Vec<_>>().chunks(4096) {
            let _ = twin
                .ingest_durable(chunk.iter().map(|&k| Ok(raw(k))).collect(), None)
                .await;
        }
        let _ = twin.snapshot().await;
        for chunk in (before..before + after).collect::<Vec<_>>().chunks(4096) {
            let _ = twin
                .ingest_durable(chunk.iter().map(|&k| Ok(raw(k))).collect(), None)
                .await;
        }
        twin.abandon().await;
    }
    let started = Instant::now();
    let config = bench_config(dir);
    let Ok(twin) = LiveTwin::start(city, config) else {
        return (f64::NAN, f64::NAN);
    };
    // Started when the last actor answers.
    let _ = twin.state(twin.shared.city.entities().len() - 1).await;
    let total = started.elapsed().as_secs_f64() * 1e3;
    let restore = twin.status().restored.map_or(f64::NAN, |r| r.millis);
    twin.abandon().await;
    (restore, total)
}

/// Publish `n` bin readings at QoS 1 to the broker and wait for every PUBACK.
async fn publish_readings(
    city: &CityModel,
    host: &str,
    port: u16,
    n: u64,
    client_id: &str,
) -> Result<(), String> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let mut options = MqttOptions::new(client_id, host, port);
    options.set_inflight(1000);
    let (client, mut eventloop) = AsyncClient::new(options, 10_000);
    let targets = bins(city);
    let topics: Vec<String> = targets
        .iter()
        .map(|&i| format!("citytwin/bin/{}", city.entities()[i].id.local()))
        .collect();
    let sender = tokio::spawn(async move {
        for k in 0..n {
            let payload = format!(
                r#"{{"observedAt":"{}","values":{{"temperature":{}}}}}"#,
                twin_core::live::rfc3339(1_790_000_000_000 + k as i64 * 1000),
                (k % 400) as f64 / 10.0
            );
            if client
                .publish(
                    topics[(k as usize) % topics.len()].clone(),
                    QoS::AtLeastOnce,
                    false,
                    payload,
                )
                .await
                .is_err()
            {
                break;
            }
        }
        client
    });
    let mut acked = 0;
    while acked < n {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
            Ok(_) => {}
            Err(e) => return Err(format!("publisher: {e}")),
        }
    }
    let _ = sender.await;
    Ok(())
}

/// `publishers` clients sending `n` readings between them, on their own thread and runtime
/// (sensors are other processes: they must not share the twin's or the subscriber's thread).
/// Resolves when every PUBACK is in.
fn spawn_publishers(
    city: &Arc<CityModel>,
    host: &str,
    port: u16,
    n: u64,
    publishers: usize,
    label: &str,
) -> tokio::sync::oneshot::Receiver<Result<(), String>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (h, c) = (host.to_string(), city.clone());
    let label = format!("{label}-{}", std::process::id());
    let k = publishers.max(1) as u64;
    let spawned = std::thread::Builder::new()
        .name(PUBLISHER_THREAD.into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                    return;
                }
            };
            let result = rt.block_on(async move {
                let tasks: Vec<_> = (0..k)
                    .map(|p| {
                        let share = n / k + u64::from(p < n % k);
                        let (h, c) = (h.clone(), c.clone());
                        let id = format!("bench-pub-{label}-{p}");
                        tokio::spawn(
                            async move { publish_readings(&c, &h, port, share, &id).await },
                        )
                    })
                    .collect();
                for t in tasks {
                    t.await.map_err(|e| e.to_string())??;
                }
                Ok(())
            });
            let _ = tx.send(result);
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the publishers' thread");
    }
    rx
}

/// The name of the publishers' thread, so their CPU time is told apart from the twin's.
const PUBLISHER_THREAD: &str = "mqtt-pub";

/// Messages per second from a QoS 1 publisher through the broker to a plain QoS 1 subscriber
/// (mosquitto's own rate for the load).
pub async fn mqtt_plain_rate(
    city: Arc<CityModel>,
    host: &str,
    port: u16,
    n: u64,
    publishers: usize,
) -> Result<f64, String> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let mut options = MqttOptions::new(format!("bench-sub-{}", std::process::id()), host, port);
    options.set_inflight(1000);
    let (client, mut eventloop) = AsyncClient::new(options, 10_000);
    client
        .subscribe("citytwin/#", QoS::AtLeastOnce)
        .await
        .map_err(|e| e.to_string())?;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::SubAck(_))) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("subscriber: {e}")),
        }
    }
    let started = Instant::now();
    let publisher = spawn_publishers(&city, host, port, n, publishers, "plain");
    let mut received = 0;
    while received < n {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::Publish(_))) => received += 1,
            Ok(_) => {}
            Err(e) => return Err(format!("subscriber: {e}")),
        }
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    publisher.await.map_err(|e| e.to_string())??;
    Ok(rate)
}

/// One run of MQTT QoS 1 readings into the twin: the rate, and the CPU time the twin and the
/// broker spent on it.
#[derive(Debug, Clone, Copy)]
pub struct MqttTwinRun {
    pub readings: u64,
    pub readings_per_s: f64,
    /// CPU seconds of this process's threads but the publishers' (the twin: MQTT client,
    /// batcher, pipeline, store, actors).
    pub twin_cpu_s: f64,
    /// CPU seconds of the broker's process over the same time, when its pid is known.
    pub broker_cpu_s: Option<f64>,
}

impl MqttTwinRun {
    /// The twin's CPU time per reading over the broker's per message (below 1: the twin costs
    /// less than the broker carrying the same load).
    pub fn cpu_ratio(&self) -> Option<f64> {
        self.broker_cpu_s
            .filter(|b| *b > 0.0)
            .map(|b| self.twin_cpu_s / b)
    }
}

/// CPU seconds (user + system) of this process's threads, split into those whose name starts
/// with `prefix` and the rest (Linux: /proc/self/task/*/stat, in USER_HZ ticks of 1/100 s).
pub fn thread_cpu_seconds(prefix: &str) -> (f64, f64) {
    let (mut named, mut rest) = (0.0, 0.0);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (0.0, 0.0);
    };
    for t in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let comm = stat
            .split_once('(')
            .and_then(|(_, c)| c.rsplit_once(')'))
            .map_or("", |(c, _)| c);
        let cpu = stat_cpu_seconds(&stat).unwrap_or(0.0);
        if comm.starts_with(prefix) {
            named += cpu;
        } else {
            rest += cpu;
        }
    }
    (named, rest)
}

/// utime + stime of a `/proc/…/stat` line, seconds (fields 14 and 15, after the command's
/// closing parenthesis).
fn stat_cpu_seconds(stat: &str) -> Option<f64> {
    let (_, tail) = stat.rsplit_once(')')?;
    let f: Vec<&str> = tail.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// CPU seconds (user + system) of process `pid` so far.
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    stat_cpu_seconds(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The pid of the one running process whose command is `name` (`mosquitto`), if exactly one.
pub fn only_process_named(name: &str) -> Option<u32> {
    let mut found = std::fs::read_dir("/proc").ok()?.flatten().filter_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
        (comm.trim() == name).then_some(pid)
    });
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// Readings per second from a QoS 1 publisher through the broker into the twin: validated,
/// logged and flushed, acknowledged, applied by the entity actors; with the CPU time the twin
/// and the broker (`broker_pid`) spent on them.
pub async fn mqtt_twin_rate(
    city: Arc<CityModel>,
    dir: &std::path::Path,
    host: &str,
    port: u16,
    n: u64,
    publishers: usize,
    broker_pid: Option<u32>,
) -> Result<MqttTwinRun, String> {
    let config = bench_config(dir);
    let twin = LiveTwin::start(city.clone(), config).map_err(|e| e.to_string())?;
    let mut mqtt = crate::ingest::mqtt::MqttConfig::from_url(&format!("mqtt://{host}:{port}"), "")?;
    mqtt.client_id = format!("bench-twin-{}", std::process::id());
    tokio::spawn(crate::ingest::mqtt::run_mqtt(twin.clone(), mqtt));
    tokio::time::sleep(Duration::from_secs(1)).await; // connected and subscribed
    // The network models' first solves (water quality is a 48-hour run) belong to the start,
    // not to the readings: measure from when every model has published.
    let waited = Instant::now();
    while crate::network::NetworkKind::ALL
        .iter()
        .any(|&k| twin.shared.networks.latest(k).is_none())
        && waited.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, twin_cpu0) = thread_cpu_seconds(PUBLISHER_THREAD);
    let broker_cpu0 = broker_pid.and_then(process_cpu_seconds);
    let started = Instant::now();
    let publisher = spawn_publishers(&city, host, port, n, publishers, "twin");
    let (mut seen, mut progress_at) = (0, Instant::now());
    loop {
        let applied = twin.shared.counters.applied.load(Ordering::Relaxed);
        if applied >= n {
            break;
        }
        if applied > seen {
            (seen, progress_at) = (applied, Instant::now());
        } else if progress_at.elapsed() > Duration::from_secs(30) {
            twin.abandon().await;
            return Err(format!(
                "no reading arrived for 30 s ({applied} of {n}): is the broker at {host}:{port} up?"
            ));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let (_, twin_cpu1) = thread_cpu_seconds(PUBLISHER_THREAD);
    let broker_cpu1 = broker_pid.and_then(process_cpu_seconds);
    publisher.await.map_err(|e| e.to_string())??;
    twin.abandon().await;
    Ok(MqttTwinRun {
        readings: n,
        readings_per_s: rate,
        twin_cpu_s: twin_cpu1 - twin_cpu0,
        broker_cpu_s: broker_cpu0.zip(broker_cpu1).map(|(a, b)| b - a),
    })
}
