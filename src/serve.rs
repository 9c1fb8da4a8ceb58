//! `twin serve` (run the live twin) and `twin status` (what a twin's store holds, running or not).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use twin_actors::ingest::mqtt::MqttConfig;
use twin_actors::ingest::simulated::SimulatedFeed;
use twin_actors::{LiveTwin, TwinConfig};
use twin_core::ev::calibration::DemandFit;

#[derive(Args, Clone)]
pub struct ServeArgs {
    /// The city bundle (default: Pitești, built into the binary).
    #[arg(long)]
    pub city: Option<PathBuf>,
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
    /// Real EV charging sessions that calibrate the simulated EV arrivals and energies
    /// (default: those the city's bundle names in city.toml `[ev] sessions`).
    #[arg(long)]
    pub ev_sessions: Option<PathBuf>,
    /// Share of the city's cars that are electric in the simulated feed (default: city.toml
    /// `[ev] share`, else none).
    #[arg(long)]
    pub ev_share: Option<f64>,
    /// Seconds between snapshots of all entity state.
    #[arg(long, default_value_t = 60)]
    pub snapshot_every_s: u64,
    /// Hours to keep log batches already covered by a snapshot.
    #[arg(long, default_value_t = 168)]
    pub log_retention_h: u64,
    /// Days to keep every reading in the history (`/api/entities/{id}/history`,
    /// `twin history`), counted from when it was observed.
    #[arg(long, default_value_t = twin_actors::twin::DEFAULT_HISTORY_RETENTION.as_secs() / 86_400)]
    pub history_days: u64,
    /// Free space (MiB) to keep on the data folder's disk: below it, readings and snapshots
    /// are refused (never acknowledged), `/health` says degraded, and writes resume by
    /// themselves when space returns.
    #[arg(long, default_value_t = twin_actors::twin::DEFAULT_MIN_FREE_BYTES >> 20)]
    pub min_free_mb: u64,
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
    /// Mirror the twin's assets into this NGSI-LD broker (http://host:port of Orion-LD,
    /// Scorpio, Stellio or another twin) by batch upsert; an upstream that was down catches
    /// up when it is back (docs/ngsi-ld.md).
    #[arg(long, value_name = "URL")]
    pub ngsi_ld_upstream: Option<String>,
    /// A bearer token for the upstream broker (of --ngsi-ld-upstream and --ngsi-ld-subscribe).
    #[arg(long, env = "CITYTWIN_NGSI_LD_UPSTREAM_TOKEN", hide_env_values = true)]
    pub ngsi_ld_upstream_token: Option<String>,
    /// Take sensor readings from this NGSI-LD broker (http://host:port): the twin subscribes to
    /// its asset types there and takes the measured attributes it is notified of as readings
    /// (docs/ngsi-ld.md).
    #[arg(long, value_name = "URL")]
    pub ngsi_ld_subscribe: Option<String>,
    /// The twin's own base URL as the --ngsi-ld-subscribe broker reaches it, for its
    /// notifications (default: http://<--listen>).
    #[arg(long, value_name = "URL")]
    pub ngsi_ld_notify_url: Option<String>,
    /// A folder of pre-loaded JSON-LD @context documents for NGSI-LD requests that name their
    /// own context, laid out as <host>/<path> of their URLs (for machines without internet;
    /// others are fetched over http://)
    #[arg(long, value_name = "DIR")]
    pub ngsi_ld_contexts: Option<std::path::PathBuf>,
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

/// How long `twin serve` waits for its final snapshot once asked to stop.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(60);

pub fn serve(args: ServeArgs) -> Result<()> {
    let (city, source) = crate::default_city::load(args.city.as_deref())?;
    let city = Arc::new(city);
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
    let ev_share = args.ev_share.or(city.meta.ev.share).unwrap_or(0.0);
    if !(0.0..=1.0).contains(&ev_share) {
        return Err(anyhow!("--ev-share {ev_share} is not between 0 and 1"));
    }
    // The calibration, for the simulated feed and for scenario forks: fitted once, on first
    // use (without the simulated feed, only a fork that runs the EV model needs it).
    let fit_of = {
        let (source, city, sessions) = (source.clone(), city.clone(), args.ev_sessions.clone());
        let fitted: Arc<std::sync::OnceLock<Result<DemandFit, String>>> = Arc::default();
        move || {
            fitted
                .get_or_init(|| {
                    crate::default_city::demand_fit(&source, &city, sessions.as_deref())
                        .map_err(|e| format!("{e:#}"))
                })
                .clone()
        }
    };
    let ev = if simulate {
        match fit_of() {
            Ok(fit) => Some(twin_actors::ingest::simulated::EvFeedConfig { fit, ev_share }),
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
    config.history_retention = Duration::from_secs(args.history_days.saturating_mul(86_400));
    config.min_free_bytes = args.min_free_mb.saturating_mul(1 << 20);
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
        let ngsi_ld_upstream = args
            .ngsi_ld_upstream
            .as_deref()
            .map(|url| {
                twin_viewer_ws::ngsi_ld::UpstreamConfig::new(url, args.ngsi_ld_upstream_token.clone())
                    .map_err(anyhow::Error::msg)
            })
            .transpose()?;
        let ngsi_ld_subscribe = match &args.ngsi_ld_subscribe {
            Some(broker) => Some(subscribe_config(&args, broker)?),
            None => None,
        };
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
                ev_fit: twin_viewer_ws::scenarios::FitLoader(Arc::new(fit_of)),
                ngsi_ld_upstream,
                ngsi_ld_subscribe,
                ngsi_ld_contexts: args.ngsi_ld_contexts.clone(),
            },
            args.http_threads,
        )?;
        let restored = status.restored.as_ref();
        let snapshot = match restored.and_then(|r| r.snapshot_seq) {
            Some(seq) => format!("the snapshot after reading {seq}"),
            None => "no snapshot yet".to_string(),
        };
        println!(
            "citytwin: {} is live: {} entities, store {} (restored from {snapshot} and {} logged readings in {:.0} ms)",
            status.city,
            status.entities,
            args.data_dir.display(),
            restored.map_or(0, |r| r.replayed),
            restored.map_or(0.0, |r| r.millis),
        );
        if let Some(r) = restored.filter(|r| r.quarantined > 0) {
            println!(
                "warning: {} logged readings panicked when replayed and were set aside (their sequence numbers are in the log above)",
                r.quarantined
            );
        }
        if let Some(r) = restored.filter(|r| r.unreadable_snapshots > 0) {
            println!(
                "warning: the newest {} snapshot(s) could not be read (corrupt; see the log above); the state came from the one before and the log after it",
                r.unreadable_snapshots
            );
        }
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
        // A store stuck on a failing disk must not keep the twin from stopping: everything
        // acknowledged is in the log already, so giving up the final snapshot loses nothing.
        tokio::select! {
            _ = twin.shutdown() => {}
            _ = tokio::time::sleep(SHUTDOWN_LIMIT) => eprintln!(
                "warning: the final snapshot did not finish in {} s; stopping without it (every acknowledged reading is in the log)",
                SHUTDOWN_LIMIT.as_secs()
            ),
            _ = stop_requested() => eprintln!(
                "warning: stopped again; stopping without the final snapshot (every acknowledged reading is in the log)"
            ),
        }
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
            "live counters:   {} applied, {} deltas, {} network solves, {} handler panics, {} network model panics, {} mailbox waits",
            c.applied, c.deltas, c.network_solves, c.panics, c.network_panics, c.mailbox_full
        );
    }
    if let Some(r) = &s.restored {
        println!(
            "restored:        {} readings replayed after the snapshot, {} set aside (panicked when replayed), {} unreadable snapshots passed over",
            r.replayed, r.quarantined, r.unreadable_snapshots
        );
    }
    println!("alerts:          {}", s.alerts);
    println!("citizen reports: {} ({} open)", s.reports, s.reports_open);
    println!("store size:      {:.1} MB", s.store_bytes as f64 / 1e6);
    if s.degraded.is_empty() {
        println!("health:          ok");
    } else {
        println!("health:          degraded: {}", s.degraded.join("; "));
    }
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
            "deltas:          {} published, {} received from other nodes; {} shard views taken afresh from their owners",
            c.deltas_out, c.deltas_in, c.resyncs
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
    /// The city bundle (default: Pitești, built into the binary).
    #[arg(long)]
    pub city: Option<PathBuf>,
}

/// Print the stored state of entities (newest snapshot plus the log after it) as JSON:
/// `{"<id>": {"readings": n, "state": {...}, "history": [...]}}`. Needs the twin stopped.
pub fn state(args: StateArgs) -> Result<()> {
    let (city, _) = crate::default_city::load(args.city.as_deref())?;
    let store = twin_actors::store::Store::open(&args.data_dir.join("store"))?;
    let (states, _, _) =
        twin_actors::twin::restore(&city, &store, twin_core::live::EntityLive::apply_reading)?;
    let mut out = serde_json::Map::new();
    for id in &args.entities {
        let parsed: twin_core::EntityId = id.parse().map_err(|e| anyhow!("{e}"))?;
        let index = city
            .entity_index(&parsed)
            .ok_or_else(|| anyhow!("{id}: no such entity in {}", city.meta.name))?;
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

/// The settings of `--ngsi-ld-subscribe`: the receiver's secret is kept in the data folder
/// (`ngsi-ld-notify-secret`, made on first use), so the twin's subscription in the broker
/// stays the same across restarts.
fn subscribe_config(
    args: &ServeArgs,
    broker: &str,
) -> anyhow::Result<twin_viewer_ws::ngsi_ld::SubscribeConfig> {
    use anyhow::Context;
    use rand::Rng;
    let path = args.data_dir.join("ngsi-ld-notify-secret");
    let secret = match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret: String = rand::rng()
                .sample_iter(rand::distr::Alphanumeric)
                .take(32)
                .map(char::from)
                .collect();
            std::fs::create_dir_all(&args.data_dir)
                .with_context(|| format!("creating {}", args.data_dir.display()))?;
            // Readable by its owner only: it stands for a token.
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .and_then(|mut f| f.write_all(secret.as_bytes()))
                .with_context(|| format!("writing {}", path.display()))?;
            secret
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let twin_url = args
        .ngsi_ld_notify_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", args.listen));
    twin_viewer_ws::ngsi_ld::SubscribeConfig::new(
        broker,
        args.ngsi_ld_upstream_token.clone(),
        &twin_url,
        secret,
    )
    .map_err(|e| anyhow::anyhow!("{e} ({})", path.display()))
}
