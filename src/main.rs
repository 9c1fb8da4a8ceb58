//! `twin`, the command line of citytwin: argument parsing and wiring only. Everything worth
//! testing lives in the library crates (twin-core first).

#[cfg(feature = "bench")]
mod bench;
mod default_city;
mod ev;
mod find;
mod history;
mod import;
mod outage;
mod scenario;
mod serve;
mod solve;
mod waste;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use twin_core::reading::{RawReading, validate_reading};

#[derive(Parser)]
#[command(
    name = "twin",
    version,
    about = "citytwin: a live digital twin of Pitești"
)]
struct Cli {
    /// Log as JSON lines (for log shippers) instead of human-readable text. Filter with RUST_LOG.
    #[arg(long, global = true)]
    log_json: bool,
    /// What to do; with none, `serve` runs the live twin of Pitești with its defaults.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the live twin: entity and network actors fed by the simulated feed, MQTT or a replay.
    Serve(serve::ServeArgs),
    /// What a twin's store holds (entities, readings logged, snapshot, rejections), running or not.
    Status(serve::StatusArgs),
    /// The stored state of entities (snapshot + log), as JSON; the twin must be stopped.
    State(serve::StateArgs),
    /// One entity's readings kept in a stopped twin's history, over a window (table or CSV).
    History(history::HistoryArgs),
    /// Measure the live twin's hot paths; results go into docs/benchmarks.md.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// City bundles: summary and generation.
    City {
        #[command(subcommand)]
        command: CityCommand,
    },
    /// Import outside data into a city bundle.
    Import {
        #[command(subcommand)]
        command: import::ImportCommand,
    },
    /// Sensor readings.
    Readings {
        #[command(subcommand)]
        command: ReadingsCommand,
    },
    /// What a failure does: customers cut off, restoration by switching, SAIFI/SAIDI/ENS.
    Outage(outage::OutageArgs),
    /// Look up streets, lines, pipes, posts, chargers and bins by id, name or place.
    Find(find::FindArgs),
    /// Run a network model: traffic assignment, vehicle routing, power load flow.
    Solve {
        #[command(subcommand)]
        command: SolveCommand,
    },
    /// Waste collection: a day's routes, and policies compared over simulated days.
    Waste {
        #[command(subcommand)]
        command: WasteCommand,
    },
    /// Run a researcher's Rhai script (sweeps, Monte Carlo) in a sandbox.
    Script(scenario::ScriptArgs),
    /// What-if scenarios: the city's models over a simulated clock, baseline against scenario.
    Scenario {
        #[command(subcommand)]
        command: ScenarioCommand,
    },
    /// Electric vehicles: charging load on the grid as the EV share grows.
    Ev {
        #[command(subcommand)]
        command: EvCommand,
    },
}

#[derive(Subcommand)]
enum ScenarioCommand {
    /// Run a scenario file and its baseline; write report.json, timeseries.csv, report.html.
    Run(scenario::RunArgs),
    /// Run a scenario over many seeds in parallel (Monte Carlo) with the spread of its KPIs.
    Batch(scenario::BatchArgs),
    /// Run the seeds of batches started with `--nats`, from the cluster's work queue.
    Worker(scenario::WorkerArgs),
}

#[derive(Subcommand)]
enum EvCommand {
    /// One EV share: charging load curve, overloaded posts and feeders, charger utilisation,
    /// unmet energy; with an HTML report.
    Study(ev::StudyArgs),
    /// Several EV shares, each without and with smart charging.
    Sweep(ev::SweepArgs),
}

#[derive(Subcommand)]
enum WasteCommand {
    /// A day's collection plan for one stream: trucks, trips with their bins in order, km.
    Plan(waste::PlanArgs),
    /// A fixed calendar against sensor-driven collection: km, CO2, overflows, recycling.
    Compare(waste::CompareArgs),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Readings applied by actors beside a raw channel, durable ingest, restart, actor memory.
    #[cfg(feature = "bench")]
    Ingest(bench::BenchIngestArgs),
    /// WebSocket fan-out: latency from reading accepted to delta received for many clients,
    /// server CPU and memory, and the memory of stalled clients.
    #[cfg(feature = "bench")]
    Ws(bench::BenchWsArgs),
    /// Months of uptime in minutes: simulated days through the whole twin (feed, WebSocket
    /// clients, a scenario every simulated hour); memory, store, ingest and solve times per day.
    #[cfg(feature = "bench")]
    Soak(bench::BenchSoakArgs),
    /// The server under attack: `/health` latency and feed delay while hostile clients run
    /// each attack (idle sockets, slow headers and bodies, silent WebSockets, full dumps, …).
    #[cfg(feature = "bench")]
    Hostile(bench::BenchHostileArgs),
    /// The EV study: 30 days with 10,000 EVs and the grid at 15-minute steps.
    Ev(ev::BenchArgs),
    /// The cluster on NATS JetStream: publish and apply rates, a hand-over, a crash takeover.
    #[cfg(feature = "bench")]
    Cluster(bench::BenchClusterArgs),
}

#[derive(Subcommand)]
enum SolveCommand {
    /// Static user-equilibrium traffic assignment (TNTP files or a city's morning peak).
    Traffic(solve::TrafficArgs),
    /// Capacitated vehicle routing on a VRPLIB instance.
    Routing(solve::RoutingArgs),
    /// AC load flow of a radial or weakly meshed distribution network (MATPOWER case or a city's grid).
    Power(solve::PowerArgs),
    /// Water hydraulics (EPANET file or a city's network), steady state or extended period.
    Water(solve::WaterArgs),
}

#[derive(Subcommand)]
enum CityCommand {
    /// Print a summary of a city bundle.
    Info {
        /// The bundle folder (or its city.toml).
        dir: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check a bundle before use: ids, units, CRS, connectivity, valves, bins and chargers on
    /// the streets; says what to fix (exit status 1 on an error).
    Check {
        /// The bundle folder (or its city.toml).
        dir: PathBuf,
    },
    /// Generate a synthetic city bundle.
    Synth {
        /// Which city to generate.
        city: SynthCity,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output folder (created if missing; existing bundle files are overwritten).
        #[arg(long)]
        out: PathBuf,
        /// Lay the networks, bins and chargers over the streets of this bundle (e.g. the output of
        /// `twin import osm` on a Pitești extract) instead of a synthetic street grid.
        #[arg(long)]
        streets: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SynthCity {
    Pitesti,
}

#[derive(Subcommand)]
enum ReadingsCommand {
    /// Validate a JSONL file of readings against a city; prints one line per rejected reading.
    Check {
        file: PathBuf,
        /// The city bundle (default: Pitești, built into the binary).
        #[arg(long)]
        city: Option<PathBuf>,
    },
}

fn main() {
    let cli = Cli::parse();
    init_tracing(cli.log_json);
    let command = cli
        .command
        .unwrap_or_else(|| Command::Serve(serve::ServeArgs::default()));
    if !matches!(command, Command::Serve(_) | Command::Bench { .. }) {
        die_quietly_on_closed_pipe();
    }
    if let Err(err) = run(command) {
        // One line: the error and its causes, so scripts and people see where it went wrong.
        let chain: Vec<String> = err.chain().map(|e| e.to_string()).collect();
        eprintln!("error: {}", chain.join(": "));
        std::process::exit(1);
    }
}

/// A report command piped into `head` stops quietly when the reader goes, as Unix tools do,
/// instead of panicking on the failed write. (The server and the benchmarks keep Rust's default,
/// a write error, since they write to sockets.)
fn die_quietly_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to its default at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Serve(args) => serve::serve(args),
        Command::Status(args) => serve::status(args),
        Command::State(args) => serve::state(args),
        Command::History(args) => history::history(args),
        #[cfg(feature = "bench")]
        Command::Bench {
            command: BenchCommand::Ingest(args),
        } => bench::bench_ingest(args),
        #[cfg(feature = "bench")]
        Command::Bench {
            command: BenchCommand::Ws(args),
        } => bench::bench_ws(args),
        #[cfg(feature = "bench")]
        Command::Bench {
            command: BenchCommand::Soak(args),
        } => bench::bench_soak(args),
        #[cfg(feature = "bench")]
        Command::Bench {
            command: BenchCommand::Hostile(args),
        } => bench::bench_hostile(args),
        Command::City {
            command: CityCommand::Info { dir, json },
        } => city_info(&dir, json),
        Command::City {
            command:
                CityCommand::Synth {
                    city: SynthCity::Pitesti,
                    seed,
                    out,
                    streets,
                },
        } => {
            let imported = match &streets {
                Some(dir) => Some(twin_core::load_city(dir)?.entities().to_vec()),
                None => None,
            };
            let bundle = twin_core::synth::synth_pitesti_on(seed, imported.as_deref())
                .map_err(|m| anyhow::anyhow!("generating Pitești: {m}"))?;
            bundle
                .write_to(&out)
                .with_context(|| format!("writing the bundle to {}", out.display()))?;
            // Loading checks the city's invariants: a generator bug is caught here, not later.
            twin_core::load_city(&out)
                .with_context(|| format!("the generated bundle in {}", out.display()))?;
            println!("wrote {} files to {}", bundle.files.len(), out.display());
            Ok(())
        }
        Command::Import { command } => import::run(command),
        Command::City {
            command: CityCommand::Check { dir },
        } => import::check(&dir),
        Command::Readings {
            command: ReadingsCommand::Check { file, city },
        } => check_readings(&file, city.as_deref()),
        Command::Waste {
            command: WasteCommand::Plan(args),
        } => waste::plan(args),
        Command::Waste {
            command: WasteCommand::Compare(args),
        } => waste::compare(args),
        Command::Scenario {
            command: ScenarioCommand::Run(args),
        } => scenario::run(args),
        Command::Scenario {
            command: ScenarioCommand::Batch(args),
        } => scenario::batch(args),
        Command::Scenario {
            command: ScenarioCommand::Worker(args),
        } => scenario::worker(args),
        Command::Script(args) => scenario::script(args),
        Command::Ev {
            command: EvCommand::Study(args),
        } => ev::study(args),
        Command::Ev {
            command: EvCommand::Sweep(args),
        } => ev::sweep(args),
        Command::Bench {
            command: BenchCommand::Ev(args),
        } => ev::bench(args),
        #[cfg(feature = "bench")]
        Command::Bench {
            command: BenchCommand::Cluster(args),
        } => bench::bench_cluster(args),
        Command::Solve {
            command: SolveCommand::Traffic(args),
        } => solve::traffic(args),
        Command::Solve {
            command: SolveCommand::Routing(args),
        } => solve::routing(args),
        Command::Solve {
            command: SolveCommand::Power(args),
        } => solve::power(args),
        Command::Solve {
            command: SolveCommand::Water(args),
        } => solve::water(args),
        Command::Outage(args) => outage::outage(args),
        Command::Find(args) => find::find(args),
    }
}

fn city_info(dir: &Path, json: bool) -> Result<()> {
    let started = std::time::Instant::now();
    let city = twin_core::load_city(dir)?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "city loaded"
    );
    let summary = city.summary();
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    let value = serde_json::to_value(&summary)?;
    let mut out = std::io::stdout().lock();
    if let Some(fields) = value.as_object() {
        for (key, v) in fields {
            let shown = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            writeln!(out, "{key:<26} {shown}")?;
        }
    }
    Ok(())
}

fn check_readings(file: &Path, city: Option<&Path>) -> Result<()> {
    let (city, _) = default_city::load(city)?;
    let reader = std::io::BufReader::new(
        std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?,
    );
    let now = chrono::Utc::now();
    let (mut accepted, mut rejected) = (0usize, 0usize);
    let mut by_reason = std::collections::BTreeMap::new();
    // Lines as bytes: one line that is not UTF-8 is rejected on its own, the rest still read.
    for (i, line) in reader.split(b'\n').enumerate() {
        let line = line.with_context(|| format!("{}:{}", file.display(), i + 1))?;
        let checked = match RawReading::from_jsonl_line(&line) {
            Ok(None) => continue,
            Ok(Some(raw)) => validate_reading(&raw, &city, now),
            Err(e) => Err(e),
        };
        match checked {
            Ok(_) => accepted += 1,
            Err(e) => {
                rejected += 1;
                *by_reason.entry(e.reason()).or_insert(0) += 1;
                println!("{}:{}: {e}", file.display(), i + 1);
            }
        }
    }
    eprintln!("{accepted} accepted, {rejected} rejected {by_reason:?}");
    if rejected > 0 {
        std::process::exit(2);
    }
    Ok(())
}
