//! The city's assets as NGSI-LD entities of the FIWARE Smart Data Models: entity types, entity
//! ids (URNs), attribute names and UN/CEFACT unit codes.
//!
//! Types (docs/ngsi-ld.md says why each): streets are `RoadSegment` (dataModel.Transportation,
//! carrying the live traffic attributes of `TrafficFlowObserved`), bins `WasteContainer`
//! (dataModel.WasteManagement), chargers `EVChargingStation` (dataModel.Transportation), the
//! water network's elements `Junction`, `Pipe`, `Tank`, `Reservoir`, `Pump` and `Valve`
//! (dataModel.WaterDistributionManagementEPANET), and the power network's the closest published
//! types, from dataModel.EnergyCIM (IEC 61970 CIM): `Substation`, `PowerTransformer` (a
//! transformer post), `ACLineSegment` and `Switch`.
//!
//! Ids follow the Smart Data Models' convention `urn:ngsi-ld:<Type>:<local id>`, where the local
//! id is the twin's own (`bin:17` is `urn:ngsi-ld:WasteContainer:17`); [`entity_of_urn`] maps
//! back and checks the type.

use crate::id::AssetKind;
use crate::{CityModel, EntityId};

/// The sub-property that marks an attribute's value as the twin's estimate (a network
/// model's output: a load flow's voltage, a hydraulic solve's pressure), not a measurement:
/// `"pressure": {"type": "Property", "value": …, "estimated": {"type": "Property", "value":
/// true}}`. NGSI-LD and the Smart Data Models have no term for it; a consumer that ignores it
/// still reads the value. A write carrying it is not a reading (the twin's own estimates
/// coming back from a broker it mirrors into must not become measurements).
pub const ESTIMATED: &str = "estimated";

/// Whether a normalized attribute carries the [`ESTIMATED`] mark.
pub fn is_estimate(attribute: &serde_json::Value) -> bool {
    attribute
        .get(ESTIMATED)
        .is_some_and(|m| m.get("value") == Some(&serde_json::Value::Bool(true)))
}

/// The NGSI-LD entity type (a Smart Data Model) of an asset kind.
pub fn entity_type(kind: AssetKind) -> &'static str {
    match kind {
        AssetKind::StreetSegment => "RoadSegment",
        AssetKind::Substation => "Substation",
        AssetKind::TransformerPost => "PowerTransformer",
        AssetKind::PowerLine => "ACLineSegment",
        AssetKind::PowerSwitch => "Switch",
        AssetKind::WaterSource => "Reservoir",
        AssetKind::Tank => "Tank",
        AssetKind::Junction => "Junction",
        AssetKind::Pump => "Pump",
        AssetKind::Valve => "Valve",
        AssetKind::Pipe => "Pipe",
        AssetKind::WasteBin => "WasteContainer",
        AssetKind::EvCharger => "EVChargingStation",
    }
}

/// The asset kinds an NGSI-LD type names (none for a type the twin's assets do not have).
pub fn kinds_of_type(ngsi_type: &str) -> Vec<AssetKind> {
    AssetKind::ALL
        .into_iter()
        .filter(|&k| entity_type(k) == ngsi_type)
        .collect()
}

/// The URN of a twin entity: `urn:ngsi-ld:<Type>:<local id>`.
pub fn urn(kind: AssetKind, id: &EntityId) -> String {
    format!("urn:ngsi-ld:{}:{}", entity_type(kind), id.local())
}

/// The city entity (its index) an NGSI-LD id names, if it is one of the twin's assets: the
/// type in the URN must be the asset's.
pub fn entity_of_urn(city: &CityModel, urn: &str) -> Option<usize> {
    let rest = urn.strip_prefix("urn:ngsi-ld:")?;
    let (ngsi_type, local) = rest.split_once(':')?;
    kinds_of_type(ngsi_type).into_iter().find_map(|kind| {
        let id: EntityId = format!("{}:{local}", kind.family().prefix()).parse().ok()?;
        let i = city.entity_index(&id)?;
        (city.entities()[i].kind() == kind).then_some(i)
    })
}

/// The UN/CEFACT Recommendation 20 common code of a twin unit (NGSI-LD `unitCode`, ETSI GS CIM
/// 009 clause 4.5.2.2), or None where Rec 20 has none (vehicles per hour, per-unit voltage,
/// sockets) or the value is a plain ratio.
pub fn unit_code(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "m" => "MTR",
        "l/s" => "G51",
        "kW" => "KWT",
        "kWh" => "KWH",
        "kvar" => "KVR",
        "km/h" => "KMH",
        "%" => "P1",
        "°C" => "CEL",
        "mg/L" => "M1",
        "h" => "HUR",
        _ => return None,
    })
}

/// An attribute name as NGSI-LD allows it (clause 4.6.2: letters, digits and `_`): the twin's
/// per-socket names `socketStatus.2` become `socketStatus_2`.
pub fn attribute_name(name: &str) -> String {
    name.replace('.', "_")
}

/// Whether `name` is a valid NGSI-LD attribute name (clause 4.6.2): a letter, then letters,
/// digits or `_`, optionally after a `prefix:`.
pub fn valid_attribute_name(name: &str) -> bool {
    let local = name.split_once(':').map_or(name, |(_, l)| l);
    let mut chars = local.chars();
    chars.next().is_some_and(char::is_alphabetic) && chars.all(|c| c.is_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urns_name_one_asset_each_and_map_back_only_with_the_right_type() {
        let city = crate::bundle::load_city_from(&crate::builtin::pitesti()).expect("Pitești");
        let mut seen = std::collections::HashSet::new();
        for (i, e) in city.entities().iter().enumerate() {
            let u = urn(e.kind(), &e.id);
            assert!(seen.insert(u.clone()), "{u} twice");
            assert_eq!(entity_of_urn(&city, &u), Some(i), "{u}");
        }
        assert_eq!(
            entity_of_urn(&city, "urn:ngsi-ld:WasteContainer:17"),
            city.entity_index(&"bin:17".parse().expect("id"))
        );
        // A junction's local id under another water type, an unknown id, the twin's own id.
        let junction = city
            .entities()
            .iter()
            .find(|e| e.kind() == AssetKind::Junction)
            .expect("a junction");
        let tank = format!("urn:ngsi-ld:Tank:{}", junction.id.local());
        assert_eq!(entity_of_urn(&city, &tank), None);
        assert_eq!(
            entity_of_urn(&city, "urn:ngsi-ld:EVChargingStation:999999"),
            None
        );
        assert_eq!(entity_of_urn(&city, "urn:ngsi-ld:Bus:17"), None);
        assert_eq!(entity_of_urn(&city, "bin:17"), None);
    }

    #[test]
    fn attribute_names_follow_clause_4_6_2() {
        assert!(valid_attribute_name("fillingLevel"));
        assert!(valid_attribute_name("socketStatus_2"));
        assert!(valid_attribute_name("sdm:fillingLevel"));
        assert!(!valid_attribute_name("socketStatus.2"));
        assert!(!valid_attribute_name("2x"));
        assert!(!valid_attribute_name(""));
        assert_eq!(attribute_name("socketStatus.2"), "socketStatus_2");
    }
}
