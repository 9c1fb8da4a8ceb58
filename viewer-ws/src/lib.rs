//! # twin-viewer-ws — what people and clients see
//!
//! Will hold the HTTP API, the WebSocket feed of the live twin (snapshot and deltas, bounded per
//! client) and the bundled web viewer (static files embedded in the binary). See DESIGN.md §4, §9.
//!
//! Depends on `twin-actors` (the live twin it serves) and `twin-core` (the model). This is an
//! edge crate: wire types with `Serialize` live here, not in `twin-core`.
//! **Must never depend on** `twin-scenarios` internals or hold model logic of its own.
//!
//! Status: empty; the viewer issue fills it.
