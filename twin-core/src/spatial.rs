//! The spatial index of the city: an R-tree of every entity's location for nearest-asset and
//! bounding-box queries. Points are projected to local metres (equirectangular about the city's
//! latitude) so that "nearest" means nearest on the ground.

use rstar::RTree;
use rstar::primitives::GeomWithData;

use crate::geometry::{BBox, LonLat};

const EARTH_RADIUS_M: f64 = 6_371_008.8;

type Entry = GeomWithData<[f64; 2], usize>;

#[derive(Debug, Clone, Default)]
pub struct SpatialIndex {
    tree: RTree<Entry>,
    cos_lat: f64,
}

impl SpatialIndex {
    /// Index `(entity index, location)` pairs, projecting about `reference_lat`.
    pub fn build(
        points: impl IntoIterator<Item = (usize, LonLat)>,
        reference_lat: f64,
    ) -> SpatialIndex {
        let cos_lat = reference_lat.to_radians().cos();
        let entries: Vec<Entry> = points
            .into_iter()
            .map(|(i, p)| GeomWithData::new(project(p, cos_lat), i))
            .collect();
        SpatialIndex {
            tree: RTree::bulk_load(entries),
            cos_lat,
        }
    }

    /// Entity indices in order of distance from `p`, nearest first, with their distance in metres.
    pub fn nearest(&self, p: LonLat) -> impl Iterator<Item = (usize, f64)> + '_ {
        let q = project(p, self.cos_lat);
        self.tree
            .nearest_neighbor_iter_with_distance_2(&q)
            .map(|(e, d2)| (e.data, d2.sqrt()))
    }

    /// Entity indices located inside `bbox`.
    pub fn within(&self, bbox: &BBox) -> Vec<usize> {
        let lo = project(LonLat::new(bbox.min_lon, bbox.min_lat), self.cos_lat);
        let hi = project(LonLat::new(bbox.max_lon, bbox.max_lat), self.cos_lat);
        let envelope = rstar::AABB::from_corners(lo, hi);
        let mut found: Vec<usize> = self
            .tree
            .locate_in_envelope(&envelope)
            .map(|e| e.data)
            .collect();
        found.sort_unstable();
        found
    }

    pub fn len(&self) -> usize {
        self.tree.size()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.size() == 0
    }
}

fn project(p: LonLat, cos_lat: f64) -> [f64; 2] {
    [
        p.lon.to_radians() * EARTH_RADIUS_M * cos_lat,
        p.lat.to_radians() * EARTH_RADIUS_M,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_is_on_the_ground_not_in_degrees() {
        // At 60°N a degree of longitude is half a degree of latitude on the ground.
        let points = [
            (0, LonLat::new(10.0 + 0.0015, 60.0)),
            (1, LonLat::new(10.0, 60.0 + 0.001)),
        ];
        let index = SpatialIndex::build(points, 60.0);
        let (first, d) = index.nearest(LonLat::new(10.0, 60.0)).next().unwrap();
        assert_eq!(
            first, 0,
            "0.0015° of longitude at 60°N is ~83 m, 0.001° of latitude ~111 m"
        );
        assert!((d - 83.4).abs() < 1.0, "{d}");
    }

    #[test]
    fn bbox_query_finds_only_inside() {
        let points = (0..100).map(|i| (i, LonLat::new(24.8 + i as f64 * 0.001, 44.86)));
        let index = SpatialIndex::build(points, 44.86);
        let bbox = BBox {
            min_lon: 24.8095,
            min_lat: 44.85,
            max_lon: 24.8205,
            max_lat: 44.87,
        };
        assert_eq!(index.within(&bbox), (10..=20).collect::<Vec<_>>());
    }
}
