//! The NGSI-LD API (ETSI GS CIM 009 V1.8.1) under `/ngsi-ld/v1`, as far as it is written: the
//! city's assets as Smart Data Models entities, retrieved one by one or queried (type, id,
//! idPattern, `q`, attrs/pick, pagination with count, the normalized, concise and keyValues
//! formats), errors as ProblemDetails. docs/ngsi-ld.md lists what is supported and refused.
//!
//! Terms are those of the Smart Data Models' @contexts and the NGSI-LD core context; responses
//! name the core context in their `Link` header (clause 6.3.5). Requests naming another
//! context are refused with `LdContextNotAvailable` until expansion with a JSON-LD processor
//! is written, rather than answered with terms that would mean something else.
//!
//! - [`problem`]: errors as ProblemDetails;
//! - [`http`]: what every request is checked for and how answers are shaped (formats, media
//!   types, the @context);
//! - [`twin_entity`]: the twin's own assets as entities;
//! - [`entities`]: retrieve and query; [`temporal`]: the temporal API.

mod entities;
mod http;
mod problem;
mod temporal;
mod twin_entity;

pub use problem::Problem;
pub use twin_entity::normalized;

/// The NGSI-LD core context the answers are compacted with (clause 4.4, Annex B).
pub const CORE_CONTEXT: &str = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld";

use crate::AppState;
use entities::{query_entities, retrieve_entity, types};
use temporal::retrieve_temporal;

/// The routes of the NGSI-LD API.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/ngsi-ld/v1/entities", axum::routing::get(query_entities))
        .route(
            "/ngsi-ld/v1/entities/{id}",
            axum::routing::get(retrieve_entity),
        )
        .route("/ngsi-ld/v1/types", axum::routing::get(types))
        .route(
            "/ngsi-ld/v1/temporal/entities/{id}",
            axum::routing::get(retrieve_temporal),
        )
}
