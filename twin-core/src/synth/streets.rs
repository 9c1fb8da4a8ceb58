//! The street network of the synthetic Pitești: a slightly irregular grid of blocks inside the
//! real boundary, with a road hierarchy (the real north–south and east–west axes and the western
//! bypass as named arterials, secondary and tertiary streets every few blocks, residential streets
//! between them, service spurs into blocks), sparse forest roads in Trivale, oneway streets in the
//! centre, 13 signalised intersections and 14 roundabouts (built as rings of oneway segments).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::terrain::{LocalFrame, NEIGHBOURHOODS, elevation_m};
use crate::entity::RoadClass;
use crate::geometry::{Boundary, LonLat};

/// Block size in metres.
const SPACING_M: f64 = 125.0;
/// Grid rotation in radians.
const ROTATION: f64 = 0.05;
/// West of this x (metres) lies the Trivale forest: only sparse forest roads.
const FOREST_X_M: f64 = -4_300.0;
/// Residential streets closer than this to the centre are oneway.
const ONEWAY_CORE_M: f64 = 1_300.0;
const ROUNDABOUT_RADIUS_M: f64 = 22.0;
pub const SIGNALISED_INTERSECTIONS: usize = 13;
pub const ROUNDABOUTS: usize = 14;

#[derive(Debug, Clone)]
pub struct PlanNode {
    pub x: f64,
    pub y: f64,
    pub pos: LonLat,
    pub elevation_m: f64,
    grid: Option<(i32, i32)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    Grid,
    Ring,
    Spur,
}

#[derive(Debug, Clone)]
pub struct PlanEdge {
    pub a: usize,
    pub b: usize,
    pub class: RoadClass,
    pub name: Option<String>,
    pub oneway: bool,
    pub lanes: u8,
    pub speed_kmh: f64,
    pub kind: EdgeKind,
    /// Intermediate points (local metres) between `a` and `b`, for curved segments.
    pub via: Vec<(f64, f64)>,
    /// Residents along this segment (filled by [`assign_population`]).
    pub population: f64,
    pub neighbourhood: usize,
    alive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    TrafficSignals,
    Roundabout,
}

#[derive(Debug, Clone)]
pub struct PlannedIntersection {
    pub control: Control,
    pub x: f64,
    pub y: f64,
    /// The node (signals) or the ring nodes (roundabout).
    pub nodes: Vec<usize>,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct RoadPlan {
    pub nodes: Vec<PlanNode>,
    pub edges: Vec<PlanEdge>,
    pub intersections: Vec<PlannedIntersection>,
}

impl RoadPlan {
    pub fn length_m(&self, e: &PlanEdge) -> f64 {
        let mut pts = vec![(self.nodes[e.a].x, self.nodes[e.a].y)];
        pts.extend(e.via.iter().copied());
        pts.push((self.nodes[e.b].x, self.nodes[e.b].y));
        pts.windows(2)
            .map(|w| (w[1].0 - w[0].0).hypot(w[1].1 - w[0].1))
            .sum()
    }

    /// Edge indices touching each node.
    pub fn incidence(&self) -> Vec<Vec<usize>> {
        let mut inc = vec![Vec::new(); self.nodes.len()];
        for (k, e) in self.edges.iter().enumerate() {
            inc[e.a].push(k);
            inc[e.b].push(k);
        }
        inc
    }
}

fn line_class(index: i32, is_column: bool) -> RoadClass {
    if index == 0 || (is_column && index == BYPASS_COLUMN) {
        if index == 0 {
            RoadClass::Primary
        } else {
            RoadClass::Secondary
        }
    } else if index % 8 == 0 {
        RoadClass::Secondary
    } else if index % 4 == 0 {
        RoadClass::Tertiary
    } else {
        RoadClass::Residential
    }
}

/// The western bypass of the centre (Târgu din Vale – Gheorghe Șincai – Calea Bascovului).
const BYPASS_COLUMN: i32 = -7;

fn axis_name(is_column: bool, index: i32, x: f64, y: f64) -> Option<&'static str> {
    if is_column && index == 0 {
        Some(match y {
            y if y > 2_000.0 => "Bulevardul Petrochimiștilor",
            y if y > 600.0 => "Bulevardul Republicii",
            y if y > -900.0 => "Strada Negru Vodă",
            _ => "Bulevardul Nicolae Bălcescu",
        })
    } else if is_column && index == BYPASS_COLUMN {
        Some(match y {
            y if y > 300.0 => "Strada Târgu din Vale",
            y if y > -700.0 => "Strada Gheorghe Șincai",
            _ => "Calea Bascovului",
        })
    } else if !is_column && index == 0 {
        Some(match x {
            x if x > 1_800.0 => "Calea București",
            x if x > 900.0 => "Bulevardul I.C. Brătianu",
            x if x > 200.0 => "Strada Maternității",
            x if x > -500.0 => "Strada General Constantin Cristescu",
            x if x > -1_500.0 => "Strada Soldat Enache",
            x if x > -3_000.0 => "Strada Smeurei",
            _ => "Calea Drăgășani",
        })
    } else {
        None
    }
}

/// The index of the neighbourhood whose centre is nearest to (x, y).
pub fn nearest_neighbourhood(x: f64, y: f64) -> usize {
    let mut best = (0, f64::INFINITY);
    for (k, (_, nx, ny, _)) in NEIGHBOURHOODS.iter().enumerate() {
        let d = (x - nx).hypot(y - ny);
        if d < best.1 {
            best = (k, d);
        }
    }
    best.0
}

pub fn plan_streets(frame: &LocalFrame, boundary: &Boundary, rng: &mut ChaCha8Rng) -> RoadPlan {
    let (c, s) = (ROTATION.cos(), ROTATION.sin());
    const N: i32 = 80;
    let mut nodes: Vec<PlanNode> = Vec::new();
    let mut at = std::collections::BTreeMap::new();
    for j in -N..=N {
        for i in -N..=N {
            let (u, v) = (f64::from(i) * SPACING_M, f64::from(j) * SPACING_M);
            let jitter_x = rng.random_range(-18.0..18.0);
            let jitter_y = rng.random_range(-18.0..18.0);
            let on_axis = i == 0 || j == 0;
            let (x, y) = if on_axis {
                (u * c - v * s, u * s + v * c)
            } else {
                (u * c - v * s + jitter_x, u * s + v * c + jitter_y)
            };
            let pos = frame.to_lonlat(x, y);
            if !boundary.contains(pos) {
                continue;
            }
            at.insert((i, j), nodes.len());
            nodes.push(PlanNode {
                x,
                y,
                pos,
                elevation_m: elevation_m(x, y),
                grid: Some((i, j)),
            });
        }
    }
    let mut edges = Vec::new();
    for (&(i, j), &a) in &at {
        for (di, dj) in [(1, 0), (0, 1)] {
            let Some(&b) = at.get(&(i + di, j + dj)) else {
                continue;
            };
            let is_column = di == 0;
            let line = if is_column { i } else { j };
            let forest = nodes[a].x.min(nodes[b].x) < FOREST_X_M;
            if forest && line % 4 != 0 {
                continue;
            }
            let class = line_class(line, is_column);
            let (mx, my) = (
                (nodes[a].x + nodes[b].x) / 2.0,
                (nodes[a].y + nodes[b].y) / 2.0,
            );
            if class == RoadClass::Residential && rng.random_bool(0.14) {
                continue;
            }
            let core = mx.hypot(my) < ONEWAY_CORE_M;
            let oneway = class == RoadClass::Residential && core;
            // Alternate directions street by street; a oneway runs from `a` to `b`.
            let (a, b) = if oneway && line.rem_euclid(2) == 1 {
                (b, a)
            } else {
                (a, b)
            };
            let neighbourhood = nearest_neighbourhood(mx, my);
            let name = axis_name(is_column, line, mx, my)
                .map(str::to_string)
                .or_else(|| {
                    let nb = NEIGHBOURHOODS[neighbourhood].0;
                    Some(format!("Strada {nb} {}", line.unsigned_abs()))
                });
            let lanes = match class {
                RoadClass::Primary => 4,
                _ if oneway => 1,
                _ => 2,
            };
            let speed_kmh = if class == RoadClass::Residential && core {
                30.0
            } else {
                50.0
            };
            edges.push(PlanEdge {
                a,
                b,
                class,
                name,
                oneway,
                lanes,
                speed_kmh,
                kind: EdgeKind::Grid,
                via: Vec::new(),
                population: 0.0,
                neighbourhood,
                alive: true,
            });
        }
    }
    let mut plan = RoadPlan {
        nodes,
        edges,
        intersections: Vec::new(),
    };
    keep_largest_component(&mut plan);
    add_intersections(&mut plan);
    add_service_spurs(&mut plan, frame, boundary, rng);
    compact(&mut plan);
    plan
}

/// A plan over streets that already exist (an OSM import): their nodes, classes, lanes, speeds,
/// names and geometry are kept; service roads count as spurs (nobody lives on them).
pub fn plan_from_segments(frame: &LocalFrame, segments: &[crate::entity::Entity]) -> RoadPlan {
    use crate::entity::Asset;
    let mut index: std::collections::BTreeMap<i64, usize> = std::collections::BTreeMap::new();
    let mut nodes: Vec<PlanNode> = Vec::new();
    let mut edges = Vec::new();
    let mut node = |id: i64, pos: LonLat, nodes: &mut Vec<PlanNode>| -> usize {
        *index.entry(id).or_insert_with(|| {
            let (x, y) = frame.to_xy(pos);
            nodes.push(PlanNode {
                x,
                y,
                pos,
                elevation_m: elevation_m(x, y),
                grid: None,
            });
            nodes.len() - 1
        })
    };
    for e in segments {
        let Asset::StreetSegment(s) = &e.asset else {
            continue;
        };
        let (Some(first), Some(last)) = (s.geometry.first(), s.geometry.last()) else {
            continue;
        };
        let a = node(s.from_node, *first, &mut nodes);
        let b = node(s.to_node, *last, &mut nodes);
        if a == b {
            continue;
        }
        let via: Vec<(f64, f64)> = s.geometry[1..s.geometry.len() - 1]
            .iter()
            .map(|p| frame.to_xy(*p))
            .collect();
        let (mx, my) = frame.to_xy(e.location);
        edges.push(PlanEdge {
            a,
            b,
            class: s.road_class,
            name: e.name.clone(),
            oneway: s.oneway,
            lanes: s.lanes,
            speed_kmh: s.speed_limit_kmh,
            kind: if s.road_class == RoadClass::Service {
                EdgeKind::Spur
            } else {
                EdgeKind::Grid
            },
            via,
            population: 0.0,
            neighbourhood: nearest_neighbourhood(mx, my),
            alive: true,
        });
    }
    let mut plan = RoadPlan {
        nodes,
        edges,
        intersections: Vec::new(),
    };
    keep_largest_component(&mut plan);
    compact(&mut plan);
    plan
}

/// Drop every node and edge outside the largest connected piece of the network.
fn keep_largest_component(plan: &mut RoadPlan) {
    let n = plan.nodes.len();
    let mut component = vec![usize::MAX; n];
    let inc = plan.incidence();
    let mut sizes = Vec::new();
    for start in 0..n {
        if component[start] != usize::MAX || inc[start].is_empty() {
            continue;
        }
        let id = sizes.len();
        let mut stack = vec![start];
        component[start] = id;
        let mut size = 0;
        while let Some(v) = stack.pop() {
            size += 1;
            for &k in &inc[v] {
                let e = &plan.edges[k];
                let w = if e.a == v { e.b } else { e.a };
                if component[w] == usize::MAX {
                    component[w] = id;
                    stack.push(w);
                }
            }
        }
        sizes.push(size);
    }
    let largest = (0..sizes.len())
        .max_by_key(|&k| (sizes[k], usize::MAX - k))
        .unwrap_or(0);
    for e in &mut plan.edges {
        if component[e.a] != largest {
            e.alive = false;
        }
    }
}

/// Choose the signalised intersections and roundabouts among crossings of major streets, and
/// build each roundabout as a ring of oneway segments.
fn add_intersections(plan: &mut RoadPlan) {
    let inc = plan.incidence();
    let alive_degree = |v: usize| inc[v].iter().filter(|&&k| plan.edges[k].alive).count();
    let major = |i: i32| i == 0 || i == BYPASS_COLUMN || i % 4 == 0;
    let arterial = |i: i32| i == 0 || i == BYPASS_COLUMN || i % 8 == 0;
    let mut candidates: Vec<(f64, usize, bool)> = plan
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(v, node)| {
            let (i, j) = node.grid?;
            let crossing = major(i) && j % 4 == 0 && node.x > FOREST_X_M;
            (crossing && alive_degree(v) >= 3)
                .then(|| (node.x.hypot(node.y), v, arterial(i) || arterial(j)))
        })
        .collect();
    candidates.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut chosen: Vec<(usize, Control)> = Vec::new();
    let far_enough = |chosen: &[(usize, Control)], v: usize, min_m: f64, nodes: &[PlanNode]| {
        chosen
            .iter()
            .all(|&(w, _)| (nodes[v].x - nodes[w].x).hypot(nodes[v].y - nodes[w].y) >= min_m)
    };
    for &(_, v, on_arterial) in &candidates {
        if chosen.len() >= SIGNALISED_INTERSECTIONS {
            break;
        }
        if on_arterial && far_enough(&chosen, v, 300.0, &plan.nodes) {
            chosen.push((v, Control::TrafficSignals));
        }
    }
    let mut roundabouts = 0;
    for &(d, v, _) in &candidates {
        if roundabouts >= ROUNDABOUTS {
            break;
        }
        if d >= 900.0 && far_enough(&chosen, v, 600.0, &plan.nodes) {
            chosen.push((v, Control::Roundabout));
            roundabouts += 1;
        }
    }
    for (v, control) in chosen {
        let name_of = |plan: &RoadPlan| -> String {
            let mut names: Vec<String> = inc[v]
                .iter()
                .filter(|&&k| plan.edges[k].alive)
                .filter_map(|&k| plan.edges[k].name.clone())
                .collect();
            names.sort();
            names.dedup();
            names.join(" / ")
        };
        let name = name_of(plan);
        let (x, y) = (plan.nodes[v].x, plan.nodes[v].y);
        let nodes = match control {
            Control::TrafficSignals => vec![v],
            Control::Roundabout => build_ring(plan, &inc[v], v),
        };
        plan.intersections.push(PlannedIntersection {
            control,
            x,
            y,
            nodes,
            name,
        });
    }
}

/// Replace node `v` by a ring of oneway segments, counter-clockwise (right-hand traffic).
fn build_ring(plan: &mut RoadPlan, incident: &[usize], v: usize) -> Vec<usize> {
    let (cx, cy) = (plan.nodes[v].x, plan.nodes[v].y);
    let mut arms: Vec<(f64, usize)> = incident
        .iter()
        .filter(|&&k| plan.edges[k].alive)
        .map(|&k| {
            let e = &plan.edges[k];
            let w = if e.a == v { e.b } else { e.a };
            ((plan.nodes[w].y - cy).atan2(plan.nodes[w].x - cx), k)
        })
        .collect();
    arms.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut ring = Vec::with_capacity(arms.len());
    let mut best_class = RoadClass::Residential;
    for &(angle, k) in &arms {
        let (x, y) = (
            cx + ROUNDABOUT_RADIUS_M * angle.cos(),
            cy + ROUNDABOUT_RADIUS_M * angle.sin(),
        );
        let pos = LocalFrame::new(plan.nodes[v].pos).to_lonlat(x - cx, y - cy);
        let r = plan.nodes.len();
        plan.nodes.push(PlanNode {
            x,
            y,
            pos,
            elevation_m: plan.nodes[v].elevation_m,
            grid: None,
        });
        let e = &mut plan.edges[k];
        if e.a == v {
            e.a = r;
        } else {
            e.b = r;
        }
        best_class = best_class.min(e.class);
        ring.push((angle, r));
    }
    let n = ring.len();
    for m in 0..n {
        let (a0, ra) = ring[m];
        let (mut a1, rb) = ring[(m + 1) % n];
        if a1 <= a0 {
            a1 += std::f64::consts::TAU;
        }
        let via = (1..4)
            .map(|t| {
                let a = a0 + (a1 - a0) * f64::from(t) / 4.0;
                (
                    cx + ROUNDABOUT_RADIUS_M * a.cos(),
                    cy + ROUNDABOUT_RADIUS_M * a.sin(),
                )
            })
            .collect();
        plan.edges.push(PlanEdge {
            a: ra,
            b: rb,
            class: best_class,
            name: None,
            oneway: true,
            lanes: if best_class == RoadClass::Primary {
                2
            } else {
                1
            },
            speed_kmh: 30.0,
            kind: EdgeKind::Ring,
            via,
            population: 0.0,
            neighbourhood: nearest_neighbourhood(cx, cy),
            alive: true,
        });
    }
    ring.into_iter().map(|(_, r)| r).collect()
}

/// Dead-end service roads into about one block in twenty.
fn add_service_spurs(
    plan: &mut RoadPlan,
    frame: &LocalFrame,
    boundary: &Boundary,
    rng: &mut ChaCha8Rng,
) {
    let inc = plan.incidence();
    let count = plan.nodes.len();
    for v in 0..count {
        let alive: Vec<usize> = inc[v]
            .iter()
            .copied()
            .filter(|&k| plan.edges[k].alive)
            .collect();
        if alive.len() < 2 || plan.nodes[v].grid.is_none() || !rng.random_bool(0.05) {
            continue;
        }
        let e = &plan.edges[alive[0]];
        let w = if e.a == v { e.b } else { e.a };
        let (dx, dy) = (
            plan.nodes[w].x - plan.nodes[v].x,
            plan.nodes[w].y - plan.nodes[v].y,
        );
        let len = dx.hypot(dy).max(1.0);
        let (x, y) = (
            plan.nodes[v].x - dy / len * 45.0,
            plan.nodes[v].y + dx / len * 45.0,
        );
        let pos = frame.to_lonlat(x, y);
        if !boundary.contains(pos) {
            continue;
        }
        let s = plan.nodes.len();
        plan.nodes.push(PlanNode {
            x,
            y,
            pos,
            elevation_m: elevation_m(x, y),
            grid: None,
        });
        plan.edges.push(PlanEdge {
            a: v,
            b: s,
            class: RoadClass::Service,
            name: None,
            oneway: false,
            lanes: 2,
            speed_kmh: 20.0,
            kind: EdgeKind::Spur,
            via: Vec::new(),
            population: 0.0,
            neighbourhood: nearest_neighbourhood(x, y),
            alive: true,
        });
    }
}

/// Remove dead edges and nodes no edge touches, renumbering densely in order.
fn compact(plan: &mut RoadPlan) {
    plan.edges.retain(|e| e.alive);
    let mut used = vec![false; plan.nodes.len()];
    for e in &plan.edges {
        used[e.a] = true;
        used[e.b] = true;
    }
    let mut new_index = vec![usize::MAX; plan.nodes.len()];
    let mut nodes = Vec::new();
    for (v, node) in plan.nodes.iter().enumerate() {
        if used[v] {
            new_index[v] = nodes.len();
            nodes.push(node.clone());
        }
    }
    for e in &mut plan.edges {
        e.a = new_index[e.a];
        e.b = new_index[e.b];
    }
    for i in &mut plan.intersections {
        i.nodes = i
            .nodes
            .iter()
            .map(|&v| new_index[v])
            .filter(|&v| v != usize::MAX)
            .collect();
    }
    plan.nodes = nodes;
}

/// Spread each neighbourhood's population over its streets by length (boulevards carry blocks
/// of flats too, at a lower weight; service spurs and roundabout rings carry none).
pub fn assign_population(plan: &mut RoadPlan) {
    let weight = |e: &PlanEdge| match (e.kind, e.class) {
        (EdgeKind::Ring | EdgeKind::Spur, _) => 0.0,
        (_, RoadClass::Primary) => 0.6,
        (_, RoadClass::Secondary) => 0.8,
        _ => 1.0,
    };
    let mut total = vec![0.0; NEIGHBOURHOODS.len()];
    let lengths: Vec<f64> = plan.edges.iter().map(|e| plan.length_m(e)).collect();
    for (e, len) in plan.edges.iter().zip(&lengths) {
        total[e.neighbourhood] += weight(e) * len;
    }
    for (e, len) in plan.edges.iter_mut().zip(&lengths) {
        let t = total[e.neighbourhood];
        let share = if t > 0.0 { weight(e) * len / t } else { 0.0 };
        e.population = f64::from(NEIGHBOURHOODS[e.neighbourhood].3) * share;
    }
}

/// Residents attached to each node: half of each incident segment's.
pub fn node_population(plan: &RoadPlan) -> Vec<f64> {
    let mut pop = vec![0.0; plan.nodes.len()];
    for e in &plan.edges {
        pop[e.a] += e.population / 2.0;
        pop[e.b] += e.population / 2.0;
    }
    pop
}
