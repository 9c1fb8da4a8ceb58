//! Fuzz harnesses of the edge's decoders: WebSocket client messages and the tokens file, from
//! real ones with field-style edits (`twin_core::formats::mutate`): a value or a clean error,
//! never a panic. The query parameters' harness sits beside them in `api.rs`.
//! `FUZZ_CASES=1000000` runs each for a million inputs (docs/reliability.md).

use proptest::prelude::*;
use twin_core::formats::mutate::{apply, config, edits};
use twin_viewer_ws::protocol::{WsLimits, parse_client_message};

proptest! {
    #![proptest_config(config(256))]

    /// Subscribe, unsubscribe and ping messages; a subscription accepted has a rate within
    /// the limits.
    #[test]
    fn fuzz_websocket_messages(edits in edits()) {
        let limits = WsLimits::default();
        for real in [
            "{\"type\":\"subscribe\",\"id\":\"a\",\n\"layers\":[\"street\",\"bin\",\"kpi\"],\n\"bbox\":[24.8,44.82,24.9,44.88],\n\"rate\":2}",
            "{\"type\":\"unsubscribe\",\n\"id\":\"a\"}",
            "{\"type\":\"ping\",\n\"id\":7}",
        ] {
            let text = apply(real, &edits);
            if let Ok(twin_viewer_ws::protocol::ClientMessage::Subscribe(s)) =
                parse_client_message(&text, &limits)
            {
                prop_assert!(s.rate_hz.is_finite()
                    && (limits.min_rate_hz..=limits.max_rate_hz).contains(&s.rate_hz));
            }
        }
    }

    /// The API's tokens file.
    #[test]
    fn fuzz_tokens_file(edits in edits()) {
        let text = apply(
            "open_reads = true\n\n[[token]]\nname = \"ops\"\nrole = \"operator\"\ntoken = \"operator-token-0123456789\"\n\n[[token]]\nname = \"screen\"\nrole = \"viewer\"\ntoken = \"viewer-token-0123456789\"\n",
            &edits,
        );
        let _ = twin_viewer_ws::auth::Auth::from_toml(&text, "tokens.toml");
    }
}
