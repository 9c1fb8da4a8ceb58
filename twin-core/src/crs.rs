//! Coordinate reference systems: a utility's coordinates to the twin's WGS84 longitude and
//! latitude.
//!
//! A CRS is given as an EPSG code (`EPSG:3844`, Romania's Stereo 70, looked up in the EPSG
//! table of `crs-definitions`), a PROJ string (`+proj=tmerc +lat_0=… +units=m`) or WKT
//! (a shapefile's `.prj`, a GeoPackage's definition; converted by `proj4wkt`). The arithmetic
//! is `proj4rs`, a pure-Rust port of PROJ.4 / proj4js: no grid shifts, datum shifts by the
//! Helmert parameters (`+towgs84`) of the definition. The tests hold it within half a metre of
//! PROJ 9.5's best transformation for Stereo 70, UTM 35N and Web Mercator; other codes with a
//! 7-parameter datum shift may be off by tens of metres where the EPSG table's rotations follow
//! the coordinate-frame convention (as Stereo 70's did, corrected here): a PROJ string with
//! the position-vector parameters avoids that.
//!
//! Coordinates that do not fit the CRS are refused rather than placed wrongly
//! ([`Crs::to_wgs84`]), and coordinates that look like degrees under a projected CRS (or like
//! metres under none) are caught before anything is built ([`check_fits`]).

use crate::geometry::LonLat;

/// A CRS the twin can transform from, with the text it was given as.
pub struct Crs {
    label: String,
    proj: proj4rs::Proj,
    /// The target, WGS84, parsed once rather than per point.
    wgs84: proj4rs::Proj,
}

impl std::fmt::Debug for Crs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label)
    }
}

/// Why a CRS or a coordinate could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CrsError {
    #[error(
        "CRS `{0}` is not understood: give an EPSG code (EPSG:3844), a PROJ string (+proj=…) or WKT"
    )]
    Unrecognised(String),
    #[error("CRS `{text}`: {reason}")]
    Invalid { text: String, reason: String },
    #[error("({x}, {y}) cannot be transformed from {crs}: {reason}")]
    Point {
        crs: String,
        x: f64,
        y: f64,
        reason: String,
    },
}

/// WGS84 longitude and latitude in degrees, the twin's own coordinates.
const WGS84: &str = "+proj=longlat +datum=WGS84 +no_defs";

impl Crs {
    /// The CRS `text` names: `EPSG:<code>` (case-insensitive), `WGS84`, a PROJ string, or WKT
    /// (1 or 2; an outermost EPSG authority is looked up by code, else the WKT is converted).
    pub fn parse(text: &str) -> Result<Crs, CrsError> {
        let t = text.trim();
        let invalid = |reason: String| CrsError::Invalid {
            text: t.to_string(),
            reason,
        };
        let proj = if let Some(code) = epsg_code(t) {
            from_epsg(code).map_err(invalid)?
        } else if t.starts_with('+') || t.eq_ignore_ascii_case("WGS84") {
            proj4rs::Proj::from_user_string(t).map_err(|e| invalid(e.to_string()))?
        } else if looks_like_wkt(t) {
            match wkt_authority(t) {
                Some(code) => from_epsg(code).map_err(invalid)?,
                None => {
                    let projstring = proj4wkt::wkt_to_projstring(t)
                        .map_err(|e| invalid(format!("WKT not understood: {e}")))?;
                    proj4rs::Proj::from_proj_string(&projstring)
                        .map_err(|e| invalid(e.to_string()))?
                }
            }
        } else {
            return Err(CrsError::Unrecognised(t.to_string()));
        };
        let label =
            match epsg_code(t).or_else(|| looks_like_wkt(t).then(|| wkt_authority(t)).flatten()) {
                Some(code) => format!("EPSG:{code}"),
                None if looks_like_wkt(t) => wkt_name(t).unwrap_or_else(|| "WKT".into()),
                None => t.to_string(),
            };
        let wgs84 = proj4rs::Proj::from_proj_string(WGS84).expect("the WGS84 definition parses");
        Ok(Crs { label, proj, wgs84 })
    }

    /// The CRS as given (`EPSG:3844`, the PROJ string, or the WKT's name).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Whether the CRS is geographic (longitude and latitude) rather than projected.
    pub fn is_geographic(&self) -> bool {
        self.proj.is_latlong()
    }

    /// `(x, y)` in this CRS (easting and northing in its units, or longitude and latitude in
    /// degrees) as WGS84. Errors: the transformation fails or leaves the globe.
    pub fn to_wgs84(&self, x: f64, y: f64) -> Result<LonLat, CrsError> {
        let fail = |reason: String| CrsError::Point {
            crs: self.label.clone(),
            x,
            y,
            reason,
        };
        if !(x.is_finite() && y.is_finite()) {
            return Err(fail("not a finite number".into()));
        }
        let mut p = if self.is_geographic() {
            (x.to_radians(), y.to_radians(), 0.0)
        } else {
            (x, y, 0.0)
        };
        proj4rs::transform::transform(&self.proj, &self.wgs84, &mut p)
            .map_err(|e| fail(e.to_string()))?;
        let out = LonLat::new(p.0.to_degrees(), p.1.to_degrees());
        if !out.is_valid() {
            return Err(fail(format!(
                "lands at ({:.4}, {:.4}), not on the globe",
                out.lon, out.lat
            )));
        }
        Ok(out)
    }
}

/// Definitions that replace the EPSG table's where its `+towgs84` is wrong. Romania's
/// Stereo 70: the table gives the rotations of EPSG transformation 15994 ("Pulkovo 1942(58)
/// to WGS 84 (19)", accuracy 3 m) in the coordinate-frame convention, while `+towgs84` takes
/// them as a position vector, which puts Pitești 38 m off; here with their signs turned, as
/// PROJ 9.5 applies that transformation (checked in the tests against pyproj).
const CORRECTED: &[(u16, &str)] = &[(
    3844,
    "+proj=sterea +lat_0=46 +lon_0=25 +k=0.99975 +x_0=500000 +y_0=500000 +ellps=krass \
     +towgs84=2.329,-147.042,-92.08,-0.309,0.325,0.497,5.69 +units=m +no_defs",
)];

/// The projection of EPSG `code`: the corrected definition, else the EPSG table's.
fn from_epsg(code: u16) -> Result<proj4rs::Proj, String> {
    match CORRECTED.iter().find(|(c, _)| *c == code) {
        Some((_, def)) => proj4rs::Proj::from_proj_string(def).map_err(|e| e.to_string()),
        None => proj4rs::Proj::from_epsg_code(code)
            .map_err(|e| format!("EPSG:{code} is not in the EPSG table ({e})")),
    }
}

/// `EPSG:<code>` (or `epsg:<code>`), the code.
fn epsg_code(text: &str) -> Option<u16> {
    let (authority, code) = text.split_once(':')?;
    authority
        .eq_ignore_ascii_case("EPSG")
        .then(|| code.trim().parse().ok())
        .flatten()
}

fn looks_like_wkt(text: &str) -> bool {
    let upper = text.trim_start().to_ascii_uppercase();
    [
        "PROJCS[",
        "GEOGCS[",
        "PROJCRS[",
        "GEOGCRS[",
        "COMPD_CS[",
        "COMPOUNDCRS[",
    ]
    .iter()
    .any(|k| upper.starts_with(k))
}

/// The outermost `AUTHORITY["EPSG","<code>"]` (WKT 1) or `ID["EPSG",<code>]` (WKT 2): the
/// last one at bracket depth 1.
fn wkt_authority(wkt: &str) -> Option<u16> {
    let mut depth = 0usize;
    let mut found = None;
    let bytes = wkt.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'[' | b'(' => depth += 1,
            b']' | b')' => depth = depth.saturating_sub(1),
            _ if depth == 1 => {
                let rest = &wkt[i..];
                let upper = rest.get(..10).unwrap_or(rest).to_ascii_uppercase();
                if upper.starts_with("AUTHORITY[") || upper.starts_with("ID[") {
                    let open = rest.find('[')?;
                    let close = rest.find(']')?;
                    let inner = &rest[open + 1..close];
                    let mut parts = inner.split(',').map(|p| p.trim().trim_matches('"'));
                    if parts.next().is_some_and(|a| a.eq_ignore_ascii_case("EPSG")) {
                        found = parts.next().and_then(|c| c.parse().ok());
                    }
                }
            }
            _ => {}
        }
    }
    found
}

/// The name of a WKT definition (its first quoted string).
fn wkt_name(wkt: &str) -> Option<String> {
    let start = wkt.find('"')? + 1;
    let len = wkt[start..].find('"')?;
    Some(wkt[start..start + len].to_string())
}

/// Whether every point could be longitude and latitude in degrees.
pub fn all_degrees(points: &[(f64, f64)]) -> bool {
    points
        .iter()
        .all(|&(x, y)| (-180.0..=180.0).contains(&x) && (-90.0..=90.0).contains(&y))
}

/// Whether `points` (in a file's coordinates, `what` naming them for the message) can be read
/// in `crs` (`None`: WGS84 degrees). Errors, saying what to give instead: no CRS and
/// coordinates that are not degrees; a projected CRS and coordinates that are all degrees
/// within a few units of each other (degrees read as metres put a whole network in a few
/// metres).
pub fn check_fits(points: &[(f64, f64)], crs: Option<&Crs>, what: &str) -> Result<(), String> {
    if points.is_empty() {
        return Ok(());
    }
    match crs {
        None if !all_degrees(points) => {
            let (x, y) = points
                .iter()
                .find(|&&(x, y)| !((-180.0..=180.0).contains(&x) && (-90.0..=90.0).contains(&y)))
                .copied()
                .unwrap_or(points[0]);
            Err(format!(
                "{what} are not longitude and latitude (for example ({x}, {y})): say which CRS they are in (--crs EPSG:NNNN, such as EPSG:3844 for Romania's Stereo 70, or a PROJ string for a local grid)"
            ))
        }
        Some(c) if !c.is_geographic() && all_degrees(points) && spread(points) < 2.0 => {
            Err(format!(
                "{what} look like longitude and latitude in degrees, but {} is a projected CRS in metres: leave out the CRS, or check the file",
                c.label()
            ))
        }
        _ => Ok(()),
    }
}

/// The larger side of the points' bounding box, in their own units.
fn spread(points: &[(f64, f64)]) -> f64 {
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for &(x, y) in points {
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    (x1 - x0).max(y1 - y0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference points transformed by PROJ 9 through pyproj (`scripts/compare/crs_points.py`
    /// prints them; PROJ 9.5.1): Pitești's centre in Stereo 70 (EPSG:3844), UTM zone 35N
    /// (EPSG:32635) and Web Mercator (EPSG:3857).
    #[test]
    fn national_grids_agree_with_proj_within_metres() {
        let cases = [
            ("EPSG:3844", 489_673.01, 373_434.26, 24.8678, 44.8606, 0.5),
            (
                "EPSG:32635",
                331_542.79,
                4_969_676.54,
                24.8678,
                44.8606,
                0.5,
            ),
            (
                "EPSG:3857",
                2_768_270.83,
                5_599_602.44,
                24.8678,
                44.8606,
                0.5,
            ),
        ];
        for (crs, x, y, lon, lat, tolerance_m) in cases {
            let c = Crs::parse(crs).unwrap();
            let p = c.to_wgs84(x, y).unwrap();
            let off = p.distance_m(LonLat::new(lon, lat));
            assert!(off < tolerance_m, "{crs}: {p:?} is {off:.2} m off");
        }
    }

    #[test]
    fn proj_strings_wkt_and_codes_parse_and_bad_ones_are_named() {
        let local =
            "+proj=tmerc +lat_0=44.8606 +lon_0=24.8678 +k=1 +x_0=0 +y_0=0 +ellps=GRS80 +units=m";
        let c = Crs::parse(local).unwrap();
        let p = c.to_wgs84(0.0, 0.0).unwrap();
        assert!(p.distance_m(LonLat::new(24.8678, 44.8606)) < 0.01, "{p:?}");
        let east = c.to_wgs84(1000.0, 0.0).unwrap();
        // `distance_m` is on a sphere of 6371 km: within its 0.3 % of the ellipsoid.
        assert!((east.distance_m(p) - 1000.0).abs() < 5.0);
        let wkt = r#"PROJCS["Pulkovo 1942(58) / Stereo70",GEOGCS["Pulkovo 1942(58)",DATUM["Pulkovo_1942_58",SPHEROID["Krassowsky 1940",6378245,298.3]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Oblique_Stereographic"],PARAMETER["latitude_of_origin",46],PARAMETER["central_meridian",25],PARAMETER["scale_factor",0.99975],PARAMETER["false_easting",500000],PARAMETER["false_northing",500000],UNIT["metre",1],AUTHORITY["EPSG","3844"]]"#;
        assert_eq!(Crs::parse(wkt).unwrap().label(), "EPSG:3844");
        assert_eq!(Crs::parse("epsg:4326").unwrap().label(), "EPSG:4326");
        assert!(Crs::parse("EPSG:4326").unwrap().is_geographic());
        assert!(matches!(
            Crs::parse("Stereo 70"),
            Err(CrsError::Unrecognised(_))
        ));
        assert!(matches!(
            Crs::parse("EPSG:1"),
            Err(CrsError::Invalid { .. })
        ));
    }

    #[test]
    fn coordinates_that_do_not_fit_the_crs_are_refused() {
        let metres = [(138.22, 1549.64), (274.23, 1504.56), (3000.0, 200.0)];
        let e = check_fits(&metres, None, "L-TOWN.inp [COORDINATES]").unwrap_err();
        assert!(
            e.contains("(138.22, 1549.64)") && e.contains("--crs"),
            "{e}"
        );
        let degrees = [(24.86, 44.85), (24.87, 44.86)];
        let stereo = Crs::parse("EPSG:3844").unwrap();
        let e = check_fits(&degrees, Some(&stereo), "x").unwrap_err();
        assert!(e.contains("look like longitude and latitude"), "{e}");
        assert!(check_fits(&degrees, None, "x").is_ok());
        assert!(check_fits(&metres, Some(&stereo), "x").is_ok());
    }
}
