//! EV charging stations (Smart Data Model EVChargingStation) with their sockets and the power
//! node they draw from.

use crate::id::EntityId;

/// Where a charger stands; it sets arrival patterns in the EV model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChargerSite {
    /// A municipal public station on a street or car park.
    Public,
    Retail,
    Dealer,
    FuelStation,
    Workplace,
    Residential,
    BusDepot,
}

impl ChargerSite {
    pub const ALL: [ChargerSite; 7] = [
        ChargerSite::Public,
        ChargerSite::Retail,
        ChargerSite::Dealer,
        ChargerSite::FuelStation,
        ChargerSite::Workplace,
        ChargerSite::Residential,
        ChargerSite::BusDepot,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ChargerSite::Public => "public",
            ChargerSite::Retail => "retail",
            ChargerSite::Dealer => "dealer",
            ChargerSite::FuelStation => "fuel-station",
            ChargerSite::Workplace => "workplace",
            ChargerSite::Residential => "residential",
            ChargerSite::BusDepot => "bus-depot",
        }
    }

    pub fn from_name(s: &str) -> Option<ChargerSite> {
        ChargerSite::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// One charging point of a station.
#[derive(Debug, Clone, PartialEq)]
pub struct Socket {
    /// Smart Data Model socket type, e.g. `Type2`, `CCS2`, `Pantograph`.
    pub socket_type: String,
    pub max_power_kw: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EvCharger {
    pub site: ChargerSite,
    pub operator: String,
    pub sockets: Vec<Socket>,
    /// The transformer post (a `power:` entity) the station draws from.
    pub grid_connection: EntityId,
}

impl EvCharger {
    pub fn max_power_kw(&self) -> f64 {
        self.sockets.iter().map(|s| s.max_power_kw).sum()
    }
}
