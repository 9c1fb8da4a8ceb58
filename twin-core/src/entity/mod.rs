//! The assets of the city: one [`Entity`] per street segment, power element, water element,
//! waste bin and EV charger, with its static attributes ([`Asset`]) and its live state.
//!
//! Names and units follow the FIWARE Smart Data Models (RoadSegment / TrafficFlowObserved,
//! WasteContainer, EVChargingStation, WaterDistributionManagementEPANET); see docs/formats.md.

mod charger;
mod power;
mod street;
mod waste;
mod water;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

pub use charger::{ChargerSite, EvCharger, Socket};
pub use power::{PowerLine, PowerSwitch, Substation, TransformerPost};
pub use street::{Intersection, IntersectionControl, RoadClass, StreetSegment};
pub use waste::{DisposalSite, Sites, WasteBin, WasteKind, WasteSites};
pub use water::{Junction, Pipe, Pump, Tank, Valve, ValveType, WaterSource};

use crate::geometry::LonLat;
pub use crate::id::AssetKind;
use crate::id::EntityId;
use crate::quantity::{Quantity, Value};

/// Static attributes, by asset type.
#[derive(Debug, Clone, PartialEq)]
pub enum Asset {
    StreetSegment(StreetSegment),
    Substation(Substation),
    TransformerPost(TransformerPost),
    PowerLine(PowerLine),
    PowerSwitch(PowerSwitch),
    WaterSource(WaterSource),
    Tank(Tank),
    Junction(Junction),
    Pump(Pump),
    Valve(Valve),
    Pipe(Pipe),
    WasteBin(WasteBin),
    EvCharger(EvCharger),
}

impl Asset {
    pub fn kind(&self) -> AssetKind {
        match self {
            Asset::StreetSegment(_) => AssetKind::StreetSegment,
            Asset::Substation(_) => AssetKind::Substation,
            Asset::TransformerPost(_) => AssetKind::TransformerPost,
            Asset::PowerLine(_) => AssetKind::PowerLine,
            Asset::PowerSwitch(_) => AssetKind::PowerSwitch,
            Asset::WaterSource(_) => AssetKind::WaterSource,
            Asset::Tank(_) => AssetKind::Tank,
            Asset::Junction(_) => AssetKind::Junction,
            Asset::Pump(_) => AssetKind::Pump,
            Asset::Valve(_) => AssetKind::Valve,
            Asset::Pipe(_) => AssetKind::Pipe,
            Asset::WasteBin(_) => AssetKind::WasteBin,
            Asset::EvCharger(_) => AssetKind::EvCharger,
        }
    }
}

/// The live state of an entity: the latest value of each quantity and when it was observed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveState {
    pub values: BTreeMap<Quantity, Value>,
    pub observed_at: Option<DateTime<Utc>>,
}

/// One asset of the city.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    pub id: EntityId,
    pub name: Option<String>,
    /// A representative point: the asset itself, or the midpoint of a line or segment.
    pub location: LonLat,
    pub asset: Asset,
    pub state: LiveState,
    /// The element's id in the model file it came from, when the twin's id differs from it
    /// or the file's ids have their own space: an EPANET node or link id
    /// ([`crate::water::ids`]). Users may give it wherever they give an entity.
    pub source_id: Option<String>,
}

impl Entity {
    pub fn new(id: EntityId, location: LonLat, asset: Asset) -> Entity {
        debug_assert_eq!(
            id.kind(),
            asset.kind().family(),
            "{id} holds a {}",
            asset.kind().name()
        );
        Entity {
            id,
            name: None,
            location,
            asset,
            state: LiveState::default(),
            source_id: None,
        }
    }

    pub fn with_name(mut self, name: Option<String>) -> Entity {
        self.name = name;
        self
    }

    pub fn kind(&self) -> AssetKind {
        self.asset.kind()
    }
}
