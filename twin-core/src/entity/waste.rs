//! Waste containers (Smart Data Model WasteContainer), the five collection streams of
//! Pitești (Salubritate 2000 colour code), and where a city's collection trucks start and
//! unload (`[waste]` in a bundle's city.toml).

use crate::geometry::LonLat;

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
}

#[derive(Debug, Clone, PartialEq)]
pub struct WasteBin {
    pub stored_waste_kind: WasteKind,
    pub volume_l: f64,
    /// The collection point (a group of bins at one place) it stands at.
    pub collection_point: u32,
}

/// Where a city's collection trucks start and unload: the `[waste]` table of city.toml.
#[derive(Debug, Clone, PartialEq)]
pub struct WasteSites {
    /// Where trucks start and end their shift.
    pub depot: LonLat,
    /// Where loads are unloaded, by stream.
    pub disposal: Vec<DisposalSite>,
}

/// A site where trucks unload (a landfill, sorting plant, composting or transfer station).
#[derive(Debug, Clone, PartialEq)]
pub struct DisposalSite {
    pub name: String,
    /// Where the road to the site leaves the city's streets, or the site itself when it is on
    /// them.
    pub location: LonLat,
    /// Road km from `location` to the site and back, when the site lies beyond the streets.
    pub extra_km: f64,
    /// The streams unloaded here; empty means every stream.
    pub streams: Vec<WasteKind>,
}

impl WasteSites {
    /// The depot and the disposal site of `stream`: the first site that takes it.
    pub fn for_stream(&self, stream: WasteKind) -> Option<Sites> {
        self.disposal
            .iter()
            .find(|d| d.streams.is_empty() || d.streams.contains(&stream))
            .map(|d| Sites {
                depot: self.depot,
                disposal: d.location,
                disposal_extra_km: d.extra_km,
            })
    }
}

/// Where the trucks of one stream start and unload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sites {
    pub depot: LonLat,
    pub disposal: LonLat,
    /// Road km from the edge of the city's streets to the disposal site and back, when the site
    /// lies outside them.
    pub disposal_extra_km: f64,
}
