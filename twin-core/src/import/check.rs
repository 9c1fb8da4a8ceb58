//! `twin city check`: whether a bundle is ready for the live twin, outages and scenarios, and
//! what to fix.
//!
//! Errors stop the twin from using the bundle (it does not load; its entities lie far from
//! its centre, which is a wrong CRS; its power case does not solve). Warnings are what makes
//! answers less useful than they could be (no valve layer, junctions or buses no source
//! reaches, no streets for bins and chargers, a population of 0). Notes say what the twin made
//! of the files (renamed EPANET ids, units, CRS, counts).

use std::path::Path;

use crate::CityModel;
use crate::entity::{Asset, AssetKind};

/// Farther than this from the city's centre, an entity is taken to be misplaced (a wrong CRS
/// or a wrong `centre`), in metres: larger than any city's extent with its outskirts.
pub const MAX_FROM_CENTRE_M: f64 = 60_000.0;

/// What [`check_bundle`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckReport {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Check the bundle in `dir` (see the module documentation). Never fails: a bundle that does
/// not load is an error of the report, naming the file and line at fault.
pub fn check_bundle(dir: &Path) -> CheckReport {
    let mut report = CheckReport::default();
    let city = match crate::bundle::load_city(dir) {
        Ok(c) => c,
        Err(e) => {
            report.errors.push(format!("{e}"));
            return report;
        }
    };
    report.notes.push(format!(
        "{}: {} entities ({})",
        city.meta.name,
        city.entities().len(),
        counts(&city)
    ));
    check_meta(&city, &mut report);
    check_places(&city, &mut report);
    check_water(&city, &mut report);
    check_power(&city, &mut report);
    check_streets(&city, &mut report);
    report
}

fn counts(city: &CityModel) -> String {
    let mut parts = Vec::new();
    for kind in AssetKind::ALL {
        let n = city.entities_of(kind).count();
        if n > 0 {
            parts.push(format!("{n} {}", kind.name()));
        }
    }
    parts.join(", ")
}

fn check_meta(city: &CityModel, report: &mut CheckReport) {
    if city.meta.population == 0 {
        report.warnings.push(
            "city.toml: population is 0: per-inhabitant figures and the EV fleet need it".into(),
        );
    }
    if city.meta.timezone == "UTC" {
        report.warnings.push(
            "city.toml: timezone is UTC: set the city's (Europe/Bucharest) so that hours of the day mean local time".into(),
        );
    }
}

/// Entities far from the centre: a CRS that does not fit the coordinates.
fn check_places(city: &CityModel, report: &mut CheckReport) {
    let far: Vec<_> = city
        .entities()
        .iter()
        .map(|e| (e, e.location.distance_m(city.meta.centre)))
        .filter(|(_, d)| *d > MAX_FROM_CENTRE_M)
        .collect();
    if let Some((e, d)) = far.iter().max_by(|a, b| a.1.total_cmp(&b.1)) {
        report.errors.push(format!(
            "{} entities lie more than {} km from the centre {:?} (farthest {} at [{:.5}, {:.5}], {:.0} km): the layer's CRS is wrong, or city.toml's centre is",
            far.len(),
            MAX_FROM_CENTRE_M / 1000.0,
            [city.meta.centre.lon, city.meta.centre.lat],
            e.id,
            e.location.lon,
            e.location.lat,
            d / 1000.0
        ));
    }
}

fn check_water(city: &CityModel, report: &mut CheckReport) {
    let Some(net) = &city.water_network else {
        return;
    };
    let renamed = city.water_ids.renamed();
    if !renamed.is_empty() {
        let list: Vec<String> = renamed
            .iter()
            .take(5)
            .map(|r| format!("{} `{}` is {}", r.space.name(), r.epanet_id, r.entity))
            .collect();
        report.notes.push(format!(
            "water: {} elements have an entity id other than their EPANET id ({}{}); their EPANET ids are accepted wherever an id is asked",
            renamed.len(),
            list.join("; "),
            if renamed.len() > 5 { "; …" } else { "" }
        ));
    }
    report.notes.push(format!(
        "water: {} nodes, {} links, flows in {} units{}",
        net.node_count(),
        net.link_count(),
        format!("{:?}", net.flow_units).to_uppercase(),
        if net.flow_units.is_us() {
            " (feet and inches in the file; shown in metres and millimetres)"
        } else {
            ""
        }
    ));
    let valves = city.water_valves.len();
    if valves == 0 {
        report.warnings.push(
            "water: no isolation-valve layer: a pipe break isolates everything up to the reservoirs and tanks; give [layers] water_valves, a [[gis]] water_valves layer, or `twin import epanet --valves-from-inp`".into(),
        );
    } else {
        report.notes.push(format!(
            "water: {valves} isolation valves for {} pipes",
            net.pipes.len()
        ));
    }
    match crate::water::HydModel::from_epanet(net)
        .map_err(|e| e.to_string())
        .and_then(|m| crate::water::simulate_model(&m, Some(0)).map_err(|e| e.to_string()))
    {
        Err(e) => report
            .errors
            .push(format!("water: the network does not solve: {e}")),
        Ok(snaps) => {
            if let Some(s) = snaps.first() {
                if !s.converged {
                    report.errors.push(
                        "water: the first hydraulic period does not converge (see `twin solve water --city`)".into(),
                    );
                }
                let ids = net.node_ids();
                let cut: Vec<&str> = s
                    .disconnected
                    .iter()
                    .filter_map(|&i| ids.get(i).copied())
                    .collect();
                if !cut.is_empty() {
                    report.warnings.push(format!(
                        "water: {} junctions are cut off from every source at the start ({}): check closed links and [STATUS]",
                        cut.len(),
                        super::epanet::first_few(&cut)
                    ));
                }
            }
        }
    }
}

fn check_power(city: &CityModel, report: &mut CheckReport) {
    let Some(case) = &city.power_case else {
        return;
    };
    let unplaced: Vec<String> = city
        .power
        .graph
        .node_weights()
        .filter(|b| b.entity.is_none())
        .map(|b| b.bus.to_string())
        .collect();
    if !unplaced.is_empty() {
        let list: Vec<&str> = unplaced.iter().map(String::as_str).collect();
        report.warnings.push(format!(
            "power: {} buses have no substation or post on the map ({}): their lines are not drawn and outages cannot name them; place them with `twin import matpower --bus-geo`",
            unplaced.len(),
            super::epanet::first_few(&list)
        ));
    }
    match crate::power::solve_load_flow(case, None, 1.0) {
        Err(e) => report
            .errors
            .push(format!("power: the load flow fails: {e}")),
        Ok(r) => {
            let dead: Vec<String> = case
                .bus
                .iter()
                .zip(&r.energised)
                .filter(|(_, e)| !**e)
                .map(|(b, _)| b.id.to_string())
                .collect();
            if !dead.is_empty() {
                let list: Vec<&str> = dead.iter().map(String::as_str).collect();
                report.warnings.push(format!(
                    "power: {} buses are not connected to a reference bus ({})",
                    dead.len(),
                    super::epanet::first_few(&list)
                ));
            }
            let lowest = r
                .vm_pu
                .iter()
                .copied()
                .filter(|v| *v > 0.0)
                .fold(f64::MAX, f64::min);
            report.notes.push(format!(
                "power: {} buses, {} branches; load flow ({}) converged in {} iterations, lowest voltage {:.3} pu",
                case.bus.len(),
                case.branch.len(),
                r.method.name(),
                r.iterations,
                lowest
            ));
        }
    }
}

fn check_streets(city: &CityModel, report: &mut CheckReport) {
    let streets = city.entities_of(AssetKind::StreetSegment).count();
    let needy = city
        .entities()
        .iter()
        .filter(|e| matches!(e.asset, Asset::WasteBin(_) | Asset::EvCharger(_)))
        .count();
    if streets == 0 {
        let why = if needy > 0 {
            format!(
                "{needy} bins and chargers cannot be reached by collection routes or cars, and "
            )
        } else {
            String::new()
        };
        report.warnings.push(format!(
            "streets: none: {why}traffic studies have nothing to run on; add a [[gis]] streets layer or `twin import osm`"
        ));
    } else if needy > 0 {
        report.notes.push(format!(
            "streets: {streets} segments; all {needy} bins and chargers within {} m of a street node",
            crate::invariants::MAX_SNAP_M
        ));
    }
}
