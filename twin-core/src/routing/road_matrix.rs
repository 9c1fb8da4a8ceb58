//! Road-distance matrices over a city's street graph: each point is snapped to its nearest
//! street node and a one-to-many Dijkstra (petgraph) runs from every point, in parallel with
//! rayon. Distances follow oneway streets, so the matrix is not symmetric.

use rayon::prelude::*;

use crate::city::CityModel;
use crate::entity::Asset;
use crate::geometry::LonLat;

/// Metres along the streets from each point to each other point (row = from), with the
/// snapping distances added at both ends. `f64::INFINITY` where the streets do not connect.
pub fn road_distance_matrix(city: &CityModel, points: &[LonLat]) -> Vec<f64> {
    let graph = &city.road.graph;
    let snapped: Vec<(petgraph::graph::NodeIndex, f64)> = points
        .iter()
        .map(|p| {
            city.road
                .nearest_nodes(*p)
                .next()
                .unwrap_or((petgraph::graph::NodeIndex::new(0), f64::INFINITY))
        })
        .collect();
    let length = |e: petgraph::graph::EdgeReference<'_, crate::network::RoadArc>| -> f64 {
        match &city.entities()[e.weight().segment].asset {
            Asset::StreetSegment(s) => s.length_m,
            _ => f64::INFINITY,
        }
    };
    let k = points.len();
    let rows: Vec<Vec<f64>> = snapped
        .par_iter()
        .map(|&(from, snap_from)| {
            let found = petgraph::algo::dijkstra(graph, from, None, length);
            snapped
                .iter()
                .map(|&(to, snap_to)| {
                    if to == from {
                        snap_from + snap_to
                    } else {
                        found
                            .get(&to)
                            .map_or(f64::INFINITY, |d| snap_from + d + snap_to)
                    }
                })
                .collect()
        })
        .collect();
    let mut m = Vec::with_capacity(k * k);
    for (i, row) in rows.into_iter().enumerate() {
        for (j, d) in row.into_iter().enumerate() {
            m.push(if i == j { 0.0 } else { d });
        }
    }
    m
}
