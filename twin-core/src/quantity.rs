//! The quantities sensors and models report, with their Smart Data Model names, units, value
//! types and plausible ranges, and which asset kinds carry which quantity.

use std::fmt;

use crate::id::AssetKind;

/// A measured or estimated quantity of an entity's live state. Serialised (in the store's
/// snapshots) by variant name, which unlike [`Quantity::name`] is unambiguous across kinds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Quantity {
    // Street (TrafficFlowObserved)
    Intensity,
    AverageVehicleSpeed,
    Occupancy,
    Congested,
    Closed,
    // Power
    ActivePower,
    ReactivePower,
    Voltage,
    Loading,
    Energised,
    SwitchState,
    // Water
    Head,
    Pressure,
    Demand,
    Flow,
    TankLevel,
    LinkStatus,
    /// Free chlorine residual (mg/L), simulated or measured.
    FreeChlorine,
    /// Water age (hours since the water left its source).
    WaterAge,
    // Waste
    FillingLevel,
    Temperature,
    BinStatus,
    DateLastEmptying,
    // EV charger
    ChargerStatus,
    AvailableCapacity,
    SessionEnergy,
    /// Status of one socket, numbered from 1: `socketStatus.<n>`.
    SocketStatus(u16),
    /// Power drawn by one socket in kW: `socketPower.<n>`.
    SocketPower(u16),
}

/// What values a quantity takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueSpec {
    Number {
        min: f64,
        max: f64,
        unit: &'static str,
    },
    Bool,
    Text(&'static [&'static str]),
    /// An RFC 3339 timestamp as text.
    DateTime,
}

/// A value of a quantity; serialised as the bare JSON number, boolean or string.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Value {
    Number(f64),
    Bool(bool),
    Text(String),
}

impl Value {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(x) => Some(*x),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Number(x) => serde_json::json!(x),
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Text(s) => serde_json::Value::String(s.clone()),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Number(x) => write!(f, "{x}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Text(s) => write!(f, "\"{s}\""),
        }
    }
}

// The position in this table is the storage code of `Quantity::code`: append only, never reorder.
const SIMPLE: [(Quantity, &str); 26] = [
    (Quantity::Intensity, "intensity"),
    (Quantity::AverageVehicleSpeed, "averageVehicleSpeed"),
    (Quantity::Occupancy, "occupancy"),
    (Quantity::Congested, "congested"),
    (Quantity::Closed, "closed"),
    (Quantity::ActivePower, "activePower"),
    (Quantity::ReactivePower, "reactivePower"),
    (Quantity::Voltage, "voltage"),
    (Quantity::Loading, "loading"),
    (Quantity::Energised, "energised"),
    (Quantity::SwitchState, "switchState"),
    (Quantity::Head, "head"),
    (Quantity::Pressure, "pressure"),
    (Quantity::Demand, "demand"),
    (Quantity::Flow, "flow"),
    (Quantity::TankLevel, "level"),
    (Quantity::LinkStatus, "status"),
    (Quantity::FillingLevel, "fillingLevel"),
    (Quantity::Temperature, "temperature"),
    (Quantity::BinStatus, "status"),
    (Quantity::DateLastEmptying, "dateLastEmptying"),
    (Quantity::ChargerStatus, "status"),
    (Quantity::AvailableCapacity, "availableCapacity"),
    (Quantity::SessionEnergy, "sessionEnergy"),
    (Quantity::FreeChlorine, "freeChlorine"),
    (Quantity::WaterAge, "waterAge"),
];

/// Sockets a station may declare; socket-numbered quantities above this are rejected early.
pub const MAX_SOCKETS: u16 = 512;

impl Quantity {
    /// The name in readings and files (Smart Data Model attribute name).
    pub fn name(self) -> String {
        match self {
            Quantity::SocketStatus(n) => format!("socketStatus.{n}"),
            Quantity::SocketPower(n) => format!("socketPower.{n}"),
            q => SIMPLE
                .iter()
                .find(|(s, _)| *s == q)
                .map(|(_, n)| (*n).to_string())
                .unwrap_or_default(),
        }
    }

    /// A stable numeric code for compact storage: (tag, socket number or 0). Tags are never
    /// reused: new quantities get new tags at the end.
    pub fn code(self) -> (u8, u16) {
        match self {
            Quantity::SocketStatus(n) => (100, n),
            Quantity::SocketPower(n) => (101, n),
            q => (
                SIMPLE.iter().position(|(s, _)| *s == q).unwrap_or(0) as u8,
                0,
            ),
        }
    }

    /// The quantity of a [`Quantity::code`], if the code is known.
    pub fn from_code(tag: u8, socket: u16) -> Option<Quantity> {
        match tag {
            100 => Some(Quantity::SocketStatus(socket)),
            101 => Some(Quantity::SocketPower(socket)),
            t => SIMPLE.get(usize::from(t)).map(|(q, _)| *q),
        }
    }

    /// The quantity an attribute name means on an asset of `kind`, if that kind carries it.
    /// (`status` means a different thing on a pipe, a bin and a charger.)
    pub fn for_asset(kind: AssetKind, name: &str) -> Option<Quantity> {
        let socket = |prefix: &str| -> Option<u16> {
            let n: u16 = name.strip_prefix(prefix)?.parse().ok()?;
            (1..=MAX_SOCKETS).contains(&n).then_some(n)
        };
        let q = if let Some(n) = socket("socketStatus.") {
            Quantity::SocketStatus(n)
        } else if let Some(n) = socket("socketPower.") {
            Quantity::SocketPower(n)
        } else {
            SIMPLE
                .iter()
                .filter(|(_, n)| *n == name)
                .map(|(q, _)| *q)
                .find(|q| q.applies_to(kind))?
        };
        q.applies_to(kind).then_some(q)
    }

    /// Whether assets of `kind` carry this quantity.
    pub fn applies_to(self, kind: AssetKind) -> bool {
        use AssetKind as K;
        use Quantity as Q;
        match self {
            Q::Intensity | Q::AverageVehicleSpeed | Q::Occupancy | Q::Congested | Q::Closed => {
                kind == K::StreetSegment
            }
            Q::ActivePower | Q::ReactivePower => matches!(
                kind,
                K::Substation | K::TransformerPost | K::PowerLine | K::EvCharger
            ),
            Q::Voltage | Q::Energised => matches!(kind, K::Substation | K::TransformerPost),
            Q::Loading => matches!(kind, K::Substation | K::TransformerPost | K::PowerLine),
            Q::SwitchState => kind == K::PowerSwitch,
            Q::Head => matches!(kind, K::Junction | K::Tank | K::WaterSource),
            Q::Pressure | Q::Demand => kind == K::Junction,
            Q::Flow => matches!(kind, K::Pipe | K::Pump | K::Valve),
            Q::TankLevel => kind == K::Tank,
            Q::FreeChlorine | Q::WaterAge => matches!(kind, K::Junction | K::Tank),
            Q::LinkStatus => matches!(kind, K::Pipe | K::Pump | K::Valve),
            Q::FillingLevel | Q::Temperature | Q::BinStatus | Q::DateLastEmptying => {
                kind == K::WasteBin
            }
            Q::ChargerStatus
            | Q::AvailableCapacity
            | Q::SessionEnergy
            | Q::SocketStatus(_)
            | Q::SocketPower(_) => kind == K::EvCharger,
        }
    }

    /// The type and range of the values this quantity takes.
    pub fn spec(self) -> ValueSpec {
        use Quantity as Q;
        use ValueSpec::*;
        match self {
            Q::Intensity => Number {
                min: 0.0,
                max: 20_000.0,
                unit: "veh/h",
            },
            Q::AverageVehicleSpeed => Number {
                min: 0.0,
                max: 250.0,
                unit: "km/h",
            },
            Q::Occupancy | Q::FillingLevel => Number {
                min: 0.0,
                max: 1.0,
                unit: "fraction 0-1",
            },
            Q::Congested | Q::Closed | Q::Energised => Bool,
            Q::ActivePower => Number {
                min: -200_000.0,
                max: 200_000.0,
                unit: "kW",
            },
            Q::ReactivePower => Number {
                min: -200_000.0,
                max: 200_000.0,
                unit: "kvar",
            },
            Q::Voltage => Number {
                min: 0.0,
                max: 1.5,
                unit: "pu",
            },
            Q::Loading => Number {
                min: 0.0,
                max: 1_000.0,
                unit: "%",
            },
            Q::SwitchState => Text(&["open", "closed"]),
            Q::Head => Number {
                min: -500.0,
                max: 5_000.0,
                unit: "m",
            },
            Q::Pressure => Number {
                min: -200.0,
                max: 500.0,
                unit: "m",
            },
            Q::Demand | Q::Flow => Number {
                min: -100_000.0,
                max: 100_000.0,
                unit: "l/s",
            },
            Q::TankLevel => Number {
                min: 0.0,
                max: 100.0,
                unit: "m",
            },
            Q::LinkStatus => Text(&["OPEN", "CLOSED"]),
            Q::FreeChlorine => Number {
                min: 0.0,
                max: 10.0,
                unit: "mg/L",
            },
            Q::WaterAge => Number {
                min: 0.0,
                max: 10_000.0,
                unit: "h",
            },
            Q::Temperature => Number {
                min: -50.0,
                max: 1_000.0,
                unit: "°C",
            },
            Q::BinStatus => Text(&[
                "ok",
                "lidOpen",
                "closed",
                "burning",
                "dropped",
                "moved",
                "notInPlace",
            ]),
            Q::DateLastEmptying => DateTime,
            Q::ChargerStatus => Text(&[
                "working",
                "outOfService",
                "withIncidence",
                "almostFull",
                "full",
            ]),
            Q::AvailableCapacity => Number {
                min: 0.0,
                max: MAX_SOCKETS as f64,
                unit: "sockets",
            },
            Q::SessionEnergy => Number {
                min: 0.0,
                max: 10_000.0,
                unit: "kWh",
            },
            Q::SocketStatus(_) => Text(&[
                "available",
                "occupied",
                "charging",
                "outOfService",
                "reserved",
            ]),
            Q::SocketPower(_) => Number {
                min: 0.0,
                max: 1_000.0,
                unit: "kW",
            },
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for (q, _) in SIMPLE {
            let (t, n) = q.code();
            assert_eq!(Quantity::from_code(t, n), Some(q));
        }
        assert_eq!(Quantity::from_code(101, 7), Some(Quantity::SocketPower(7)));
        assert_eq!(Quantity::from_code(99, 0), None);
    }

    #[test]
    fn status_means_what_the_asset_says() {
        assert_eq!(
            Quantity::for_asset(AssetKind::WasteBin, "status"),
            Some(Quantity::BinStatus)
        );
        assert_eq!(
            Quantity::for_asset(AssetKind::Pipe, "status"),
            Some(Quantity::LinkStatus)
        );
        assert_eq!(
            Quantity::for_asset(AssetKind::EvCharger, "status"),
            Some(Quantity::ChargerStatus)
        );
        assert_eq!(
            Quantity::for_asset(AssetKind::StreetSegment, "status"),
            None
        );
    }

    #[test]
    fn socket_quantities_are_numbered_from_one() {
        assert_eq!(
            Quantity::for_asset(AssetKind::EvCharger, "socketPower.3"),
            Some(Quantity::SocketPower(3))
        );
        assert_eq!(
            Quantity::for_asset(AssetKind::EvCharger, "socketPower.0"),
            None
        );
        assert_eq!(
            Quantity::for_asset(AssetKind::WasteBin, "socketPower.1"),
            None
        );
    }

    #[test]
    fn every_quantity_names_round_trip() {
        for kind in AssetKind::ALL {
            for (q, name) in SIMPLE {
                if q.applies_to(kind) {
                    assert_eq!(
                        Quantity::for_asset(kind, name),
                        Some(q),
                        "{name} on {kind:?}"
                    );
                    assert_eq!(q.name(), name);
                }
            }
        }
    }
}
