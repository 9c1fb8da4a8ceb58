//! NGSI-LD (ETSI GS CIM 009, the context information API of FIWARE and the OASC minimal
//! interoperability mechanisms) as far as it is a format: the city's assets as Smart Data
//! Models entities ([`model`]: types, URNs, unit codes, attribute names; [`smart_data_models`]:
//! the models' vocabularies, required attributes and roads) and the query
//! language ([`query`]), geo-queries ([`geo_query`]), entities as requests carry them and the
//! write operations on them ([`entity`]), subscriptions ([`subscription`]), temporal windows and aggregation ([`temporal`]), the type selection of queries ([`type_query`]).
//! Clause numbers are those of ETSI GS CIM 009 V1.8.1.

pub mod entity;
pub mod geo_query;
pub mod model;
pub mod query;
pub mod smart_data_models;
pub mod subscription;
pub mod temporal;
pub mod type_query;

pub use entity::{EntityBody, EntityError};
pub use geo_query::{GeoQuery, GeoQueryError};
pub use query::{Query, QueryError};
pub use type_query::TypeQuery;
