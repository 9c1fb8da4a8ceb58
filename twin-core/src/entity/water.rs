//! Water network assets as in EPANET: sources (reservoirs), tanks, junctions, pumps, valves and
//! pipes, in SI units.

/// A fixed-head source: a treatment plant's clear-water reservoir.
#[derive(Debug, Clone, PartialEq)]
pub struct WaterSource {
    pub head_m: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tank {
    pub elevation_m: f64,
    pub init_level_m: f64,
    pub min_level_m: f64,
    pub max_level_m: f64,
    pub diameter_m: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Junction {
    pub elevation_m: f64,
    pub base_demand_m3s: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pump {
    pub from_node: String,
    pub to_node: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValveType {
    Prv,
    Psv,
    Pbv,
    Fcv,
    Tcv,
    Gpv,
}

impl ValveType {
    pub fn from_epanet(s: &str) -> Option<ValveType> {
        Some(match s.to_ascii_uppercase().as_str() {
            "PRV" => ValveType::Prv,
            "PSV" => ValveType::Psv,
            "PBV" => ValveType::Pbv,
            "FCV" => ValveType::Fcv,
            "TCV" => ValveType::Tcv,
            "GPV" => ValveType::Gpv,
            _ => return None,
        })
    }

    pub fn epanet_name(self) -> &'static str {
        match self {
            ValveType::Prv => "PRV",
            ValveType::Psv => "PSV",
            ValveType::Pbv => "PBV",
            ValveType::Fcv => "FCV",
            ValveType::Tcv => "TCV",
            ValveType::Gpv => "GPV",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Valve {
    pub from_node: String,
    pub to_node: String,
    pub diameter_mm: f64,
    pub valve_type: ValveType,
    pub setting: f64,
    /// An isolation valve (tagged `isolation` in the .inp), used to cut off a broken pipe.
    pub isolation: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pipe {
    pub from_node: String,
    pub to_node: String,
    pub length_m: f64,
    pub diameter_mm: f64,
    /// Hazen–Williams C, or Darcy–Weisbach roughness in mm, per the network's head-loss formula.
    pub roughness: f64,
    pub open: bool,
}
