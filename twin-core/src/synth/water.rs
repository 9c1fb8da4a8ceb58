//! The water network of the synthetic Pitești as an EPANET model in SI units (LPS, metres,
//! millimetres, Hazen–Williams): a treatment-plant reservoir at the northern edge with a DN 600
//! main, pipes along most streets (a spanning tree plus about half of the loops), diameters by
//! street class, junction elevations from the relief and demands from the residents with a daily
//! pattern, a low-zone tank on high ground, the Trivale high-pressure zone fed by a pump station
//! and its own tank (zone-boundary pipes closed), and isolation valves on arterial mains.

use std::collections::{BTreeSet, VecDeque};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::streets::{EdgeKind, RoadPlan};
use super::terrain::LocalFrame;
use crate::entity::RoadClass;
use crate::formats::epanet::{
    EpanetNetwork, FlowUnits, HeadLossFormula, JunctionRow, PipeRow, PumpRow, ReservoirRow,
    TankRow, ValveRow,
};

/// Litres per resident per day billed, plus 20 % non-revenue water.
/// Free chlorine leaving the treatment plant (mg/L): a usual dose for a residual of 0.2–0.5 mg/L
/// at the far ends of a town's network (WHO, Guidelines for Drinking-water Quality, 4th ed.,
/// chlorine: 0.2 mg/L residual at the point of delivery).
const PLANT_CHLORINE_MG_L: f64 = 0.8;
/// First-order bulk decay of free chlorine (1/day) and wall decay (m/day): mid-range values of
/// treated surface water and cement-lined/PVC mains (EPANET 2.2 manual §3.4, reaction
/// coefficients, and the ranges it cites).
const CHLORINE_BULK_PER_DAY: f64 = -0.5;
const CHLORINE_WALL_M_PER_DAY: f64 = -0.05;
/// Water a resident's share of the city uses a day, litres: 150 l of household use plus 20 % for
/// businesses and public buildings (a planning value of the order Romanian utilities bill; a
/// utility's own billed volumes would replace it). Times the daily pattern below (mean 0.973
/// over its 24 hours) it is the city's day of demand in every command.
const LITRES_PER_PERSON_DAY: f64 = 150.0 * 1.2;
const SOURCE_HEAD_M: f64 = 312.0;
/// Ground above this is the Trivale high zone, served from its own tank.
const HIGH_ZONE_M: f64 = 288.0;
const HAZEN_WILLIAMS_C: f64 = 120.0;
/// Hourly demand multipliers: night minimum, morning and evening peaks (their mean is 0.973, not
/// 1: a day uses 97.3 % of 24 h at the base demand).
const DAILY_PATTERN: [f64; 24] = [
    0.55, 0.48, 0.45, 0.45, 0.50, 0.70, 1.10, 1.50, 1.45, 1.25, 1.10, 1.05, 1.10, 1.05, 0.95, 0.90,
    0.95, 1.05, 1.25, 1.40, 1.35, 1.15, 0.90, 0.72,
];

fn diameter_mm(class: RoadClass, kind: EdgeKind) -> f64 {
    match (kind, class) {
        (EdgeKind::Spur, _) => 100.0,
        (EdgeKind::Ring, _) => 300.0,
        (_, RoadClass::Primary) => 600.0,
        (_, RoadClass::Secondary) => 400.0,
        (_, RoadClass::Tertiary) => 250.0,
        _ => 150.0,
    }
}

pub fn plan_water(
    plan: &RoadPlan,
    node_pop: &[f64],
    frame: &LocalFrame,
    rng: &mut ChaCha8Rng,
) -> EpanetNetwork {
    let n = plan.nodes.len();
    let junction = |v: usize| format!("j-{}", v + 1);
    let inc = plan.incidence();

    // The plant's DN 600 main joins the network at the northernmost node of the north–south axis.
    let on_axis: Vec<bool> = {
        let mut v = vec![false; n];
        for e in plan
            .edges
            .iter()
            .filter(|e| e.class == RoadClass::Primary && e.kind == EdgeKind::Grid)
        {
            v[e.a] = true;
            v[e.b] = true;
        }
        v
    };
    let northernmost = |only_axis: bool| {
        (0..n)
            .filter(|&v| on_axis[v] || !only_axis)
            .max_by(|&a, &b| plan.nodes[a].y.total_cmp(&plan.nodes[b].y).then(b.cmp(&a)))
    };
    let plant_node = northernmost(true)
        .or_else(|| northernmost(false))
        .unwrap_or(0);

    // Pipes: a breadth-first spanning tree from the plant, then about half of the other streets
    // (always the arterial mains).
    let mut in_tree = vec![false; plan.edges.len()];
    let mut seen = vec![false; n];
    let mut queue = VecDeque::from([plant_node]);
    seen[plant_node] = true;
    while let Some(v) = queue.pop_front() {
        for &k in &inc[v] {
            let e = &plan.edges[k];
            let w = if e.a == v { e.b } else { e.a };
            if !seen[w] {
                seen[w] = true;
                in_tree[k] = true;
                queue.push_back(w);
            }
        }
    }
    let laid: Vec<bool> = plan
        .edges
        .iter()
        .enumerate()
        .map(|(k, e)| {
            in_tree[k]
                || matches!(e.class, RoadClass::Primary | RoadClass::Secondary)
                || rng.random_bool(0.5)
        })
        .collect();

    // Zones: the low zone is what the plant reaches without climbing above HIGH_ZONE_M; the high
    // zone is the rest that its tank (at the highest node) reaches; stray pockets join the low zone.
    let reach = |start: usize, allowed: &dyn Fn(usize) -> bool| -> Vec<bool> {
        let mut r = vec![false; n];
        let mut stack = vec![start];
        r[start] = true;
        while let Some(v) = stack.pop() {
            for &k in &inc[v] {
                if !laid[k] {
                    continue;
                }
                let e = &plan.edges[k];
                let w = if e.a == v { e.b } else { e.a };
                if !r[w] && allowed(w) {
                    r[w] = true;
                    stack.push(w);
                }
            }
        }
        r
    };
    let low_first = reach(plant_node, &|w| plan.nodes[w].elevation_m <= HIGH_ZONE_M);
    let summit = (0..n).filter(|&v| !low_first[v]).max_by(|&a, &b| {
        plan.nodes[a]
            .elevation_m
            .total_cmp(&plan.nodes[b].elevation_m)
            .then(b.cmp(&a))
    });
    let high: Vec<bool> = match summit {
        Some(s) => reach(s, &|w| !low_first[w]),
        None => vec![false; n],
    };

    let mut net = EpanetNetwork::parse("[TITLE]\n[END]\n").expect("an empty network parses");
    net.title = vec![
        "citytwin synthetic water network of Pitești (not the real Apă Canal 2000 network)".into(),
        "generated by `twin city synth pitesti`; SI units, Hazen-Williams".into(),
    ];
    net.flow_units = FlowUnits::Lps;
    net.headloss = HeadLossFormula::HazenWilliams;
    for (k, v) in [
        ("UNITS", "LPS"),
        ("HEADLOSS", "H-W"),
        ("PATTERN", "daily"),
        ("TRIALS", "100"),
        ("ACCURACY", "0.001"),
        ("DEMAND MULTIPLIER", "1.0"),
        // Free chlorine leaving the plant, decaying in the bulk water and at pipe walls.
        ("QUALITY CHLORINE", "mg/L"),
    ] {
        net.options.insert(k.into(), v.into());
    }
    for (k, v) in [
        ("DURATION", "24:00"),
        ("HYDRAULIC TIMESTEP", "1:00"),
        ("PATTERN TIMESTEP", "1:00"),
        ("REPORT TIMESTEP", "1:00"),
        ("QUALITY TIMESTEP", "0:05"),
    ] {
        net.times.insert(k.into(), v.into());
    }
    net.patterns.push(("daily".into(), DAILY_PATTERN.to_vec()));

    for (v, node) in plan.nodes.iter().enumerate() {
        let demand_lps = node_pop[v] * LITRES_PER_PERSON_DAY / 86_400.0;
        net.junctions.push(JunctionRow {
            id: junction(v),
            elevation: round2(node.elevation_m),
            base_demand: round4(demand_lps),
            pattern: None,
        });
        net.coordinates
            .insert(junction(v), (node.pos.lon, node.pos.lat));
    }

    // Source and its main.
    let plant = &plan.nodes[plant_node];
    let plant_pos = frame.to_lonlat(plant.x, plant.y - 40.0);
    net.reservoirs.push(ReservoirRow {
        id: "r-plant".into(),
        head: SOURCE_HEAD_M,
        pattern: None,
    });
    net.sources
        .push((0, format!("r-plant\tCONCEN\t{PLANT_CHLORINE_MG_L}")));
    net.reactions.extend([
        (0, format!("GLOBAL BULK\t{CHLORINE_BULK_PER_DAY}")),
        (0, format!("GLOBAL WALL\t{CHLORINE_WALL_M_PER_DAY}")),
    ]);
    net.coordinates
        .insert("r-plant".into(), (plant_pos.lon, plant_pos.lat));
    net.pipes.push(pipe(
        "p-main",
        "r-plant",
        &junction(plant_node),
        40.0,
        600.0,
    ));
    net.tags
        .push(("LINK".into(), "p-main".into(), "transmission-main".into()));

    // Street pipes, with the zone boundary closed and isolation valves on arterial mains.
    let mut pipe_count = 0;
    let mut valve_count = 0;
    let mut boundary_links: Vec<usize> = Vec::new();
    for (k, e) in plan.edges.iter().enumerate() {
        if !laid[k] {
            continue;
        }
        let length = round2(plan.length_m(e).max(1.0));
        let d = diameter_mm(e.class, e.kind);
        let crosses = high[e.a] != high[e.b];
        if crosses {
            boundary_links.push(k);
        }
        if !crosses
            && matches!(e.class, RoadClass::Primary | RoadClass::Secondary)
            && e.kind == EdgeKind::Grid
            && k % 3 == 0
        {
            // Valve at the `a` end: a short node, then the valve, then the pipe.
            valve_count += 1;
            let vnode = format!("jv-{valve_count}");
            let (a, b) = (&plan.nodes[e.a], &plan.nodes[e.b]);
            let t = (3.0 / length).min(0.5);
            let pos = frame.to_lonlat(a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t);
            net.junctions.push(JunctionRow {
                id: vnode.clone(),
                elevation: round2(a.elevation_m),
                base_demand: 0.0,
                pattern: None,
            });
            net.coordinates.insert(vnode.clone(), (pos.lon, pos.lat));
            let valve_id = format!("v-{valve_count}");
            net.valves.push(ValveRow {
                id: valve_id.clone(),
                node1: junction(e.a),
                node2: vnode.clone(),
                diameter: d,
                valve_type: "TCV".into(),
                setting: "0".into(),
                minor_loss: 0.0,
            });
            net.tags.push(("LINK".into(), valve_id, "isolation".into()));
            pipe_count += 1;
            net.pipes.push(pipe(
                &format!("p-{pipe_count}"),
                &vnode,
                &junction(e.b),
                length,
                d,
            ));
        } else {
            pipe_count += 1;
            let mut p = pipe(
                &format!("p-{pipe_count}"),
                &junction(e.a),
                &junction(e.b),
                length,
                d,
            );
            if crosses {
                p.status = "Closed".into();
                net.tags
                    .push(("LINK".into(), p.id.clone(), "zone-boundary".into()));
            }
            net.pipes.push(p);
        }
    }

    // Low-zone tank on the highest ground of the low zone.
    let low_top = (0..n)
        .filter(|&v| !high[v])
        .max_by(|&a, &b| {
            plan.nodes[a]
                .elevation_m
                .total_cmp(&plan.nodes[b].elevation_m)
                .then(b.cmp(&a))
        })
        .unwrap_or(plant_node);
    add_tank(
        &mut net,
        frame,
        plan,
        low_top,
        "t-low",
        SOURCE_HEAD_M - 7.0,
        30.0,
        400.0,
    );

    // High zone: tank above the summit, pump station across the zone boundary, controls.
    let high_demand: f64 = (0..n)
        .filter(|&v| high[v])
        .map(|v| node_pop[v] * LITRES_PER_PERSON_DAY / 86_400.0)
        .sum();
    if let Some(summit) = summit.filter(|&s| high[s]) {
        let tank_bottom = plan.nodes[summit].elevation_m.ceil() + 12.0;
        add_tank(
            &mut net,
            frame,
            plan,
            summit,
            "t-trivale",
            tank_bottom,
            20.0,
            300.0,
        );
        // The pump replaces the boundary pipe whose low end is lowest (most suction head).
        let pump_link = boundary_links.iter().copied().min_by(|&a, &b| {
            let low_end = |k: usize| {
                let e = &plan.edges[k];
                if high[e.a] { e.b } else { e.a }
            };
            plan.nodes[low_end(a)]
                .elevation_m
                .total_cmp(&plan.nodes[low_end(b)].elevation_m)
                .then(a.cmp(&b))
        });
        if let Some(k) = pump_link {
            let e = &plan.edges[k];
            let (low_end, high_end) = if high[e.a] { (e.b, e.a) } else { (e.a, e.b) };
            let lift = tank_bottom + 5.0 - (SOURCE_HEAD_M - 10.0);
            let design_flow = (high_demand * 2.5).max(5.0);
            net.curves.push((
                "c-trivale".into(),
                vec![(round2(design_flow), round2(lift + 10.0))],
            ));
            net.pumps.push(PumpRow {
                id: "pu-trivale".into(),
                node1: junction(low_end),
                node2: junction(high_end),
                parameters: vec![("HEAD".into(), "c-trivale".into())],
            });
            // Remove the boundary pipe the pump replaces.
            let (ja, jb) = (junction(e.a), junction(e.b));
            let removed: BTreeSet<String> = net
                .pipes
                .iter()
                .filter(|p| (p.node1 == ja && p.node2 == jb) || (p.node1 == jb && p.node2 == ja))
                .map(|p| p.id.clone())
                .collect();
            net.pipes.retain(|p| !removed.contains(&p.id));
            net.tags.retain(|(_, id, _)| !removed.contains(id));
            net.controls
                .push("LINK pu-trivale OPEN IF NODE t-trivale BELOW 2".into());
            net.controls
                .push("LINK pu-trivale CLOSED IF NODE t-trivale ABOVE 5.5".into());
        }
    }
    net
}

fn pipe(id: &str, a: &str, b: &str, length: f64, diameter: f64) -> PipeRow {
    PipeRow {
        id: id.into(),
        node1: a.into(),
        node2: b.into(),
        length,
        diameter,
        roughness: HAZEN_WILLIAMS_C,
        minor_loss: 0.0,
        status: "Open".into(),
    }
}

#[allow(clippy::too_many_arguments)]
fn add_tank(
    net: &mut EpanetNetwork,
    frame: &LocalFrame,
    plan: &RoadPlan,
    node: usize,
    id: &str,
    bottom_m: f64,
    diameter_m: f64,
    pipe_mm: f64,
) {
    let at = &plan.nodes[node];
    let pos = frame.to_lonlat(at.x + 30.0, at.y);
    net.tanks.push(TankRow {
        id: id.into(),
        elevation: round2(bottom_m),
        init_level: 3.5,
        min_level: 0.5,
        max_level: 6.0,
        diameter: diameter_m,
        min_volume: 0.0,
        volume_curve: None,
    });
    net.coordinates.insert(id.into(), (pos.lon, pos.lat));
    net.pipes.push(pipe(
        &format!("p-{id}"),
        id,
        &format!("j-{}", node + 1),
        30.0,
        pipe_mm,
    ));
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// A strategic N−1 isolation-valve layer (WNTR's convention, `valve,link,node`): at every
/// junction a valve on each pipe but the largest, so any pipe break can be isolated by closing
/// the valves around its segment without cutting the main that feeds the junction.
pub fn isolation_valve_layer(net: &EpanetNetwork) -> String {
    let mut incident: std::collections::BTreeMap<&str, Vec<&PipeRow>> =
        std::collections::BTreeMap::new();
    for p in &net.pipes {
        incident.entry(p.node1.as_str()).or_default().push(p);
        incident.entry(p.node2.as_str()).or_default().push(p);
    }
    let mut out = String::from("valve,link,node\n");
    let mut n = 0;
    for j in &net.junctions {
        let Some(pipes) = incident.get(j.id.as_str()) else {
            continue;
        };
        if pipes.len() < 2 {
            continue;
        }
        let keep = pipes
            .iter()
            .max_by(|a, b| {
                a.diameter
                    .total_cmp(&b.diameter)
                    .then_with(|| b.id.cmp(&a.id))
            })
            .map(|p| p.id.as_str())
            .unwrap_or("");
        let mut ids: Vec<&str> = pipes
            .iter()
            .map(|p| p.id.as_str())
            .filter(|&id| id != keep)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            n += 1;
            out.push_str(&format!("iv-{n},{id},{}\n", j.id));
        }
    }
    out
}
