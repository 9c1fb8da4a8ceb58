//! From OSM ways to street segments: drivable classes only, cut to the boundary, split at every
//! intersection (a node shared by two drivable ways, or met twice by one), with oneway, lanes and
//! maxspeed tags read and per-class defaults where they are missing, and haversine lengths.

use std::collections::HashMap;

use super::{OsmData, OsmWay};
use crate::entity::{Asset, Entity, RoadClass, StreetSegment};
use crate::geometry::{Boundary, LonLat, polyline_length_m};
use crate::id::{EntityId, EntityKind};

/// What the import did, for the CLI and for tests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoadImportStats {
    pub ways_read: usize,
    pub drivable_ways: usize,
    /// Node references of drivable ways that the extract does not contain.
    pub missing_node_refs: usize,
    /// Nodes of drivable ways dropped because they lie outside the boundary.
    pub nodes_outside_boundary: usize,
    pub segments: usize,
    pub oneway_segments: usize,
    pub intersections: usize,
    /// Roads of a drivable class closed to cars by an access tag (`motorcar`, `motor_vehicle`,
    /// `vehicle` or `access` = `no`): skipped.
    pub closed_to_cars: usize,
    /// Drivable ways carrying a tag the road graph does not model (`super::KEYS`'s
    /// not-modelled list), per tag: imported without it, and said so.
    pub unmodelled_tags: std::collections::BTreeMap<&'static str, usize>,
}

/// Whether the most specific access tag for cars says `no` (the OSM access hierarchy:
/// `motorcar` over `motor_vehicle` over `vehicle` over `access`). `private`, `destination` and
/// the like still carry traffic to their destinations and are kept.
fn closed_to_cars(way: &OsmWay) -> bool {
    ["motorcar", "motor_vehicle", "vehicle", "access"]
        .iter()
        .find_map(|k| way.tag(k))
        .is_some_and(|v| v == "no")
}

pub struct RoadImport {
    pub segments: Vec<Entity>,
    pub stats: RoadImportStats,
}

/// How a way's tags say traffic flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Both,
    Forward,
    Backward,
}

fn direction(way: &OsmWay, class: RoadClass) -> Direction {
    match way.tag("oneway") {
        Some("yes" | "true" | "1") => Direction::Forward,
        Some("-1" | "reverse") => Direction::Backward,
        Some("no" | "false" | "0") => Direction::Both,
        _ => {
            let roundabout = matches!(way.tag("junction"), Some("roundabout" | "circular"));
            let motorway = class == RoadClass::Motorway;
            if roundabout || motorway {
                Direction::Forward
            } else {
                Direction::Both
            }
        }
    }
}

/// The first number of a `lanes` tag (`"2"`, `"2;3"`), if sensible.
fn lanes_tag(way: &OsmWay) -> Option<u8> {
    let v = way.tag("lanes")?;
    let first = v.split(';').next()?.trim();
    let n: u8 = first.parse().ok()?;
    (1..=16).contains(&n).then_some(n)
}

/// `maxspeed` in km/h: numbers, `mph`, and the implicit national values (`RO:urban`, `DE:zone30`).
pub fn parse_maxspeed(v: &str) -> Option<f64> {
    let v = v.trim();
    if let Some(mph) = v.strip_suffix("mph") {
        return mph.trim().parse::<f64>().ok().map(|x| x * 1.609344);
    }
    if let Ok(x) = v.split(';').next().unwrap_or("").trim().parse::<f64>() {
        return (x > 0.0 && x < 300.0).then_some(x);
    }
    let lower = v.to_ascii_lowercase();
    if lower.ends_with(":urban") {
        return Some(50.0);
    }
    if lower.ends_with(":living_street") || lower == "walk" {
        return Some(7.0);
    }
    if lower.ends_with(":rural") {
        return Some(90.0);
    }
    if lower.ends_with(":motorway") {
        return Some(130.0);
    }
    if let Some(pos) = lower.find("zone") {
        let digits: String = lower[pos + 4..]
            .chars()
            .filter(|c| c.is_ascii_digit())
            .collect();
        return digits.parse().ok();
    }
    None
}

/// Cut the drivable ways of `osm` into street segments, keeping only nodes inside `boundary`.
pub fn build_street_segments(osm: &OsmData, boundary: Option<&Boundary>) -> RoadImport {
    let mut stats = RoadImportStats {
        ways_read: osm.ways.len(),
        ..Default::default()
    };
    // 1. Drivable ways, cut into runs of consecutive present nodes inside the boundary.
    struct Run<'a> {
        way: &'a OsmWay,
        class: RoadClass,
        nodes: Vec<i64>,
    }
    let mut runs: Vec<Run> = Vec::new();
    for way in &osm.ways {
        let Some(class) = way.tag("highway").and_then(RoadClass::from_osm_highway) else {
            continue;
        };
        if way.tag("area") == Some("yes") {
            continue;
        }
        if closed_to_cars(way) {
            stats.closed_to_cars += 1;
            continue;
        }
        stats.drivable_ways += 1;
        for (tag, _) in super::KEYS.not_modelled {
            if way.tag(tag).is_some() {
                *stats.unmodelled_tags.entry(tag).or_default() += 1;
            }
        }
        let mut current: Vec<i64> = Vec::new();
        for &n in &way.nodes {
            let keep = match osm.nodes.get(&n) {
                None => {
                    stats.missing_node_refs += 1;
                    false
                }
                Some(p) => {
                    let inside = boundary.is_none_or(|b| b.contains(*p));
                    if !inside {
                        stats.nodes_outside_boundary += 1;
                    }
                    inside
                }
            };
            if keep {
                current.push(n);
            } else if !current.is_empty() {
                runs.push(Run {
                    way,
                    class,
                    nodes: std::mem::take(&mut current),
                });
            }
        }
        if !current.is_empty() {
            runs.push(Run {
                way,
                class,
                nodes: current,
            });
        }
    }
    runs.retain(|r| r.nodes.len() >= 2);

    // 2. Intersections: nodes used more than once over all runs, plus every run's ends.
    let mut uses: HashMap<i64, u32> = HashMap::new();
    for r in &runs {
        for &n in &r.nodes {
            *uses.entry(n).or_default() += 1;
        }
        for end in [r.nodes[0], r.nodes[r.nodes.len() - 1]] {
            *uses.entry(end).or_default() += 1;
        }
    }
    let is_split = |n: i64| uses.get(&n).copied().unwrap_or(0) >= 2;

    // 3. Split runs at intersections into segments.
    let mut segments = Vec::new();
    let mut piece_count: HashMap<i64, u32> = HashMap::new();
    for r in &runs {
        let dir = direction(r.way, r.class);
        let oneway = dir != Direction::Both;
        let lanes = lanes_tag(r.way).unwrap_or_else(|| r.class.default_lanes(oneway));
        let speed = r
            .way
            .tag("maxspeed")
            .and_then(parse_maxspeed)
            .unwrap_or_else(|| r.class.default_speed_kmh());
        let name = r.way.tag("name").map(str::to_string);
        let mut start = 0;
        for i in 1..r.nodes.len() {
            if i != r.nodes.len() - 1 && !is_split(r.nodes[i]) {
                continue;
            }
            let mut ids: Vec<i64> = r.nodes[start..=i].to_vec();
            start = i;
            ids.dedup();
            if ids.len() < 2 {
                continue;
            }
            if dir == Direction::Backward {
                ids.reverse();
            }
            let geometry: Vec<LonLat> = ids.iter().map(|n| osm.nodes[n]).collect();
            let length_m = polyline_length_m(&geometry);
            if length_m <= 0.0 {
                continue;
            }
            let k = piece_count.entry(r.way.id).or_default();
            *k += 1;
            let local = format!("{}-{}", r.way.id, k);
            let Ok(id) = EntityId::new(EntityKind::Street, local) else {
                continue;
            };
            let mut seg = StreetSegment {
                road_class: r.class,
                length_m,
                lanes,
                speed_limit_kmh: speed,
                capacity_veh_h: 0.0,
                oneway,
                from_node: ids[0],
                to_node: ids[ids.len() - 1],
                geometry,
            };
            seg.capacity_veh_h =
                f64::from(seg.lanes_per_direction()) * r.class.capacity_per_lane_veh_h();
            let location = seg.geometry[seg.geometry.len() / 2];
            if oneway {
                stats.oneway_segments += 1;
            }
            segments
                .push(Entity::new(id, location, Asset::StreetSegment(seg)).with_name(name.clone()));
        }
    }
    stats.segments = segments.len();
    let mut ends: Vec<i64> = segments
        .iter()
        .filter_map(|e| match &e.asset {
            Asset::StreetSegment(s) => Some([s.from_node, s.to_node]),
            _ => None,
        })
        .flatten()
        .collect();
    ends.sort_unstable();
    ends.dedup();
    stats.intersections = ends.len();
    RoadImport { segments, stats }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::osm::xml::parse_osm_xml;

    fn osm(ways: &str) -> OsmData {
        let nodes: String = (1..=6)
            .map(|i| {
                format!(
                    r#"<node id="{i}" lat="44.86" lon="{}"/>"#,
                    24.86 + i as f64 * 0.001
                )
            })
            .collect();
        parse_osm_xml(format!("<osm>{nodes}{ways}</osm>").as_bytes()).unwrap()
    }

    fn way(id: i64, nodes: &[i64], tags: &[(&str, &str)]) -> String {
        let nds: String = nodes
            .iter()
            .map(|n| format!(r#"<nd ref="{n}"/>"#))
            .collect();
        let t: String = tags
            .iter()
            .map(|(k, v)| format!(r#"<tag k="{k}" v="{v}"/>"#))
            .collect();
        format!(r#"<way id="{id}">{nds}{t}</way>"#)
    }

    #[test]
    fn splits_at_shared_nodes_only() {
        let data = osm(&(way(1, &[1, 2, 3, 4], &[("highway", "residential")])
            + &way(2, &[3, 5], &[("highway", "primary")])
            + &way(3, &[2, 6], &[("highway", "footway")])));
        let import = build_street_segments(&data, None);
        // Way 1 splits at node 3 (shared with way 2), not at node 2 (shared only with a footway).
        assert_eq!(import.stats.segments, 3);
        assert_eq!(import.stats.intersections, 4);
        assert_eq!(import.stats.drivable_ways, 2);
    }

    #[test]
    fn oneway_tags_and_defaults() {
        let data = osm(
            &(way(1, &[1, 2], &[("highway", "residential"), ("oneway", "-1")])
                + &way(
                    2,
                    &[3, 4],
                    &[
                        ("highway", "secondary"),
                        ("junction", "roundabout"),
                        ("maxspeed", "30"),
                        ("lanes", "2"),
                    ],
                )),
        );
        let import = build_street_segments(&data, None);
        let segs: Vec<&StreetSegment> = import
            .segments
            .iter()
            .map(|e| match &e.asset {
                Asset::StreetSegment(s) => s,
                _ => unreachable!(),
            })
            .collect();
        assert!(segs[0].oneway);
        assert_eq!(
            (segs[0].from_node, segs[0].to_node),
            (2, 1),
            "oneway=-1 reverses the segment"
        );
        assert_eq!(segs[0].speed_limit_kmh, 50.0);
        assert_eq!(segs[1].speed_limit_kmh, 30.0);
        assert!(segs[1].oneway, "roundabouts are oneway");
        assert_eq!(
            segs[1].capacity_veh_h,
            2.0 * RoadClass::Secondary.capacity_per_lane_veh_h()
        );
    }

    #[test]
    fn maxspeed_values() {
        assert_eq!(parse_maxspeed("50"), Some(50.0));
        assert_eq!(parse_maxspeed("DE:zone30"), Some(30.0));
        assert_eq!(parse_maxspeed("RO:urban"), Some(50.0));
        assert!((parse_maxspeed("20 mph").unwrap() - 32.19).abs() < 0.01);
        assert_eq!(parse_maxspeed("signals"), None);
    }

    #[test]
    fn roads_closed_to_cars_are_skipped_by_the_most_specific_access_tag() {
        let data = osm(&[
            way(
                1,
                &[1, 2],
                &[("highway", "residential"), ("motor_vehicle", "no")],
            ),
            way(
                2,
                &[2, 3],
                &[
                    ("highway", "residential"),
                    ("access", "no"),
                    ("motorcar", "yes"),
                ],
            ),
            way(3, &[3, 4], &[("highway", "service"), ("access", "private")]),
        ]
        .concat());
        let import = build_street_segments(&data, None);
        assert_eq!(import.stats.closed_to_cars, 1);
        assert_eq!(import.stats.drivable_ways, 2);
    }
}
