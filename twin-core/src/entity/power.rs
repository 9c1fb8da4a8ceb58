//! Power distribution assets: 110/20 kV substations, 20/0.4 kV transformer posts, 20 kV lines
//! and switches. Each refers to its bus or branch in the MATPOWER case of the city.

/// A 110/20 kV substation: the 20 kV busbar feeding radial feeders.
#[derive(Debug, Clone, PartialEq)]
pub struct Substation {
    pub bus: u32,
    pub rated_kva: f64,
    pub high_kv: f64,
    pub low_kv: f64,
}

/// A 20/0.4 kV transformer post and the customers behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformerPost {
    pub bus: u32,
    pub rated_kva: f64,
    pub customers: u32,
    pub population: u32,
    /// Peak active and reactive demand used by the case file (kW, kvar).
    pub peak_kw: f64,
    pub peak_kvar: f64,
}

/// A 20 kV cable or overhead line between two buses.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerLine {
    pub from_bus: u32,
    pub to_bus: u32,
    pub r_ohm: f64,
    pub x_ohm: f64,
    pub ampacity_a: f64,
    pub length_m: f64,
    /// In service (closed) in the base case.
    pub in_service: bool,
}

/// A switch between two buses; tie switches between feeders are normally open.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerSwitch {
    pub from_bus: u32,
    pub to_bus: u32,
    pub normally_open: bool,
}
