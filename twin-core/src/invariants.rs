//! The city model's invariants, checked between stages as osm2streets does: after a bundle is
//! loaded (so after importing and generating too, whose output is a bundle), and by tests. A
//! broken invariant is a bad input or a bug; each is named with the entity at fault.
//!
//! - every id resolves to its entity, and an id's family matches its asset;
//! - every location is a valid WGS84 point, every quantity of an asset is finite and in range
//!   (lengths, capacities, volumes, ratings, socket powers);
//! - the networks are built as the entities declare: every road arc is a street segment's,
//!   every power bus node and branch edge points at the right kind of entity, every water
//!   node and link too;
//! - every bin and charger stands within [`MAX_SNAP_M`] of the street network (collection
//!   trucks and cars reach it), and every charger is connected to a substation or post.

use crate::city::CityModel;
use crate::entity::{Asset, AssetKind, Entity};

/// Farthest a bin or charger may stand from a node of the street network, m.
pub const MAX_SNAP_M: f64 = 500.0;

/// One broken invariant: the entity (or network element) at fault and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{at}: {what}")]
pub struct InvariantViolation {
    pub at: String,
    pub what: String,
}

/// At most this many violations are collected: past it, the rest say the same.
const MAX_REPORTED: usize = 50;

impl CityModel {
    /// Check every invariant of the model; the violations found (at most 50), or none.
    pub fn check_invariants(&self) -> Result<(), Vec<InvariantViolation>> {
        let mut found = Vec::new();
        let mut fail = |at: String, what: String| {
            if found.len() < MAX_REPORTED {
                found.push(InvariantViolation { at, what });
            }
        };
        for (i, e) in self.entities().iter().enumerate() {
            if self.entity_index(&e.id) != Some(i) {
                fail(e.id.to_string(), "its id does not resolve to it".into());
            }
            if e.id.kind() != e.kind().family() {
                fail(e.id.to_string(), format!("holds a {}", e.kind().name()));
            }
            if !e.location.is_valid() {
                fail(
                    e.id.to_string(),
                    format!("location {:?} is not valid", e.location),
                );
            }
            if let Some(why) = out_of_range(e) {
                fail(e.id.to_string(), why);
            }
        }
        self.check_networks(&mut fail);
        self.check_snapping(&mut fail);
        if found.is_empty() { Ok(()) } else { Err(found) }
    }

    /// Network elements point at entities of the kind they declare.
    fn check_networks(&self, fail: &mut impl FnMut(String, String)) {
        let entities = self.entities();
        let kind_of = |i: usize| entities.get(i).map(Entity::kind);
        for arc in self.road.graph.edge_weights() {
            if kind_of(arc.segment) != Some(AssetKind::StreetSegment) {
                fail(
                    format!("road arc of entity {}", arc.segment),
                    "is not a street segment's".into(),
                );
            }
        }
        for node in self.power.graph.node_weights() {
            if let Some(i) = node.entity {
                let on_bus = match entities.get(i).map(|e| &e.asset) {
                    Some(Asset::Substation(s)) => s.bus == node.bus,
                    Some(Asset::TransformerPost(t)) => t.bus == node.bus,
                    _ => false,
                };
                if !on_bus {
                    fail(
                        format!("power bus {}", node.bus),
                        format!("names entity {i}, which is not a substation or post on it"),
                    );
                }
            }
        }
        let branches = self.power_case.as_ref().map_or(0, |c| c.branch.len());
        for edge in self.power.graph.edge_weights() {
            if edge.branch >= branches {
                fail(
                    format!("power branch row {}", edge.branch + 1),
                    "is not a row of the case".into(),
                );
            }
            if let Some(i) = edge.entity
                && !matches!(
                    kind_of(i),
                    Some(AssetKind::PowerLine | AssetKind::PowerSwitch)
                )
            {
                fail(
                    format!("power branch row {}", edge.branch + 1),
                    format!("names entity {i}, which is not a line or switch"),
                );
            }
        }
        for node in self.water.graph.node_weights() {
            if !matches!(
                kind_of(node.entity),
                Some(AssetKind::Junction | AssetKind::Tank | AssetKind::WaterSource)
            ) {
                fail(
                    format!("water node of entity {}", node.entity),
                    "is not a junction, tank or source".into(),
                );
            }
        }
        for link in self.water.graph.edge_weights() {
            if !matches!(
                kind_of(link.entity),
                Some(AssetKind::Pipe | AssetKind::Pump | AssetKind::Valve)
            ) {
                fail(
                    format!("water link of entity {}", link.entity),
                    "is not a pipe, pump or valve".into(),
                );
            }
        }
    }

    /// Bins and chargers stand near the streets; chargers hang on the grid.
    fn check_snapping(&self, fail: &mut impl FnMut(String, String)) {
        let has_streets = self.road.graph.node_count() > 0;
        for e in self.entities() {
            if !matches!(e.kind(), AssetKind::WasteBin | AssetKind::EvCharger) {
                continue;
            }
            if has_streets {
                let nearest = self.road.nearest_nodes(e.location).next().map(|(_, d)| d);
                if nearest.is_none_or(|d| d > MAX_SNAP_M) {
                    fail(
                        e.id.to_string(),
                        format!(
                            "stands {} m from the nearest street node (at most {MAX_SNAP_M} m)",
                            nearest.map_or("?".into(), |d| format!("{d:.0}"))
                        ),
                    );
                }
            }
            if let Asset::EvCharger(c) = &e.asset
                && !matches!(
                    self.entity(&c.grid_connection).map(Entity::kind),
                    Some(AssetKind::Substation | AssetKind::TransformerPost)
                )
            {
                fail(
                    e.id.to_string(),
                    format!(
                        "is connected to {}, not a substation or post",
                        c.grid_connection
                    ),
                );
            }
        }
    }
}

/// Why an asset's quantities are out of range, if they are.
fn out_of_range(e: &Entity) -> Option<String> {
    let positive = |what: &str, x: f64| {
        (!(x.is_finite() && x > 0.0)).then(|| format!("{what} {x} is not positive"))
    };
    let not_negative = |what: &str, x: f64| {
        (!(x.is_finite() && x >= 0.0)).then(|| format!("{what} {x} is negative or not a number"))
    };
    match &e.asset {
        Asset::StreetSegment(s) => positive("length_m", s.length_m)
            .or_else(|| positive("speed_limit_kmh", s.speed_limit_kmh))
            .or_else(|| positive("capacity_veh_h", s.capacity_veh_h))
            .or_else(|| (s.lanes == 0).then(|| "lanes 0".to_string())),
        Asset::Substation(s) => positive("rated_kva", s.rated_kva),
        Asset::TransformerPost(t) => positive("rated_kva", t.rated_kva)
            .or_else(|| not_negative("peak_kw", t.peak_kw))
            .or_else(|| (!t.peak_kvar.is_finite()).then(|| "peak_kvar is not a number".into())),
        Asset::PowerLine(l) => not_negative("r_ohm", l.r_ohm)
            .or_else(|| not_negative("length_m", l.length_m))
            .or_else(|| not_negative("ampacity_a", l.ampacity_a))
            .or_else(|| (!l.x_ohm.is_finite()).then(|| "x_ohm is not a number".into())),
        Asset::Pipe(p) => positive("length_m", p.length_m)
            .or_else(|| positive("diameter_mm", p.diameter_mm))
            .or_else(|| positive("roughness", p.roughness)),
        Asset::Tank(t) => positive("diameter_m", t.diameter_m).or_else(|| {
            // Levels that are NaN are out of range too.
            let ordered = t.min_level_m.partial_cmp(&t.max_level_m);
            matches!(ordered, None | Some(std::cmp::Ordering::Greater)).then(|| {
                format!(
                    "min_level_m {} above max_level_m {}",
                    t.min_level_m, t.max_level_m
                )
            })
        }),
        Asset::WasteBin(b) => positive("volume_l", b.volume_l),
        Asset::EvCharger(c) => {
            if c.sockets.is_empty() {
                Some("has no sockets".into())
            } else {
                c.sockets
                    .iter()
                    .find_map(|s| positive("socket max_power_kw", s.max_power_kw))
            }
        }
        Asset::PowerSwitch(_)
        | Asset::WaterSource(_)
        | Asset::Junction(_)
        | Asset::Pump(_)
        | Asset::Valve(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::load_city;
    use crate::entity::WasteBin;
    use crate::geometry::LonLat;

    fn root() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    #[test]
    fn pitesti_and_testville_keep_every_invariant() {
        for bundle in ["data/pitesti", "data/testville"] {
            let city = load_city(&root().join(bundle)).expect("bundle");
            assert_eq!(city.check_invariants(), Ok(()), "{bundle}");
        }
    }

    #[test]
    fn a_bin_far_from_the_streets_and_a_bin_of_no_volume_are_named() {
        let city = load_city(&root().join("data/testville")).expect("bundle");
        let mut entities = city.entities().to_vec();
        let bins: Vec<usize> = (0..entities.len())
            .filter(|&i| entities[i].kind() == AssetKind::WasteBin)
            .collect();
        entities[bins[0]].location = LonLat::new(23.70, 46.77);
        if let Asset::WasteBin(WasteBin { volume_l, .. }) = &mut entities[bins[1]].asset {
            *volume_l = 0.0;
        }
        let broken = CityModel::new(city.meta.clone(), entities, None, None).expect("model");
        let found = broken.check_invariants().expect_err("two violations");
        let mut text: Vec<String> = found.iter().map(ToString::to_string).collect();
        text.sort();
        assert_eq!(found.len(), 2, "{text:?}");
        assert!(
            text[0].starts_with("bin:1: stands 68") && text[0].contains("street node"),
            "{text:?}"
        );
        assert_eq!(text[1], "bin:2: volume_l 0 is not positive");
    }
}
