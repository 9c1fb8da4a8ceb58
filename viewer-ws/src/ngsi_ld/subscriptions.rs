//! Subscriptions (clause 6.10, 6.11): create, list, retrieve, update and delete. They are kept
//! in the store (durable when the answer is sent) and handed to the [`super::notifier`].
//!
//! Every subscription operation needs the writer's rights (an operator's token, or
//! `open_ngsi_ld_writes`): a subscription names where the city's data goes.

use std::collections::HashMap;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value as Json, json};
use twin_actors::store::Documents;
use twin_core::ngsi_ld::subscription::Subscription;

use super::context::Ld;
use super::http::{
    IdPath, check_params, check_writer, media, number_param, respond, string_list, write_body,
};
use super::notifier::{Entry, fresh_urn};
use super::problem::{NgsiResult, Problem};
use crate::AppState;

fn documents(state: &AppState) -> Result<Documents, Problem> {
    state
        .hub
        .twin
        .store_handles()
        .map(|h| h.ngsi_ld_subscriptions)
        .ok_or_else(|| Problem::internal("the twin is not running"))
}

/// `POST /ngsi-ld/v1/subscriptions` (clause 6.10.3.1): 201 with its `Location`; an id is
/// given when the body has none.
pub(super) async fn create_subscription(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
    request: Request,
) -> NgsiResult {
    check_params(&params, &[])?;
    let (body, ld) = write_body(&state, request, false).await?;
    let mut body = translate(&state, &ld, body, Direction::Internal).await?;
    let Json::Object(o) = &mut body else {
        return Err(Problem::bad_request("a subscription is a JSON object"));
    };
    o.remove("@context");
    if ld.terms.is_some() && !o.contains_key("jsonldContext") {
        o.insert("jsonldContext".into(), ld.context());
    }
    // JSON notifications name their context in a Link header: it must be one URL.
    if let Some(context) = o.get("jsonldContext") {
        let ld_json = o
            .get("notification")
            .and_then(|n| n.pointer("/endpoint/accept"))
            .and_then(Json::as_str)
            == Some("application/ld+json");
        if !ld_json && super::context::link_url(context).is_none() {
            return Err(Problem::bad_request(
                "this subscription's @context is inline or several URLs: JSON notifications name theirs in a Link header, which holds one URL; give one URL, or ask for application/ld+json notifications",
            ));
        }
    }
    for member in ["status", "createdAt", "modifiedAt"] {
        o.remove(member);
    }
    if !o.contains_key("id") {
        o.insert("id".into(), json!(fresh_urn("Subscription")));
    }
    if let Some(n) = o.get_mut("notification").and_then(Json::as_object_mut) {
        for member in twin_core::ngsi_ld::subscription::NOTIFICATION_STATUS {
            n.remove(*member);
        }
    }
    let subscription = Subscription::parse(&body).map_err(|e| Problem::bad_request(e.0))?;
    check_not_expired(&subscription)?;
    let id = subscription.id.clone();
    let docs = documents(&state)?;
    state.ngsi_ld.notifier.with_entries(|entries| {
        if entries.contains_key(&id) {
            return Err(Problem::already_exists(format!("subscription {id} exists")));
        }
        docs.write()
            .put(&id, &body)
            .map_err(|e| Problem::internal(format!("the store: {e}")))?;
        entries.insert(id.clone(), Entry::new(subscription, body));
        Ok(())
    })?;
    let mut response = StatusCode::CREATED.into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/ngsi-ld/v1/subscriptions/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /ngsi-ld/v1/subscriptions` (clause 6.10.3.2): `limit` (default 20, at most 1,000),
/// `offset`, `count`.
pub(super) async fn list_subscriptions(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> NgsiResult {
    check_writer(&state, &headers)?;
    let ld = Ld::from_link(&state, &headers, media(&headers)?)?;
    check_params(&params, &["limit", "offset", "count"])?;
    let limit = number_param(&params, "limit", 20, 1000)?;
    let offset = number_param(&params, "offset", 0, usize::MAX)?;
    let all = state.ngsi_ld.notifier.views();
    let mut extra = Vec::new();
    if params.get("count").is_some_and(|c| c == "true") {
        extra.push(("NGSILD-Results-Count", all.len().to_string()));
    }
    // Links to the pages around this one (clause 6.3.10), as for entities.
    let total = all.len();
    let page_link = |rel: &str, at: usize| {
        (
            "Link",
            format!("</ngsi-ld/v1/subscriptions?limit={limit}&offset={at}>; rel=\"{rel}\""),
        )
    };
    if limit > 0 && offset + limit < total {
        extra.push(page_link("next", offset + limit));
    }
    if limit > 0 && offset > 0 {
        extra.push(page_link("prev", offset.saturating_sub(limit)));
    }
    let mut page = Vec::new();
    for view in all.into_iter().skip(offset).take(limit) {
        page.push(translate(&state, &ld, view, Direction::External).await?);
    }
    Ok(respond(Json::Array(page), &ld, extra))
}

/// `GET /ngsi-ld/v1/subscriptions/{id}` (clause 6.11.3.1).
pub(super) async fn retrieve_subscription(
    State(state): State<AppState>,
    headers: HeaderMap,
    IdPath(id): IdPath,
) -> NgsiResult {
    check_writer(&state, &headers)?;
    let ld = Ld::from_link(&state, &headers, media(&headers)?)?;
    let view = state
        .ngsi_ld
        .notifier
        .view(&id)
        .ok_or_else(|| Problem::not_found(format!("no subscription {id}")))?;
    let view = translate(&state, &ld, view, Direction::External).await?;
    Ok(respond(view, &ld, vec![]))
}

/// `PATCH /ngsi-ld/v1/subscriptions/{id}` (clause 6.11.3.2): the members given replace the
/// subscription's (`notification` member by member); the result is checked as a new one.
pub(super) async fn update_subscription(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    request: Request,
) -> NgsiResult {
    let (fragment, ld) = write_body(&state, request, true).await?;
    let fragment = translate(&state, &ld, fragment, Direction::Internal).await?;
    let Json::Object(fragment) = fragment else {
        return Err(Problem::bad_request(
            "a subscription fragment is a JSON object",
        ));
    };
    let docs = documents(&state)?;
    state.ngsi_ld.notifier.with_entries(|entries| {
        let entry = entries
            .get(&id)
            .ok_or_else(|| Problem::not_found(format!("no subscription {id}")))?;
        let mut raw = entry.raw().clone();
        for (member, value) in fragment {
            match member.as_str() {
                "@context" | "status" | "createdAt" | "modifiedAt" => {}
                "id" if value != json!(id) => {
                    return Err(Problem::bad_request("a subscription's id cannot change"));
                }
                "notification" => match (raw.get_mut("notification"), value) {
                    (Some(Json::Object(n)), Json::Object(given)) => n.extend(given),
                    (_, value) => raw["notification"] = value,
                },
                _ => raw[member] = value,
            }
        }
        let subscription = Subscription::parse(&raw).map_err(|e| Problem::bad_request(e.0))?;
        check_not_expired(&subscription)?;
        docs.write()
            .put(&id, &raw)
            .map_err(|e| Problem::internal(format!("the store: {e}")))?;
        entries.insert(id.clone(), Entry::new(subscription, raw));
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /ngsi-ld/v1/subscriptions/{id}` (clause 6.11.3.3).
pub(super) async fn delete_subscription(
    State(state): State<AppState>,
    headers: HeaderMap,
    IdPath(id): IdPath,
) -> NgsiResult {
    check_writer(&state, &headers)?;
    let docs = documents(&state)?;
    state.ngsi_ld.notifier.with_entries(|entries| {
        if entries.remove(&id).is_none() {
            return Err(Problem::not_found(format!("no subscription {id}")));
        }
        docs.write()
            .remove(&id)
            .map_err(|e| Problem::internal(format!("the store: {e}")))?;
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Which way a subscription's names go.
#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Internal,
    External,
}

/// A subscription (or a fragment of one) with the names it holds (`entities[].type`,
/// `watchedAttributes`, `notification.attributes`, `geoQ.geoproperty`) made internal or
/// given in the request's terms. `q` is kept as written; one whose attribute names the
/// request's context maps elsewhere is refused (not yet rewritten).
async fn translate(
    state: &AppState,
    ld: &Ld,
    mut body: Json,
    direction: Direction,
) -> Result<Json, Problem> {
    if ld.terms.is_none() {
        return Ok(body);
    }
    let mut names: Vec<String> = Vec::new();
    names.extend(
        body["entities"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["type"].as_str().map(str::to_string)),
    );
    names.extend(string_list(body.get("watchedAttributes")));
    names.extend(string_list(body.pointer("/notification/attributes")));
    names.extend(
        body.pointer("/geoQ/geoproperty")
            .and_then(Json::as_str)
            .map(str::to_string),
    );
    let translated = match direction {
        Direction::Internal => ld.internal(state, &names).await?,
        Direction::External => ld.external_names(state, names.clone()).await?,
    };
    let map: HashMap<String, String> = names.into_iter().zip(translated).collect();
    let rename = |v: &mut Json| {
        if let Some(t) = v.as_str().and_then(|t| map.get(t)) {
            *v = json!(t);
        }
    };
    if let Some(entities) = body.get_mut("entities").and_then(Json::as_array_mut) {
        for e in entities {
            if let Some(t) = e.get_mut("type") {
                rename(t);
            }
        }
    }
    for pointer in ["/watchedAttributes", "/notification/attributes"] {
        if let Some(list) = body.pointer_mut(pointer).and_then(Json::as_array_mut) {
            list.iter_mut().for_each(rename);
        }
    }
    if let Some(g) = body.pointer_mut("/geoQ/geoproperty") {
        rename(g);
    }
    if direction == Direction::Internal
        && let Some(q) = body.get("q").and_then(Json::as_str)
    {
        let parsed =
            twin_core::ngsi_ld::Query::parse(q).map_err(|e| Problem::bad_request(e.to_string()))?;
        let attributes: Vec<String> = parsed
            .attributes()
            .into_iter()
            .map(str::to_string)
            .collect();
        let internal = ld.internal(state, &attributes).await?;
        if attributes != internal {
            return Err(Problem::bad_request(format!(
                "q `{q}` names attributes the request's @context maps to other IRIs; a subscription's q is not yet translated: give them as full IRIs"
            )));
        }
    }
    Ok(body)
}

/// A subscription made or changed to expire in the past is refused (clause 5.2.12:
/// `expiresAt` is a time to come).
fn check_not_expired(subscription: &Subscription) -> Result<(), Problem> {
    match subscription.expires_at {
        Some(at) if at <= chrono::Utc::now() => Err(Problem::bad_request(format!(
            "expiresAt {} is in the past",
            at.to_rfc3339()
        ))),
        _ => Ok(()),
    }
}
