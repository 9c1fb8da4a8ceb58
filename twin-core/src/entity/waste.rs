//! Waste containers (Smart Data Model WasteContainer) and the five collection streams of
//! Pitești (Salubritate 2000 colour code).

/// What a container holds: the five streams of selective collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WasteKind {
    /// Blue.
    Paper,
    /// Yellow.
    PlasticMetal,
    /// Green.
    Glass,
    /// Brown.
    Bio,
    /// Black or grey.
    Residual,
}

impl WasteKind {
    pub const ALL: [WasteKind; 5] = [
        WasteKind::Paper,
        WasteKind::PlasticMetal,
        WasteKind::Glass,
        WasteKind::Bio,
        WasteKind::Residual,
    ];

    /// The value of `storedWasteKind` in files and readings.
    pub fn name(self) -> &'static str {
        match self {
            WasteKind::Paper => "paper",
            WasteKind::PlasticMetal => "plastic-metal",
            WasteKind::Glass => "glass",
            WasteKind::Bio => "bio",
            WasteKind::Residual => "residual",
        }
    }

    pub fn from_name(s: &str) -> Option<WasteKind> {
        WasteKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Whether the stream counts towards the recycling share.
    pub fn is_recyclable(self) -> bool {
        !matches!(self, WasteKind::Residual)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct WasteBin {
    pub stored_waste_kind: WasteKind,
    pub volume_l: f64,
    /// The collection point (a group of bins at one place) it stands at.
    pub collection_point: u32,
}
