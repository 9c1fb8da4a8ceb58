//! Street segments (Smart Data Model RoadSegment) and the road classes of OpenStreetMap with
//! their default speed, lanes and capacity where tags are missing.

use crate::geometry::LonLat;

/// The OSM `highway=*` classes a car may drive on. `_link` roads share their parent's class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoadClass {
    Motorway,
    Trunk,
    Primary,
    Secondary,
    Tertiary,
    Unclassified,
    Residential,
    LivingStreet,
    Service,
}

impl RoadClass {
    pub const ALL: [RoadClass; 9] = [
        RoadClass::Motorway,
        RoadClass::Trunk,
        RoadClass::Primary,
        RoadClass::Secondary,
        RoadClass::Tertiary,
        RoadClass::Unclassified,
        RoadClass::Residential,
        RoadClass::LivingStreet,
        RoadClass::Service,
    ];

    /// The class of an OSM `highway` tag value, or `None` when cars do not drive there
    /// (footway, cycleway, path, steps, pedestrian, track, construction, proposed, …).
    pub fn from_osm_highway(value: &str) -> Option<RoadClass> {
        let base = value.strip_suffix("_link").unwrap_or(value);
        RoadClass::ALL.into_iter().find(|c| c.osm_name() == base)
    }

    /// Whether the class is one of a city's main axes (motorway, trunk, primary, secondary): the
    /// roads congestion indices measure.
    pub fn is_main_axis(self) -> bool {
        matches!(
            self,
            RoadClass::Motorway | RoadClass::Trunk | RoadClass::Primary | RoadClass::Secondary
        )
    }

    pub fn osm_name(self) -> &'static str {
        match self {
            RoadClass::Motorway => "motorway",
            RoadClass::Trunk => "trunk",
            RoadClass::Primary => "primary",
            RoadClass::Secondary => "secondary",
            RoadClass::Tertiary => "tertiary",
            RoadClass::Unclassified => "unclassified",
            RoadClass::Residential => "residential",
            RoadClass::LivingStreet => "living_street",
            RoadClass::Service => "service",
        }
    }

    /// Free-flow speed in km/h where `maxspeed` is missing: Romanian and German urban limits
    /// (50 km/h in built-up areas, 20 in living streets, 130 on motorways).
    pub fn default_speed_kmh(self) -> f64 {
        match self {
            RoadClass::Motorway => 130.0,
            RoadClass::Trunk => 80.0,
            RoadClass::Primary | RoadClass::Secondary | RoadClass::Tertiary => 50.0,
            RoadClass::Unclassified | RoadClass::Residential => 50.0,
            RoadClass::LivingStreet => 20.0,
            RoadClass::Service => 20.0,
        }
    }

    /// Lanes over both directions where `lanes` is missing (one each way for ordinary streets).
    pub fn default_lanes(self, oneway: bool) -> u8 {
        let per_direction = match self {
            RoadClass::Motorway | RoadClass::Trunk => 2,
            _ => 1,
        };
        if oneway {
            per_direction
        } else {
            per_direction * 2
        }
    }

    /// Capacity of one lane in vehicles per hour (HCM-style planning values for urban roads).
    pub fn capacity_per_lane_veh_h(self) -> f64 {
        match self {
            RoadClass::Motorway => 2000.0,
            RoadClass::Trunk => 1800.0,
            RoadClass::Primary => 1200.0,
            RoadClass::Secondary => 1000.0,
            RoadClass::Tertiary => 800.0,
            RoadClass::Unclassified => 600.0,
            RoadClass::Residential => 500.0,
            RoadClass::LivingStreet => 300.0,
            RoadClass::Service => 300.0,
        }
    }
}

/// A street segment: one piece of a street between two intersections.
#[derive(Debug, Clone, PartialEq)]
pub struct StreetSegment {
    pub road_class: RoadClass,
    /// The polyline from `from_node` to `to_node`.
    pub geometry: Vec<LonLat>,
    pub length_m: f64,
    /// Lanes over both directions (or in the one direction of a oneway).
    pub lanes: u8,
    pub free_speed_kmh: f64,
    /// Capacity in vehicles per hour per direction.
    pub capacity_veh_h: f64,
    /// Traffic goes only from `from_node` to `to_node`.
    pub oneway: bool,
    /// Road-graph node ids of the ends (OSM node ids for imported streets).
    pub from_node: i64,
    pub to_node: i64,
}

impl StreetSegment {
    /// Free-flow travel time in seconds.
    pub fn free_flow_time_s(&self) -> f64 {
        self.length_m / (self.free_speed_kmh / 3.6)
    }

    /// Lanes available to one direction of travel.
    pub fn lanes_per_direction(&self) -> u8 {
        if self.oneway {
            self.lanes.max(1)
        } else {
            (self.lanes / 2).max(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drivable_classes_only() {
        assert_eq!(
            RoadClass::from_osm_highway("primary_link"),
            Some(RoadClass::Primary)
        );
        assert_eq!(
            RoadClass::from_osm_highway("living_street"),
            Some(RoadClass::LivingStreet)
        );
        for not_for_cars in [
            "footway",
            "cycleway",
            "steps",
            "path",
            "pedestrian",
            "construction",
        ] {
            assert_eq!(
                RoadClass::from_osm_highway(not_for_cars),
                None,
                "{not_for_cars}"
            );
        }
    }
}

/// How traffic is controlled at an intersection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntersectionControl {
    TrafficSignals,
    Roundabout,
}

/// A controlled intersection of the road graph (signals at one node, or the ring of a roundabout).
#[derive(Debug, Clone, PartialEq)]
pub struct Intersection {
    pub control: IntersectionControl,
    pub location: LonLat,
    pub name: Option<String>,
    /// Road-graph node ids (`startNode`/`endNode` of street segments).
    pub nodes: Vec<i64>,
}
