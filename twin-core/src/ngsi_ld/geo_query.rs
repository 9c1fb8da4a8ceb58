//! NGSI-LD geo-queries (clause 4.10): `georel`, `geometry`, `coordinates` and `geoproperty`,
//! parsed and evaluated on an entity's GeoProperty.
//!
//! Relations: `near;maxDistance==<m>` and `near;minDistance==<m>` (the reference geometry a
//! Point; distances in metres), `within`, `contains`, `intersects`, `equals`, `disjoint` and
//! `overlaps`, with the DE-9IM meanings of OGC Simple Features (ISO 19125-1 §6.1.15) that the
//! specification refers to, computed by the `geo` crate's `relate`.
//!
//! Distances are measured on a local plane around the reference point (equirectangular: one
//! degree of latitude 111,195 m, of longitude that times the cosine of the point's latitude,
//! on the IUGG mean Earth radius 6,371,008.8 m). Over a city (tens of km) this is within 0.1 %
//! of the geodesic distance; beyond a few hundred km it is not meant to be used.

use geo::{BoundingRect, Distance, Euclidean, MapCoords, Relate};
use serde_json::{Map, Value as Json};

use super::entity::check_geometry;

/// The IUGG mean Earth radius (metres), as used by haversine formulas.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A geo-query that could not be parsed: answered as `BadRequestData`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("geo-query: {0}")]
pub struct GeoQueryError(pub String);

/// How the entity's geometry must relate to the query's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GeoRel {
    /// Within `max` metres of the point (and at least `min`).
    Near {
        min: Option<f64>,
        max: Option<f64>,
    },
    Within,
    Contains,
    Intersects,
    Equals,
    Disjoint,
    Overlaps,
}

/// A parsed geo-query.
#[derive(Debug, Clone)]
pub struct GeoQuery {
    pub relation: GeoRel,
    /// The reference geometry, in WGS84 degrees.
    pub geometry: geo::Geometry<f64>,
    /// The GeoProperty compared (`location` unless `geoproperty` names another).
    pub property: String,
    bbox: Option<geo::Rect<f64>>,
}

impl GeoQuery {
    /// Parse the four parameters of clause 6.3.14 (`coordinates` as JSON text, e.g.
    /// `[24.87,44.85]`).
    pub fn parse(
        georel: &str,
        geometry: &str,
        coordinates: &str,
        geoproperty: Option<&str>,
    ) -> Result<GeoQuery, GeoQueryError> {
        let fail = |why: String| Err(GeoQueryError(why));
        let mut parts = georel.split(';');
        let relation = match parts.next().unwrap_or_default() {
            "near" => {
                let (mut min, mut max) = (None, None);
                for modifier in parts.by_ref() {
                    let (key, value) = modifier.split_once("==").ok_or_else(|| {
                        GeoQueryError(format!("georel modifier `{modifier}` is not key==value"))
                    })?;
                    let metres: f64 = value
                        .parse()
                        .ok()
                        .filter(|m: &f64| m.is_finite() && *m >= 0.0)
                        .ok_or_else(|| {
                            GeoQueryError(format!("{key} `{value}` is not a distance in metres"))
                        })?;
                    match key {
                        "maxDistance" => max = Some(metres),
                        "minDistance" => min = Some(metres),
                        other => {
                            return fail(format!(
                                "georel near takes maxDistance or minDistance, not `{other}`"
                            ));
                        }
                    }
                }
                if min.is_none() && max.is_none() {
                    return fail("georel near needs maxDistance or minDistance".into());
                }
                GeoRel::Near { min, max }
            }
            "within" => GeoRel::Within,
            "contains" => GeoRel::Contains,
            "intersects" => GeoRel::Intersects,
            "equals" => GeoRel::Equals,
            "disjoint" => GeoRel::Disjoint,
            "overlaps" => GeoRel::Overlaps,
            other => {
                return fail(format!(
                    "georel `{other}` is not near, within, contains, intersects, equals, disjoint or overlaps"
                ));
            }
        };
        if let Some(extra) = parts.next() {
            return fail(format!("georel `{georel}`: unexpected `{extra}`"));
        }
        let coordinates: Json = serde_json::from_str(coordinates)
            .map_err(|e| GeoQueryError(format!("coordinates are not a JSON array: {e}")))?;
        let value = serde_json::json!({"type": geometry, "coordinates": coordinates});
        let shape = check_geometry("geometry", &value).map_err(|e| GeoQueryError(e.0))?;
        if matches!(relation, GeoRel::Near { .. }) && !matches!(shape, geo::Geometry::Point(_)) {
            return fail("georel near needs a Point geometry".into());
        }
        let property = geoproperty.unwrap_or("location").to_string();
        Ok(GeoQuery {
            relation,
            bbox: shape.bounding_rect(),
            geometry: shape,
            property,
        })
    }

    /// Whether an entity in normalized form matches: its GeoProperty exists and relates to
    /// the reference geometry as asked. An entity without the property never matches.
    pub fn matches(&self, entity: &Map<String, Json>) -> bool {
        let Some(value) = entity.get(&self.property).and_then(|a| a.get("value")) else {
            return false;
        };
        let Ok(shape) = check_geometry(&self.property, value) else {
            return false;
        };
        self.relates(&shape)
    }

    /// Whether a geometry (WGS84 degrees) relates to the reference one as asked.
    pub fn relates(&self, shape: &geo::Geometry<f64>) -> bool {
        if let GeoRel::Near { min, max } = self.relation {
            let metres = self.distance_m(shape);
            return max.is_none_or(|m| metres <= m) && min.is_none_or(|m| metres >= m);
        }
        let apart = match (self.bbox, shape.bounding_rect()) {
            (Some(a), Some(b)) => {
                a.max().x < b.min().x
                    || b.max().x < a.min().x
                    || a.max().y < b.min().y
                    || b.max().y < a.min().y
            }
            _ => true,
        };
        if apart {
            return self.relation == GeoRel::Disjoint;
        }
        let m = shape.relate(&self.geometry);
        match self.relation {
            GeoRel::Within => m.is_within(),
            GeoRel::Contains => m.is_contains(),
            GeoRel::Intersects => m.is_intersects(),
            // The same coordinates are equal even where the topology is not valid (a
            // self-touching ring), which DE-9IM does not decide.
            GeoRel::Equals => *shape == self.geometry || m.is_equal_topo(),
            GeoRel::Disjoint => m.is_disjoint(),
            GeoRel::Overlaps => m.is_overlaps(),
            GeoRel::Near { .. } => false,
        }
    }

    /// The distance (metres) from the reference point to the nearest point of `shape`.
    fn distance_m(&self, shape: &geo::Geometry<f64>) -> f64 {
        let geo::Geometry::Point(origin) = self.geometry else {
            return f64::INFINITY;
        };
        let metres_per_degree = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
        let cos = origin.y().to_radians().cos();
        let local = shape.map_coords(|c| geo::Coord {
            x: (c.x - origin.x()) * cos * metres_per_degree,
            y: (c.y - origin.y()) * metres_per_degree,
        });
        Euclidean.distance(&geo::Geometry::Point(geo::Point::new(0.0, 0.0)), &local)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(lon: f64, lat: f64) -> Map<String, Json> {
        json!({"id": "urn:x:1", "type": "T",
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}})
        .as_object()
        .cloned()
        .expect("object")
    }

    #[test]
    fn near_measures_metres_like_the_haversine_formula() {
        // 0.01° of latitude is 1,111.95 m on the mean radius.
        let q =
            GeoQuery::parse("near;maxDistance==1112", "Point", "[24.87,44.85]", None).expect("q");
        assert!(q.matches(&at(24.87, 44.86)));
        let q =
            GeoQuery::parse("near;maxDistance==1111", "Point", "[24.87,44.85]", None).expect("q");
        assert!(!q.matches(&at(24.87, 44.86)));
        // Along a parallel, 0.01° of longitude at 44.85° N: 788.1 m by haversine.
        let q =
            GeoQuery::parse("near;minDistance==787", "Point", "[24.87,44.85]", None).expect("q");
        assert!(q.matches(&at(24.88, 44.85)));
        let q =
            GeoQuery::parse("near;maxDistance==789", "Point", "[24.87,44.85]", None).expect("q");
        assert!(q.matches(&at(24.88, 44.85)));
        let q =
            GeoQuery::parse("near;maxDistance==787", "Point", "[24.87,44.85]", None).expect("q");
        assert!(!q.matches(&at(24.88, 44.85)));
    }

    #[test]
    fn polygon_relations_follow_de9im() {
        let square = "[[[24.8,44.8],[24.9,44.8],[24.9,44.9],[24.8,44.9],[24.8,44.8]]]";
        let within = GeoQuery::parse("within", "Polygon", square, None).expect("q");
        assert!(within.matches(&at(24.85, 44.85)));
        assert!(!within.matches(&at(25.0, 44.85)));
        let disjoint = GeoQuery::parse("disjoint", "Polygon", square, None).expect("q");
        assert!(disjoint.matches(&at(25.0, 44.85)));
        assert!(!disjoint.matches(&at(24.85, 44.85)));
        let intersects = GeoQuery::parse("intersects", "Polygon", square, None).expect("q");
        assert!(intersects.matches(&at(24.8, 44.85)), "on the edge");
        let ring = "[[[13.2865906,52.5648645],[13.2879639,52.5648645],[13.2797241,52.4988679],[13.477478,52.4712703],[13.5049438,52.5373084],[13.2865906,52.5648645]]]";
        let same = GeoQuery::parse("equals", "Polygon", ring, None).expect("q");
        let polygon: serde_json::Value = serde_json::from_str(ring).expect("json");
        let mut entity = serde_json::Map::new();
        entity.insert("location".into(), serde_json::json!({"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": polygon}}));
        assert!(same.matches(&entity), "a polygon equals itself");
        let equals = GeoQuery::parse("equals", "Point", "[24.85,44.85]", None).expect("q");
        assert!(equals.matches(&at(24.85, 44.85)));
        assert!(!equals.matches(&at(24.85, 44.86)));
        // Another GeoProperty, and an entity that lacks it.
        let other =
            GeoQuery::parse("within", "Polygon", square, Some("observationSpace")).expect("q");
        assert!(!other.matches(&at(24.85, 44.85)));
    }

    #[test]
    fn bad_geo_queries_are_refused_with_the_reason() {
        for (rel, geometry, coordinates, needle) in [
            ("near", "Point", "[1,2]", "maxDistance"),
            ("near;maxDistance==-1", "Point", "[1,2]", "metres"),
            (
                "near;maxDistance==10",
                "Polygon",
                "[[[0,0],[1,0],[1,1],[0,0]]]",
                "Point",
            ),
            ("nearby", "Point", "[1,2]", "nearby"),
            ("within", "Point", "[1", "JSON"),
            ("within", "Circle", "[1,2]", "GeoJSON"),
            ("within", "Point", "[500000,4970000]", "WGS84"),
        ] {
            let e = GeoQuery::parse(rel, geometry, coordinates, None).expect_err(rel);
            assert!(e.0.contains(needle), "{rel} {geometry} {coordinates}: {e}");
        }
    }
}
