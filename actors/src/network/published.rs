//! What a network actor publishes: the network it covers, estimates for every element and
//! alerts.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkKind {
    Power,
    Water,
    Road,
    Waste,
}

impl NetworkKind {
    pub const ALL: [NetworkKind; 4] = [
        NetworkKind::Power,
        NetworkKind::Water,
        NetworkKind::Road,
        NetworkKind::Waste,
    ];

    /// The lowercase name (`power`, `water`, `road`, `waste`), as serialised.
    pub fn name(self) -> &'static str {
        match self {
            NetworkKind::Power => "power",
            NetworkKind::Water => "water",
            NetworkKind::Road => "road",
            NetworkKind::Waste => "waste",
        }
    }
}

/// Model estimates for the elements of one network.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Estimates {
    pub solved_at: String,
    /// (entity id, field name, value) for every element the model covers.
    pub values: Vec<(String, &'static str, f64)>,
}

/// A condition someone should look at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// A stable code: `overloaded`, `voltage_out_of_band`, `de_energised`, `low_pressure`,
    /// `low_chlorine`, `disconnected`,
    /// `congested_corridor`, `bin_overflowing`, `bin_full_soon`, `citizen_report`.
    pub code: &'static str,
    pub entities: Vec<String>,
    pub message: String,
}
