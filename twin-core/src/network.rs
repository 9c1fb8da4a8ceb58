//! The three networks of the city as petgraph graphs over the entities: the directed road
//! graph (one arc per direction of travel of each street segment), the power graph (buses and
//! branches of the MATPOWER case) and the water graph (EPANET nodes and links).
//!
//! Graph weights hold entity indices into the [`crate::CityModel`], so a solver can go from a
//! graph element to its entity and back without string lookups.

use std::collections::HashMap;

use petgraph::graph::{DiGraph, NodeIndex, UnGraph};

use crate::entity::{Asset, Entity};
use crate::geometry::LonLat;
use crate::spatial::SpatialIndex;

/// An intersection (or dead end) of the road graph.
#[derive(Debug, Clone, PartialEq)]
pub struct RoadNode {
    /// The node id used by street segments' `from_node`/`to_node` (an OSM node id when imported).
    pub node_id: i64,
    pub location: LonLat,
}

/// One direction of travel along a street segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoadArc {
    /// Index of the street segment entity in the city model.
    pub segment: usize,
    /// Travel from the segment's `from_node` to its `to_node` (false: against its geometry).
    pub forward: bool,
}

#[derive(Debug, Clone, Default)]
pub struct RoadNetwork {
    pub graph: DiGraph<RoadNode, RoadArc>,
    node_by_id: HashMap<i64, NodeIndex>,
    /// The nodes' locations, for snapping points (zones, bins) to the streets.
    node_locations: SpatialIndex,
}

impl RoadNetwork {
    /// Build the road graph from the street segments among `entities`.
    pub fn build(entities: &[Entity]) -> RoadNetwork {
        let mut net = RoadNetwork::default();
        for (index, e) in entities.iter().enumerate() {
            let Asset::StreetSegment(s) = &e.asset else {
                continue;
            };
            let (Some(first), Some(last)) = (s.geometry.first(), s.geometry.last()) else {
                continue;
            };
            let a = net.node(s.from_node, *first);
            let b = net.node(s.to_node, *last);
            net.graph.add_edge(
                a,
                b,
                RoadArc {
                    segment: index,
                    forward: true,
                },
            );
            if !s.oneway {
                net.graph.add_edge(
                    b,
                    a,
                    RoadArc {
                        segment: index,
                        forward: false,
                    },
                );
            }
        }
        let count = net.graph.node_count().max(1) as f64;
        let mean_lat = net
            .graph
            .node_weights()
            .map(|n| n.location.lat)
            .sum::<f64>()
            / count;
        net.node_locations = SpatialIndex::build(
            net.graph
                .node_indices()
                .map(|n| (n.index(), net.graph[n].location)),
            mean_lat,
        );
        net
    }

    /// Street nodes in order of distance from `p`, nearest first, with their great-circle
    /// distance in metres.
    pub fn nearest_nodes(&self, p: LonLat) -> impl Iterator<Item = (NodeIndex, f64)> + '_ {
        self.node_locations.nearest(p).map(move |(i, _)| {
            (
                NodeIndex::new(i),
                self.graph[NodeIndex::new(i)].location.distance_m(p),
            )
        })
    }

    fn node(&mut self, node_id: i64, location: LonLat) -> NodeIndex {
        *self
            .node_by_id
            .entry(node_id)
            .or_insert_with(|| self.graph.add_node(RoadNode { node_id, location }))
    }

    pub fn node_index(&self, node_id: i64) -> Option<NodeIndex> {
        self.node_by_id.get(&node_id).copied()
    }
}

/// A bus of the power graph.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerBusNode {
    pub bus: u32,
    /// The substation or transformer post entity at this bus, if any.
    pub entity: Option<usize>,
}

/// A branch of the power graph: a line, a switch or a transformer.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerBranchEdge {
    /// Row of the branch in the MATPOWER case (0-based).
    pub branch: usize,
    /// The line or switch entity, if any (transformers belong to their substation).
    pub entity: Option<usize>,
}

#[derive(Debug, Clone, Default)]
pub struct PowerNetwork {
    pub graph: UnGraph<PowerBusNode, PowerBranchEdge>,
    node_by_bus: HashMap<u32, NodeIndex>,
}

impl PowerNetwork {
    pub fn add_bus(&mut self, bus: u32, entity: Option<usize>) -> NodeIndex {
        let n = self.graph.add_node(PowerBusNode { bus, entity });
        self.node_by_bus.insert(bus, n);
        n
    }

    pub fn bus_index(&self, bus: u32) -> Option<NodeIndex> {
        self.node_by_bus.get(&bus).copied()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct WaterNodeRef {
    pub entity: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WaterLinkRef {
    pub entity: usize,
}

#[derive(Debug, Clone, Default)]
pub struct WaterNetwork {
    pub graph: UnGraph<WaterNodeRef, WaterLinkRef>,
    node_by_name: HashMap<String, NodeIndex>,
}

impl WaterNetwork {
    pub fn add_node(&mut self, name: &str, entity: usize) -> NodeIndex {
        let n = self.graph.add_node(WaterNodeRef { entity });
        self.node_by_name.insert(name.to_string(), n);
        n
    }

    pub fn node_index(&self, name: &str) -> Option<NodeIndex> {
        self.node_by_name.get(name).copied()
    }
}
