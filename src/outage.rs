//! `twin outage`: what a failure does to the city's networks.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use serde_json::json;
use twin_core::id::{EntityId, EntityKind};
use twin_core::power::events::{read_outage_events, study_outage_events};
use twin_core::power::outage::{
    FAILABLE, RestorationLimits, analyse_power_outage, customers_served,
};
use twin_core::power::reliability::{SUSTAINED_THRESHOLD_MIN, reliability_indices};

#[derive(Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["fail", "events"])))]
pub struct OutageArgs {
    /// The city bundle (default: Pitești, built into the binary).
    #[arg(long)]
    city: Option<PathBuf>,
    /// Failed elements of one event, comma-separated: power lines, switches, posts,
    /// substations, water pipes.
    #[arg(long, value_delimiter = ',')]
    fail: Vec<String>,
    /// A year of power events as CSV whose first line is the header
    /// `fail,repair_h,switching_min` (the failed elements by id or name, several separated by
    /// `;`; `#` comments): prints
    /// each event and SAIFI, SAIDI, CAIDI, ENS and MAIFI over all of them. A file without the
    /// header is refused at its first line. Sample: data/pitesti/outage_events.csv.
    #[arg(long, conflicts_with = "fail")]
    events: Option<PathBuf>,
    /// Hours until the failed elements are repaired.
    #[arg(long, default_value_t = 4.0)]
    repair_h: f64,
    /// Minutes to find the fault and switch the restorable part back.
    #[arg(long, default_value_t = 30.0)]
    switching_min: f64,
    /// Load at the time of the outage, as a fraction of peak.
    #[arg(long, default_value_t = 1.0)]
    load_factor: f64,
    /// Pressure below which a supplied junction counts as deficient after a pipe break (m).
    #[arg(long, default_value_t = 15.0)]
    service_pressure_m: f64,
    /// Time of day of a pipe break, HH:MM: pressures are solved with that hour's demands
    /// (default: the hour of the day's highest demand).
    #[arg(long)]
    at: Option<String>,
    /// Print JSON instead of a summary.
    #[arg(long)]
    json: bool,
}

pub fn outage(args: OutageArgs) -> Result<()> {
    let (city, _) = crate::default_city::load(args.city.as_deref())?;
    if let Some(file) = &args.events {
        return events_study(&city, file, &args);
    }
    let failed: Vec<EntityId> = args
        .fail
        .iter()
        .map(|s| {
            city.lookup_ids(s, &FAILABLE, "a power element or water pipe")
                .with_context(|| format!("--fail {s}"))
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let (water, power): (Vec<EntityId>, Vec<EntityId>) = failed
        .into_iter()
        .partition(|id| id.kind() == EntityKind::Water);
    // With --json, one document: the power event's fields (when power elements failed) and
    // `water_breaks`, one entry per broken pipe (empty when none).
    let breaks = if water.is_empty() {
        Vec::new()
    } else {
        water_breaks(&city, &water, &args)?
    };
    if power.is_empty() {
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({ "water_breaks": breaks }))?
            );
        }
        return Ok(());
    }
    let failed = power;
    if !(args.repair_h > 0.0 && args.switching_min >= 0.0 && args.load_factor >= 0.0) {
        bail!("--repair-h must be positive, --switching-min and --load-factor not negative");
    }
    let o = analyse_power_outage(
        &city,
        &failed,
        &RestorationLimits::default(),
        args.load_factor,
    )
    .map_err(|e| anyhow!("{}: {e}", city.meta.name))?;
    let served = customers_served(&city);
    let events = o.interruptions(args.switching_min, args.repair_h * 60.0);
    let r = reliability_indices(&events, served, SUSTAINED_THRESHOLD_MIN);
    let ids = |v: &[EntityId]| v.iter().map(|i| i.to_string()).collect::<Vec<_>>();
    let post_json = |id: &EntityId, why: Option<String>| {
        let (customers, load_kw) = post_load(&city, id, args.load_factor);
        let mut v = place_json(&city, id);
        v["customers"] = json!(customers);
        v["load_kw"] = json!(load_kw);
        if let Some(why) = why {
            v["why_not_restored"] = json!(why);
        }
        v
    };
    if args.json {
        let out = json!({
            "failed": ids(&o.failed),
            "posts_interrupted": o.posts_interrupted.iter().map(|p| post_json(p, None)).collect::<Vec<_>>(),
            "customers_interrupted": o.customers_interrupted,
            "load_interrupted_kw": o.load_interrupted_kw,
            "switching": o.switching.iter().map(|s| json!({"close": s.switch.to_string(), "posts_restored": s.posts_restored, "customers_restored": s.customers_restored, "load_restored_kw": s.load_restored_kw})).collect::<Vec<_>>(),
            "posts_not_restored": o.posts_not_restored.iter().map(|p| post_json(p, Some(o.why_not_restored(p)))).collect::<Vec<_>>(),
            "ties_rejected": o.ties_rejected.iter().map(|t| json!({"switch": t.switch.to_string(), "posts": ids(&t.posts), "why": t.why.to_string()})).collect::<Vec<_>>(),
            "customers_not_restored": o.customers_not_restored,
            "customer_minutes": events.iter().map(|e| f64::from(e.customers) * e.duration_min).sum::<f64>(),
            "ens_kwh": r.ens_kwh,
            "saifi": r.saifi, "saidi_min": r.saidi_min, "caidi_min": r.caidi_min,
            "customers_served": served,
            "sustained_threshold_min": r.threshold_min,
            "min_voltage_pu_after": o.min_voltage_pu,
            "max_loading_pct_after": o.max_loading_pct,
            "water_breaks": breaks,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{} failed: {} posts, {} customers, {:.0} kW without supply",
        ids(&o.failed).join(", "),
        o.posts_interrupted.len(),
        o.customers_interrupted,
        o.load_interrupted_kw
    );
    for s in &o.switching {
        println!(
            "  close {}: {} posts, {} customers, {:.0} kW back",
            s.switch, s.posts_restored, s.customers_restored, s.load_restored_kw
        );
    }
    println!(
        "until repair ({} h): {} posts, {} customers, {:.0} kW without supply; after switching: lowest voltage {}, highest loading {}",
        args.repair_h,
        o.posts_not_restored.len(),
        o.customers_not_restored,
        o.load_not_restored_kw,
        o.min_voltage_pu
            .map_or("- (nothing energised)".into(), |v| format!("{v:.4} pu")),
        o.max_loading_pct.map_or(
            "not assessed (the case gives no line ratings)".into(),
            |l| format!("{l:.1} %")
        )
    );
    for post in o.posts_not_restored.iter().take(LISTED) {
        let (customers, load_kw) = post_load(&city, post, args.load_factor);
        println!(
            "  {}: {customers} customers, {load_kw:.0} kW; {}",
            city.label_of(post),
            o.why_not_restored(post)
        );
    }
    if o.posts_not_restored.len() > LISTED {
        println!(
            "  … {} more (--json lists all)",
            o.posts_not_restored.len() - LISTED
        );
    }
    println!(
        "this event: {:.0} customer-minutes, ENS {:.0} kWh; as a year's only event over {} customers: SAIFI {:.4}, SAIDI {:.2} min, CAIDI {:.1} min (interruptions over {} min)",
        events
            .iter()
            .map(|e| f64::from(e.customers) * e.duration_min)
            .sum::<f64>(),
        r.ens_kwh,
        served,
        r.saifi,
        r.saidi_min,
        r.caidi_min,
        r.threshold_min
    );
    Ok(())
}

/// Elements `--fail` accepts, by id or name.

/// How many posts or junctions a text answer lists before pointing to `--json`.
const LISTED: usize = 15;

/// An entity's id, name, neighbourhood and street as JSON ([`twin_core::places::Place`]).
fn place_json(city: &twin_core::CityModel, id: &EntityId) -> serde_json::Value {
    city.place_of_id(id)
        .and_then(|p| serde_json::to_value(p).ok())
        .unwrap_or_else(|| json!({ "id": id.to_string() }))
}

/// Customers of a transformer post and its load at `load_factor` × peak, kW.
fn post_load(city: &twin_core::CityModel, id: &EntityId, load_factor: f64) -> (u32, f64) {
    match city.entity(id).map(|e| &e.asset) {
        Some(twin_core::Asset::TransformerPost(t)) => (t.customers, t.peak_kw * load_factor),
        _ => (0, 0.0),
    }
}

/// A water junction's EPANET id as the city's entity id.
fn junction_id(city: &twin_core::CityModel, junction: &str) -> Option<EntityId> {
    city.water_ids.node(junction).cloned()
}

/// A junction's place ([`place_json`]) with its demand at the break's hour, l/s.
fn junction_json(
    city: &twin_core::CityModel,
    junction: &str,
    demand_l_s: &dyn Fn(&str) -> f64,
) -> serde_json::Value {
    let mut v = junction_id(city, junction)
        .map_or_else(|| json!({ "id": junction }), |id| place_json(city, &id));
    v["demand_l_s"] = json!(demand_l_s(junction));
    v
}

/// A junction's label ([`twin_core::places::Place::label`]).
fn junction_label(city: &twin_core::CityModel, junction: &str) -> String {
    junction_id(city, junction).map_or_else(|| junction.to_string(), |id| city.label_of(&id))
}

/// Each broken pipe isolated and re-solved: printed as text, or, with `--json`, returned as one
/// JSON object per pipe for the command's one document.
fn water_breaks(
    city: &twin_core::CityModel,
    pipes: &[EntityId],
    args: &OutageArgs,
) -> Result<Vec<serde_json::Value>> {
    use twin_core::water::isolation::isolate_pipe_break;
    let net = city
        .water_network
        .as_ref()
        .ok_or_else(|| anyhow!("{}: the city has no water layer", city.meta.name))?;
    let model = twin_core::water::model::HydModel::from_epanet(net)
        .map_err(|e| anyhow!("{}: the water network: {e}", city.meta.name))?;
    let at_s = match &args.at {
        Some(text) => {
            let t = chrono::NaiveTime::parse_from_str(text, "%H:%M")
                .with_context(|| format!("--at `{text}` is not a time of day like 08:00"))?;
            u64::from(chrono::Timelike::num_seconds_from_midnight(&t))
        }
        None => model.peak_demand_time_s(),
    };
    let demand_l_s = |junction: &str| {
        let l_s = model
            .node_index(junction)
            .map_or(0.0, |n| model.demand_m3s_at(n, at_s) * 1000.0);
        // No "-0.00" in a report: a demand that rounds to nothing is nothing.
        if l_s.abs() < 0.005 { 0.0 } else { l_s }
    };
    let mut docs = Vec::new();
    // EPANET link ids as the city's entity ids (they differ where node and link ids are shared).
    let link_ids = |links: &[String]| -> Vec<String> {
        links
            .iter()
            .map(|l| {
                city.water_ids
                    .link(l)
                    .map_or_else(|| l.clone(), |e| e.to_string())
            })
            .collect()
    };
    // An EPANET node id as the city's entity id.
    let node_id = |j: &str| junction_id(city, j).map_or_else(|| j.to_string(), |e| e.to_string());
    for id in pipes {
        let pipe = city
            .entity(id)
            .and_then(|e| e.source_id.as_deref())
            .ok_or_else(|| anyhow!("--fail {id}: not an element of the EPANET network"))?;
        let r = isolate_pipe_break(net, &city.water_valves, pipe, args.service_pressure_m, at_s)
            .map_err(|e| anyhow!("--fail {id}: {e}"))?;
        if args.json {
            let out = json!({
                "broken": id.to_string(),
                "segment_links": link_ids(&r.segment_links),
                "valves_closed": link_ids(&r.valves_closed),
                "at": format!("{:02}:{:02}", r.at_s / 3600 % 24, r.at_s / 60 % 60),
                "junctions_without_supply": r.without_supply.iter().map(|j| junction_json(city, j, &demand_l_s)).collect::<Vec<_>>(),
                "junctions_without_supply_before": r.without_supply_before.iter().map(|j| node_id(j)).collect::<Vec<_>>(),
                "demand_lost_m3s": r.demand_lost_m3s,
                "pressure_deficient": r.pressure_deficient.iter().map(|(j, p)| {
                    let mut v = junction_json(city, j, &demand_l_s);
                    v["pressure_m"] = json!(p);
                    v
                }).collect::<Vec<_>>(),
                "pressure_deficient_before": r.pressure_deficient_before.iter().map(|(j, b, a)| json!({"id": node_id(j), "pressure_before_m": b, "pressure_m": a})).collect::<Vec<_>>(),
                "service_pressure_m": args.service_pressure_m,
                "min_pressure_m": r.min_pressure_m,
                "quality_degraded": r.quality_degraded.iter().map(|q| json!({
                    "id": node_id(&q.junction),
                    "age_before_h": q.age_before_h,
                    "age_after_h": q.age_after_h,
                    "chlorine_before_mg_l": q.chlorine_before,
                    "chlorine_after_mg_l": q.chlorine_after,
                })).collect::<Vec<_>>(),
                "quality_not_assessed": r.quality_not_assessed,
            });
            docs.push(out);
        } else {
            println!(
                "{id} broken at {:02}:{:02}: close {} valves ({}); {} pipes drained; {} junctions without water ({:.2} l/s of demand); {} junctions newly below {} m after re-solving (lowest pressure {})",
                r.at_s / 3600 % 24,
                r.at_s / 60 % 60,
                r.valves_closed.len(),
                r.valves_closed.join(", "),
                r.segment_links.len(),
                r.without_supply.len(),
                r.demand_lost_m3s * 1000.0,
                r.pressure_deficient.len(),
                args.service_pressure_m,
                r.min_pressure_m
                    .map_or("-".to_string(), |p| format!("{p:.1} m"))
            );
            for j in r.without_supply.iter().take(LISTED) {
                println!(
                    "  without water: {}, {:.2} l/s of demand",
                    junction_label(city, j),
                    demand_l_s(j)
                );
            }
            for (j, p) in r.pressure_deficient.iter().take(LISTED) {
                println!(
                    "  newly below {} m: {}, {p:.1} m, {:.2} l/s of demand",
                    args.service_pressure_m,
                    junction_label(city, j),
                    demand_l_s(j)
                );
            }
            let listed = r.without_supply.len().max(r.pressure_deficient.len());
            if listed > LISTED {
                println!("  … more junctions (--json lists all)");
            }
            if !r.pressure_deficient_before.is_empty() || !r.without_supply_before.is_empty() {
                println!(
                    "  not the break's doing: {} junctions already below {} m in the intact network ({}){}",
                    r.pressure_deficient_before.len(),
                    args.service_pressure_m,
                    r.pressure_deficient_before
                        .iter()
                        .map(|(j, b, a)| format!("{j}: {b:.1} → {a:.1} m"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if r.without_supply_before.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; {} junctions no source reaches even intact",
                            r.without_supply_before.len()
                        )
                    }
                );
            }
            use twin_core::water::isolation::{AGE_RISE_H, LOW_CHLORINE_MG_L, QUALITY_HORIZON_H};
            if let Some(why) = &r.quality_not_assessed {
                println!("  water quality not assessed: {why}");
                continue;
            }
            println!(
                "  water quality after {QUALITY_HORIZON_H} h: {} supplied junctions degrade (water older by more than {AGE_RISE_H} h, or free chlorine falling below {LOW_CHLORINE_MG_L} mg/L){}",
                r.quality_degraded.len(),
                if r.quality_degraded.is_empty() {
                    String::new()
                } else {
                    ":".to_string()
                }
            );
            for q in r.quality_degraded.iter().take(10) {
                let chlorine = match (q.chlorine_before, q.chlorine_after) {
                    (Some(a), Some(b)) => format!(", chlorine {a:.2} → {b:.2} mg/L"),
                    _ => String::new(),
                };
                println!(
                    "    {}: age {:.1} → {:.1} h{chlorine}",
                    junction_label(city, &q.junction),
                    q.age_before_h,
                    q.age_after_h
                );
            }
            if r.quality_degraded.len() > 10 {
                println!(
                    "    … {} more (--json lists all)",
                    r.quality_degraded.len() - 10
                );
            }
        }
    }
    Ok(docs)
}

fn events_study(
    city: &twin_core::CityModel,
    file: &std::path::Path,
    args: &OutageArgs,
) -> Result<()> {
    let events = read_outage_events(file)?;
    let study = study_outage_events(city, &events, args.load_factor, file)?;
    let (r, served) = (&study.indices, study.customers_served);
    let rows: Vec<serde_json::Value> = study
        .events
        .iter()
        .map(|e| {
            json!({
                "failed": e.failed.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
                "customers_interrupted": e.customers_interrupted,
                "customers_sustained": e.customers_sustained,
                "customers_momentary": e.customers_momentary,
                "customers_not_restored": e.customers_not_restored,
                "customer_minutes": e.customer_minutes,
                "ens_kwh": e.ens_kwh,
            })
        })
        .collect();
    if args.json {
        let out = json!({
            "events": rows,
            "saifi": r.saifi, "saidi_min": r.saidi_min, "caidi_min": r.caidi_min, "ens_kwh": r.ens_kwh,
            "maifi": r.maifi,
            "customers_served": served, "sustained_threshold_min": r.threshold_min,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    for e in &study.events {
        let failed: Vec<String> = e.failed.iter().map(|i| i.to_string()).collect();
        println!(
            "{}: {} customers interrupted ({} sustained, {} momentary of at most {} min), {} until repair, {:.0} customer-minutes, ENS {:.0} kWh",
            failed.join(" "),
            e.customers_interrupted,
            e.customers_sustained,
            e.customers_momentary,
            r.threshold_min,
            e.customers_not_restored,
            e.customer_minutes,
            e.ens_kwh
        );
    }
    println!(
        "{} events over {} customers: SAIFI {:.4} ({:.0} sustained customer interruptions), SAIDI {:.2} min, CAIDI {:.1} min, ENS {:.0} kWh; MAIFI {:.4} ({:.0} momentary, in no other index)",
        events.len(),
        served,
        r.saifi,
        r.customers_sustained,
        r.saidi_min,
        r.caidi_min,
        r.ens_kwh,
        r.maifi,
        r.customers_momentary
    );
    Ok(())
}
