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

    /// The speed drivers keep in town on an empty street of this class, where it is below the
    /// limit (km/h): parked cars, priority-to-the-right junctions and driveways hold residential
    /// and unclassified streets to about 30, tertiary streets to about 40, living streets and
    /// service roads to 20; the main axes run at their limit. An assumption of this model,
    /// calibrated with the demand (data/pitesti/README.md, "How the city behaves"): it is what
    /// makes traffic keep to the main axes, as drivers in a town do.
    pub fn town_free_flow_speed_kmh(self) -> Option<f64> {
        match self {
            RoadClass::Residential | RoadClass::Unclassified => Some(30.0),
            RoadClass::Tertiary => Some(40.0),
            RoadClass::LivingStreet | RoadClass::Service => Some(20.0),
            RoadClass::Motorway | RoadClass::Trunk | RoadClass::Primary | RoadClass::Secondary => {
                None
            }
        }
    }

    /// The BPR volume-delay coefficient α of this class: travel time = free-flow time ×
    /// (1 + α (v/c)⁴). With capacity taken as the ultimate capacity, α = S₀/S_c − 1 (free speed
    /// over the speed at capacity; Horowitz, *Delay-volume relations for travel forecasting*,
    /// FHWA 1991, ch. 4): town streets, with junctions, reach capacity at about half their free
    /// speed (α = 1, Spiess's "twice the free time at capacity"); motorways and trunk roads keep
    /// the Bureau of Public Roads' 0.15 (1964), fitted on uninterrupted flow.
    pub fn bpr_alpha(self) -> f64 {
        match self {
            RoadClass::Motorway | RoadClass::Trunk => 0.15,
            _ => 1.0,
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
    /// The posted limit (`maximumAllowedSpeed`), km/h.
    pub speed_limit_kmh: f64,
    /// Capacity in vehicles per hour per direction.
    pub capacity_veh_h: f64,
    /// Traffic goes only from `from_node` to `to_node`.
    pub oneway: bool,
    /// Road-graph node ids of the ends (OSM node ids for imported streets).
    pub from_node: i64,
    pub to_node: i64,
}

impl StreetSegment {
    /// The speed on the empty street, km/h: the limit, or less on minor streets
    /// ([`RoadClass::town_free_flow_speed_kmh`]).
    pub fn free_flow_speed_kmh(&self) -> f64 {
        let town = self.road_class.town_free_flow_speed_kmh();
        town.map_or(self.speed_limit_kmh, |v| v.min(self.speed_limit_kmh))
    }

    /// Free-flow travel time in seconds.
    pub fn free_flow_time_s(&self) -> f64 {
        self.length_m / (self.free_flow_speed_kmh() / 3.6)
    }

    /// The speed at a volume-to-capacity ratio `v_c` (km/h), by the class's BPR function with
    /// power 4 ([`RoadClass::bpr_alpha`]): the traffic model's and the simulated sensors' one
    /// speed-flow relation.
    pub fn congested_speed_kmh(&self, v_c: f64) -> f64 {
        self.free_flow_speed_kmh() / (1.0 + self.road_class.bpr_alpha() * v_c.max(0.0).powi(4))
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
