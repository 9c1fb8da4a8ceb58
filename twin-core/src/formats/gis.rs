//! One GIS vector layer as utilities export it, read into a small neutral structure with the
//! coordinate reference system the file declares. The caller maps columns to our properties
//! and transforms coordinates; this module only reads.
//!
//! The formats and the parts of their specifications honoured:
//! - **GeoJSON**, RFC 7946, plus the `crs` member of the 2008 GeoJSON specification that
//!   utility exports still carry
//!   (`{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::3844"}}`).
//! - **ESRI shapefile**, the *ESRI Shapefile Technical Description* (1998): the `.shp` with
//!   its `.shx` index, the dBASE `.dbf` attribute table, the `.prj` (a WKT CRS) and the `.cpg`
//!   (the code page of the `.dbf` text).
//! - **OGC GeoPackage 1.3**: the `gpkg_spatial_ref_sys` and `gpkg_contents` tables (§1.1.2,
//!   §1.1.3), `gpkg_geometry_columns`, and the geometry blob of §2.1.3 (a header then ISO WKB).
//!
//! Every error names the file, and the feature (1-based) or table where it was found; no input
//! makes the reader panic.

use std::collections::HashSet;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde_json::{Map, Value as Json};
use shapefile::dbase;

/// One feature: 1-based index in the file, its geometry in the file's own coordinates, its attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct GisFeature {
    /// 1-based position in the file: in the `features` array, among the shapefile's records
    /// (deleted `.dbf` records are skipped but keep their number), or among the table's rows.
    pub index: usize,
    pub geometry: GisGeometry,
    /// The attributes: JSON strings, numbers, booleans and nulls.
    pub properties: Map<String, Json>,
}

/// A feature's geometry, in the file's own coordinates (x, y; any z or m is dropped).
#[derive(Debug, Clone, PartialEq)]
pub enum GisGeometry {
    Point([f64; 2]),
    LineString(Vec<[f64; 2]>),
    /// Several parts (a MultiLineString, or a shapefile PolyLine with several parts).
    MultiLineString(Vec<Vec<[f64; 2]>>),
    /// Any other geometry type (polygons, multipoints, ...): its type name, e.g. "Polygon"; the caller refuses it by feature.
    Other(String),
    /// A feature without geometry (null geometry / shapefile Null shape), or an empty one.
    None,
}

/// What the file says about its coordinate reference system.
#[derive(Debug, Clone, PartialEq)]
pub enum DeclaredCrs {
    /// An authority code, e.g. "EPSG:3844" (GeoPackage organization EPSG + organization_coordsys_id; GeoJSON legacy crs names like "urn:ogc:def:crs:EPSG::3844" or "EPSG:3844"; a .prj WKT whose outermost AUTHORITY is EPSG).
    Code(String),
    /// A WKT definition without a usable authority code (a .prj or gpkg definition).
    Wkt(String),
    /// WGS84 longitude/latitude as RFC 7946 GeoJSON defines (GeoJSON without a crs member; "urn:ogc:def:crs:OGC:1.3:CRS84").
    /// EPSG:4326, whatever the format, is reported as this too: all three formats store it x = longitude.
    Wgs84,
    /// The file says nothing (a shapefile without .prj; a GeoPackage srs_id 0 or -1 "undefined"; GeoJSON `"crs": null`).
    Unknown,
}

/// One layer read from a file.
#[derive(Debug, Clone)]
pub struct GisLayer {
    pub features: Vec<GisFeature>,
    pub crs: DeclaredCrs,
    /// attribute column names in file order
    pub columns: Vec<String>,
    /// the GeoPackage table read, or the file stem
    pub name: String,
}

/// Why a layer cannot be read. Each message starts with the file's path and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum GisError {
    /// The file, or one beside it, cannot be read.
    #[error("{path}: cannot read it: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path}: unknown extension {extension}: give GeoJSON (.geojson/.json), a shapefile (.shp) or a GeoPackage (.gpkg)"
    )]
    UnknownExtension { path: String, extension: String },
    #[error(
        "{path}: `table` (`{table}`) only names a GeoPackage table: leave it out for a {format} file"
    )]
    TableNotApplicable {
        path: String,
        table: String,
        format: &'static str,
    },
    /// The GeoJSON text as a whole: encoding, JSON syntax, top-level object.
    #[error("{path}: not readable GeoJSON: {message}")]
    GeoJson { path: String, message: String },
    #[error(
        "{path}: the `crs` member {crs} is not understood: name the CRS as \"urn:ogc:def:crs:EPSG::<code>\" or \"EPSG:<code>\", or remove the member for WGS84 longitude/latitude"
    )]
    GeoJsonCrs { path: String, crs: String },
    /// One feature (1-based) of any format.
    #[error("{path}: feature {index}: {message}")]
    Feature {
        path: String,
        index: usize,
        message: String,
    },
    #[error(
        "{path}: the .{extension} file beside it is missing ({expected}): copy the shapefile's .shp, .shx, .dbf, .prj and .cpg together"
    )]
    MissingSidecar {
        path: String,
        extension: &'static str,
        expected: String,
    },
    /// The shapefile as a whole: unreadable header, `.shp` and `.dbf` that disagree.
    #[error("{path}: {message}")]
    Shapefile { path: String, message: String },
    #[error(
        "{path}: not a GeoPackage ({reason}): give an OGC GeoPackage file with its gpkg_contents table"
    )]
    NotGeoPackage { path: String, reason: String },
    #[error(
        "{path}: holds no feature table (no row of gpkg_contents has data_type 'features'): export the layer as vector features"
    )]
    NoFeatureTable { path: String },
    #[error("{path}: holds {count} feature tables ({tables}): name one with `table`")]
    SeveralTables {
        path: String,
        count: usize,
        tables: String,
    },
    #[error("{path}: has no feature table `{table}`: name one of {tables}")]
    NoSuchTable {
        path: String,
        table: String,
        tables: String,
    },
    /// A GeoPackage table as a whole: SQL errors, its registration in the gpkg tables.
    #[error("{path}: table `{table}`: {message}")]
    Table {
        path: String,
        table: String,
        message: String,
    },
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    GeoJson,
    Shapefile,
    GeoPackage,
}

/// Read the layer at `path`, chosen by extension (case-insensitive): `.geojson`/`.json`, `.shp`,
/// `.gpkg`. `table` names the GeoPackage feature table; it is required when the GeoPackage
/// holds several, and refused for the other formats.
///
/// - GeoJSON: a FeatureCollection or a single Feature, UTF-8 (a BOM is skipped). A feature's
///   `id` member becomes the property `"id"` unless its properties already have one; `columns`
///   is the union of property keys in first-seen order. Only the top-level `crs` is read;
///   without one the CRS is [`DeclaredCrs::Wgs84`] as RFC 7946 says.
/// - Shapefile: needs the `.dbf` beside the `.shp` (sidecars are found in any letter case);
///   the `.shx` is used when present. Text is decoded as UTF-8 when the `.cpg` says UTF-8 or
///   there is no `.cpg`; for any other code page (e.g. 1252) only ASCII text can be decoded
///   (the `shapefile` crate without its `encoding_rs` feature offers nothing else), and a
///   non-ASCII byte is an error asking for a UTF-8 export, never a silently altered value.
///   dBASE N and F numbers without a fraction become JSON integers; D dates `"YYYY-MM-DD"`,
///   T date-times `"YYYY-MM-DDTHH:MM:SS"`; C text is trimmed of trailing blanks, blank → null.
/// - GeoPackage: opened read-only; rows in rowid order. `columns` holds every column but the
///   geometry one (the primary key such as `fid` included); BLOB values are left out of the
///   properties. The srs_id in each geometry blob is not checked against the column's.
///
/// Errors: every [`GisError`] names the file, and the feature or table concerned.
pub fn read_gis_layer(path: &Path, table: Option<&str>) -> Result<GisLayer, GisError> {
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let format = match extension.as_deref() {
        Some("geojson" | "json") => Format::GeoJson,
        Some("shp") => Format::Shapefile,
        Some("gpkg") => Format::GeoPackage,
        _ => {
            let extension = path.extension().map_or_else(
                || "(none)".to_string(),
                |e| format!("`.{}`", e.to_string_lossy()),
            );
            return Err(GisError::UnknownExtension {
                path: shown(path),
                extension,
            });
        }
    };
    if let Some(table) = table
        && format != Format::GeoPackage
    {
        let format = if format == Format::GeoJson {
            "GeoJSON"
        } else {
            "shapefile"
        };
        return Err(GisError::TableNotApplicable {
            path: shown(path),
            table: table.to_string(),
            format,
        });
    }
    std::fs::metadata(path).map_err(|source| io_error(path, source))?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match format {
        Format::GeoJson => read_geojson(path, stem),
        Format::Shapefile => read_shapefile(path, stem),
        Format::GeoPackage => read_geopackage(path, table),
    }
}

// ---------------------------------------------------------------------------------- GeoJSON

fn read_geojson(path: &Path, name: String) -> Result<GisLayer, GisError> {
    let bad = |message: &str| GisError::GeoJson {
        path: shown(path),
        message: message.to_string(),
    };
    let bytes = read_bytes(path)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        bad(&format!(
            "not UTF-8 text ({e}): RFC 7946 requires UTF-8, re-save it so"
        ))
    })?;
    let root: Json = serde_json::from_str(text.strip_prefix('\u{feff}').unwrap_or(&text))
        .map_err(|e| bad(&format!("{e}: fix the JSON syntax")))?;
    let Json::Object(mut root) = root else {
        return Err(bad(
            "the top level is not a JSON object: give a FeatureCollection or a Feature",
        ));
    };
    let crs = geojson_crs(path, root.get("crs"))?;
    let kind = root
        .get("type")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string();
    let members = match kind.as_str() {
        "FeatureCollection" => match root.remove("features") {
            Some(Json::Array(features)) => features,
            _ => {
                return Err(bad(
                    "the FeatureCollection has no `features` array: add one",
                ));
            }
        },
        "Feature" => vec![Json::Object(root)],
        other => {
            return Err(bad(&format!(
                "the top-level object has type `{other}`: give a FeatureCollection or a Feature"
            )));
        }
    };
    let features = members
        .into_iter()
        .enumerate()
        .map(|(i, member)| geojson_feature(path, i + 1, member))
        .collect::<Result<Vec<_>, _>>()?;
    let columns = union_of_keys(&features);
    Ok(GisLayer {
        features,
        crs,
        columns,
        name,
    })
}

fn geojson_feature(path: &Path, index: usize, member: Json) -> Result<GisFeature, GisError> {
    let fail = |message: String| feature_error(path, index, message);
    let feature = geojson::Feature::from_json_value(member)
        .map_err(|e| fail(format!("not a GeoJSON Feature: {e}")))?;
    let mut properties = feature.properties.unwrap_or_default();
    if let Some(id) = feature.id
        && !properties.contains_key("id")
    {
        let id = match id {
            geojson::feature::Id::String(text) => Json::String(text),
            geojson::feature::Id::Number(number) => Json::Number(number),
        };
        properties.insert("id".to_string(), id);
    }
    let geometry = match feature.geometry {
        None => GisGeometry::None,
        Some(geometry) => geojson_geometry(&geometry.value).map_err(fail)?,
    };
    Ok(GisFeature {
        index,
        geometry,
        properties,
    })
}

fn geojson_geometry(value: &geojson::Value) -> Result<GisGeometry, String> {
    Ok(match value {
        geojson::Value::Point(position) => GisGeometry::Point(position_xy(position)?),
        geojson::Value::LineString(line) => line_or_none(positions(line)?),
        geojson::Value::MultiLineString(lines) => lines_or_none(
            lines
                .iter()
                .map(|line| positions(line))
                .collect::<Result<_, _>>()?,
        ),
        other => GisGeometry::Other(other.type_name().to_string()),
    })
}

fn position_xy(position: &[f64]) -> Result<[f64; 2], String> {
    match position {
        [x, y, ..] => Ok([*x, *y]),
        _ => Err(format!(
            "a position has {} coordinates: give at least x and y",
            position.len()
        )),
    }
}

fn positions(line: &[Vec<f64>]) -> Result<Vec<[f64; 2]>, String> {
    line.iter().map(|position| position_xy(position)).collect()
}

fn union_of_keys(features: &[GisFeature]) -> Vec<String> {
    let mut seen = HashSet::new();
    features
        .iter()
        .flat_map(|feature| feature.properties.keys())
        .filter(|key| seen.insert(key.as_str()))
        .cloned()
        .collect()
}

/// The top-level `crs` member: absent → WGS84 (RFC 7946), `null` → unknown (GeoJSON 2008).
fn geojson_crs(path: &Path, member: Option<&Json>) -> Result<DeclaredCrs, GisError> {
    match member {
        None => Ok(DeclaredCrs::Wgs84),
        Some(Json::Null) => Ok(DeclaredCrs::Unknown),
        Some(crs) => legacy_crs(crs).ok_or_else(|| GisError::GeoJsonCrs {
            path: shown(path),
            crs: crs.to_string(),
        }),
    }
}

fn legacy_crs(crs: &Json) -> Option<DeclaredCrs> {
    let properties = crs.get("properties")?;
    match crs.get("type")?.as_str()? {
        "name" => crs_from_name(properties.get("name")?.as_str()?),
        // The pre-2008 drafts' {"type":"EPSG","properties":{"code":3844}}.
        "EPSG" => Some(epsg(properties.get("code")?.as_i64()?)),
        _ => None,
    }
}

/// "urn:ogc:def:crs:EPSG::3844", "urn:ogc:def:crs:OGC:1.3:CRS84",
/// "http://www.opengis.net/def/crs/EPSG/0/3844", "EPSG:3844", "CRS84".
fn crs_from_name(name: &str) -> Option<DeclaredCrs> {
    let name = name.trim();
    let (authority, code) = if let Some(rest) = strip_prefix_ignore_case(name, "urn:ogc:def:crs:") {
        let (authority, rest) = rest.split_once(':')?;
        (authority, rest.rsplit(':').next()?)
    } else if let Some(rest) = strip_prefix_ignore_case(name, "http://www.opengis.net/def/crs/")
        .or_else(|| strip_prefix_ignore_case(name, "https://www.opengis.net/def/crs/"))
    {
        let (authority, rest) = rest.split_once('/')?;
        (authority, rest.rsplit('/').next()?)
    } else {
        name.split_once(':').unwrap_or(("OGC", name))
    };
    if authority.eq_ignore_ascii_case("OGC") && code.eq_ignore_ascii_case("CRS84") {
        return Some(DeclaredCrs::Wgs84);
    }
    if authority.eq_ignore_ascii_case("EPSG") {
        return code.parse::<u32>().ok().map(|code| epsg(i64::from(code)));
    }
    (!authority.is_empty() && !code.is_empty() && !authority.eq_ignore_ascii_case("OGC"))
        .then(|| DeclaredCrs::Code(format!("{}:{code}", authority.to_ascii_uppercase())))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.get(..prefix.len())
        .filter(|head| head.eq_ignore_ascii_case(prefix))
        .and_then(|_| text.get(prefix.len()..))
}

// -------------------------------------------------------------------------------- Shapefile

fn read_shapefile(path: &Path, name: String) -> Result<GisLayer, GisError> {
    let dbf_path = sibling(path, "dbf").ok_or_else(|| GisError::MissingSidecar {
        path: shown(path),
        extension: "dbf",
        expected: shown(&path.with_extension("dbf")),
    })?;
    let shapes = read_shapes(path)?;
    let crs = match sibling(path, "prj") {
        Some(prj) => crs_from_wkt(&String::from_utf8_lossy(&read_bytes(&prj)?)),
        None => DeclaredCrs::Unknown,
    };
    let code_page = match sibling(path, "cpg") {
        Some(cpg) => Some(
            String::from_utf8_lossy(&read_bytes(&cpg)?)
                .trim_matches(['\u{feff}', ' ', '\r', '\n', '\t'])
                .to_string(),
        ),
        None => None,
    };
    let encoding: dbase::encoding::DynEncoding = if code_page.as_deref().is_none_or(is_utf8_label) {
        dbase::Unicode.into()
    } else {
        dbase::encoding::Ascii.into()
    };
    let source =
        BufReader::new(std::fs::File::open(&dbf_path).map_err(|e| io_error(&dbf_path, e))?);
    let mut table = dbase::File::open_with_encoding(source, encoding).map_err(|e| {
        shapefile_error(
            path,
            format!("the .dbf is not a readable dBASE table ({e}): re-export the layer"),
        )
    })?;
    table.set_options(dbase::ReadingOptions::default().character_trim(dbase::TrimOption::End));
    let columns: Vec<String> = table
        .fields()
        .iter()
        .map(|field| field.name().to_string())
        .collect();
    if let Some((i, _)) = columns
        .iter()
        .enumerate()
        .find(|(i, c)| columns.iter().take(*i).any(|d| d == *c))
    {
        return Err(shapefile_error(
            path,
            format!("the .dbf names column `{}` twice: rename one", columns[i]),
        ));
    }
    if table.num_records() != shapes.len() {
        return Err(shapefile_error(
            path,
            format!(
                "the .shp holds {} shapes but the .dbf {} records: \
                 they are not of one layer, re-export it",
                shapes.len(),
                table.num_records()
            ),
        ));
    }
    let mut features = Vec::with_capacity(shapes.len());
    for (i, shape) in shapes.iter().enumerate() {
        let index = i + 1;
        let fail = |message: String| feature_error(path, index, message);
        let Some(mut record) = table.record(i) else {
            return Err(fail("the .dbf has no record for it".to_string()));
        };
        if record
            .is_deleted()
            .map_err(|e| fail(dbf_message(e.kind(), code_page.as_deref())))?
        {
            continue;
        }
        let mut properties = Map::new();
        for (j, column) in columns.iter().enumerate() {
            let value = record.read_field(dbase::FieldIndex(j)).map_err(|e| {
                fail(format!(
                    "column `{column}`: {}",
                    dbf_message(e.kind(), code_page.as_deref())
                ))
            })?;
            let value = dbf_value(value).map_err(|m| fail(format!("column `{column}`: {m}")))?;
            properties.insert(column.clone(), value);
        }
        features.push(GisFeature {
            index,
            geometry: shape_geometry(shape),
            properties,
        });
    }
    Ok(GisLayer {
        features,
        crs,
        columns,
        name,
    })
}

fn read_shapes(path: &Path) -> Result<Vec<shapefile::Shape>, GisError> {
    let shp = BufReader::new(std::fs::File::open(path).map_err(|e| io_error(path, e))?);
    let reader = match sibling(path, "shx") {
        Some(shx) => {
            let index = std::fs::File::open(&shx).map_err(|e| io_error(&shx, e))?;
            shapefile::ShapeReader::with_shx(shp, BufReader::new(index))
        }
        None => shapefile::ShapeReader::new(shp),
    };
    let mut reader = reader.map_err(|e| {
        shapefile_error(
            path,
            format!("the .shp (or its .shx) is not readable ({e}): re-export the layer"),
        )
    })?;
    reader
        .iter_shapes()
        .enumerate()
        .map(|(i, shape)| {
            shape.map_err(|e| feature_error(path, i + 1, format!("unreadable shape ({e})")))
        })
        .collect()
}

fn shape_geometry(shape: &shapefile::Shape) -> GisGeometry {
    use shapefile::Shape;
    match shape {
        Shape::NullShape => GisGeometry::None,
        Shape::Point(p) => GisGeometry::Point([p.x, p.y]),
        Shape::PointM(p) => GisGeometry::Point([p.x, p.y]),
        Shape::PointZ(p) => GisGeometry::Point([p.x, p.y]),
        Shape::Polyline(line) => polyline(line.parts(), |p| [p.x, p.y]),
        Shape::PolylineM(line) => polyline(line.parts(), |p| [p.x, p.y]),
        Shape::PolylineZ(line) => polyline(line.parts(), |p| [p.x, p.y]),
        Shape::Polygon(_) | Shape::PolygonM(_) | Shape::PolygonZ(_) => {
            GisGeometry::Other("Polygon".into())
        }
        Shape::Multipoint(_) | Shape::MultipointM(_) | Shape::MultipointZ(_) => {
            GisGeometry::Other("MultiPoint".into())
        }
        Shape::Multipatch(_) => GisGeometry::Other("MultiPatch".into()),
    }
}

/// One part → LineString, several → MultiLineString, none → None.
fn polyline<P>(parts: &[Vec<P>], xy: impl Fn(&P) -> [f64; 2]) -> GisGeometry {
    let mut lines: Vec<Vec<[f64; 2]>> = parts
        .iter()
        .map(|part| part.iter().map(&xy).collect())
        .collect();
    if lines.len() == 1 {
        return lines.pop().map_or(GisGeometry::None, line_or_none);
    }
    lines_or_none(lines)
}

fn is_utf8_label(label: &str) -> bool {
    ["UTF-8", "UTF8", "65001"]
        .iter()
        .any(|utf8| label.eq_ignore_ascii_case(utf8))
}

fn dbf_message(kind: &dbase::ErrorKind, code_page: Option<&str>) -> String {
    if !matches!(kind, dbase::ErrorKind::StringDecodeError(_)) {
        return format!("unreadable .dbf value ({kind})");
    }
    let expected = match code_page {
        None => "UTF-8 (there is no .cpg)".to_string(),
        Some(label) if is_utf8_label(label) => "UTF-8 (as the .cpg says)".to_string(),
        Some(label) => format!("ASCII, all that can be read of the .cpg's code page `{label}`"),
    };
    format!("the text is not {expected}: re-export the layer with UTF-8 encoding ({kind})")
}

fn dbf_value(value: dbase::FieldValue) -> Result<Json, String> {
    use dbase::FieldValue as F;
    Ok(match value {
        F::Character(text) => text
            .map(|t| t.trim_end_matches(['\0', ' ']).to_string())
            .filter(|t| !t.is_empty())
            .map_or(Json::Null, Json::String),
        F::Memo(text) => Json::String(text),
        F::Numeric(number) => number.map_or(Ok(Json::Null), decimal)?,
        // Through its shortest decimal text, so 0.1f32 stays 0.1.
        F::Float(number) => number.map_or(Ok(Json::Null), |x| {
            decimal(x.to_string().parse().unwrap_or(f64::NAN))
        })?,
        F::Integer(n) => Json::from(n),
        F::Double(x) | F::Currency(x) => finite(x)?,
        F::Logical(flag) => flag.map_or(Json::Null, Json::Bool),
        F::Date(date) => date.map_or(Json::Null, |d| Json::String(date_text(&d))),
        F::DateTime(moment) => {
            let time = moment.time();
            Json::String(format!(
                "{}T{:02}:{:02}:{:02}",
                date_text(&moment.date()),
                time.hours(),
                time.minutes(),
                time.seconds()
            ))
        }
    })
}

fn date_text(date: &dbase::Date) -> String {
    format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day())
}

/// A decimal read from text: an integer when it has no fraction (and is exact in f64).
fn decimal(x: f64) -> Result<Json, String> {
    if x.fract() == 0.0 && x.abs() <= 9_007_199_254_740_992.0 {
        return Ok(Json::from(x as i64));
    }
    finite(x)
}

fn finite(x: f64) -> Result<Json, String> {
    if x.is_finite() {
        Ok(Json::from(x))
    } else {
        Err(format!("holds the non-finite number {x}: give a number"))
    }
}

/// The CRS of a WKT definition: its outermost AUTHORITY (or WKT2 ID) if EPSG, else the text.
fn crs_from_wkt(text: &str) -> DeclaredCrs {
    let wkt = text.trim_matches(|c: char| c == '\u{feff}' || c.is_whitespace());
    if wkt.is_empty() {
        return DeclaredCrs::Unknown;
    }
    if let Some((authority, code)) = outermost_authority(wkt)
        && authority.eq_ignore_ascii_case("EPSG")
        && let Ok(code) = code.parse::<u32>()
    {
        return epsg(i64::from(code));
    }
    DeclaredCrs::Wkt(wkt.to_string())
}

/// The (authority, code) of the last `AUTHORITY[...]` or `ID[...]` directly inside the
/// outermost WKT node (not those of its GEOGCS, DATUM, UNIT, ...).
fn outermost_authority(wkt: &str) -> Option<(String, String)> {
    let (mut depth, mut in_quotes) = (0usize, false);
    let (mut open, mut found) = (None, None);
    for (i, c) in wkt.char_indices() {
        if in_quotes {
            in_quotes = c != '"';
            continue;
        }
        match c {
            '"' => in_quotes = true,
            '[' | '(' => {
                if depth == 1 && is_authority_keyword(&wkt[..i]) {
                    open = Some(i + 1);
                }
                depth += 1;
            }
            ']' | ')' => {
                depth = depth.checked_sub(1)?;
                if depth == 1
                    && let Some(start) = open.take()
                {
                    found = wkt.get(start..i);
                }
            }
            _ => {}
        }
    }
    let mut items = found?
        .split(',')
        .map(|item| item.trim().trim_matches('"').trim());
    Some((items.next()?.to_string(), items.next()?.to_string()))
}

fn is_authority_keyword(before: &str) -> bool {
    let before = before.trim_end();
    let start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '_')
        .last()
        .map_or(before.len(), |(i, _)| i);
    let word = &before[start..];
    word.eq_ignore_ascii_case("AUTHORITY") || word.eq_ignore_ascii_case("ID")
}

/// The file beside `path` with its stem and the extension `extension` in any letter case.
fn sibling(path: &Path, extension: &str) -> Option<PathBuf> {
    let exact = path.with_extension(extension);
    if exact.is_file() {
        return Some(exact);
    }
    let stem = path.file_stem()?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|candidate| {
            candidate.file_stem() == Some(stem)
                && candidate
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case(extension))
                && candidate.is_file()
        })
}

// ------------------------------------------------------------------------------- GeoPackage

fn read_geopackage(path: &Path, wanted: Option<&str>) -> Result<GisLayer, GisError> {
    let not_gpkg = |reason: String| GisError::NotGeoPackage {
        path: shown(path),
        reason,
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let db = Connection::open_with_flags(path, flags).map_err(|e| not_gpkg(e.to_string()))?;
    let has_contents: i64 = db
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'gpkg_contents'",
            [],
            |row| row.get(0),
        )
        .map_err(|e| not_gpkg(e.to_string()))?;
    if has_contents == 0 {
        return Err(not_gpkg("it has no gpkg_contents table".to_string()));
    }
    let tables =
        feature_tables(&db).map_err(|e| not_gpkg(format!("gpkg_contents is not readable: {e}")))?;
    let table = choose_table(path, &tables, wanted)?;
    let table_error = |message: String| GisError::Table {
        path: shown(path),
        table: table.clone(),
        message,
    };
    let sql = |e: rusqlite::Error| table_error(e.to_string());
    let (geometry_column, srs_id): (String, i64) = db
        .query_row(
            "SELECT column_name, srs_id FROM gpkg_geometry_columns WHERE table_name = ?1",
            [table.as_str()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(sql)?
        .ok_or_else(|| {
            table_error(
                "it has no row in gpkg_geometry_columns: register its geometry column".into(),
            )
        })?;
    let crs = gpkg_crs(&db, srs_id).map_err(sql)?.ok_or_else(|| {
        table_error(format!(
            "its srs_id {srs_id} is not in gpkg_spatial_ref_sys: add the CRS there"
        ))
    })?;
    let quoted = format!("\"{}\"", table.replace('"', "\"\""));
    let mut statement = match db.prepare(&format!("SELECT * FROM {quoted} ORDER BY rowid")) {
        Ok(statement) => statement,
        // A view has no rowid: its own order.
        Err(_) => db
            .prepare(&format!("SELECT * FROM {quoted}"))
            .map_err(sql)?,
    };
    let names: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(String::from)
        .collect();
    let geometry_at = names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(&geometry_column))
        .ok_or_else(|| {
            table_error(format!(
                "its geometry column `{geometry_column}` (in gpkg_geometry_columns) is not in it"
            ))
        })?;
    let columns = names
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != geometry_at)
        .map(|(_, n)| n.clone())
        .collect();
    let mut rows = statement.query([]).map_err(sql)?;
    let mut features = Vec::new();
    while let Some(row) = rows.next().map_err(sql)? {
        features.push(gpkg_feature(
            path,
            features.len() + 1,
            row,
            &names,
            geometry_at,
        )?);
    }
    Ok(GisLayer {
        features,
        crs,
        columns,
        name: table.clone(),
    })
}

fn feature_tables(db: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut statement = db.prepare(
        "SELECT table_name FROM gpkg_contents WHERE lower(data_type) = 'features' \
         ORDER BY table_name",
    )?;
    let tables = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>();
    tables
}

fn choose_table(path: &Path, tables: &[String], wanted: Option<&str>) -> Result<String, GisError> {
    let listed = tables.join(", ");
    match (tables, wanted) {
        ([], _) => Err(GisError::NoFeatureTable { path: shown(path) }),
        (_, Some(name)) => tables
            .iter()
            .find(|t| t.as_str() == name)
            .or_else(|| tables.iter().find(|t| t.eq_ignore_ascii_case(name)))
            .cloned()
            .ok_or_else(|| GisError::NoSuchTable {
                path: shown(path),
                table: name.to_string(),
                tables: listed,
            }),
        ([only], None) => Ok(only.clone()),
        (_, None) => Err(GisError::SeveralTables {
            path: shown(path),
            count: tables.len(),
            tables: listed,
        }),
    }
}

/// `Ok(None)` when `srs_id` is not in gpkg_spatial_ref_sys.
fn gpkg_crs(db: &Connection, srs_id: i64) -> rusqlite::Result<Option<DeclaredCrs>> {
    if srs_id == 0 || srs_id == -1 {
        return Ok(Some(DeclaredCrs::Unknown));
    }
    let row: Option<(Option<String>, Option<i64>, Option<String>)> = db
        .query_row(
            "SELECT organization, organization_coordsys_id, definition \
             FROM gpkg_spatial_ref_sys WHERE srs_id = ?1",
            [srs_id],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()?;
    let Some((organization, code, definition)) = row else {
        return Ok(None);
    };
    if let Some(organization) = organization
        && organization.eq_ignore_ascii_case("EPSG")
        && let Some(code) = code
    {
        return Ok(Some(epsg(code)));
    }
    let definition = definition.unwrap_or_default();
    Ok(Some(
        if definition.trim().eq_ignore_ascii_case("undefined") {
            DeclaredCrs::Unknown
        } else {
            crs_from_wkt(&definition)
        },
    ))
}

fn gpkg_feature(
    path: &Path,
    index: usize,
    row: &rusqlite::Row<'_>,
    names: &[String],
    geometry_at: usize,
) -> Result<GisFeature, GisError> {
    let fail = |message: String| feature_error(path, index, message);
    let (mut geometry, mut properties) = (GisGeometry::None, Map::new());
    for (i, name) in names.iter().enumerate() {
        let value = row
            .get_ref(i)
            .map_err(|e| fail(format!("column `{name}`: {e}")))?;
        if i == geometry_at {
            geometry = match value {
                ValueRef::Null => GisGeometry::None,
                ValueRef::Blob(blob) => gpkg_geometry(blob).map_err(|m| {
                    fail(format!("geometry blob is not a GeoPackage geometry: {m}"))
                })?,
                other => {
                    return Err(fail(format!(
                        "geometry column `{name}` holds {}, not a blob",
                        other.data_type()
                    )));
                }
            };
            continue;
        }
        let value = match value {
            ValueRef::Null => Json::Null,
            ValueRef::Integer(n) => Json::from(n),
            ValueRef::Real(x) => finite(x).map_err(|m| fail(format!("column `{name}`: {m}")))?,
            ValueRef::Text(bytes) => Json::String(
                std::str::from_utf8(bytes)
                    .map_err(|e| fail(format!("column `{name}` is not UTF-8 text ({e})")))?
                    .to_string(),
            ),
            ValueRef::Blob(_) => continue,
        };
        properties.insert(name.clone(), value);
    }
    Ok(GisFeature {
        index,
        geometry,
        properties,
    })
}

/// A GeoPackage geometry blob (§2.1.3): "GP", version, flags, srs_id, envelope, ISO WKB.
fn gpkg_geometry(blob: &[u8]) -> Result<GisGeometry, String> {
    let mut bytes = Bytes { data: blob, at: 0 };
    if bytes.take::<2>()? != *b"GP" {
        return Err("it does not start with the magic `GP`".to_string());
    }
    let _version = bytes.u8()?;
    let flags = bytes.u8()?;
    let envelope = match (flags >> 1) & 0b111 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        other => {
            return Err(format!(
                "its envelope contents indicator is {other}, not 0 to 4"
            ));
        }
    };
    if flags & 0b1_0000 != 0 {
        return Ok(GisGeometry::None);
    }
    bytes.skip(4 + envelope)?;
    wkb_geometry(&mut bytes)
}

/// A reader over a byte slice that never reads past its end.
struct Bytes<'a> {
    data: &'a [u8],
    at: usize,
}

impl Bytes<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let slice = self
            .data
            .get(self.at..self.at.saturating_add(N))
            .ok_or_else(|| self.truncated())?;
        let array = <[u8; N]>::try_from(slice).map_err(|_| self.truncated())?;
        self.at += N;
        Ok(array)
    }
    fn skip(&mut self, n: usize) -> Result<(), String> {
        self.at = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.data.len())
            .ok_or_else(|| self.truncated())?;
        Ok(())
    }
    fn truncated(&self) -> String {
        format!("it ends early, at byte {} of {}", self.at, self.data.len())
    }
    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.at)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take::<1>()?[0])
    }
    fn u32(&mut self, little: bool) -> Result<u32, String> {
        let b = self.take()?;
        Ok(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }
    fn f64(&mut self, little: bool) -> Result<f64, String> {
        let b = self.take()?;
        Ok(if little {
            f64::from_le_bytes(b)
        } else {
            f64::from_be_bytes(b)
        })
    }
}

/// A WKB geometry header: byte order, base type code, coordinates per point.
struct WkbHeader {
    little: bool,
    base: u32,
    dims: usize,
}

fn wkb_header(bytes: &mut Bytes<'_>) -> Result<WkbHeader, String> {
    let little = match bytes.u8()? {
        0 => false,
        1 => true,
        other => return Err(format!("its WKB byte order is {other}, neither 0 nor 1")),
    };
    let code = bytes.u32(little)?;
    // ISO codes (1000s for Z, M, ZM) and the EWKB high bits some writers still set.
    let (iso, z, m) = (
        code & 0x0FFF_FFFF,
        code & 0x8000_0000 != 0,
        code & 0x4000_0000 != 0,
    );
    if code & 0x2000_0000 != 0 {
        bytes.skip(4)?;
    }
    let (base, dim) = (iso % 1000, iso / 1000);
    if dim > 3 {
        return Err(format!(
            "its WKB geometry type code {code} is not an ISO one"
        ));
    }
    let dims = 2 + usize::from(z || dim == 1 || dim == 3) + usize::from(m || dim == 2 || dim == 3);
    Ok(WkbHeader { little, base, dims })
}

fn wkb_geometry(bytes: &mut Bytes<'_>) -> Result<GisGeometry, String> {
    let header = wkb_header(bytes)?;
    let geometry = match header.base {
        1 => match wkb_coordinate(bytes, &header)? {
            [x, y] if x.is_nan() && y.is_nan() => GisGeometry::None,
            xy => GisGeometry::Point(xy),
        },
        2 => line_or_none(wkb_points(bytes, &header)?),
        5 => {
            let mut lines = Vec::new();
            for _ in 0..bytes.u32(header.little)? {
                let part = wkb_header(bytes)?;
                if part.base != 2 {
                    return Err(format!(
                        "a MultiLineString part has WKB type {}, not LineString",
                        part.base
                    ));
                }
                lines.push(wkb_points(bytes, &part)?);
            }
            lines_or_none(lines)
        }
        other => return Ok(GisGeometry::Other(wkb_type_name(other)?.to_string())),
    };
    match bytes.remaining() {
        0 => Ok(geometry),
        extra => Err(format!("{extra} bytes follow the WKB geometry")),
    }
}

fn wkb_coordinate(bytes: &mut Bytes<'_>, header: &WkbHeader) -> Result<[f64; 2], String> {
    let (x, y) = (bytes.f64(header.little)?, bytes.f64(header.little)?);
    bytes.skip(8 * (header.dims - 2))?;
    Ok([x, y])
}

fn wkb_points(bytes: &mut Bytes<'_>, header: &WkbHeader) -> Result<Vec<[f64; 2]>, String> {
    let count = bytes.u32(header.little)? as usize;
    if count
        .checked_mul(8 * header.dims)
        .is_none_or(|needed| needed > bytes.remaining())
    {
        return Err(format!(
            "a line claims {count} points but only {} bytes remain",
            bytes.remaining()
        ));
    }
    (0..count).map(|_| wkb_coordinate(bytes, header)).collect()
}

fn wkb_type_name(code: u32) -> Result<&'static str, String> {
    const NAMES: [&str; 17] = [
        "Point",
        "LineString",
        "Polygon",
        "MultiPoint",
        "MultiLineString",
        "MultiPolygon",
        "GeometryCollection",
        "CircularString",
        "CompoundCurve",
        "CurvePolygon",
        "MultiCurve",
        "MultiSurface",
        "Curve",
        "Surface",
        "PolyhedralSurface",
        "TIN",
        "Triangle",
    ];
    let position = (code as usize).checked_sub(1);
    position
        .and_then(|i| NAMES.get(i).copied())
        .ok_or_else(|| format!("its WKB geometry type code {code} is unknown"))
}

// ---------------------------------------------------------------------------------- shared

fn line_or_none(points: Vec<[f64; 2]>) -> GisGeometry {
    if points.is_empty() {
        GisGeometry::None
    } else {
        GisGeometry::LineString(points)
    }
}

fn lines_or_none(lines: Vec<Vec<[f64; 2]>>) -> GisGeometry {
    if lines.is_empty() {
        GisGeometry::None
    } else {
        GisGeometry::MultiLineString(lines)
    }
}

/// EPSG:4326 is reported as WGS84 longitude/latitude: every format here stores it x = longitude.
fn epsg(code: i64) -> DeclaredCrs {
    if code == 4326 {
        DeclaredCrs::Wgs84
    } else {
        DeclaredCrs::Code(format!("EPSG:{code}"))
    }
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

fn io_error(path: &Path, source: std::io::Error) -> GisError {
    GisError::Io {
        path: shown(path),
        source,
    }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, GisError> {
    std::fs::read(path).map_err(|e| io_error(path, e))
}

fn feature_error(path: &Path, index: usize, message: String) -> GisError {
    GisError::Feature {
        path: shown(path),
        index,
        message,
    }
}

fn shapefile_error(path: &Path, message: String) -> GisError {
    GisError::Shapefile {
        path: shown(path),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const STEREO_70: &str = r#"PROJCS["Pulkovo 1942(58) / Stereo70",GEOGCS["Pulkovo 1942(58)",DATUM["Pulkovo_1942_58",SPHEROID["Krassowsky 1940",6378245,298.3,AUTHORITY["EPSG","7024"]],AUTHORITY["EPSG","6179"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AUTHORITY["EPSG","4179"]],PROJECTION["Oblique_Stereographic"],PARAMETER["latitude_of_origin",46],PARAMETER["central_meridian",25],PARAMETER["scale_factor",0.99975],PARAMETER["false_easting",500000],PARAMETER["false_northing",500000],UNIT["metre",1,AUTHORITY["EPSG","9001"]],AUTHORITY["EPSG","3844"]]"#;

    #[test]
    fn geojson_with_a_legacy_crs_and_ids() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("network.geojson");
        let text = r#"{"type":"FeatureCollection",
          "crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::3844"}},
          "features":[
            {"type":"Feature","id":"V-1","geometry":{"type":"Point","coordinates":[585000.5,470000.25]},"properties":{"diam":150,"mat":"PE"}},
            {"type":"Feature","id":7,"geometry":{"type":"LineString","coordinates":[[0,0],[1,2]]},"properties":{"id":"own","len":2.5}},
            {"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]},"properties":null},
            {"type":"Feature","geometry":null,"properties":{}}]}"#;
        std::fs::write(&path, format!("\u{feff}{text}")).unwrap();
        let layer = read_gis_layer(&path, None).unwrap();
        assert_eq!(layer.crs, DeclaredCrs::Code("EPSG:3844".into()));
        assert_eq!(layer.name, "network");
        assert_eq!(layer.columns, ["diam", "mat", "id", "len"]);
        let f = &layer.features;
        assert_eq!(f[0].geometry, GisGeometry::Point([585000.5, 470000.25]));
        assert_eq!(f[0].properties["id"], json!("V-1"));
        assert_eq!(f[0].properties["diam"], json!(150));
        assert_eq!(
            f[1].geometry,
            GisGeometry::LineString(vec![[0.0, 0.0], [1.0, 2.0]])
        );
        assert_eq!(f[1].properties["id"], json!("own"));
        assert_eq!(f[2].geometry, GisGeometry::Other("Polygon".into()));
        assert_eq!((f[3].index, &f[3].geometry), (4, &GisGeometry::None));

        let single = dir.path().join("one.JSON");
        std::fs::write(&single, r#"{"type":"Feature","id":3,"geometry":{"type":"Point","coordinates":[25,44]},"properties":{}}"#).unwrap();
        let layer = read_gis_layer(&single, None).unwrap();
        assert_eq!(layer.crs, DeclaredCrs::Wgs84);
        assert_eq!(layer.features[0].properties["id"], json!(3));
        let err = read_gis_layer(&single, Some("valves"))
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with(
                "`table` (`valves`) only names a GeoPackage table: leave it out for a GeoJSON file"
            ),
            "{err}"
        );
        assert_eq!(
            crs_from_name("urn:ogc:def:crs:OGC:1.3:CRS84"),
            Some(DeclaredCrs::Wgs84)
        );
        assert_eq!(crs_from_name("EPSG:4326"), Some(DeclaredCrs::Wgs84));
        assert_eq!(
            crs_from_name("EPSG:3844"),
            Some(DeclaredCrs::Code("EPSG:3844".into()))
        );
    }

    #[test]
    fn shapefile_with_prj_and_without() {
        use shapefile::dbase::{FieldName, FieldValue, Record, TableWriterBuilder};
        let dir = tempfile::tempdir().unwrap();
        let shp = dir.path().join("valves.shp");
        let builder = TableWriterBuilder::new()
            .add_character_field(FieldName::try_from("COD").unwrap(), 20)
            .add_numeric_field(FieldName::try_from("DIAM").unwrap(), 10, 0);
        {
            let mut writer = shapefile::Writer::from_path(&shp, builder).unwrap();
            for (x, y, cod, diam) in [
                (585000.0, 470000.0, "V1", 150.0),
                (585010.5, 470020.0, "V2", 200.0),
            ] {
                let mut record = Record::default();
                record.insert(
                    "COD".to_string(),
                    FieldValue::Character(Some(cod.to_string())),
                );
                record.insert("DIAM".to_string(), FieldValue::Numeric(Some(diam)));
                writer
                    .write_shape_and_record(&shapefile::Point::new(x, y), &record)
                    .unwrap();
            }
        }
        std::fs::write(dir.path().join("valves.prj"), STEREO_70).unwrap();
        let layer = read_gis_layer(&shp, None).unwrap();
        assert_eq!(layer.crs, DeclaredCrs::Code("EPSG:3844".into()));
        assert_eq!(layer.columns, ["COD", "DIAM"]);
        assert_eq!(layer.features.len(), 2);
        assert_eq!(
            layer.features[0].geometry,
            GisGeometry::Point([585000.0, 470000.0])
        );
        assert_eq!(layer.features[0].properties["COD"], json!("V1"));
        assert_eq!(layer.features[0].properties["DIAM"], json!(150));
        assert_eq!(
            (
                layer.features[1].index,
                &layer.features[1].properties["COD"]
            ),
            (2, &json!("V2"))
        );

        std::fs::remove_file(dir.path().join("valves.prj")).unwrap();
        assert_eq!(
            read_gis_layer(&shp, None).unwrap().crs,
            DeclaredCrs::Unknown
        );
        std::fs::remove_file(dir.path().join("valves.dbf")).unwrap();
        let err = read_gis_layer(&shp, None).unwrap_err().to_string();
        assert!(err.contains("the .dbf file beside it is missing"), "{err}");
        let nested = STEREO_70.replace(r#",AUTHORITY["EPSG","3844"]]"#, "]");
        assert_eq!(crs_from_wkt(&nested), DeclaredCrs::Wkt(nested.clone()));
    }

    fn wkb_point(x: f64, y: f64) -> Vec<u8> {
        let mut wkb = vec![1];
        wkb.extend(1u32.to_le_bytes());
        wkb.extend(x.to_le_bytes());
        wkb.extend(y.to_le_bytes());
        wkb
    }

    fn wkb_line(points: &[[f64; 2]]) -> Vec<u8> {
        let mut wkb = vec![1];
        wkb.extend(2u32.to_le_bytes());
        wkb.extend((points.len() as u32).to_le_bytes());
        for [x, y] in points {
            wkb.extend(x.to_le_bytes());
            wkb.extend(y.to_le_bytes());
        }
        wkb
    }

    /// "GP", version 0, `flags`, srs_id 3844, `envelope`, then `wkb`.
    fn gpkg_blob(flags: u8, envelope: &[f64], wkb: &[u8]) -> Vec<u8> {
        let mut blob = b"GP".to_vec();
        blob.extend([0, flags]);
        blob.extend(3844i32.to_le_bytes());
        envelope.iter().for_each(|v| blob.extend(v.to_le_bytes()));
        blob.extend(wkb);
        blob
    }

    #[test]
    fn geopackage_tables_crs_and_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("utility.gpkg");
        let db = Connection::open(&path).unwrap();
        db.execute_batch(&format!(
            "CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
             CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE, description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER);
             CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL, PRIMARY KEY (table_name, column_name));
             INSERT INTO gpkg_spatial_ref_sys VALUES ('undefined cartesian SRS', -1, 'NONE', -1, 'undefined', NULL), ('undefined geographic SRS', 0, 'NONE', 0, 'undefined', NULL), ('Stereo 70', 3844, 'EPSG', 3844, '{STEREO_70}', NULL);
             INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) VALUES ('valves', 'features', 'valves', 3844), ('pipes', 'features', 'pipes', 0);
             INSERT INTO gpkg_geometry_columns VALUES ('valves', 'geom', 'GEOMETRY', 3844, 0, 0), ('pipes', 'shape', 'LINESTRING', 0, 0, 0);
             CREATE TABLE valves (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom BLOB, cod TEXT, diam REAL);
             CREATE TABLE pipes (fid INTEGER PRIMARY KEY, shape BLOB);"
        ))
        .unwrap();
        let line = [[585000.0, 470000.0], [585010.0, 470005.5]];
        for (geom, cod, diam) in [
            (
                Some(gpkg_blob(0b0000_0001, &[], &wkb_point(585000.0, 470000.0))),
                Some("V1"),
                150.0,
            ),
            (
                Some(gpkg_blob(0b0000_0001, &[], &wkb_line(&line))),
                Some("L1"),
                2.5,
            ),
            (None, None, 80.0),
        ] {
            db.execute(
                "INSERT INTO valves (geom, cod, diam) VALUES (?1, ?2, ?3)",
                rusqlite::params![geom, cod, diam],
            )
            .unwrap();
        }
        drop(db);

        let err = read_gis_layer(&path, None).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: holds 2 feature tables (pipes, valves): name one with `table`",
                path.display()
            )
        );
        let layer = read_gis_layer(&path, Some("valves")).unwrap();
        assert_eq!(
            (layer.name.as_str(), &layer.crs),
            ("valves", &DeclaredCrs::Code("EPSG:3844".into()))
        );
        assert_eq!(layer.columns, ["fid", "cod", "diam"]);
        let f = &layer.features;
        assert_eq!(f[0].geometry, GisGeometry::Point([585000.0, 470000.0]));
        assert_eq!(
            Json::Object(f[0].properties.clone()),
            json!({"fid": 1, "cod": "V1", "diam": 150.0})
        );
        assert_eq!(f[1].geometry, GisGeometry::LineString(line.to_vec()));
        assert_eq!(
            (f[2].index, &f[2].geometry, &f[2].properties["cod"]),
            (3, &GisGeometry::None, &Json::Null)
        );
        assert_eq!(
            read_gis_layer(&path, Some("pipes")).unwrap().crs,
            DeclaredCrs::Unknown
        );
        let err = read_gis_layer(&path, Some("hydrants"))
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("has no feature table `hydrants`: name one of pipes, valves"),
            "{err}"
        );

        let junk = dir.path().join("junk.GPKG");
        std::fs::write(
            &junk,
            "not sqlite at all, just text that is long enough to be a header",
        )
        .unwrap();
        let err = read_gis_layer(&junk, None).unwrap_err().to_string();
        assert!(err.contains("not a GeoPackage"), "{err}");
    }

    #[test]
    fn geopackage_blobs_are_checked() {
        // Big-endian Point Z after a 32-byte envelope.
        let mut wkb = vec![0];
        wkb.extend(1001u32.to_be_bytes());
        [1.5f64, 2.5, 9.0]
            .iter()
            .for_each(|v| wkb.extend(v.to_be_bytes()));
        assert_eq!(
            gpkg_geometry(&gpkg_blob(0b0000_0010, &[0.0; 4], &wkb)),
            Ok(GisGeometry::Point([1.5, 2.5]))
        );
        let empty = gpkg_blob(0b0001_0001, &[], &wkb_point(f64::NAN, f64::NAN));
        assert_eq!(gpkg_geometry(&empty), Ok(GisGeometry::None));
        let mut lying = vec![1];
        lying.extend(2u32.to_le_bytes());
        lying.extend(u32::MAX.to_le_bytes());
        let err = gpkg_geometry(&gpkg_blob(0b0000_0001, &[], &lying)).unwrap_err();
        assert!(
            err.contains(&format!("claims {} points", u32::MAX)),
            "{err}"
        );
        assert!(gpkg_geometry(b"XP\0\x01").unwrap_err().contains("magic"));
    }

    #[test]
    fn an_unknown_extension_is_refused() {
        let err = read_gis_layer(Path::new("/data/network.kml"), None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "/data/network.kml: unknown extension `.kml`: give GeoJSON (.geojson/.json), a shapefile (.shp) or a GeoPackage (.gpkg)"
        );
    }
}
