//! The temporal API (clauses 6.18, 6.19): the twin's assets' readings from the history store,
//! for one entity or for the entities a query selects.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value as Json, json};
use twin_core::ngsi_ld::model::{attribute_name, entity_of_urn, entity_type, unit_code, urn};
use twin_core::ngsi_ld::temporal;
use twin_core::quantity::ValueSpec;

use super::http::{IdPath, format_words, number_param, picked, read_request, respond};
use super::problem::{NgsiResult, Problem};
use crate::AppState;

/// Instances one temporal request may hold before it must be narrowed (403 TooManyResults).
const MAX_INSTANCES: usize = 100_000;

/// Parameters every temporal request may have.
const TEMPORAL_PARAMS: &[&str] = &[
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
    // No context source registrations: every entity is local.
    "local",
];

/// What a temporal request asks for (clause 6.3.12, 6.19, 6.18).
struct TemporalRequest {
    /// `normalized`, `temporalValues` or `aggregatedValues`.
    shape: &'static str,
    from_ms: i64,
    to_ms: i64,
    last_n: Option<usize>,
    methods: Vec<temporal::Method>,
    period: Option<i64>,
    pick: Option<Vec<String>>,
}

impl TemporalRequest {
    fn parse(params: &HashMap<String, String>) -> Result<TemporalRequest, Problem> {
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
                "normalized" => shape = "normalized",
                "temporalValues" => shape = "temporalValues",
                "aggregatedValues" => shape = "aggregatedValues",
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
        Ok(TemporalRequest {
            shape,
            from_ms,
            to_ms,
            last_n,
            methods,
            period,
            pick: picked(params),
        })
    }
}

/// The readings of entity `i` in the request's window, at most [`MAX_INSTANCES`] (the newest
/// ones for `lastN`; more is 403 TooManyResults).
async fn readings_of(
    state: &AppState,
    i: usize,
    request: &TemporalRequest,
) -> Result<Vec<twin_core::Reading>, Problem> {
    let entity = state.hub.city.entities()[i].id.clone();
    let history = state
        .hub
        .twin
        .history()
        .ok_or_else(|| Problem::internal("the twin is not running"))?;
    let window = twin_actors::store::Window {
        from_ms: request.from_ms,
        to_ms: request.to_ms,
        limit: MAX_INSTANCES + 1,
        newest: request.last_n.is_some(),
    };
    let mut readings = tokio::task::spawn_blocking(move || history.read(&entity, window))
        .await
        .map_err(|e| Problem::internal(e.to_string()))?
        .map_err(|e| Problem::internal(e.to_string()))?;
    if readings.len() > MAX_INSTANCES && request.last_n.is_some() {
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
    Ok(readings)
}

/// The temporal representation of entity `i` from its readings.
fn evolution(
    state: &AppState,
    i: usize,
    request: &TemporalRequest,
    readings: &[twin_core::Reading],
) -> Json {
    let TemporalRequest {
        shape,
        from_ms,
        to_ms,
        last_n,
        methods,
        period,
        pick,
    } = request;
    let (shape, from_ms, to_ms, last_n, period) = (*shape, *from_ms, *to_ms, *last_n, *period);
    let e = &state.hub.city.entities()[i];
    let kind = e.kind();
    let id = urn(kind, &e.id);
    // Instances per attribute, in time order.
    let mut by_attr: std::collections::BTreeMap<String, (Option<&'static str>, Vec<(i64, Json)>)> =
        std::collections::BTreeMap::new();
    for r in readings {
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
                for m in methods {
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
    Json::Object(out)
}

/// `GET /ngsi-ld/v1/temporal/entities/{id}` (clause 6.19.3.1): the readings kept in the
/// history as the temporal evolution of the entity's measured attributes: `timerel`
/// (`before`, `after`, `between`) with `timeAt`/`endTimeAt`, `lastN`, `attrs`/`pick`, and
/// `format` = normalized (instances), `temporalValues` (`[value, time]` pairs) or
/// `aggregatedValues` (`aggrMethods`, `aggrPeriodDuration`).
pub(super) async fn retrieve_temporal(
    State(state): State<AppState>,
    headers: HeaderMap,
    IdPath(id): IdPath,
    Query(params): Query<HashMap<String, String>>,
) -> NgsiResult {
    let ld = read_request(&state, &headers, &params, TEMPORAL_PARAMS)?;
    let mut params = params;
    ld.internal_params(&state, &mut params).await?;
    let request = TemporalRequest::parse(&params)?;
    let i = entity_of_urn(&state.hub.city, &id).ok_or_else(|| {
        Problem::not_found(format!(
            "no entity {id} with a history (the twin's assets keep their readings)"
        ))
    })?;
    let readings = readings_of(&state, i, &request).await?;
    let body = ld
        .external_entities(&state, evolution(&state, i, &request, &readings))
        .await?;
    Ok(respond(body, &ld, vec![]))
}

/// Entities one temporal query answers unless it asks for fewer, and the most it may ask for.
const TEMPORAL_LIMIT: usize = 20;
const MAX_TEMPORAL_LIMIT: usize = 100;

/// `GET /ngsi-ld/v1/temporal/entities` (clause 6.18.3.2): the evolution of every twin asset
/// selected by `type`, `id` or `idPattern`, in pages (`limit` default 20, at most 100,
/// `offset`, `count`), with the temporal parameters of one entity. At most [`MAX_INSTANCES`]
/// readings in all (403 TooManyResults beyond: narrow the window, the page or use `lastN`).
pub(super) async fn query_temporal(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> NgsiResult {
    let allowed: Vec<&str> = TEMPORAL_PARAMS
        .iter()
        .copied()
        .chain(["type", "id", "idPattern", "limit", "offset", "count"])
        .collect();
    let ld = read_request(&state, &headers, &params, &allowed)?;
    let mut params = params;
    ld.internal_params(&state, &mut params).await?;
    if !["type", "id", "idPattern"]
        .iter()
        .any(|k| params.contains_key(*k))
    {
        return Err(Problem::bad_request(
            "a temporal query needs type, id or idPattern (clause 5.7.4)",
        ));
    }
    let request = TemporalRequest::parse(&params)?;
    let types: Option<Vec<&str>> = params
        .get("type")
        .map(|t| t.split([',', '|']).map(str::trim).collect());
    let ids: Option<Vec<&str>> = params
        .get("id")
        .map(|t| t.split(',').map(str::trim).collect());
    let pattern = match params.get("idPattern") {
        Some(p) => Some(
            regex::Regex::new(p)
                .map_err(|e| Problem::bad_request(format!("idPattern `{p}`: {e}")))?,
        ),
        None => None,
    };
    let limit = number_param(&params, "limit", TEMPORAL_LIMIT, MAX_TEMPORAL_LIMIT)?;
    let offset = number_param(&params, "offset", 0, usize::MAX)?;
    let selected: Vec<usize> = state
        .hub
        .city
        .entities()
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            let id = urn(e.kind(), &e.id);
            types
                .as_ref()
                .is_none_or(|t| t.contains(&entity_type(e.kind())))
                && ids.as_ref().is_none_or(|list| list.contains(&id.as_str()))
                && pattern.as_ref().is_none_or(|p| p.is_match(&id))
        })
        .map(|(i, _)| i)
        .collect();
    let mut total = 0usize;
    let mut page = Vec::new();
    for &i in selected.iter().skip(offset).take(limit) {
        let readings = readings_of(&state, i, &request).await?;
        total += readings.len();
        if total > MAX_INSTANCES {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "TooManyResults",
                format!(
                    "more than {MAX_INSTANCES} readings in this page: narrow the window, ask for fewer entities or for lastN"
                ),
            ));
        }
        page.push(evolution(&state, i, &request, &readings));
    }
    let mut extra = Vec::new();
    if params.get("count").is_some_and(|c| c == "true") {
        extra.push(("NGSILD-Results-Count", selected.len().to_string()));
    }
    let body = ld.external_entities(&state, Json::Array(page)).await?;
    Ok(respond(body, &ld, extra))
}
