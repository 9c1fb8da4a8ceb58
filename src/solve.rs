//! `twin solve …`: run a solver on reference files or on a city bundle and print the result.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use twin_core::entity::AssetKind;
use twin_core::formats::tntp::{TntpNetwork, TntpTrips};
use twin_core::id::EntityId;
use twin_core::traffic::city::{
    RoadChanges, build_city_traffic, excess_travel_time_ratio, segment_loads,
};
use twin_core::traffic::{Algorithm, AssignmentOptions, CostWeights, Progress, assign};

#[derive(Clone, Copy, ValueEnum)]
pub enum AlgorithmArg {
    /// Path-based gradient projection (precise).
    Gp,
    /// Frank–Wolfe (baseline, slow to converge).
    Fw,
}

#[derive(Args)]
pub struct TrafficArgs {
    /// TNTP network file (with --trips).
    #[arg(long, requires = "trips", conflicts_with = "city")]
    net: Option<PathBuf>,
    /// TNTP trips file.
    #[arg(long)]
    trips: Option<PathBuf>,
    /// A city bundle: assign its morning peak hour on its road graph (default, without
    /// --net: the built-in Pitești).
    #[arg(long)]
    city: Option<PathBuf>,
    /// Stop at this relative gap.
    #[arg(long, default_value_t = 1e-4)]
    gap: f64,
    #[arg(long, default_value_t = 1_000)]
    max_iterations: usize,
    /// Generalised cost weight of the toll column (minutes per unit of toll). Default: the
    /// network file's `<TOLL FACTOR>`, else 0 (TNTP networks' READMEs give it). Given here, it
    /// overrides the file's, with a note on stderr.
    #[arg(long)]
    toll_weight: Option<f64>,
    /// Generalised cost weight of the length column (minutes per unit of length). Default: the
    /// file's `<DISTANCE FACTOR>`, else 0.
    #[arg(long)]
    distance_weight: Option<f64>,
    #[arg(long, value_enum, default_value_t = AlgorithmArg::Gp)]
    algorithm: AlgorithmArg,
    /// Close a street segment, by id or name (a street's name is all its segments; city only;
    /// repeatable), e.g. `--close street:1042` or `--close "Bulevardul Republicii"`.
    #[arg(long)]
    close: Vec<String>,
    /// Scale a segment's capacity, by id or name (city only; repeatable), e.g.
    /// `--capacity street:7=0.5`.
    #[arg(long)]
    capacity: Vec<String>,
    /// Scale the whole demand (city only), e.g. 1.1 for 10 % more trips.
    #[arg(long, default_value_t = 1.0)]
    demand_factor: f64,
    /// Print JSON instead of a summary.
    #[arg(long)]
    json: bool,
}

/// Say on stderr when an assignment stopped at its iteration cap before its target gap.
fn warn_if_not_converged(r: &twin_core::traffic::AssignmentResult, options: &AssignmentOptions) {
    if !r.converged {
        eprintln!(
            "warning: the assignment stopped at --max-iterations {} with relative gap {:.3e}, above --gap {:.0e}: the flows are not an equilibrium (\"converged\": false)",
            r.iterations, r.relative_gap, options.target_gap
        );
    }
}

/// A generalised-cost weight: the command line's when given (saying so when it overrides the
/// file's), else the file's metadata tag, else 0.
fn cost_weight(what: &str, given: Option<f64>, in_file: Option<f64>, tag: &str) -> Result<f64> {
    match (given, in_file) {
        (Some(w), _) if !(w.is_finite() && w >= 0.0) => {
            bail!("--{what}-weight {w} must be a finite number, zero or more")
        }
        (Some(w), Some(f)) if w != f => {
            eprintln!("note: --{what}-weight {w} overrides the network file's <{tag}> {f}");
            Ok(w)
        }
        (Some(w), _) => Ok(w),
        (None, Some(f)) => Ok(f),
        (None, None) => Ok(0.0),
    }
}

/// A model file's text (UTF-8 with or without BOM, or Windows-1252 with a warning on stderr).
fn read(path: &Path) -> Result<String> {
    let decoded = twin_core::formats::text::read_text_file(path)
        .with_context(|| format!("reading {}", path.display()))?;
    if let Some(warning) = decoded.warning(&path.display().to_string()) {
        eprintln!("warning: {warning}");
    }
    Ok(decoded.text)
}

/// A spinner on stderr showing the gap, for runs longer than a moment.
fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("a valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

pub fn traffic(args: TrafficArgs) -> Result<()> {
    let options = AssignmentOptions {
        algorithm: match args.algorithm {
            AlgorithmArg::Gp => Algorithm::GradientProjection,
            AlgorithmArg::Fw => Algorithm::FrankWolfe,
        },
        target_gap: args.gap,
        max_iterations: args.max_iterations,
        weights: CostWeights {
            toll: args.toll_weight.unwrap_or(0.0),
            distance: args.distance_weight.unwrap_or(0.0),
        },
    };
    let mut options = options;
    if !(args.gap >= 0.0) {
        bail!("--gap {} must be zero or positive", args.gap);
    }
    let bar = progress_bar(false);
    let mut report = |p: &Progress| {
        bar.set_message(format!(
            "iteration {} relative gap {:.3e}",
            p.iteration, p.relative_gap
        ));
    };
    if let (Some(net_path), Some(trips_path)) = (&args.net, &args.trips) {
        let net = TntpNetwork::parse(&read(net_path)?)
            .map_err(|e| anyhow!("{}:{}: {}", net_path.display(), e.line, e.message))?;
        let trips = TntpTrips::parse(&read(trips_path)?)
            .map_err(|e| anyhow!("{}:{}: {}", trips_path.display(), e.line, e.message))?;
        options.weights = CostWeights {
            toll: cost_weight("toll", args.toll_weight, net.toll_factor, "TOLL FACTOR")?,
            distance: cost_weight(
                "distance",
                args.distance_weight,
                net.distance_factor,
                "DISTANCE FACTOR",
            )?,
        };
        let (network, demand) = twin_core::traffic::AssignmentNetwork::from_tntp(&net, &trips)?;
        let r = assign(&network, &demand, &options, &mut report)?;
        bar.finish_and_clear();
        warn_if_not_converged(&r, &options);
        if args.json {
            let links: Vec<_> = network
                .links
                .iter()
                .enumerate()
                .map(|(a, l)| json!({"from": l.from + 1, "to": l.to + 1, "flow": r.flows[a], "cost": r.costs[a]}))
                .collect();
            let out = json!({
                "relative_gap": r.relative_gap, "converged": r.converged, "iterations": r.iterations, "objective": r.objective,
                "tstt": r.tstt, "seconds": r.seconds, "links": links,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        } else {
            println!(
                "{}: {} links, {} OD pairs; relative gap {:.3e} after {} iterations in {:.3} s; objective {:.3}; TSTT {:.3}",
                net_path.display(),
                network.links.len(),
                demand.pairs(),
                r.relative_gap,
                r.iterations,
                r.seconds,
                r.objective,
                r.tstt
            );
        }
        return Ok(());
    }
    let (city, _) = crate::default_city::load(args.city.as_deref())?;
    // Segments by id or name: a street's name is all its segments.
    let streets = |text: &str, option: &str| -> Result<Vec<EntityId>> {
        city.lookup_ids(text, &[AssetKind::StreetSegment], "a street segment")
            .with_context(|| format!("{option} {text}"))
    };
    let mut changes = RoadChanges {
        demand_factor: args.demand_factor,
        ..RoadChanges::default()
    };
    for text in &args.close {
        changes.closed.extend(streets(text, "--close")?);
    }
    for spec in &args.capacity {
        let (id, f) = spec
            .split_once('=')
            .ok_or_else(|| anyhow!("--capacity {spec}: expected ID=FACTOR"))?;
        let f: f64 = f
            .parse()
            .map_err(|_| anyhow!("--capacity {spec}: `{f}` is not a number"))?;
        for id in streets(id, "--capacity")? {
            changes.capacity_factors.push((id, f));
        }
    }
    let traffic = build_city_traffic(&city, &changes)?;
    let r = assign(&traffic.network, &traffic.demand, &options, &mut report)?;
    bar.finish_and_clear();
    warn_if_not_converged(&r, &options);
    let loads = segment_loads(&traffic, &r.flows, &r.costs);
    let vehicle_km: f64 = traffic
        .network
        .links
        .iter()
        .zip(&r.flows)
        .zip(&traffic.link_segment)
        .filter(|(_, s)| s.is_some())
        .map(|((l, x), _)| l.length * x)
        .sum();
    // Congestion as the Romanian Traffic Index measures it: on the main axes, and on all streets.
    let ettr_main = excess_travel_time_ratio(&city, &traffic, &r.flows, &r.costs, |s| {
        s.road_class.is_main_axis()
    });
    let ettr_all = excess_travel_time_ratio(&city, &traffic, &r.flows, &r.costs, |_| true);
    let mut congested: Vec<_> = loads.iter().collect();
    congested.sort_by(|a, b| {
        b.volume_capacity
            .total_cmp(&a.volume_capacity)
            .then(a.segment.cmp(&b.segment))
    });
    let describe = |l: &twin_core::traffic::city::SegmentLoad| {
        let e = &city.entities()[l.segment];
        json!({
            "id": e.id.to_string(), "name": e.name, "flow": l.flow_veh_h,
            "volume_capacity": l.volume_capacity, "time_min": l.time_min,
        })
    };
    if args.json {
        let out = json!({
            "relative_gap": r.relative_gap, "converged": r.converged, "iterations": r.iterations, "objective": r.objective,
            "tstt": r.tstt, "tstt_unit": "vehicle-minutes", "seconds": r.seconds,
            "zones": traffic.zone_names, "demand_veh_h": traffic.demand.total(), "vehicle_km": vehicle_km,
            "excess_travel_time_ratio": {"main_axes": ettr_main, "all_streets": ettr_all},
            "most_congested": congested.iter().take(10).map(|l| describe(l)).collect::<Vec<_>>(),
            "segments": loads.iter().filter(|l| l.flow_veh_h > 0.0).map(describe).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{}: morning peak hour, {:.0} vehicle trips between {} zones; relative gap {:.3e} after {} iterations in {:.2} s",
            city.meta.name,
            traffic.demand.total(),
            traffic.zone_names.len(),
            r.relative_gap,
            r.iterations,
            r.seconds
        );
        println!(
            "total travel time {:.0} vehicle-hours, {:.0} vehicle-km, mean trip {:.1} min",
            r.tstt / 60.0,
            vehicle_km,
            r.tstt / traffic.demand.total()
        );
        println!(
            "trips take {:.0} % longer than in free flow on the main axes (motorway to secondary), {:.0} % on all streets",
            100.0 * ettr_main,
            100.0 * ettr_all
        );
        println!("most congested segments (volume/capacity of the busier direction):");
        for l in congested.iter().take(10) {
            let e = &city.entities()[l.segment];
            println!(
                "  {:<14} {:<40} {:>6.0} veh/h  v/c {:.2}",
                e.id.to_string(),
                e.name.as_deref().unwrap_or("-"),
                l.flow_veh_h,
                l.volume_capacity
            );
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct RoutingArgs {
    /// A VRPLIB (CVRPLIB) instance.
    #[arg(long)]
    vrplib: PathBuf,
    /// Time limit in seconds (results then depend on the machine's speed).
    #[arg(long, default_value_t = 10.0, conflicts_with = "iterations")]
    seconds: f64,
    /// Iteration limit instead of a time limit: the same seed gives the same routes.
    #[arg(long)]
    iterations: Option<u64>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Use exact Euclidean distances instead of CVRPLIB's rounded ones (e.g. for CMT instances).
    #[arg(long)]
    no_rounding: bool,
    /// Print JSON instead of a summary.
    #[arg(long)]
    json: bool,
}

pub fn routing(args: RoutingArgs) -> Result<()> {
    use twin_core::formats::vrplib::VrplibInstance;
    use twin_core::routing::{Budget, CvrpProblem, SolveOptions, solve};
    let text = read(&args.vrplib)?;
    let inst = VrplibInstance::parse(&text)
        .map_err(|e| anyhow!("{}:{}: {}", args.vrplib.display(), e.line, e.message))?;
    if !(args.seconds > 0.0) {
        bail!("--seconds {} must be positive", args.seconds);
    }
    let problem = CvrpProblem::from_vrplib(&inst, !args.no_rounding)
        .map_err(|e| anyhow!("{}: {e}", args.vrplib.display()))?;
    let budget = match args.iterations {
        Some(n) => Budget::Iterations(n),
        None => Budget::Seconds(args.seconds),
    };
    let bar = progress_bar(args.json);
    bar.set_message(format!("{}: {} customers", inst.name, problem.n - 1));
    let started = std::time::Instant::now();
    let solution = solve(
        &problem,
        &SolveOptions {
            seed: args.seed,
            budget,
            target_cost: None,
        },
    );
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    problem.check(&solution).map_err(|e| match e {
        twin_core::routing::SolutionError::Fleet { .. } => {
            anyhow!("{}: {e} (try more --seconds)", args.vrplib.display())
        }
        e => anyhow!("internal error, infeasible solution: {e}"),
    })?;
    // Customers numbered as in CVRPLIB .sol files: the node's position in the file, depot excluded.
    let customer_id = |c: usize| {
        let file = problem.file_index[c];
        if file > inst.depot { file } else { file + 1 }
    };
    let routes: Vec<Vec<usize>> = solution
        .routes
        .iter()
        .map(|r| r.iter().map(|&c| customer_id(c)).collect())
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"cost": solution.cost, "routes": routes, "seconds": seconds})
            )?
        );
    } else {
        for (k, r) in routes.iter().enumerate() {
            let ids: Vec<String> = r.iter().map(|c| c.to_string()).collect();
            println!("Route #{}: {}", k + 1, ids.join(" "));
        }
        println!("Cost {}", solution.cost);
        eprintln!("{} routes in {seconds:.2} s", routes.len());
    }
    Ok(())
}

#[derive(Args)]
pub struct PowerArgs {
    /// A MATPOWER case file.
    #[arg(long, conflicts_with = "city")]
    case: Option<PathBuf>,
    /// A city bundle: solve its 20 kV network at peak load.
    #[arg(long)]
    city: Option<PathBuf>,
    /// Scale every load (e.g. 0.6 for a night hour).
    #[arg(long, default_value_t = 1.0)]
    load_factor: f64,
    /// Print JSON instead of a summary.
    #[arg(long)]
    json: bool,
}

pub fn power(args: PowerArgs) -> Result<()> {
    use twin_core::formats::matpower::MatpowerCase;
    let (case, label) = match (&args.case, &args.city) {
        (Some(path), _) => {
            let mut case = MatpowerCase::parse(&read(path)?)
                .map_err(|e| anyhow!("{}:{}: {}", path.display(), e.line, e.message))?;
            case.apply_known_conversions();
            if let Some((line, statement)) = case.unevaluated.first() {
                bail!(
                    "{}:{line}: MATLAB statement not understood (only the unit conversions of MATPOWER's distribution cases are): `{statement}`",
                    path.display()
                );
            }
            (case, path.display().to_string())
        }
        (None, dir) => {
            // The city's own case: `--city DIR`, else the built-in Pitești.
            let (city, _) = crate::default_city::load(dir.as_deref())?;
            let case = city
                .power_case
                .clone()
                .ok_or_else(|| anyhow!("{}: the city has no power layer", city.meta.name))?;
            (case, city.meta.name.clone())
        }
    };
    if !(args.load_factor >= 0.0 && args.load_factor.is_finite()) {
        bail!(
            "--load-factor {} must be zero or positive",
            args.load_factor
        );
    }
    let started = std::time::Instant::now();
    let r = twin_core::power::solve_load_flow(&case, None, args.load_factor)
        .map_err(|e| anyhow!("{label}: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let de_energised: Vec<u32> = case
        .bus
        .iter()
        .zip(&r.energised)
        .filter(|(_, on)| !**on)
        .map(|(b, _)| b.id)
        .collect();
    if !de_energised.is_empty() {
        let shown: Vec<String> = de_energised.iter().take(20).map(u32::to_string).collect();
        eprintln!(
            "warning: {label}: {} bus(es) not connected to a reference (slack) bus through closed branches are de-energised, {:.1} kW unserved: {}{}",
            de_energised.len(),
            r.load_unserved_kw,
            shown.join(", "),
            if de_energised.len() > 20 { ", …" } else { "" }
        );
    }
    for l in &r.reactive_limits {
        eprintln!(
            "warning: {label}: the generators at bus {} need {:.1} kvar to hold their set voltage, outside their limits [{:.1}, {:.1}] kvar (limits are reported, not enforced)",
            case.bus[l.bus].id, l.q_kvar, l.q_min_kvar, l.q_max_kvar
        );
    }
    if args.json {
        let buses: Vec<_> = case
            .bus
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let mut bus = json!({"id": b.id, "vm_pu": r.vm_pu[i], "va_deg": r.va_deg[i], "energised": r.energised[i]});
                if let Some(name) = case.bus_names.get(i) {
                    bus["name"] = json!(name);
                }
                bus
            })
            .collect();
        let branches: Vec<_> = case
            .branch
            .iter()
            .zip(&r.branches)
            .map(|(b, f)| json!({"from": b.from, "to": b.to, "p_from_kw": f.p_from_kw, "q_from_kvar": f.q_from_kvar, "p_loss_kw": f.p_loss_kw, "loading_pct": f.loading_pct}))
            .collect();
        let generators: Vec<_> = case
            .bus
            .iter()
            .zip(&r.generation_kw)
            .filter(|(_, g)| g.0 != 0.0 || g.1 != 0.0)
            .map(|(b, g)| json!({"bus": b.id, "p_kw": g.0, "q_kvar": g.1}))
            .collect();
        let reactive_limits: Vec<_> = r
            .reactive_limits
            .iter()
            .map(|l| json!({"bus": case.bus[l.bus].id, "q_kvar": l.q_kvar, "q_min_kvar": l.q_min_kvar, "q_max_kvar": l.q_max_kvar}))
            .collect();
        let out = json!({
            "converged": true, "method": r.method.name(), "iterations": r.iterations,
            "p_loss_kw": r.p_loss_kw, "q_loss_kvar": r.q_loss_kvar,
            "slack_p_kw": r.slack_p_kw, "slack_q_kvar": r.slack_q_kvar,
            "load_served_kw": r.load_served_kw, "load_unserved_kw": r.load_unserved_kw,
            "generation": generators,
            "de_energised_buses": de_energised,
            "reactive_limits": reactive_limits,
            "reactive_limits_enforced": false,
            "seconds": seconds, "buses": buses, "branches": branches,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let energised: Vec<usize> = (0..case.bus.len()).filter(|&i| r.energised[i]).collect();
        let (imin, vmin) = energised
            .iter()
            .map(|&i| (i, r.vm_pu[i]))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, 0.0));
        let vmax = energised.iter().map(|&i| r.vm_pu[i]).fold(0.0, f64::max);
        let max_loading = r
            .branches
            .iter()
            .filter_map(|b| b.loading_pct)
            .fold(0.0, f64::max);
        println!(
            "{label}: {} converged after {} iterations ({:.2} ms); load {:.1} kW served, {:.1} kW unserved; slack supplies {:.1} kW; losses {:.3} kW, {:.3} kvar; voltage {:.6}–{:.6} pu (minimum at bus {}); highest branch loading {:.1} %; {} of {} buses energised",
            r.method.name(),
            r.iterations,
            seconds * 1e3,
            r.load_served_kw,
            r.load_unserved_kw,
            r.slack_p_kw,
            r.p_loss_kw,
            r.q_loss_kvar,
            vmin,
            vmax,
            case.bus[imin].id,
            max_loading,
            energised.len(),
            case.bus.len()
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct WaterArgs {
    /// An EPANET input file.
    #[arg(long, conflicts_with = "city")]
    inp: Option<PathBuf>,
    /// A city bundle: solve its water network.
    #[arg(long)]
    city: Option<PathBuf>,
    /// Simulate this many hours (extended period); without it, t = 0 only.
    #[arg(long)]
    duration_h: Option<f64>,
    /// Print JSON instead of a summary.
    #[arg(long)]
    json: bool,
}

pub fn water(args: WaterArgs) -> Result<()> {
    use twin_core::formats::epanet::EpanetNetwork;
    let (net, label) = match (&args.inp, &args.city) {
        (Some(path), _) => (
            EpanetNetwork::parse(&read(path)?)
                .map_err(|e| anyhow!("{}:{}: {}", path.display(), e.line, e.message))?,
            path.display().to_string(),
        ),
        (None, dir) => {
            // The city's own network: `--city DIR`, else the built-in Pitești.
            let (city, _) = crate::default_city::load(dir.as_deref())?;
            (
                city.water_network
                    .clone()
                    .ok_or_else(|| anyhow!("{}: the city has no water layer", city.meta.name))?,
                city.meta.name.clone(),
            )
        }
    };
    for (line, section) in &net.unsupported {
        eprintln!(
            "note: {label}:{line}: section [{section}] is not used: it does not change the hydraulics reported here (water quality and drawing data are not computed)"
        );
    }
    let duration = match args.duration_h {
        Some(h) if !(h >= 0.0 && h.is_finite()) => {
            bail!("--duration-h {h} must be zero or positive")
        }
        Some(h) => (h * 3600.0).round() as u64,
        None => 0,
    };
    let started = std::time::Instant::now();
    let run = twin_core::water::HydModel::from_epanet(&net)
        .map_err(twin_core::water::HydraulicError::from)
        .and_then(|m| twin_core::water::run(&m, Some(duration)))
        .map_err(|e| anyhow!("{label}: {e}"))?;
    let snaps = &run.snapshots;
    let energy = &run.energy;
    let seconds = started.elapsed().as_secs_f64();
    let node_ids = net.node_ids();
    let link_ids = net.link_ids();
    // Junctions no source reaches: said once per change, reported at zero pressure.
    let mut last: &[usize] = &[];
    for s in snaps {
        if s.disconnected != last && !s.disconnected.is_empty() {
            let names: Vec<&str> = s
                .disconnected
                .iter()
                .take(20)
                .map(|&i| node_ids[i])
                .collect();
            eprintln!(
                "warning: {label}: at {}:{:02}:{:02} {} junction(s) are disconnected from every reservoir and tank by closed links (EPANET: \"Node … disconnected\"); they are reported at zero pressure: {}{}",
                s.time_s / 3600,
                s.time_s / 60 % 60,
                s.time_s % 60,
                s.disconnected.len(),
                names.join(", "),
                if s.disconnected.len() > 20 {
                    ", …"
                } else {
                    ""
                }
            );
        }
        last = &s.disconnected;
    }
    if args.json {
        let timesteps: Vec<_> = snaps
            .iter()
            .map(|s| {
                let cut: std::collections::HashSet<usize> = s.disconnected.iter().copied().collect();
                let nodes: Vec<_> = node_ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| {
                        let mut node = if cut.contains(&i) {
                            json!({"id": id, "head_m": s.head_m[i], "pressure_m": 0.0, "demand_m3s": s.demand_m3s[i], "disconnected": true})
                        } else {
                            json!({"id": id, "head_m": s.head_m[i], "pressure_m": s.pressure_m[i], "demand_m3s": s.demand_m3s[i]})
                        };
                        if let Some(q) = s.quality.get(i) {
                            node["quality"] = json!(q);
                        }
                        node
                    })
                    .collect();
                json!({
                    "time_s": s.time_s,
                    "nodes": nodes,
                    "links": link_ids.iter().enumerate().map(|(k, id)| match s.link_quality.get(k) {
                        Some(q) => json!({"id": id, "flow_m3s": s.flow_m3s[k], "quality": q}),
                        None => json!({"id": id, "flow_m3s": s.flow_m3s[k]}),
                    }).collect::<Vec<_>>(),
                    "disconnected": s.disconnected.iter().map(|&i| &node_ids[i]).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "seconds": seconds,
                "timesteps": timesteps,
                "energy": {
                    "pumps": energy.pumps.iter().map(|p| json!({
                        "id": p.id,
                        "utilization_percent": p.utilization_percent,
                        "efficiency_percent": p.efficiency_percent,
                        "kwh_per_m3": p.kwh_per_m3,
                        "average_kw": p.average_kw,
                        "peak_kw": p.peak_kw,
                        "cost_per_day": p.cost_per_day,
                    })).collect::<Vec<_>>(),
                    "peak_kw": energy.peak_kw,
                    "demand_charge": energy.demand_charge,
                },
            }))?
        );
        return Ok(());
    }
    let junctions = net.junctions.len();
    println!(
        "{label}: {} junctions, {} links; {} reporting steps in {:.1} ms",
        junctions,
        link_ids.len(),
        snaps.len(),
        seconds * 1e3
    );
    for p in &energy.pumps {
        println!(
            "  pump {}: on {:.1} % of the time, efficiency {:.1} %, {:.3} kWh/m³, {:.1} kW average, {:.1} kW peak, cost {:.2} per day",
            p.id,
            p.utilization_percent,
            p.efficiency_percent,
            p.kwh_per_m3,
            p.average_kw,
            p.peak_kw,
            p.cost_per_day
        );
    }
    if energy.demand_charge > 0.0 {
        println!(
            "  demand charge {:.2} ({:.1} kW peak of all pumps)",
            energy.demand_charge, energy.peak_kw
        );
    }
    for s in snaps {
        let mut p: Vec<f64> = (0..junctions)
            .filter(|i| !s.disconnected.contains(i))
            .map(|i| s.pressure_m[i])
            .collect();
        p.sort_by(f64::total_cmp);
        let share = |lo: f64, hi: f64| {
            p.iter().filter(|&&x| x >= lo && x <= hi).count() as f64 / p.len().max(1) as f64 * 100.0
        };
        let supply: f64 = s.demand_m3s[..junctions].iter().sum::<f64>() * 1000.0;
        println!(
            "  {:>5.1} h: demand {:.1} l/s; junction pressure min {:.1} m, median {:.1} m, max {:.1} m; {:.0} % within 20-60 m",
            s.time_s as f64 / 3600.0,
            supply,
            p.first().copied().unwrap_or(0.0),
            p.get(p.len() / 2).copied().unwrap_or(0.0),
            p.last().copied().unwrap_or(0.0),
            share(20.0, 60.0)
        );
    }
    Ok(())
}
