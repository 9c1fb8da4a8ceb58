//! The temporal API (clause 6.19): an entity's readings from the history store.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value as Json, json};
use twin_core::ngsi_ld::model::{attribute_name, entity_of_urn, entity_type, unit_code};
use twin_core::quantity::ValueSpec;

use super::http::{format_words, picked, read_request, respond};
use super::problem::{NgsiResult, Problem};
use crate::AppState;

/// Instances one temporal request may hold before it must be narrowed (403 TooManyResults).
const MAX_INSTANCES: usize = 100_000;

/// `GET /ngsi-ld/v1/temporal/entities/{id}` (clause 6.19.3.1): the readings kept in the
/// history as the temporal evolution of the entity's measured attributes: `timerel`
/// (`before`, `after`, `between`) with `timeAt`/`endTimeAt`, `lastN`, `attrs`/`pick`, and
/// `format` = normalized (instances), `temporalValues` (`[value, time]` pairs) or
/// `aggregatedValues` (`aggrMethods`, `aggrPeriodDuration`).
pub(super) async fn retrieve_temporal(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> NgsiResult {
    use twin_core::ngsi_ld::temporal;
    let media = read_request(
        &state,
        &headers,
        &params,
        &[
            "timerel",
            "timeAt",
            "endTimeAt",
            "lastN",
            "attrs",
            "pick",
            "format",
            "options",
            "aggrMethods",
            "aggrPeriodDuration",
            "timeproperty",
        ],
    )?;
    if let Some(p) = params.get("timeproperty")
        && p != "observedAt"
    {
        return Err(Problem::invalid(format!(
            "timeproperty `{p}`: readings are kept by observedAt only"
        )));
    }
    let mut shape = "normalized";
    for word in format_words(&params) {
        match word {
            w @ ("normalized" | "temporalValues" | "aggregatedValues") => shape = w,
            other => {
                return Err(Problem::invalid(format!(
                    "format/options `{other}` is not supported here (normalized, temporalValues, aggregatedValues)"
                )));
            }
        }
    }
    let time = |name: &str| -> Result<Option<i64>, Problem> {
        params
            .get(name)
            .map(|t| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .map(|d| d.timestamp_millis())
                    .map_err(|e| {
                        Problem::bad_request(format!("{name} `{t}` is not a DateTime: {e}"))
                    })
            })
            .transpose()
    };
    let (from_ms, to_ms) = temporal::window(
        params.get("timerel").map(String::as_str),
        time("timeAt")?,
        time("endTimeAt")?,
    )
    .map_err(Problem::bad_request)?;
    let last_n = match params.get("lastN") {
        None => None,
        Some(t) => Some(t.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
            Problem::bad_request(format!("lastN `{t}` is not a whole number above 0"))
        })?),
    };
    let methods: Vec<temporal::Method> = match (shape, params.get("aggrMethods")) {
        ("aggregatedValues", Some(list)) => list
            .split(',')
            .map(|m| temporal::Method::parse(m.trim()))
            .collect::<Result<_, _>>()
            .map_err(Problem::bad_request)?,
        ("aggregatedValues", None) => {
            return Err(Problem::bad_request(
                "format=aggregatedValues needs aggrMethods",
            ));
        }
        _ => Vec::new(),
    };
    let period = match params.get("aggrPeriodDuration") {
        Some(d) => temporal::duration_ms(d).map_err(Problem::bad_request)?,
        None => None,
    };
    let i = entity_of_urn(&state.hub.city, &id).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("no entity {id}"),
        )
    })?;
    let e = &state.hub.city.entities()[i];
    let kind = e.kind();
    let entity = e.id.clone();
    let history = state.hub.twin.history().ok_or_else(|| {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "the twin is not running",
        )
    })?;
    let window = twin_actors::store::Window {
        from_ms,
        to_ms,
        limit: MAX_INSTANCES + 1,
        newest: last_n.is_some(),
    };
    let readings = tokio::task::spawn_blocking(move || history.read(&entity, window))
        .await
        .map_err(|e| {
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                e.to_string(),
            )
        })?
        .map_err(|e| {
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                e.to_string(),
            )
        })?;
    let mut readings = readings;
    if readings.len() > MAX_INSTANCES && last_n.is_some() {
        // The newest readings were read: the oldest one past the cap goes.
        readings.remove(0);
    } else if readings.len() > MAX_INSTANCES {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "TooManyResults",
            format!(
                "more than {MAX_INSTANCES} readings in the window: narrow it with timerel or ask for lastN"
            ),
        ));
    }
    // Instances per attribute, in time order.
    let pick = picked(&params);
    let mut by_attr: std::collections::BTreeMap<String, (Option<&'static str>, Vec<(i64, Json)>)> =
        std::collections::BTreeMap::new();
    for r in &readings {
        let ms = r.observed_at.timestamp_millis();
        for (q, v) in &r.values {
            let name = attribute_name(&q.name());
            if pick.as_ref().is_some_and(|p| !p.contains(&name)) {
                continue;
            }
            let unit = match q.spec() {
                ValueSpec::Number { unit, .. } => unit_code(unit),
                _ => None,
            };
            let entry = by_attr.entry(name).or_insert((unit, Vec::new()));
            entry.1.push((ms, v.to_json()));
        }
    }
    let rfc = twin_core::live::rfc3339;
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    out.insert("type".into(), json!(entity_type(kind)));
    for (name, (unit, mut instances)) in by_attr {
        if let Some(n) = last_n {
            let skip = instances.len().saturating_sub(n);
            instances.drain(..skip);
        }
        let attr = match shape {
            "temporalValues" => json!({
                "type": "Property",
                "values": instances.iter().map(|(t, v)| json!([v, rfc(*t)])).collect::<Vec<_>>(),
            }),
            "aggregatedValues" => {
                let (Some(first), Some(last)) = (instances.first(), instances.last()) else {
                    continue;
                };
                let start = if from_ms == i64::MIN {
                    first.0
                } else {
                    from_ms
                };
                let end = if to_ms == i64::MAX {
                    last.0 + 1
                } else {
                    to_ms + 1
                };
                let points: Vec<(i64, &Json)> = instances.iter().map(|(t, v)| (*t, v)).collect();
                let mut attr = json!({"type": "Property"});
                for m in &methods {
                    let rows: Vec<Json> = temporal::aggregate(&points, *m, start, end, period)
                        .into_iter()
                        .map(|(v, s, e)| json!([v, rfc(s), rfc(e)]))
                        .collect();
                    attr[m.name()] = json!(rows);
                }
                attr
            }
            _ => json!(
                instances
                    .iter()
                    .map(|(t, v)| {
                        let mut instance =
                            json!({"type": "Property", "value": v, "observedAt": rfc(*t)});
                        if let Some(code) = unit {
                            instance["unitCode"] = json!(code);
                        }
                        instance
                    })
                    .collect::<Vec<_>>()
            ),
        };
        out.insert(name, attr);
    }
    Ok(respond(Json::Object(out), media, vec![]))
}
