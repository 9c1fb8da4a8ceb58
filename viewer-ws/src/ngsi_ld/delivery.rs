//! Delivering one notification to an `http://` endpoint (clause 5.3, binding of clause 7.2):
//! an HTTP/1.1 POST with hyper's client, a deadline per attempt, and retries with back-off.

use std::time::Duration;

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

/// Deadline of one attempt (connect, send, answer).
const ATTEMPT_DEADLINE: Duration = Duration::from_secs(10);
/// Waits before the retries: 1 s, 4 s, 16 s, then the notification is recorded as failed.
pub(super) const BACK_OFF: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(4),
    Duration::from_secs(16),
];

/// POST `body` to `uri` once: Ok when the receiver answered 2xx, else why not.
pub(super) async fn post_once(
    uri: &str,
    body: Bytes,
    content_type: &str,
    link: Option<&str>,
) -> Result<(), String> {
    let url: hyper::Uri = uri.parse().map_err(|e| format!("{uri}: {e}"))?;
    let host = url.host().ok_or_else(|| format!("{uri} names no host"))?;
    let port = url.port_u16().unwrap_or(80);
    let attempt = async {
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| format!("{uri}: {e}"))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let path = url.path_and_query().map_or("/", |p| p.as_str());
        let mut request = Request::post(path)
            .header(hyper::header::HOST, format!("{host}:{port}"))
            .header(hyper::header::CONTENT_TYPE, content_type);
        if let Some(link) = link {
            request = request.header(hyper::header::LINK, link);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| format!("{uri}: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{uri}: {e}"))?;
        let status = response.status();
        // Read the answer so the connection ends cleanly; its content does not matter.
        let _ = response.into_body().collect().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("{uri} answered {status}"))
        }
    };
    tokio::time::timeout(ATTEMPT_DEADLINE, attempt)
        .await
        .map_err(|_| {
            format!(
                "{uri} did not answer within {} s",
                ATTEMPT_DEADLINE.as_secs()
            )
        })?
}
