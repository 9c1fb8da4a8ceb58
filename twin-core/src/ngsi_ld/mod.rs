//! NGSI-LD (ETSI GS CIM 009, the context information API of FIWARE and the OASC minimal
//! interoperability mechanisms) as far as it is a format: the query language. The HTTP API
//! that speaks it lives in `twin-viewer-ws`.

pub mod query;

pub use query::{Query, QueryError};
