//! The NGSI-LD API (ETSI GS CIM 009 V1.8.1) under `/ngsi-ld/v1`, as far as it is written: the
//! city's assets as Smart Data Models entities, retrieved one by one or queried (type, id,
//! idPattern, `q`, attrs/pick, pagination with count, the normalized, concise and keyValues
//! formats), errors as ProblemDetails. docs/ngsi-ld.md lists what is supported and refused.
//!
//! The twin's own names are terms of the NGSI-LD core context (its default vocabulary for the
//! Smart Data Models' names); a request may name its own @context, whose terms are expanded
//! and compacted with a JSON-LD processor ([`context`], [`jsonld`]).
//!
//! - [`problem`]: errors as ProblemDetails;
//! - [`http`]: what every request is checked for and how answers are shaped (formats, media
//!   types); [`context`]: a request's @context and the names it translates; [`jsonld`]: the
//!   JSON-LD processor and the context documents;
//! - [`twin_entity`]: the twin's own assets as entities; [`twin_write`]: attribute writes to
//!   them, as readings;
//! - [`broker`]: the broker's own entities, kept in the store; [`generated`]: entities the
//!   twin derives (roads, key figures, alerts, citizens' reports);
//! - [`entities`]: retrieve and query; [`write`]: writes to one entity; [`batch`]: batch
//!   operations; [`temporal`]: the temporal API;
//! - [`subscriptions`]: their API; [`notifier`]: the engine that notifies them;
//!   [`delivery`]: posting a notification; [`bridge`]: mirroring the twin into an upstream
//!   broker; [`subscriber`]: taking readings from an upstream broker's notifications.

mod batch;
mod bridge;
mod broker;
mod context;
mod delivery;
mod entities;
mod generated;
mod http;
mod jsonld;
mod notifier;
mod problem;
mod subscriber;
mod subscriptions;
mod temporal;
mod twin_entity;
mod twin_write;
mod write;

pub use bridge::{Upstream, UpstreamConfig};
pub use jsonld::Contexts;
pub use notifier::Notifier;
pub use problem::Problem;
pub use subscriber::{SubscribeConfig, Subscriber};
pub use twin_entity::normalized;

/// What the NGSI-LD API keeps beside the twin: the subscriptions' engine and what the Smart
/// Data Models need of the city, computed once.
pub struct NgsiLd {
    pub notifier: Arc<Notifier>,
    pub models: twin_core::ngsi_ld::smart_data_models::ModelIndex,
    /// Readings taken from an upstream broker's notifications (`--ngsi-ld-subscribe`).
    pub subscriber: Option<Arc<Subscriber>>,
    /// User @contexts: their documents and what they map.
    pub contexts: Contexts,
}

impl NgsiLd {
    /// The API's state for `city`, with the subscriptions kept in `subscriptions`.
    pub fn new(
        city: &twin_core::CityModel,
        subscriptions: Option<&twin_actors::store::Documents>,
        subscribe: Option<SubscribeConfig>,
        contexts_folder: Option<std::path::PathBuf>,
    ) -> NgsiLd {
        NgsiLd {
            notifier: Notifier::load(subscriptions),
            models: twin_core::ngsi_ld::smart_data_models::ModelIndex::new(city),
            subscriber: subscribe.map(|c| Arc::new(Subscriber::new(c))),
            contexts: Contexts::new(contexts_folder),
        }
    }
}

/// The NGSI-LD core context the answers are compacted with (clause 4.4, Annex B).
pub const CORE_CONTEXT: &str = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld";

use std::sync::Arc;

use crate::AppState;
use axum::routing::{get, post};
use entities::{query_entities, retrieve_entity, types};
use temporal::{query_temporal, retrieve_temporal};
use write::{
    append_attributes, create_entity, delete_attribute, delete_entity, merge_entity,
    partial_update_attribute, replace_attribute, replace_entity, update_attributes,
};

/// The routes of the NGSI-LD API.
pub fn routes() -> axum::Router<AppState> {
    // The specification writes the attribute collection with a trailing slash (`/attrs/`);
    // clients use both.
    let attrs = || post(append_attributes).patch(update_attributes);
    let attr = || {
        axum::routing::patch(partial_update_attribute)
            .put(replace_attribute)
            .delete(delete_attribute)
    };
    // Collections too: the specification writes them with a trailing slash (`/entities/`).
    let entities = || get(query_entities).post(create_entity);
    let subscriptions =
        || get(subscriptions::list_subscriptions).post(subscriptions::create_subscription);
    axum::Router::new()
        .route("/ngsi-ld/v1/entities", entities())
        .route("/ngsi-ld/v1/entities/", entities())
        .route(
            "/ngsi-ld/v1/entities/{id}",
            get(retrieve_entity)
                .delete(delete_entity)
                .put(replace_entity)
                .patch(merge_entity),
        )
        .route("/ngsi-ld/v1/entities/{id}/attrs", attrs())
        .route("/ngsi-ld/v1/entities/{id}/attrs/", attrs())
        .route("/ngsi-ld/v1/entities/{id}/attrs/{attr}", attr())
        .route(
            "/ngsi-ld/v1/entityOperations/query",
            post(entities::query_batch),
        )
        .route(
            "/ngsi-ld/v1/entityOperations/{operation}",
            post(batch::batch),
        )
        .route("/ngsi-ld/v1/subscriptions", subscriptions())
        .route("/ngsi-ld/v1/subscriptions/", subscriptions())
        .route(
            "/ngsi-ld/v1/subscriptions/{id}",
            get(subscriptions::retrieve_subscription)
                .patch(subscriptions::update_subscription)
                .delete(subscriptions::delete_subscription),
        )
        .route("/ngsi-ld/v1/types", get(types))
        .route("/ngsi-ld/v1/types/", get(types))
        .route("/ngsi-ld/v1/temporal/entities", get(query_temporal))
        .route("/ngsi-ld/v1/temporal/entities/", get(query_temporal))
        .route("/ngsi-ld/v1/temporal/entities/{id}", get(retrieve_temporal))
        .route_layer(axum::middleware::from_fn(refuse_tenants))
        // The receiver of an upstream broker's notifications: not a tenant's request.
        .route(
            "/ngsi-ld/notify/{secret}",
            post(subscriber::receive_notification),
        )
}

/// No resource at this path: 404 `ResourceNotFound` as ProblemDetails.
pub fn not_found(request: &axum::extract::Request) -> axum::response::Response {
    use axum::response::IntoResponse;
    Problem::not_found(format!(
        "no resource {} {} in this broker (docs/ngsi-ld.md lists what it serves)",
        request.method(),
        request.uri().path()
    ))
    .into_response()
}

/// A method this path does not take: 405 `OperationNotSupported` as ProblemDetails.
pub fn method_not_allowed(request: &axum::extract::Request) -> axum::response::Response {
    use axum::response::IntoResponse;
    Problem::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "OperationNotSupported",
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
    .into_response()
}

/// The twin holds one tenant, the default one (clause 4.14): a request naming another
/// (`NGSILD-Tenant`) is refused rather than answered from the default tenant's data: a read
/// with 404 `NonexistentTenant`, a write (which would create the tenant) with 422.
async fn refuse_tenants(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let tenant = request
        .headers()
        .get("NGSILD-Tenant")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    let Some(tenant) = tenant else {
        return next.run(request).await;
    };
    if matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    ) {
        Problem::new(
            axum::http::StatusCode::NOT_FOUND,
            "NonexistentTenant",
            format!("no tenant `{tenant}`: this broker holds the default tenant only"),
        )
        .into_response()
    } else {
        Problem::not_supported(format!(
            "tenant `{tenant}`: this broker holds the default tenant only and does not create others"
        ))
        .into_response()
    }
}
