//! The model runs behind each network's estimates and alerts: the power load flow with the live
//! loads, water hydraulics with the measured demands, road congestion along corridors and the
//! watch over bins and citizen reports.

use std::collections::{HashMap, HashSet};

use twin_core::entity::{Asset, Entity};
use twin_core::kpi::LOW_PRESSURE_M;
use twin_core::power::GridState;
use twin_core::{CityModel, EntityId};

use super::injections::{Injections, lock};
use super::published::Alert;

/// A network model's answer: estimates (entity id, field, value) and alerts.
pub type Solved = (Vec<(String, &'static str, f64)>, Vec<Alert>);

/// Voltage band for alerts (EN 50160: ±10 % at LV; ±5 % kept as a planning band at MV).
const V_LOW: f64 = 0.95;
const V_HIGH: f64 = 1.05;

pub(super) fn solve_power(city: &CityModel, inj: &Injections) -> Result<Solved, String> {
    let Some(case) = city.power_case.as_ref() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let mut grid = GridState::new(case);
    let bus_row = case.bus_rows();
    let entities = city.entities();
    let bus_of = |e: &Entity| match &e.asset {
        Asset::TransformerPost(t) => Some(t.bus),
        Asset::Substation(s) => Some(s.bus),
        _ => None,
    };
    for (&index, &(p, q)) in &lock(&inj.power).values {
        let Some(row) = bus_of(&entities[index]).and_then(|b| bus_row.get(&b)) else {
            continue;
        };
        if let Some(p) = p {
            grid.set_active_kw(*row, p);
        }
        if let Some(q) = q {
            grid.set_reactive_kvar(*row, q);
        }
    }
    for (&index, &kw) in lock(&inj.chargers).iter() {
        let Asset::EvCharger(c) = &entities[index].asset else {
            continue;
        };
        let row = city
            .entity(&c.grid_connection)
            .and_then(bus_of)
            .and_then(|b| bus_row.get(&b));
        if let Some(row) = row {
            grid.add_active_kw(*row, kw);
        }
    }
    let r = grid.solve().map_err(|e| e.to_string())?;
    let mut values = Vec::new();
    let (mut low, mut dark, mut overloaded) = (Vec::new(), Vec::new(), Vec::new());
    for e in entities {
        let Some(row) = bus_of(e).and_then(|b| bus_row.get(&b)) else {
            continue;
        };
        let id = e.id.to_string();
        values.push((id.clone(), "voltage", r.vm_pu[*row]));
        values.push((
            id.clone(),
            "energised",
            f64::from(u8::from(r.energised[*row])),
        ));
        if !r.energised[*row] {
            dark.push(id);
        } else if !(V_LOW..=V_HIGH).contains(&r.vm_pu[*row]) {
            low.push(id);
        }
    }
    let branch_entity: HashMap<usize, usize> = city
        .power
        .graph
        .edge_weights()
        .filter_map(|w| Some((w.branch, w.entity?)))
        .collect();
    for (k, b) in r.branches.iter().enumerate() {
        if let (Some(pct), Some(&e)) = (b.loading_pct, branch_entity.get(&k)) {
            let id = entities[e].id.to_string();
            values.push((id.clone(), "loading", pct));
            if pct > 100.0 {
                overloaded.push(id);
            }
        }
    }
    let mut alerts = Vec::new();
    if !dark.is_empty() {
        alerts.push(Alert {
            code: "de_energised",
            message: format!("{} power nodes without supply", dark.len()),
            entities: dark,
        });
    }
    if !low.is_empty() {
        alerts.push(Alert {
            code: "voltage_out_of_band",
            message: format!("{} power nodes outside {V_LOW}–{V_HIGH} pu", low.len()),
            entities: low,
        });
    }
    if !overloaded.is_empty() {
        alerts.push(Alert {
            code: "overloaded",
            message: format!("{} lines above 100 % loading", overloaded.len()),
            entities: overloaded,
        });
    }
    Ok((values, alerts))
}

/// The water network's model with the measured demands held (the network file stays as it is).
fn water_model_with_readings(
    city: &CityModel,
    inj: &Injections,
) -> Result<Option<twin_core::water::HydModel>, String> {
    let Some(net) = city.water_network.as_ref() else {
        return Ok(None);
    };
    let mut model = twin_core::water::HydModel::from_epanet(net).map_err(|e| e.to_string())?;
    let row: HashMap<&str, usize> = net
        .junctions
        .iter()
        .enumerate()
        .map(|(i, j)| (j.id.as_str(), i))
        .collect();
    for (&index, &litres_s) in lock(&inj.water).values.iter() {
        let epanet_id = city.entities()[index].source_id.as_deref().unwrap_or("");
        if let Some(&node) = row.get(epanet_id) {
            model.set_fixed_demand(node, litres_s * 1e-3);
        }
    }
    Ok(Some(model))
}

/// Free chlorine below which a junction is alerted (mg/L; WHO, Guidelines for Drinking-water
/// Quality, 4th ed.: a residual of at least 0.2 mg/L at the point of delivery).
pub const LOW_CHLORINE_MG_L: f64 = 0.2;
/// Hours of operation simulated for water age and chlorine: long enough for the water of the
/// far ends of a town's network to arrive (EPANET's quality needs an extended period).
pub const QUALITY_HORIZON_H: u64 = 48;

/// Water age and free chlorine per junction and tank after [`QUALITY_HORIZON_H`] hours with the
/// measured demands held: `waterAge` always, `freeChlorine` when the network simulates a
/// chemical (the Pitești bundle: chlorine from the plant); alerts below [`LOW_CHLORINE_MG_L`].
pub(super) fn water_quality(city: &CityModel, inj: &Injections) -> Result<Solved, String> {
    let Some(mut model) = water_model_with_readings(city, inj)? else {
        return Ok((Vec::new(), Vec::new()));
    };
    let horizon = Some(QUALITY_HORIZON_H * 3600);
    let ids = model.node_ids.clone();
    let quality_nodes: Vec<usize> = (0..ids.len())
        .filter(|&i| model.kind[i] != twin_core::water::model::NodeKind::Reservoir)
        .collect();
    let mut values = Vec::new();
    let mut alerts = Vec::new();
    let chemical = model.quality.clone();
    if let Some(q) = &chemical
        && matches!(
            q.kind,
            twin_core::water::model::quality::QualityKind::Chemical { .. }
        )
    {
        let run = twin_core::water::run(&model, horizon).map_err(|e| e.to_string())?;
        let last = run.snapshots.last().ok_or("no quality result")?;
        let mut low = Vec::new();
        for &i in &quality_nodes {
            let eid = format!("water:{}", ids[i]);
            let c = last.quality[i];
            values.push((eid.clone(), "freeChlorine", c));
            if model.kind[i] == twin_core::water::model::NodeKind::Junction
                && c < LOW_CHLORINE_MG_L
                && !last.disconnected.contains(&i)
            {
                low.push(eid);
            }
        }
        if !low.is_empty() {
            alerts.push(Alert {
                code: "low_chlorine",
                message: format!(
                    "{} junctions below {LOW_CHLORINE_MG_L} mg/L of free chlorine after {QUALITY_HORIZON_H} h",
                    low.len()
                ),
                entities: low,
            });
        }
    }
    model.quality = Some(twin_core::water::model::quality::QualityModel::water_age(
        &model,
        chemical.as_ref(),
    ));
    let run = twin_core::water::run(&model, horizon).map_err(|e| e.to_string())?;
    let last = run.snapshots.last().ok_or("no quality result")?;
    for &i in &quality_nodes {
        values.push((format!("water:{}", ids[i]), "waterAge", last.quality[i]));
    }
    Ok((values, alerts))
}

pub(super) fn solve_water(city: &CityModel, inj: &Injections) -> Result<Solved, String> {
    let Some(model) = water_model_with_readings(city, inj)? else {
        return Ok((Vec::new(), Vec::new()));
    };
    let Some(net) = city.water_network.as_ref() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let snaps = twin_core::water::simulate_model(&model, Some(0)).map_err(|e| e.to_string())?;
    let Some(s) = snaps.first() else {
        return Err("the hydraulic solver returned no time step".into());
    };
    let mut values = Vec::new();
    let mut low = Vec::new();
    let mut cut_off = Vec::new();
    for (i, id) in net.node_ids().iter().enumerate() {
        let eid = format!("water:{id}");
        // A junction no source reaches is published at zero pressure and alerted as cut off.
        if s.disconnected.contains(&i) {
            values.push((eid.clone(), "pressure", 0.0));
            values.push((eid.clone(), "head", s.head_m[i]));
            cut_off.push(eid);
            continue;
        }
        values.push((eid.clone(), "pressure", s.pressure_m[i]));
        values.push((eid.clone(), "head", s.head_m[i]));
        if i < net.junctions.len() && s.pressure_m[i] < LOW_PRESSURE_M {
            low.push(eid);
        }
    }
    for (k, id) in net.link_ids().iter().enumerate() {
        values.push((format!("water:{id}"), "flow", s.flow_m3s[k] * 1000.0));
    }
    let mut alerts = Vec::new();
    if !low.is_empty() {
        alerts.push(Alert {
            code: "low_pressure",
            message: format!(
                "{} junctions below {LOW_PRESSURE_M} m of pressure",
                low.len()
            ),
            entities: low,
        });
    }
    if !cut_off.is_empty() {
        alerts.push(Alert {
            code: "disconnected",
            message: format!(
                "{} water nodes cut off from every source by closed links",
                cut_off.len()
            ),
            entities: cut_off,
        });
    }
    Ok((values, alerts))
}

/// Congestion level from which a street counts as congested, and the length of connected
/// congested street that makes a corridor alert.
const CONGESTED: f64 = 0.7;
const CORRIDOR_M: f64 = 400.0;

/// Road estimates: measured streets keep their level; an unmeasured street takes the mean of
/// its measured neighbours (sharing an intersection), else the mean of measured streets of its
/// road class, else 0. Alerts: connected congested streets longer than [`CORRIDOR_M`].
pub(super) fn estimate_road(city: &CityModel, inj: &Injections) -> Solved {
    let measured = lock(&inj.road).values.clone();
    let entities = city.entities();
    let mut by_node: HashMap<i64, Vec<usize>> = HashMap::new();
    let mut class_sum: HashMap<&'static str, (f64, usize)> = HashMap::new();
    for (i, e) in entities.iter().enumerate() {
        if let Asset::StreetSegment(s) = &e.asset {
            by_node.entry(s.from_node).or_default().push(i);
            by_node.entry(s.to_node).or_default().push(i);
            if let Some(c) = measured.get(&i) {
                let entry = class_sum.entry(s.road_class.osm_name()).or_default();
                entry.0 += c;
                entry.1 += 1;
            }
        }
    }
    let mut level: HashMap<usize, f64> = HashMap::new();
    for (i, e) in entities.iter().enumerate() {
        let Asset::StreetSegment(s) = &e.asset else {
            continue;
        };
        let value = measured.get(&i).copied().unwrap_or_else(|| {
            let near: Vec<f64> = [s.from_node, s.to_node]
                .iter()
                .flat_map(|n| by_node.get(n).into_iter().flatten())
                .filter_map(|j| measured.get(j))
                .copied()
                .collect();
            if near.is_empty() {
                class_sum
                    .get(s.road_class.osm_name())
                    .map_or(0.0, |(sum, n)| sum / *n as f64)
            } else {
                near.iter().sum::<f64>() / near.len() as f64
            }
        });
        level.insert(i, value);
    }
    let values = level
        .iter()
        .map(|(&i, &v)| (entities[i].id.to_string(), "congestionLevel", v))
        .collect();
    // Corridors: connected components of measured congested streets.
    let congested: HashSet<usize> = measured
        .iter()
        .filter(|(_, c)| **c >= CONGESTED)
        .map(|(i, _)| *i)
        .collect();
    let mut seen = HashSet::new();
    let mut alerts = Vec::new();
    for &start in &congested {
        if !seen.insert(start) {
            continue;
        }
        let mut stack = vec![start];
        let mut part = Vec::new();
        let mut length = 0.0;
        while let Some(i) = stack.pop() {
            let Asset::StreetSegment(s) = &entities[i].asset else {
                continue;
            };
            part.push(entities[i].id.to_string());
            length += s.length_m;
            for n in [s.from_node, s.to_node] {
                for &j in by_node.get(&n).into_iter().flatten() {
                    if congested.contains(&j) && seen.insert(j) {
                        stack.push(j);
                    }
                }
            }
        }
        if length >= CORRIDOR_M {
            part.sort();
            alerts.push(Alert {
                code: "congested_corridor",
                message: format!(
                    "{:.0} m of congested street ({} segments)",
                    length,
                    part.len()
                ),
                entities: part,
            });
        }
    }
    (values, alerts)
}

/// Bins: overflowing now (level ≥ 0.95) or predicted to within 12 hours; and the open citizen
/// reports. The watch publishes no values: a bin's level is its sensor's reading, already in
/// its state (republished as an estimate it came back rounded over the reading).
pub(super) fn watch_bins(city: &CityModel, inj: &Injections) -> Solved {
    let bins = lock(&inj.waste).values.clone();
    let values = Vec::new();
    let (mut full, mut soon) = (Vec::<EntityId>::new(), Vec::<EntityId>::new());
    for (&i, &(level, to_full)) in &bins {
        let id = &city.entities()[i].id;
        if level >= twin_core::live::BIN_FULL_LEVEL {
            full.push(id.clone());
        } else if to_full.is_some_and(|h| h <= 12.0) {
            soon.push(id.clone());
        }
    }
    full.sort();
    soon.sort();
    let mut alerts = Vec::new();
    if !full.is_empty() {
        alerts.push(Alert {
            code: "bin_overflowing",
            message: format!("{} bins full or overflowing", full.len()),
            entities: full.iter().map(ToString::to_string).collect(),
        });
    }
    if !soon.is_empty() {
        alerts.push(Alert {
            code: "bin_full_soon",
            message: format!("{} bins predicted full within 12 h", soon.len()),
            entities: soon.iter().map(ToString::to_string).collect(),
        });
    }
    alerts.extend(lock(&inj.reports).iter().cloned());
    (values, alerts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pitesti() -> CityModel {
        twin_core::builtin::load_pitesti().expect("Pitești bundle")
    }

    /// Water age and chlorine reach every junction of Pitești, decaying from the plant's dose;
    /// the far ends carry old water with less chlorine, and those below 0.2 mg/L are alerted.
    /// The watch over bins alerts from the levels but never republishes a sensor's level
    /// (it came back rounded to 1e-4 over the reading: 0.07601 published as 0.076).
    #[test]
    fn the_bin_watch_does_not_republish_readings() {
        let city = pitesti();
        let inj = Injections::default();
        let bin = city
            .entities()
            .iter()
            .position(|e| matches!(e.asset, Asset::WasteBin(_)))
            .expect("a bin");
        lock(&inj.waste).values.insert(bin, (0.97601, Some(0.0)));
        let (values, alerts) = watch_bins(&city, &inj);
        assert!(values.is_empty(), "{values:?}");
        assert!(
            alerts.iter().any(|a| a.code == "bin_overflowing"),
            "{alerts:?}"
        );
    }

    #[test]
    fn water_age_and_chlorine_for_every_junction() {
        let city = pitesti();
        let (values, alerts) = water_quality(&city, &Injections::default()).expect("quality run");
        let net = city.water_network.as_ref().expect("water");
        let junction: HashSet<String> = net
            .junctions
            .iter()
            .map(|j| format!("water:{}", j.id))
            .collect();
        let of = |name: &str| -> Vec<f64> {
            values
                .iter()
                .filter(|(id, q, _)| *q == name && junction.contains(id))
                .map(|(_, _, v)| *v)
                .collect()
        };
        let (chlorine, age) = (of("freeChlorine"), of("waterAge"));
        let junctions = net.junctions.len();
        assert_eq!(chlorine.len(), junctions);
        assert_eq!(age.len(), junctions);
        assert!(
            chlorine.iter().all(|c| (0.0..=0.8 + 1e-9).contains(c)),
            "chlorine within the plant's dose"
        );
        assert!(
            age.iter()
                .all(|a| (0.0..=QUALITY_HORIZON_H as f64 + 1e-9).contains(a))
        );
        let mean = chlorine.iter().sum::<f64>() / chlorine.len() as f64;
        assert!(mean > 0.2 && mean < 0.8, "mean chlorine {mean}");
        // Older water has less chlorine: the oldest tenth carries less than the youngest tenth.
        let mut pairs: Vec<(f64, f64)> =
            age.iter().copied().zip(chlorine.iter().copied()).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let tenth = pairs.len() / 10;
        let young: f64 = pairs[..tenth].iter().map(|p| p.1).sum::<f64>() / tenth as f64;
        let old: f64 = pairs[pairs.len() - tenth..]
            .iter()
            .map(|p| p.1)
            .sum::<f64>()
            / tenth as f64;
        assert!(old < young, "old water {old} mg/L, young {young} mg/L");
        let low = chlorine.iter().filter(|c| **c < LOW_CHLORINE_MG_L).count();
        match alerts.iter().find(|a| a.code == "low_chlorine") {
            Some(a) => assert!(a.entities.len() <= low && !a.entities.is_empty()),
            None => assert_eq!(low, 0),
        }
    }
}
