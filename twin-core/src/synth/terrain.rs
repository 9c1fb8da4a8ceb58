//! The ground the Pitești generator builds on: a local metric frame about the city centre, the
//! real boundary polygon, the relief (Argeș riverbed ~250 m in the south, Trivale hills 356 m in
//! the west) and the named neighbourhoods with their share of the 2021 census population.

use crate::geometry::{Boundary, LonLat};

const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// The real centre of Pitești, 44°51′38″N 24°52′04″E.
pub const CENTRE: LonLat = LonLat {
    lon: 24.8678,
    lat: 44.8606,
};

/// Population at the 2021 census (1 December 2021).
pub const POPULATION_2021: u32 = 141_275;

/// The coarse UAT boundaries of Pitești and its neighbours (see data/reference/pitesti/SOURCES.md).
const UAT_BOUNDARIES: &str =
    include_str!("../../../data/reference/pitesti/uat_boundaries_coarse.geojson");

/// SIRUTA code of Pitești in the boundary file.
const PITESTI_NATCODE: &str = "13169";

/// An equirectangular frame in metres about a reference point: x east, y north.
#[derive(Debug, Clone, Copy)]
pub struct LocalFrame {
    origin: LonLat,
    cos_lat: f64,
}

impl LocalFrame {
    pub fn new(origin: LonLat) -> LocalFrame {
        LocalFrame {
            origin,
            cos_lat: origin.lat.to_radians().cos(),
        }
    }

    pub fn to_lonlat(&self, x: f64, y: f64) -> LonLat {
        LonLat::new(
            self.origin.lon + (x / (EARTH_RADIUS_M * self.cos_lat)).to_degrees(),
            self.origin.lat + (y / EARTH_RADIUS_M).to_degrees(),
        )
    }

    pub fn to_xy(&self, p: LonLat) -> (f64, f64) {
        (
            (p.lon - self.origin.lon).to_radians() * EARTH_RADIUS_M * self.cos_lat,
            (p.lat - self.origin.lat).to_radians() * EARTH_RADIUS_M,
        )
    }
}

/// The Pitești polygon as a GeoJSON Feature, and as a [`Boundary`].
pub fn pitesti_boundary() -> Result<(String, Boundary), String> {
    let all: serde_json::Value = serde_json::from_str(UAT_BOUNDARIES).map_err(|e| e.to_string())?;
    let feature = all["features"]
        .as_array()
        .and_then(|fs| {
            fs.iter()
                .find(|f| f["properties"]["natcode"] == PITESTI_NATCODE)
        })
        .ok_or("the UAT file has no Pitești feature")?;
    let text = serde_json::json!({
        "type": "Feature",
        "properties": {"name": "Pitești", "natcode": PITESTI_NATCODE, "source": "react-romania (MIT), coarse UAT boundary"},
        "geometry": feature["geometry"],
    })
    .to_string();
    let boundary = Boundary::from_geojson_str(&text)?;
    Ok((text + "\n", boundary))
}

/// Jobs by neighbourhood (synthetic estimate, about 69,000 in all): the centre's offices and
/// shops, the northern industrial platform along Bd. Petrochimiștilor, the south-eastern
/// industrial area; in the order of [`NEIGHBOURHOODS`].
pub const JOBS: [u32; 12] = [
    18_000, 2_500, 3_000, 4_000, 10_000, 4_000, 3_000, 2_500, 4_500, 5_000, 3_500, 9_000,
];

/// Roads into the city (local metres) with morning peak vehicles per hour in and out (synthetic
/// estimates: commuters from Mioveni and its Dacia plant, Ștefănești, Bradu, Bascov, the A1).
pub const GATEWAYS: [(&str, f64, f64, f64, f64); 4] = [
    (
        "Nord (Bd. Petrochimiștilor, DN7C)",
        0.0,
        4_000.0,
        900.0,
        500.0,
    ),
    (
        "Est (Calea București, A1, Mioveni)",
        3_150.0,
        0.0,
        1_600.0,
        1_200.0,
    ),
    (
        "Sud (Bd. Nicolae Bălcescu, DN65)",
        0.0,
        -4_000.0,
        700.0,
        400.0,
    ),
    (
        "Vest (Calea Drăgășani, DN67B)",
        -6_800.0,
        -500.0,
        500.0,
        300.0,
    ),
];

/// A neighbourhood: name, approximate centre in the local frame (metres), and population.
/// Names are real; centres are approximate placements; populations are a synthetic split of the
/// 2021 total that keeps Găvana, Trivale and Prundu the most populous (PMUD Pitești).
pub const NEIGHBOURHOODS: [(&str, f64, f64, u32); 12] = [
    ("Centru", 0.0, 0.0, 14_000),
    ("Popa Șapcă", -1_000.0, 0.0, 6_000),
    ("Trivale", -2_050.0, -450.0, 20_000),
    ("Găvana", -1_300.0, 1_300.0, 22_000),
    ("Nord", -600.0, 2_800.0, 12_000),
    ("Războieni", 600.0, 1_500.0, 9_000),
    ("Negru Vodă", 300.0, 650.0, 7_000),
    ("Banat", 1_300.0, 600.0, 8_000),
    ("Exercițiu", 1_800.0, -800.0, 10_000),
    ("Prundu", 300.0, -2_000.0, 18_000),
    ("Craiovei", -900.0, -1_800.0, 9_000),
    ("Tudor Vladimirescu", 3_000.0, -2_000.0, 6_275),
];

/// Ground elevation in metres at a point of the local frame: ~250 m along the Argeș riverbed in
/// the south and east, rising to the Trivale hills (356 m) at the western end, with gentle
/// terraces to the north and a deterministic ripple of a few metres.
pub fn elevation_m(x: f64, y: f64) -> f64 {
    let west = smoothstep(-500.0, -6_000.0, x);
    let north = smoothstep(-3_000.0, 4_000.0, y);
    let ripple = 3.0 * (x / 730.0).sin() * (y / 610.0).cos() + 2.0 * ((x + y) / 1_270.0).sin();
    (252.0 + 98.0 * west + 22.0 * north * (1.0 - west) + ripple).clamp(250.0, 356.0)
}

fn smoothstep(from: f64, to: f64, v: f64) -> f64 {
    let t = ((v - from) / (to - from)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbourhoods_add_up_to_the_census_and_lie_inside() {
        let (_, boundary) = pitesti_boundary().unwrap();
        let frame = LocalFrame::new(CENTRE);
        let total: u32 = NEIGHBOURHOODS.iter().map(|n| n.3).sum();
        assert_eq!(total, POPULATION_2021);
        for (name, x, y, _) in NEIGHBOURHOODS {
            assert!(
                boundary.contains(frame.to_lonlat(x, y)),
                "{name} is outside the boundary"
            );
        }
    }

    #[test]
    fn relief_spans_riverbed_to_trivale() {
        let frame = LocalFrame::new(CENTRE);
        let (x, y) = frame.to_xy(LonLat::new(24.7835, 44.856));
        assert!(
            elevation_m(x, y) > 340.0,
            "Trivale hills {}",
            elevation_m(x, y)
        );
        let (x, y) = frame.to_xy(LonLat::new(24.93, 44.826));
        assert!(
            elevation_m(x, y) < 262.0,
            "south-east riverbed {}",
            elevation_m(x, y)
        );
    }

    #[test]
    fn frame_round_trips() {
        let frame = LocalFrame::new(CENTRE);
        let p = frame.to_lonlat(1234.0, -987.0);
        let (x, y) = frame.to_xy(p);
        assert!((x - 1234.0).abs() < 1e-6 && (y + 987.0).abs() < 1e-6);
        assert!((CENTRE.distance_m(p) - (1234f64.hypot(987.0))).abs() < 2.0);
    }
}
