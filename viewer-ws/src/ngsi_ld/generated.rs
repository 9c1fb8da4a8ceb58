//! Entities the twin derives rather than holds as assets, answered by retrieve, query and
//! types and never written through the API: the roads its street segments belong to (`Road`),
//! its key figures (`KeyPerformanceIndicator`, dataModel.KeyPerformanceIndicator), its current
//! alerts (`Alert`, dataModel.Alert) and the citizens' reports (`IssueReporting`,
//! dataModel.IssueTracking). They are built when asked for, from the hub's current state; their
//! changes are not notified to subscriptions (the key figures change every second).
//!
//! The Alert model's `category` has no value for a utility's supply incident: power and water
//! supply alerts are `security` (security of supply, as the EU's electricity and drinking water
//! directives name it), chlorine residual alerts `health`, traffic ones `traffic`, bins
//! `environment`; the twin's own code stays in `alertCode`.

use serde_json::{Map, Value as Json, json};
use twin_actors::network::NetworkKind;

use super::twin_entity::urn_of_twin_id;
use crate::AppState;
use crate::feed::AlertView;

/// The types of the generated entities.
pub(super) const TYPES: [&str; 4] = ["Road", "KeyPerformanceIndicator", "Alert", "IssueReporting"];

/// Key figures as KPI entities: (field of `Kpis`, name, description, UN/CEFACT unit code).
const KPIS: &[(&str, &str, &str, Option<&str>)] = &[
    (
        "readings_per_s",
        "Readings per second",
        "Sensor readings the twin accepted per second, over the last second",
        None,
    ),
    (
        "streets_reporting",
        "Streets reporting",
        "Street segments with a traffic measurement or estimate",
        None,
    ),
    (
        "mean_congestion",
        "Mean congestion",
        "Mean congestion level of the streets reporting (0 free flow, 1 jammed)",
        None,
    ),
    (
        "congested_streets",
        "Congested streets",
        "Street segments at or above the congested level",
        None,
    ),
    (
        "closed_streets",
        "Closed streets",
        "Street segments closed to traffic",
        None,
    ),
    (
        "power_load_kw",
        "Power load",
        "Sum of the transformer posts' measured active power",
        Some("KWT"),
    ),
    (
        "min_voltage_pu",
        "Lowest voltage",
        "Lowest node voltage of the power network, per unit",
        None,
    ),
    (
        "de_energised_nodes",
        "De-energised nodes",
        "Power network nodes without supply",
        None,
    ),
    (
        "overloaded_elements",
        "Overloaded elements",
        "Power lines and transformers above their rating",
        None,
    ),
    (
        "water_demand_l_s",
        "Metered water demand",
        "Sum of the demand meters' readings (not every junction is metered)",
        Some("G51"),
    ),
    (
        "min_pressure_m",
        "Lowest pressure",
        "Lowest junction pressure of the water network",
        Some("MTR"),
    ),
    (
        "low_pressure_junctions",
        "Low-pressure junctions",
        "Junctions below the service pressure",
        None,
    ),
    (
        "mean_bin_fill",
        "Mean bin filling",
        "Mean filling level of the bins (0 empty, 1 full)",
        None,
    ),
    (
        "bins_above_80pct",
        "Bins above 80 %",
        "Bins filled above 80 %",
        None,
    ),
    (
        "bins_overflowing",
        "Bins overflowing",
        "Bins reported or measured overflowing",
        None,
    ),
    (
        "charging_power_kw",
        "EV charging power",
        "Power drawn by the EV chargers",
        Some("KWT"),
    ),
    (
        "chargers_in_use",
        "Chargers in use",
        "EV chargers with a vehicle charging",
        None,
    ),
    (
        "reports_open",
        "Open citizen reports",
        "Citizen reports not yet resolved",
        None,
    ),
    (
        "report_median_hours_to_resolve",
        "Median hours to resolve a report",
        "Median time to resolve the citizen reports resolved so far",
        Some("HUR"),
    ),
];

fn property(value: impl Into<Json>) -> Json {
    json!({"type": "Property", "value": value.into()})
}

fn kpi_entities(state: &AppState) -> Vec<Map<String, Json>> {
    let kpis = state.hub.current_kpis();
    let Ok(Json::Object(values)) = serde_json::to_value(&*kpis) else {
        return Vec::new();
    };
    let city = &state.hub.city.meta.name;
    KPIS.iter()
        .filter_map(|&(field, name, description, unit)| {
            let value = values.get(field).filter(|v| v.is_number())?;
            let mut kpi_value =
                json!({"type": "Property", "value": value, "observedAt": kpis.updated_at});
            if let Some(code) = unit {
                kpi_value["unitCode"] = json!(code);
            }
            let mut e = Map::new();
            e.insert(
                "id".into(),
                json!(format!("urn:ngsi-ld:KeyPerformanceIndicator:{field}")),
            );
            e.insert("type".into(), json!("KeyPerformanceIndicator"));
            e.insert("name".into(), property(name));
            e.insert("description".into(), property(description));
            e.insert("kpiValue".into(), kpi_value);
            e.insert("category".into(), property(json!(["quantitative"])));
            e.insert("calculationMethod".into(), property("automatic"));
            e.insert("calculatedBy".into(), property("citytwin"));
            e.insert("area".into(), property(city.as_str()));
            e.insert("updatedAt".into(), property(kpis.updated_at.as_str()));
            Some(e)
        })
        .collect()
}

/// The Alert model's category and sub-category of one of the twin's alerts.
fn alert_category(alert: &AlertView) -> (&'static str, Option<&'static str>) {
    match (alert.network, alert.code) {
        (NetworkKind::Road, _) => ("traffic", Some("trafficJam")),
        (NetworkKind::Water, "low_chlorine") => ("health", Some("waterPollution")),
        (NetworkKind::Waste, _) => ("environment", None),
        _ => ("security", None),
    }
}

fn alert_entities(state: &AppState) -> Vec<Map<String, Json>> {
    let city = &state.hub.city;
    state
        .hub
        .current_alerts()
        .iter()
        .map(|alert| {
            let (category, sub) = alert_category(alert);
            // One id per alert: its network, code and first entity name it.
            let first = alert.entities.first().map(String::as_str).unwrap_or("city");
            let mut e = Map::new();
            e.insert(
                "id".into(),
                json!(format!(
                    "urn:ngsi-ld:Alert:{}-{}-{}",
                    alert.network.name(),
                    alert.code,
                    first.replace(':', "-")
                )),
            );
            e.insert("type".into(), json!("Alert"));
            e.insert("category".into(), property(category));
            if let Some(sub) = sub {
                e.insert("subCategory".into(), property(sub));
            }
            e.insert("alertCode".into(), property(alert.code));
            e.insert("description".into(), property(alert.message.as_str()));
            e.insert("dateIssued".into(), property(alert.since.as_str()));
            e.insert("validFrom".into(), property(alert.since.as_str()));
            e.insert(
                "alertSource".into(),
                json!({"type": "Relationship", "object": "urn:ngsi-ld:Device:citytwin"}),
            );
            let about: Vec<String> = alert
                .entities
                .iter()
                .filter_map(|id| urn_of_twin_id(city, id))
                .collect();
            if !about.is_empty() {
                e.insert("refEntities".into(), json!({"type": "Relationship", "object": about}));
            }
            if let Some(i) = alert.entities.first().and_then(|id| state.hub.index_of(id)) {
                let p = city.entities()[i].location;
                e.insert(
                    "location".into(),
                    json!({"type": "GeoProperty", "value": {"type": "Point", "coordinates": [p.lon, p.lat]}}),
                );
            }
            e
        })
        .collect()
}

fn report_entities(state: &AppState) -> Vec<Map<String, Json>> {
    let city = &state.hub.city;
    let book = state.hub.twin.shared.reports();
    book.all()
        .map(|r| {
            let mut e = Map::new();
            e.insert("id".into(), json!(format!("urn:ngsi-ld:IssueReporting:{}", r.id)));
            e.insert("type".into(), json!("IssueReporting"));
            e.insert("reportId".into(), property(r.id.to_string()));
            e.insert("category".into(), property("waste"));
            e.insert("subCategory".into(), property(r.kind.name()));
            e.insert("title".into(), property(r.kind.name()));
            if let Some(note) = &r.note {
                e.insert("comments".into(), property(note.as_str()));
            }
            if let Some(url) = &r.photo_url {
                e.insert("mediaURL".into(), property(url.as_str()));
            }
            e.insert("wardId".into(), property(r.neighbourhood.as_str()));
            e.insert(
                "observationDateTime".into(),
                property(r.received_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            );
            e.insert(
                "resolutionStatus".into(),
                property(if r.is_open() { "Open" } else { "Closed." }),
            );
            if let Some(bin) = r.bin.as_deref().and_then(|b| urn_of_twin_id(city, b)) {
                e.insert("refWasteContainer".into(), json!({"type": "Relationship", "object": bin}));
            }
            e.insert(
                "location".into(),
                json!({"type": "GeoProperty", "value": {"type": "Point", "coordinates": [r.lon, r.lat]}}),
            );
            e
        })
        .collect()
}

fn road_entities(state: &AppState) -> Vec<Map<String, Json>> {
    let models = &state.ngsi_ld.models;
    (0..models.roads().len())
        .map(|r| models.road_entity(&state.hub.city, r))
        .collect()
}

/// Every generated entity of the types asked for (all types when None).
pub(super) fn entities(state: &AppState, types: Option<&[String]>) -> Vec<Map<String, Json>> {
    let wanted = |t: &str| types.is_none_or(|list| list.iter().any(|x| x == t));
    let mut out = Vec::new();
    if wanted("Road") {
        out.extend(road_entities(state));
    }
    if wanted("KeyPerformanceIndicator") {
        out.extend(kpi_entities(state));
    }
    if wanted("Alert") {
        out.extend(alert_entities(state));
    }
    if wanted("IssueReporting") {
        out.extend(report_entities(state));
    }
    out
}

/// The generated entity an id names.
pub(super) fn get(state: &AppState, id: &str) -> Option<Map<String, Json>> {
    let rest = id.strip_prefix("urn:ngsi-ld:")?;
    let (ngsi_type, _) = rest.split_once(':')?;
    if !TYPES.contains(&ngsi_type) {
        return None;
    }
    if ngsi_type == "Road" {
        let r = state.ngsi_ld.models.road_by_urn(id)?;
        return Some(state.ngsi_ld.models.road_entity(&state.hub.city, r));
    }
    entities(state, Some(&[ngsi_type.to_string()]))
        .into_iter()
        .find(|e| e.get("id").and_then(Json::as_str) == Some(id))
}

/// Whether an id is of a generated type (existing or not: those types are the twin's to
/// derive, not the API's to write).
pub(super) fn owns(id: &str) -> bool {
    id.strip_prefix("urn:ngsi-ld:")
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(t, _)| TYPES.contains(&t))
}
