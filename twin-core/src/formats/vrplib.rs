//! VRPLIB (TSPLIB95-style) capacitated VRP instances and CVRPLIB solution files.
//!
//! Header lines `KEY : value` (NAME, TYPE, DIMENSION, CAPACITY, EDGE_WEIGHT_TYPE,
//! EDGE_WEIGHT_FORMAT), then sections NODE_COORD_SECTION, EDGE_WEIGHT_SECTION, DEMAND_SECTION,
//! DEPOT_SECTION (terminated by -1), EOF. Distances follow the CVRPLIB convention: Euclidean,
//! rounded to the nearest integer (`nint`), unless the caller asks for exact distances (the CMT
//! instances are published with unrounded ones).

use super::LineError;

#[derive(Debug, Clone, PartialEq)]
pub struct VrplibInstance {
    pub name: String,
    /// Number of nodes, depot included.
    pub dimension: usize,
    pub capacity: u32,
    /// Node coordinates in file order (EUC_2D).
    pub coords: Vec<(f64, f64)>,
    /// Explicit full distance matrix, row-major (EXPLICIT instances).
    pub explicit: Option<Vec<f64>>,
    pub demands: Vec<u32>,
    /// 0-based index of the depot.
    pub depot: usize,
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
        let mut section = String::new();
        let mut last_line = 0;
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            last_line = line_no;
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            if line == "EOF" {
                break;
            }
            let first = line.split_whitespace().next().unwrap_or("");
            if first.ends_with("_SECTION") {
                section = first.to_string();
                let n = dimension.ok_or_else(|| {
                    LineError::new(line_no, format!("{section} before DIMENSION"))
                })?;
                match section.as_str() {
                    "NODE_COORD_SECTION" => coords = vec![None; n],
                    "DEMAND_SECTION" => demands = Some(vec![None; n]),
                    "EDGE_WEIGHT_SECTION" | "DEPOT_SECTION" => {}
                    other => {
                        return Err(LineError::new(
                            line_no,
                            format!("unsupported section {other}"),
                        ));
                    }
                }
                continue;
            }
            if let Some((key, value)) = line.split_once(':')
                && (section.is_empty()
                    || !key
                        .trim()
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_digit() || c == '-'))
            {
                let value = value.trim().trim_matches('"').to_string();
                let number = |what: &str| -> Result<u64, LineError> {
                    value.parse().map_err(|_| {
                        LineError::new(
                            line_no,
                            format!("{what} `{}` is not a whole number", clip(&value)),
                        )
                    })
                };
                match key.trim() {
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
                    _ => {}
                }
                section.clear();
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
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
        let (coords, explicit) = match weight_type.as_str() {
            "EUC_2D" => {
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
            "EXPLICIT" => (
                Vec::new(),
                Some(
                    expand_weights(&weights, n, &weight_format)
                        .map_err(|m| LineError::new(last_line, m))?,
                ),
            ),
            other => {
                return Err(LineError::new(
                    1,
                    format!("EDGE_WEIGHT_TYPE {other}: only EUC_2D and EXPLICIT are supported"),
                ));
            }
        };
        Ok(VrplibInstance {
            name,
            dimension: n,
            capacity,
            coords,
            explicit,
            demands,
            depot,
        })
    }

    /// The full distance matrix, row-major; Euclidean distances rounded to the nearest integer
    /// when `round` (the CVRPLIB convention).
    pub fn distance_matrix(&self, round: bool) -> Vec<f64> {
        if let Some(m) = &self.explicit {
            return m.clone();
        }
        let n = self.dimension;
        let mut m = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                let (a, b) = (self.coords[i], self.coords[j]);
                let d = (a.0 - b.0).hypot(a.1 - b.1);
                m[i * n + j] = if round { (d + 0.5).floor() } else { d };
            }
        }
        m
    }
}

fn expand_weights(w: &[f64], n: usize, format: &str) -> Result<Vec<f64>, String> {
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
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Route") {
            let (_, customers) = rest
                .split_once(':')
                .ok_or_else(|| LineError::new(i + 1, "a route line needs `:`"))?;
            let r: Result<Vec<usize>, _> = customers
                .split_whitespace()
                .map(|c| c.parse::<usize>())
                .collect();
            routes.push(r.map_err(|_| LineError::new(i + 1, "route customers must be numbers"))?);
        } else if let Some(rest) = line.strip_prefix("Cost") {
            cost = Some(
                rest.trim()
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
    fn explicit_lower_rows() {
        let text = "NAME : e\nTYPE : CVRP\nDIMENSION : 3\nEDGE_WEIGHT_TYPE : EXPLICIT\nEDGE_WEIGHT_FORMAT : LOWER_ROW\nCAPACITY : 10\nEDGE_WEIGHT_SECTION\n4\n5 6\nDEMAND_SECTION\n1 0\n2 1\n3 1\nDEPOT_SECTION\n1\n-1\nEOF\n";
        let inst = VrplibInstance::parse(text).unwrap();
        assert_eq!(
            inst.distance_matrix(true),
            vec![0.0, 4.0, 5.0, 4.0, 0.0, 6.0, 5.0, 6.0, 0.0]
        );
    }
}
