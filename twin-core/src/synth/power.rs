//! The 20 kV distribution network of the synthetic Pitești: four 110/20 kV substations, 20/0.4 kV
//! transformer posts placed where people live and sized by the households they serve, radial
//! feeders laid along the streets (a minimum spanning tree over road distances from each
//! substation), and normally-open tie switches between neighbouring feeders.

use super::streets::RoadPlan;
use super::{RoadDistances, SynthEntityIds};
use crate::entity::{Asset, Entity, Substation, TransformerPost};
use crate::formats::matpower::{Branch, Bus, BusType, Gen, MatpowerCase};
use crate::id::{EntityId, EntityKind};

/// (name, x, y) of the substations in the local frame (placements are synthetic).
const SUBSTATIONS: [(&str, f64, f64); 4] = [
    ("Stația 110/20 kV Nord", -200.0, 2_500.0),
    ("Stația 110/20 kV Est", 2_200.0, 200.0),
    ("Stația 110/20 kV Sud", 600.0, -2_600.0),
    ("Stația 110/20 kV Vest", -2_300.0, -400.0),
];
const SUBSTATION_KVA: f64 = 2.0 * 25_000.0;
const BASE_MVA: f64 = 100.0;
const FEEDER_KV: f64 = 20.0;
/// Residents per household in Romania (2021 census: about 2.5).
pub(crate) const PERSONS_PER_HOUSEHOLD: f64 = 2.45;
/// After-diversity peak demand per household and fixed part per post, in kW.
pub(crate) const KW_PER_HOUSEHOLD: f64 = 0.7;
const KW_BASE_PER_POST: f64 = 8.0;
/// Residents per transformer post, aimed for.
const PERSONS_PER_POST: f64 = 420.0;
const POST_CELL_M: f64 = 300.0;
/// Standard ratings of 20/0.4 kV distribution transformers (IEC 60076), kVA.
pub(crate) const STANDARD_KVA: [f64; 7] = [100.0, 160.0, 250.0, 400.0, 630.0, 1_000.0, 1_600.0];
const MAX_POSTS_PER_FEEDER: usize = 14;
/// Cable: 20 kV XLPE Al 3×1×240 mm² on feeder heads, 3×1×150 mm² beyond (Ω/km, A).
const CABLE_240: (f64, f64, f64) = (0.125, 0.110, 390.0);
const CABLE_150: (f64, f64, f64) = (0.206, 0.120, 300.0);
/// Cables follow the street with some slack.
const ROUTE_FACTOR: f64 = 1.05;
const TAN_PHI: f64 = 0.3287; // power factor 0.95

pub struct PowerPlan {
    pub case: MatpowerCase,
    pub entities: Vec<Entity>,
    /// Road node of each transformer post entity, in the order of `entities` (posts only).
    pub post_nodes: Vec<(EntityId, usize)>,
    /// The ids of the dedicated posts asked for, in order.
    pub dedicated_posts: Vec<EntityId>,
}

/// A post for one large customer (the bus depot): where, its rating and its own base load.
pub struct DedicatedPost {
    pub node: usize,
    pub rated_kva: f64,
    pub base_kw: f64,
    pub name: String,
}

/// A post before it is numbered: where it stands and whom it serves.
struct PostSite {
    node: usize,
    population: f64,
    commercial: bool,
    dedicated: Option<(f64, f64, String)>,
}

pub fn plan_power(
    plan: &RoadPlan,
    node_pop: &[f64],
    roads: &RoadDistances,
    dedicated: &[DedicatedPost],
    ids: &mut SynthEntityIds,
) -> PowerPlan {
    let substation_nodes: Vec<usize> = SUBSTATIONS
        .iter()
        .map(|&(_, x, y)| roads.nearest_node(plan, x, y))
        .collect();
    let mut taken = substation_nodes.clone();
    taken.extend(dedicated.iter().map(|d| d.node));
    let mut sites = place_posts(plan, node_pop, &taken);
    for d in dedicated {
        sites.push(PostSite {
            node: d.node,
            population: 0.0,
            commercial: false,
            dedicated: Some((d.rated_kva, d.base_kw, d.name.clone())),
        });
    }

    // Buses: 1 = the 110 kV grid (slack), then substations, then posts.
    let mut bus = vec![Bus {
        id: 1,
        bus_type: BusType::Ref,
        pd_mw: 0.0,
        qd_mvar: 0.0,
        gs_mw: 0.0,
        bs_mvar: 0.0,
        area: 1,
        vm_pu: 1.0,
        va_deg: 0.0,
        base_kv: 110.0,
        zone: 1,
        vmax_pu: 1.1,
        vmin_pu: 0.9,
    }];
    let mut branch = Vec::new();
    let mut entities = Vec::new();
    for (k, &(name, _, _)) in SUBSTATIONS.iter().enumerate() {
        let id = k as u32 + 2;
        bus.push(pq_bus(id, 0.0, 0.0));
        // 110/20 kV transformers, 2 × 25 MVA, uk = 12 %: x on the 100 MVA base.
        branch.push(Branch {
            from: 1,
            to: id,
            r_pu: 0.005,
            x_pu: 0.12 * BASE_MVA / (SUBSTATION_KVA / 1000.0),
            b_pu: 0.0,
            rate_a_mva: SUBSTATION_KVA / 1000.0,
            ratio: 1.0,
            shift_deg: 0.0,
            in_service: true,
        });
        let entity_id = ids.next(EntityKind::Power, "ss");
        let node = &plan.nodes[substation_nodes[k]];
        let asset = Asset::Substation(Substation {
            bus: id,
            rated_kva: SUBSTATION_KVA,
            high_kv: 110.0,
            low_kv: FEEDER_KV,
        });
        entities.push(Entity::new(entity_id, node.pos, asset).with_name(Some(name.to_string())));
    }
    let first_post_bus = bus.len() as u32 + 1;
    let mut post_nodes = Vec::with_capacity(sites.len());
    let mut dedicated_posts = Vec::new();
    for (k, site) in sites.iter().enumerate() {
        let households = site.population / PERSONS_PER_HOUSEHOLD;
        let commercial_factor = if site.commercial { 1.4 } else { 1.0 };
        let (peak_kw, rated_kva, name) = match &site.dedicated {
            Some((rated, base_kw, name)) => (*base_kw, *rated, Some(name.clone())),
            None => {
                let peak_kw =
                    (KW_BASE_PER_POST + KW_PER_HOUSEHOLD * households) * commercial_factor;
                let needed_kva = peak_kw / 0.95 / 0.75;
                (
                    peak_kw,
                    STANDARD_KVA
                        .iter()
                        .copied()
                        .find(|&s| s >= needed_kva)
                        .unwrap_or(1_600.0),
                    None,
                )
            }
        };
        let id = first_post_bus + k as u32;
        bus.push(pq_bus(id, peak_kw / 1000.0, peak_kw * TAN_PHI / 1000.0));
        let customers = if site.dedicated.is_some() {
            1
        } else {
            (households * if site.commercial { 1.15 } else { 1.06 }).round() as u32
        };
        let entity_id = ids.next(EntityKind::Power, "pt");
        let node = &plan.nodes[site.node];
        let asset = Asset::TransformerPost(TransformerPost {
            bus: id,
            rated_kva,
            customers,
            population: site.population.round() as u32,
            peak_kw: 0.0,
            peak_kvar: 0.0,
        });
        post_nodes.push((entity_id.clone(), site.node));
        if site.dedicated.is_some() {
            dedicated_posts.push(entity_id.clone());
        }
        entities.push(Entity::new(entity_id, node.pos, asset).with_name(name));
    }

    // Feeders: each post on its nearest substation by road, grouped by bearing.
    let post_count = sites.len();
    let post_dist: Vec<Vec<f64>> = sites.iter().map(|s| roads.distances_from(s.node)).collect();
    let sub_dist: Vec<Vec<f64>> = substation_nodes
        .iter()
        .map(|&n| roads.distances_from(n))
        .collect();
    let mut feeders: Vec<Vec<usize>> = Vec::new();
    let mut feeder_substation: Vec<usize> = Vec::new();
    for (s, &sub_node) in substation_nodes.iter().enumerate() {
        let mut mine: Vec<(f64, usize)> = (0..post_count)
            .filter(|&p| {
                let d = sub_dist[s][sites[p].node];
                (0..SUBSTATIONS.len()).all(|t| (sub_dist[t][sites[p].node], t) >= (d, s))
            })
            .map(|p| {
                let n = &plan.nodes[sites[p].node];
                let c = &plan.nodes[sub_node];
                ((n.y - c.y).atan2(n.x - c.x), p)
            })
            .collect();
        mine.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let groups = mine.len().div_ceil(MAX_POSTS_PER_FEEDER).max(1);
        let per = mine.len().div_ceil(groups).max(1);
        for chunk in mine.chunks(per) {
            feeders.push(chunk.iter().map(|&(_, p)| p).collect());
            feeder_substation.push(s);
        }
    }
    let mut feeder_of = vec![0; post_count];
    for (f, members) in feeders.iter().enumerate() {
        for &p in members {
            feeder_of[p] = f;
        }
    }
    for (f, members) in feeders.iter().enumerate() {
        let s = feeder_substation[f];
        let sub_bus = s as u32 + 2;
        // Prim's tree from the substation over road distances.
        let mut in_tree: Vec<Option<usize>> = Vec::new(); // None = substation
        in_tree.push(None);
        let mut attached = vec![false; members.len()];
        let mut depth: Vec<usize> = vec![0];
        for _ in 0..members.len() {
            let mut best: Option<(f64, usize, usize)> = None;
            for (m, &p) in members.iter().enumerate() {
                if attached[m] {
                    continue;
                }
                for (t, tree_node) in in_tree.iter().enumerate() {
                    let d = match tree_node {
                        None => sub_dist[s][sites[p].node],
                        Some(q) => post_dist[*q][sites[p].node],
                    };
                    if best.is_none_or(|(bd, _, _)| d < bd) {
                        best = Some((d, m, t));
                    }
                }
            }
            let Some((d, m, t)) = best else { break };
            attached[m] = true;
            let p = members[m];
            let from_bus = match in_tree[t] {
                None => sub_bus,
                Some(q) => first_post_bus + q as u32,
            };
            let level = depth[t] + 1;
            let cable = if level <= 2 { CABLE_240 } else { CABLE_150 };
            branch.push(line_branch(
                from_bus,
                first_post_bus + p as u32,
                d.max(30.0) * ROUTE_FACTOR,
                cable,
            ));
            in_tree.push(Some(p));
            depth.push(level);
        }
    }
    // Tie switches: from each feeder, the shortest road link to a post of another feeder.
    let mut tied = std::collections::BTreeSet::new();
    for (f, members) in feeders.iter().enumerate() {
        let mut best: Option<(f64, usize, usize)> = None;
        for &p in members {
            for q in 0..post_count {
                if feeder_of[q] == f {
                    continue;
                }
                let d = post_dist[p][sites[q].node];
                if best.is_none_or(|(bd, _, _)| d < bd) {
                    best = Some((d, p, q));
                }
            }
        }
        if let Some((d, p, q)) = best {
            let pair = (f.min(feeder_of[q]), f.max(feeder_of[q]));
            if d.is_finite() && tied.insert(pair) {
                let mut tie = line_branch(
                    first_post_bus + p as u32,
                    first_post_bus + q as u32,
                    d.max(30.0) * ROUTE_FACTOR,
                    CABLE_150,
                );
                tie.in_service = false;
                branch.push(tie);
            }
        }
    }
    let generators = vec![Gen {
        bus: 1,
        pg_mw: 0.0,
        qg_mvar: 0.0,
        qmax_mvar: 200.0,
        qmin_mvar: -200.0,
        vg_pu: 1.0,
        mbase_mva: BASE_MVA,
        in_service: true,
        pmax_mw: 200.0,
        pmin_mw: 0.0,
    }];
    let case = MatpowerCase {
        name: "pitesti".into(),
        base_mva: BASE_MVA,
        bus,
        generators,
        branch,
        bus_names: Vec::new(),
        unevaluated: Vec::new(),
    };
    PowerPlan {
        case,
        entities,
        post_nodes,
        dedicated_posts,
    }
}

fn pq_bus(id: u32, pd_mw: f64, qd_mvar: f64) -> Bus {
    Bus {
        id,
        bus_type: BusType::Pq,
        pd_mw,
        qd_mvar,
        gs_mw: 0.0,
        bs_mvar: 0.0,
        area: 1,
        vm_pu: 1.0,
        va_deg: 0.0,
        base_kv: FEEDER_KV,
        zone: 1,
        vmax_pu: 1.1,
        vmin_pu: 0.9,
    }
}

fn line_branch(from: u32, to: u32, length_m: f64, (r_km, x_km, amps): (f64, f64, f64)) -> Branch {
    let z_base = FEEDER_KV * FEEDER_KV / BASE_MVA;
    let km = length_m / 1000.0;
    Branch {
        from,
        to,
        r_pu: r_km * km / z_base,
        x_pu: x_km * km / z_base,
        b_pu: 0.0,
        rate_a_mva: 3f64.sqrt() * FEEDER_KV * amps / 1000.0,
        ratio: 0.0,
        shift_deg: 0.0,
        in_service: true,
    }
}

/// Posts where people live: cut the city into square cells, and in each cell place one post per
/// ~420 residents at the street node nearest the residents' centre. Posts within 1 km of the
/// centre also serve shops and offices.
fn place_posts(plan: &RoadPlan, node_pop: &[f64], taken: &[usize]) -> Vec<PostSite> {
    let mut cells: std::collections::BTreeMap<(i64, i64), Vec<usize>> =
        std::collections::BTreeMap::new();
    for (v, n) in plan.nodes.iter().enumerate() {
        if node_pop[v] > 0.0 {
            cells
                .entry((
                    (n.x / POST_CELL_M).floor() as i64,
                    (n.y / POST_CELL_M).floor() as i64,
                ))
                .or_default()
                .push(v);
        }
    }
    let mut used: std::collections::BTreeSet<usize> = taken.iter().copied().collect();
    let mut sites = Vec::new();
    for members in cells.values() {
        let total: f64 = members.iter().map(|&v| node_pop[v]).sum();
        if total < 30.0 {
            continue;
        }
        let count = (total / PERSONS_PER_POST).ceil() as usize;
        let mut sorted = members.clone();
        let (xs, ys): (Vec<f64>, Vec<f64>) = members
            .iter()
            .map(|&v| (plan.nodes[v].x, plan.nodes[v].y))
            .unzip();
        let spread = |v: &[f64]| {
            v.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
                - v.iter().cloned().fold(f64::INFINITY, f64::min)
        };
        let by_x = spread(&xs) >= spread(&ys);
        sorted.sort_by(|&a, &b| {
            let (ka, kb) = if by_x {
                (plan.nodes[a].x, plan.nodes[b].x)
            } else {
                (plan.nodes[a].y, plan.nodes[b].y)
            };
            ka.total_cmp(&kb).then(a.cmp(&b))
        });
        // Split into `count` runs of about equal population.
        let mut groups: Vec<Vec<usize>> = vec![Vec::new()];
        let mut acc = 0.0;
        for &v in &sorted {
            if acc >= total / count as f64 * groups.len() as f64 && groups.len() < count {
                groups.push(Vec::new());
            }
            acc += node_pop[v];
            groups.last_mut().expect("one group at least").push(v);
        }
        for g in groups {
            let population: f64 = g.iter().map(|&v| node_pop[v]).sum();
            if population <= 0.0 {
                continue;
            }
            let cx = g
                .iter()
                .map(|&v| plan.nodes[v].x * node_pop[v])
                .sum::<f64>()
                / population;
            let cy = g
                .iter()
                .map(|&v| plan.nodes[v].y * node_pop[v])
                .sum::<f64>()
                / population;
            let mut order = g.clone();
            order.sort_by(|&a, &b| {
                let da = (plan.nodes[a].x - cx).hypot(plan.nodes[a].y - cy);
                let db = (plan.nodes[b].x - cx).hypot(plan.nodes[b].y - cy);
                da.total_cmp(&db).then(a.cmp(&b))
            });
            let Some(&node) = order.iter().find(|v| !used.contains(v)) else {
                continue;
            };
            used.insert(node);
            let commercial = cx.hypot(cy) < 1_000.0;
            sites.push(PostSite {
                node,
                population,
                commercial,
                dedicated: None,
            });
        }
    }
    sites
}
