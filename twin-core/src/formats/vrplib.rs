//! VRPLIB (TSPLIB95-style) capacitated VRP instances and CVRPLIB solution files.
//!
//! Header lines `KEY : value`, then sections (`NODE_COORD_SECTION`, `EDGE_WEIGHT_SECTION`,
//! `DEMAND_SECTION`, `DEPOT_SECTION` terminated by -1, …), `EOF`. Every key and section of
//! TSPLIB95 (Reinelt 1995, §1) and of CVRPLIB's additions is in one of the lists of [`KEYS`]:
//! modelled, harmless (labels and drawing data), or refused with the reason. Distances follow
//! TSPLIB95 §2 for each `EDGE_WEIGHT_TYPE`; for `EUC_2D`, rounding to the nearest integer
//! (`nint`, the CVRPLIB convention) unless the caller asks for exact distances (the CMT
//! instances are published with unrounded ones).

use super::{FormatKeys, LineError};

/// The keys and sections of VRPLIB and what this reader does with each.
pub const KEYS: FormatKeys = FormatKeys {
    modelled: &[
        "TYPE",
        "DIMENSION",
        "CAPACITY",
        "EDGE_WEIGHT_TYPE",
        "EDGE_WEIGHT_FORMAT",
        "NODE_COORD_SECTION",
        "EDGE_WEIGHT_SECTION",
        "DEMAND_SECTION",
        "DEPOT_SECTION",
        // A route's length plus its service times may not exceed DISTANCE (CMT instances).
        "DISTANCE",
        "SERVICE_TIME",
        // The number of vehicles available: a solution may use at most this many routes.
        "VEHICLES",
    ],
    harmless: &[
        "NAME",
        "COMMENT",
        "NODE_COORD_TYPE",
        "DISPLAY_DATA_TYPE",
        "DISPLAY_DATA_SECTION",
        "EOF",
    ],
    not_modelled: &[
        (
            "EDGE_DATA_FORMAT",
            "sparse edge lists (only complete graphs are solved)",
        ),
        (
            "EDGE_DATA_SECTION",
            "sparse edge lists (only complete graphs are solved)",
        ),
        ("FIXED_EDGES_SECTION", "edges forced into the solution"),
        (
            "TOUR_SECTION",
            "a tour belongs in a solution file, not an instance",
        ),
        ("TIME_WINDOW_SECTION", "time windows (VRPTW)"),
        ("SERVICE_TIME_SECTION", "per-customer service times"),
        ("PICKUP_SECTION", "pickups (VRPPD)"),
        ("BACKHAUL_SECTION", "backhauls (VRPB)"),
        ("LINEHAUL_SECTION", "linehauls (VRPB)"),
        ("RELEASE_TIME_SECTION", "release times"),
        ("PRIZE_SECTION", "prize-collecting customers"),
        ("VEHICLES_DEPOT_SECTION", "several depots"),
    ],
};

/// How distances are computed (TSPLIB95 §2, `EDGE_WEIGHT_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeWeightType {
    /// Given in `EDGE_WEIGHT_SECTION`.
    Explicit,
    /// Euclidean, `nint` (or exact when asked).
    Euc2d,
    /// Euclidean rounded up.
    Ceil2d,
    /// Manhattan, `nint`.
    Man2d,
    /// Maximum of the coordinate differences, `nint`.
    Max2d,
    /// Pseudo-Euclidean (the att48/att532 instances).
    Att,
    /// Geographical: coordinates are DDD.MM degrees and minutes, distances in km on the
    /// TSPLIB idealised sphere (radius 6378.388 km).
    Geo,
}

impl EdgeWeightType {
    fn parse(value: &str) -> Option<EdgeWeightType> {
        Some(match value {
            "EXPLICIT" => EdgeWeightType::Explicit,
            "EUC_2D" => EdgeWeightType::Euc2d,
            "CEIL_2D" => EdgeWeightType::Ceil2d,
            "MAN_2D" => EdgeWeightType::Man2d,
            "MAX_2D" => EdgeWeightType::Max2d,
            "ATT" => EdgeWeightType::Att,
            "GEO" => EdgeWeightType::Geo,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct VrplibInstance {
    pub name: String,
    /// Number of nodes, depot included.
    pub dimension: usize,
    pub capacity: u32,
    pub edge_weight_type: EdgeWeightType,
    /// Node coordinates in file order (empty for EXPLICIT instances, whose coordinates, if
    /// any, are for drawing only).
    pub coords: Vec<(f64, f64)>,
    /// Explicit full distance matrix, row-major (EXPLICIT instances).
    pub explicit: Option<Vec<f64>>,
    pub demands: Vec<u32>,
    /// 0-based index of the depot.
    pub depot: usize,
    /// `DISTANCE`: the longest a route may be, its service times included.
    pub distance_limit: Option<f64>,
    /// `SERVICE_TIME`: time spent at each customer, in distance units (0 when not given).
    pub service_time: f64,
    /// `VEHICLES`: the most routes a solution may have.
    pub vehicles: Option<usize>,
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

impl VrplibInstance {
    pub fn parse(text: &str) -> Result<VrplibInstance, LineError> {
        let mut name = String::new();
        let mut dimension: Option<usize> = None;
        let mut capacity: Option<u32> = None;
        let mut weight_type = String::from("EUC_2D");
        let mut weight_format = String::new();
        let mut coords: Vec<Option<(f64, f64)>> = Vec::new();
        let mut demands: Option<Vec<Option<u32>>> = None;
        let mut weights: Vec<f64> = Vec::new();
        let mut depot: Option<usize> = None;
        let mut distance_limit: Option<f64> = None;
        let mut service_time = 0.0;
        let mut vehicles: Option<usize> = None;
        let mut section = String::new();
        let mut last_line = 0;
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            last_line = line_no;
            let line = raw.trim_ascii();
            if line.is_empty() {
                continue;
            }
            if line == "EOF" {
                break;
            }
            let first = line.split_ascii_whitespace().next().unwrap_or("");
            if first.ends_with("_SECTION") {
                section = first.to_string();
                let n = dimension.ok_or_else(|| {
                    LineError::new(line_no, format!("{section} before DIMENSION"))
                })?;
                if let Some(refused) = KEYS.refusal(&section, line_no, "VRPLIB") {
                    return Err(refused);
                }
                match section.as_str() {
                    "NODE_COORD_SECTION" => coords = vec![None; n],
                    "DEMAND_SECTION" => demands = Some(vec![None; n]),
                    _ => {}
                }
                continue;
            }
            if let Some((key, value)) = line.split_once(':')
                && (section.is_empty()
                    || !key
                        .trim_ascii()
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_digit() || c == '-'))
            {
                let value = value.trim_ascii().trim_matches('"').to_string();
                let number = |what: &str| -> Result<u64, LineError> {
                    value.parse().map_err(|_| {
                        LineError::new(
                            line_no,
                            format!("{what} `{}` is not a whole number", clip(&value)),
                        )
                    })
                };
                let key = key.trim_ascii();
                if let Some(refused) = KEYS.refusal(key, line_no, "VRPLIB") {
                    return Err(refused);
                }
                match key {
                    "NAME" => name = value.clone(),
                    "DIMENSION" => dimension = Some(number("DIMENSION")? as usize),
                    "CAPACITY" => capacity = Some(number("CAPACITY")? as u32),
                    "EDGE_WEIGHT_TYPE" => weight_type = value.clone(),
                    "EDGE_WEIGHT_FORMAT" => weight_format = value.clone(),
                    "TYPE" if value != "CVRP" => {
                        return Err(LineError::new(
                            line_no,
                            format!("TYPE {value}: only CVRP is supported"),
                        ));
                    }
                    "DISTANCE" | "SERVICE_TIME" => {
                        let v = value
                            .parse::<f64>()
                            .ok()
                            .filter(|v| v.is_finite() && *v >= 0.0)
                            .ok_or_else(|| {
                                LineError::new(
                                    line_no,
                                    format!(
                                        "{} `{}` is not a number, zero or more",
                                        key,
                                        clip(&value)
                                    ),
                                )
                            })?;
                        if key == "DISTANCE" {
                            distance_limit = Some(v);
                        } else {
                            service_time = v;
                        }
                    }
                    "VEHICLES" => vehicles = Some(number("VEHICLES")? as usize),
                    _ => {}
                }
                section.clear();
                continue;
            }
            let fields: Vec<&str> = line.split_ascii_whitespace().collect();
            let n = dimension.unwrap_or(0);
            let node = |s: &str| -> Result<usize, LineError> {
                let id: usize = s.parse().map_err(|_| {
                    LineError::new(line_no, format!("node id `{}` is not a number", clip(s)))
                })?;
                if id < 1 || id > n {
                    return Err(LineError::new(
                        line_no,
                        format!("node {id} is not in 1..={n}"),
                    ));
                }
                Ok(id - 1)
            };
            let float = |s: &str| -> Result<f64, LineError> {
                s.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| {
                        LineError::new(line_no, format!("`{}` is not a number", clip(s)))
                    })
            };
            match section.as_str() {
                // Drawing coordinates: checked to be rows of numbers, otherwise unused.
                "DISPLAY_DATA_SECTION" => {
                    node(fields[0])?;
                    for f in &fields[1..] {
                        float(f)?;
                    }
                }
                "NODE_COORD_SECTION" => {
                    if fields.len() < 3 {
                        return Err(LineError::new(
                            line_no,
                            "a coordinate row needs id, x and y",
                        ));
                    }
                    coords[node(fields[0])?] = Some((float(fields[1])?, float(fields[2])?));
                }
                "DEMAND_SECTION" => {
                    if fields.len() < 2 {
                        return Err(LineError::new(line_no, "a demand row needs id and demand"));
                    }
                    let d: u32 = fields[1].parse().map_err(|_| {
                        LineError::new(
                            line_no,
                            format!("demand `{}` is not a whole number", clip(fields[1])),
                        )
                    })?;
                    if let Some(ds) = demands.as_mut() {
                        ds[node(fields[0])?] = Some(d);
                    }
                }
                "EDGE_WEIGHT_SECTION" => {
                    for f in fields {
                        weights.push(float(f)?);
                    }
                }
                "DEPOT_SECTION" => {
                    let v: i64 = fields[0].parse().map_err(|_| {
                        LineError::new(
                            line_no,
                            format!("depot `{}` is not a number", clip(fields[0])),
                        )
                    })?;
                    if v == -1 {
                        section.clear();
                    } else if depot.is_none() {
                        depot = Some(node(fields[0])?);
                    } else {
                        return Err(LineError::new(
                            line_no,
                            "several depots: only single-depot CVRP is supported",
                        ));
                    }
                }
                _ => {
                    return Err(LineError::new(
                        line_no,
                        format!("unexpected line `{}`", clip(line)),
                    ));
                }
            }
        }
        let n = dimension.ok_or_else(|| LineError::new(1, "no DIMENSION"))?;
        let capacity = capacity.ok_or_else(|| LineError::new(1, "no CAPACITY"))?;
        let demands = demands.ok_or_else(|| LineError::new(last_line, "no DEMAND_SECTION"))?;
        let demands: Vec<u32> = demands
            .into_iter()
            .enumerate()
            .map(|(k, d)| {
                d.ok_or_else(|| {
                    LineError::new(
                        last_line,
                        format!("DEMAND_SECTION has no demand for node {}", k + 1),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let depot = depot.unwrap_or(0);
        if let Some(k) = demands.iter().position(|&d| d > capacity) {
            return Err(LineError::new(
                last_line,
                format!(
                    "node {} demands {} > CAPACITY {capacity}",
                    k + 1,
                    demands[k]
                ),
            ));
        }
        let edge_weight_type = EdgeWeightType::parse(&weight_type).ok_or_else(|| {
            LineError::new(
                1,
                format!(
                    "EDGE_WEIGHT_TYPE {}: not one this reader computes (EXPLICIT, EUC_2D, CEIL_2D, MAN_2D, MAX_2D, ATT, GEO)",
                    clip(&weight_type)
                ),
            )
        })?;
        let (coords, explicit) = match edge_weight_type {
            EdgeWeightType::Explicit => (
                Vec::new(),
                Some(
                    expand_weights(&weights, n, &weight_format)
                        .map_err(|m| LineError::new(last_line, m))?,
                ),
            ),
            _ => {
                if coords.len() != n {
                    return Err(LineError::new(
                        last_line,
                        format!("EDGE_WEIGHT_TYPE {weight_type} needs a NODE_COORD_SECTION"),
                    ));
                }
                let coords: Vec<(f64, f64)> = coords
                    .into_iter()
                    .enumerate()
                    .map(|(k, c)| {
                        c.ok_or_else(|| {
                            LineError::new(
                                last_line,
                                format!("NODE_COORD_SECTION has no coordinates for node {}", k + 1),
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?;
                (coords, None)
            }
        };
        Ok(VrplibInstance {
            name,
            dimension: n,
            capacity,
            edge_weight_type,
            coords,
            explicit,
            demands,
            depot,
            distance_limit,
            service_time,
            vehicles,
        })
    }

    /// The full distance matrix, row-major, per TSPLIB95 §2 for the instance's
    /// `EDGE_WEIGHT_TYPE`; `EUC_2D` distances are rounded to the nearest integer when `round`
    /// (the CVRPLIB convention), exact otherwise.
    pub fn distance_matrix(&self, round: bool) -> Vec<f64> {
        if let Some(m) = &self.explicit {
            return m.clone();
        }
        let n = self.dimension;
        let nint = |x: f64| (x + 0.5).floor();
        let mut m = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                if i == j {
                    continue;
                }
                let (a, b) = (self.coords[i], self.coords[j]);
                let (dx, dy) = ((a.0 - b.0).abs(), (a.1 - b.1).abs());
                m[i * n + j] = match self.edge_weight_type {
                    EdgeWeightType::Euc2d if round => nint(dx.hypot(dy)),
                    EdgeWeightType::Euc2d => dx.hypot(dy),
                    EdgeWeightType::Ceil2d => dx.hypot(dy).ceil(),
                    EdgeWeightType::Man2d => nint(dx + dy),
                    EdgeWeightType::Max2d => nint(dx).max(nint(dy)),
                    EdgeWeightType::Att => {
                        let r = ((dx * dx + dy * dy) / 10.0).sqrt();
                        let t = nint(r);
                        if t < r { t + 1.0 } else { t }
                    }
                    EdgeWeightType::Geo => geo_distance(a, b),
                    EdgeWeightType::Explicit => 0.0,
                };
            }
        }
        m
    }
}

/// TSPLIB95 §2.4: coordinates DDD.MM (degrees, minutes) to radians with PI = 3.141592, the
/// distance on a sphere of radius 6378.388 km, truncated to whole km after adding 1.
fn geo_distance(a: (f64, f64), b: (f64, f64)) -> f64 {
    const PI: f64 = 3.141592;
    const RRR: f64 = 6378.388;
    let radians = |x: f64| {
        let deg = x.trunc();
        PI * (deg + 5.0 * (x - deg) / 3.0) / 180.0
    };
    let (lat_a, lon_a, lat_b, lon_b) = (radians(a.0), radians(a.1), radians(b.0), radians(b.1));
    let q1 = (lon_a - lon_b).cos();
    let q2 = (lat_a - lat_b).cos();
    let q3 = (lat_a + lat_b).cos();
    (RRR * (0.5 * ((1.0 + q1) * q2 - (1.0 - q1) * q3)).acos() + 1.0).trunc()
}

/// The full matrix from `EDGE_WEIGHT_SECTION`'s numbers in `format`. The column-wise formats
/// of a symmetric matrix are the row-wise ones of the other triangle (UPPER_COL = LOWER_ROW,
/// …).
fn expand_weights(w: &[f64], n: usize, format: &str) -> Result<Vec<f64>, String> {
    let format = match format {
        "UPPER_COL" => "LOWER_ROW",
        "LOWER_COL" => "UPPER_ROW",
        "UPPER_DIAG_COL" => "LOWER_DIAG_ROW",
        "LOWER_DIAG_COL" => "UPPER_DIAG_ROW",
        other => other,
    };
    let mut m = vec![0.0; n * n];
    let mut it = w.iter().copied();
    let mut next = || {
        it.next().ok_or_else(|| {
            format!("EDGE_WEIGHT_SECTION is too short for {format} of dimension {n}")
        })
    };
    match format {
        "FULL_MATRIX" => {
            for v in m.iter_mut() {
                *v = next()?;
            }
        }
        "LOWER_ROW" | "LOWER_DIAG_ROW" | "UPPER_ROW" | "UPPER_DIAG_ROW" => {
            for i in 0..n {
                let range: Vec<usize> = match format {
                    "LOWER_ROW" => (0..i).collect(),
                    "LOWER_DIAG_ROW" => (0..=i).collect(),
                    "UPPER_ROW" => (i + 1..n).collect(),
                    _ => (i..n).collect(),
                };
                for j in range {
                    let v = next()?;
                    m[i * n + j] = v;
                    m[j * n + i] = v;
                }
            }
        }
        other => return Err(format!("EDGE_WEIGHT_FORMAT `{other}` is not supported")),
    }
    Ok(m)
}

/// A CVRPLIB solution file: `Route #k: c1 c2 …` (customers numbered from 1, i.e. node id − 1
/// when the depot is node 1) and `Cost N`.
pub fn parse_solution(text: &str) -> Result<(Vec<Vec<usize>>, f64), LineError> {
    let mut routes = Vec::new();
    let mut cost = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_ascii();
        if let Some(rest) = line.strip_prefix("Route") {
            let (_, customers) = rest
                .split_once(':')
                .ok_or_else(|| LineError::new(i + 1, "a route line needs `:`"))?;
            let r: Result<Vec<usize>, _> = customers
                .split_ascii_whitespace()
                .map(|c| c.parse::<usize>())
                .collect();
            routes.push(r.map_err(|_| LineError::new(i + 1, "route customers must be numbers"))?);
        } else if let Some(rest) = line.strip_prefix("Cost") {
            cost = Some(
                rest.trim_ascii()
                    .parse::<f64>()
                    .map_err(|_| LineError::new(i + 1, "cost is not a number"))?,
            );
        }
    }
    Ok((
        routes,
        cost.ok_or_else(|| LineError::new(text.lines().count(), "no Cost line"))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "NAME : t\nTYPE : CVRP\nDIMENSION : 3\nEDGE_WEIGHT_TYPE : EUC_2D\nCAPACITY : 10\nNODE_COORD_SECTION\n1 0 0\n2 3 4\n3 0 1.4\nDEMAND_SECTION\n1 0\n2 5\n3 5\nDEPOT_SECTION\n1\n-1\nEOF\n";

    #[test]
    fn reads_and_rounds() {
        let inst = VrplibInstance::parse(SMALL).unwrap();
        let m = inst.distance_matrix(true);
        assert_eq!(m[1], 5.0);
        assert_eq!(m[2], 1.0);
        assert!((inst.distance_matrix(false)[2] - 1.4).abs() < 1e-12);
    }

    #[test]
    fn bad_files_name_the_line() {
        let err = VrplibInstance::parse(&SMALL.replace("DEMAND_SECTION\n1 0\n2 5\n3 5\n", ""))
            .unwrap_err();
        assert!(err.to_string().contains("no DEMAND_SECTION"), "{err}");
        let err = VrplibInstance::parse(&SMALL.replace("2 3 4", "2 3 x")).unwrap_err();
        assert_eq!(err.line, 8);
        let err = VrplibInstance::parse(&SMALL.replace("3 5\nDEPOT", "3 50\nDEPOT")).unwrap_err();
        assert!(
            err.to_string().contains("demands 50 > CAPACITY 10"),
            "{err}"
        );
    }

    #[test]
    fn every_documented_key_is_in_a_list() {
        // TSPLIB95 (Reinelt 1995) §1.1-1.2 and CVRPLIB's additions.
        for key in [
            "NAME",
            "TYPE",
            "COMMENT",
            "DIMENSION",
            "CAPACITY",
            "EDGE_WEIGHT_TYPE",
            "EDGE_WEIGHT_FORMAT",
            "EDGE_DATA_FORMAT",
            "NODE_COORD_TYPE",
            "DISPLAY_DATA_TYPE",
            "EOF",
            "NODE_COORD_SECTION",
            "DEPOT_SECTION",
            "DEMAND_SECTION",
            "EDGE_DATA_SECTION",
            "FIXED_EDGES_SECTION",
            "DISPLAY_DATA_SECTION",
            "TOUR_SECTION",
            "EDGE_WEIGHT_SECTION",
            "DISTANCE",
            "SERVICE_TIME",
            "VEHICLES",
        ] {
            assert_ne!(KEYS.classify(key), super::super::KeyUse::Unknown, "{key}");
        }
    }

    #[test]
    fn what_is_not_modelled_is_refused_by_line_and_drawing_data_is_harmless() {
        let with =
            |extra: &str| SMALL.replace("CAPACITY : 10\n", &format!("CAPACITY : 10\n{extra}"));
        let inst =
            VrplibInstance::parse(&with("DISTANCE : 200\nSERVICE_TIME : 10\nVEHICLES : 3\n"))
                .unwrap();
        assert_eq!(
            (inst.distance_limit, inst.service_time, inst.vehicles),
            (Some(200.0), 10.0, Some(3))
        );
        let err = VrplibInstance::parse(&with("DISTANCE : far\n")).unwrap_err();
        assert_eq!(err.line, 6);
        let err = VrplibInstance::parse(&with("TIME_WINDOW_SECTION\n")).unwrap_err();
        assert!(err.message.contains("time windows"), "{err}");
        let err = VrplibInstance::parse(&with("MYSTERY : 1\n")).unwrap_err();
        assert!(err.message.contains("MYSTERY"), "{err}");
        let display = with("DISPLAY_DATA_TYPE : TWOD_DISPLAY\n").replace(
            "DEMAND_SECTION",
            "DISPLAY_DATA_SECTION\n1 5 5\n2 6 6\n3 7 7\nDEMAND_SECTION",
        );
        assert_eq!(
            VrplibInstance::parse(&display)
                .unwrap()
                .distance_matrix(true),
            VrplibInstance::parse(SMALL).unwrap().distance_matrix(true)
        );
    }

    #[test]
    fn tsplib_distance_functions() {
        let inst = |kind: &str, coords: &str| {
            VrplibInstance::parse(&format!("NAME : d\nTYPE : CVRP\nDIMENSION : 2\nEDGE_WEIGHT_TYPE : {kind}\nCAPACITY : 10\nNODE_COORD_SECTION\n{coords}DEMAND_SECTION\n1 0\n2 1\nDEPOT_SECTION\n1\n-1\nEOF\n"))
                .unwrap()
                .distance_matrix(true)[1]
        };
        assert_eq!(inst("MAN_2D", "1 0 0\n2 3 4.4\n"), 7.0);
        assert_eq!(inst("MAX_2D", "1 0 0\n2 3 4.4\n"), 4.0);
        assert_eq!(inst("CEIL_2D", "1 0 0\n2 3 4.1\n"), 6.0);
        // ATT: sqrt((30² + 40²) / 10) = 15.81 → 16.
        assert_eq!(inst("ATT", "1 0 0\n2 30 40\n"), 16.0);
        // GEO, burma14 nodes 1 and 2 (16.47 96.10) and (16.47 94.44): 153 km in TSPLIB's table.
        assert_eq!(inst("GEO", "1 16.47 96.10\n2 16.47 94.44\n"), 153.0);
    }

    #[test]
    fn explicit_lower_rows() {
        let text = "NAME : e\nTYPE : CVRP\nDIMENSION : 3\nEDGE_WEIGHT_TYPE : EXPLICIT\nEDGE_WEIGHT_FORMAT : LOWER_ROW\nCAPACITY : 10\nEDGE_WEIGHT_SECTION\n4\n5 6\nDEMAND_SECTION\n1 0\n2 1\n3 1\nDEPOT_SECTION\n1\n-1\nEOF\n";
        let inst = VrplibInstance::parse(text).unwrap();
        assert_eq!(
            inst.distance_matrix(true),
            vec![0.0, 4.0, 5.0, 4.0, 0.0, 6.0, 5.0, 6.0, 0.0]
        );
    }

    proptest::proptest! {
        #![proptest_config(crate::formats::mutate::config(300))]
        /// Mutated real instances give a clean error or finite distances and valid demands.
        #[test]
        fn mutated_real_instances_give_an_error_or_finite_distances(
            which in 0usize..2,
            edits in crate::formats::mutate::edits(),
        ) {
            let real = [
                include_str!("../../../data/field/vrplib-explicit-depot3-display.vrp"),
                SMALL,
            ][which];
            let text = crate::formats::mutate::apply(real, &edits);
            let Ok(inst) = VrplibInstance::parse(&text) else { return Ok(()) };
            let m = inst.distance_matrix(true);
            proptest::prop_assert_eq!(m.len(), inst.dimension * inst.dimension);
            proptest::prop_assert!(m.iter().all(|x| x.is_finite()));
            proptest::prop_assert!(inst.depot < inst.dimension);
            proptest::prop_assert!(inst.demands.iter().all(|&d| d <= inst.capacity));
        }
    }
}
