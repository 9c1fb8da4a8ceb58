//! Geographic primitives in WGS84: points, bounding boxes, the city boundary polygon, and
//! great-circle lengths (haversine, through the `geo` crate).

use geo::{Contains, Distance, Haversine};

/// A WGS84 position, longitude first as in GeoJSON.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LonLat {
    pub lon: f64,
    pub lat: f64,
}

impl LonLat {
    pub fn new(lon: f64, lat: f64) -> LonLat {
        LonLat { lon, lat }
    }

    pub fn to_point(self) -> geo::Point<f64> {
        geo::Point::new(self.lon, self.lat)
    }

    /// Great-circle distance in metres (haversine, mean Earth radius).
    pub fn distance_m(self, other: LonLat) -> f64 {
        Haversine.distance(self.to_point(), other.to_point())
    }

    pub fn is_valid(self) -> bool {
        self.lon.is_finite()
            && self.lat.is_finite()
            && (-180.0..=180.0).contains(&self.lon)
            && (-90.0..=90.0).contains(&self.lat)
    }
}

/// Length in metres of a polyline, summed segment by segment.
pub fn polyline_length_m(points: &[LonLat]) -> f64 {
    points.windows(2).map(|w| w[0].distance_m(w[1])).sum()
}

/// An axis-aligned box in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    pub min_lon: f64,
    pub min_lat: f64,
    pub max_lon: f64,
    pub max_lat: f64,
}

impl BBox {
    pub fn empty() -> BBox {
        BBox {
            min_lon: f64::INFINITY,
            min_lat: f64::INFINITY,
            max_lon: f64::NEG_INFINITY,
            max_lat: f64::NEG_INFINITY,
        }
    }

    pub fn extend(&mut self, p: LonLat) {
        self.min_lon = self.min_lon.min(p.lon);
        self.min_lat = self.min_lat.min(p.lat);
        self.max_lon = self.max_lon.max(p.lon);
        self.max_lat = self.max_lat.max(p.lat);
    }

    pub fn of(points: impl IntoIterator<Item = LonLat>) -> BBox {
        let mut b = BBox::empty();
        for p in points {
            b.extend(p);
        }
        b
    }

    pub fn contains(&self, p: LonLat) -> bool {
        p.lon >= self.min_lon
            && p.lon <= self.max_lon
            && p.lat >= self.min_lat
            && p.lat <= self.max_lat
    }

    pub fn is_empty(&self) -> bool {
        self.min_lon > self.max_lon || self.min_lat > self.max_lat
    }

    pub fn centre(&self) -> LonLat {
        LonLat::new(
            (self.min_lon + self.max_lon) / 2.0,
            (self.min_lat + self.max_lat) / 2.0,
        )
    }

    /// `[min_lon, min_lat, max_lon, max_lat]`, the GeoJSON bbox order.
    pub fn to_array(&self) -> [f64; 4] {
        [self.min_lon, self.min_lat, self.max_lon, self.max_lat]
    }
}

/// The area a city (or an import) is cut to: one or more polygons.
#[derive(Debug, Clone, PartialEq)]
pub struct Boundary {
    shape: geo::MultiPolygon<f64>,
}

impl Boundary {
    pub fn new(shape: geo::MultiPolygon<f64>) -> Boundary {
        Boundary { shape }
    }

    pub fn from_ring(ring: &[LonLat]) -> Boundary {
        let ring: Vec<geo::Coord<f64>> = ring
            .iter()
            .map(|p| geo::coord! { x: p.lon, y: p.lat })
            .collect();
        Boundary::new(geo::MultiPolygon(vec![geo::Polygon::new(
            geo::LineString(ring),
            vec![],
        )]))
    }

    pub fn contains(&self, p: LonLat) -> bool {
        self.shape.contains(&p.to_point())
    }

    pub fn shape(&self) -> &geo::MultiPolygon<f64> {
        &self.shape
    }

    pub fn bbox(&self) -> BBox {
        BBox::of(
            self.shape
                .0
                .iter()
                .flat_map(|poly| poly.exterior().0.iter())
                .map(|c| LonLat::new(c.x, c.y)),
        )
    }

    /// Read a boundary from GeoJSON text: a Polygon or MultiPolygon geometry, a Feature holding
    /// one, or a FeatureCollection (all polygon features united).
    pub fn from_geojson_str(text: &str) -> Result<Boundary, String> {
        let gj: geojson::GeoJson = text.parse().map_err(|e| format!("not GeoJSON: {e}"))?;
        let geometries: Vec<geojson::Geometry> = match gj {
            geojson::GeoJson::Geometry(g) => vec![g],
            geojson::GeoJson::Feature(f) => f.geometry.into_iter().collect(),
            geojson::GeoJson::FeatureCollection(fc) => {
                fc.features.into_iter().filter_map(|f| f.geometry).collect()
            }
        };
        let mut polygons = Vec::new();
        for g in geometries {
            let shape: geo::Geometry<f64> = g
                .try_into()
                .map_err(|e: geojson::Error| format!("bad geometry: {e}"))?;
            match shape {
                geo::Geometry::Polygon(p) => polygons.push(p),
                geo::Geometry::MultiPolygon(mp) => polygons.extend(mp.0),
                other => {
                    return Err(format!(
                        "expected a Polygon or MultiPolygon, found {}",
                        geometry_name(&other)
                    ));
                }
            }
        }
        if polygons.is_empty() {
            return Err("no polygon in the file".into());
        }
        Ok(Boundary::new(geo::MultiPolygon(polygons)))
    }
}

fn geometry_name(g: &geo::Geometry<f64>) -> &'static str {
    match g {
        geo::Geometry::Point(_) => "a Point",
        geo::Geometry::Line(_) | geo::Geometry::LineString(_) => "a LineString",
        geo::Geometry::MultiPoint(_) => "a MultiPoint",
        geo::Geometry::MultiLineString(_) => "a MultiLineString",
        geo::Geometry::GeometryCollection(_) => "a GeometryCollection",
        _ => "another geometry",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haversine_matches_a_degree_of_latitude() {
        // One degree of latitude on the mean-radius sphere is 111,195 m.
        let d = LonLat::new(24.87, 44.0).distance_m(LonLat::new(24.87, 45.0));
        assert!((d - 111_195.0).abs() < 5.0, "{d}");
    }

    #[test]
    fn boundary_contains_inside_not_outside() {
        let b = Boundary::from_ring(&[
            LonLat::new(0.0, 0.0),
            LonLat::new(1.0, 0.0),
            LonLat::new(1.0, 1.0),
            LonLat::new(0.0, 1.0),
            LonLat::new(0.0, 0.0),
        ]);
        assert!(b.contains(LonLat::new(0.5, 0.5)));
        assert!(!b.contains(LonLat::new(1.5, 0.5)));
        assert_eq!(b.bbox().to_array(), [0.0, 0.0, 1.0, 1.0]);
    }

    #[test]
    fn boundary_rejects_points() {
        let err =
            Boundary::from_geojson_str(r#"{"type":"Point","coordinates":[1,2]}"#).unwrap_err();
        assert!(err.contains("a Point"), "{err}");
    }
}
