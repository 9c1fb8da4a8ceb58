//! The web viewer in a real headless Chromium against the real `twin serve`: the page loads the
//! city, live updates arrive over the WebSocket, a click on an EV charger opens its panel with
//! its live state, and a screenshot of the map is not blank. And a scenario's HTML report opened
//! from its file, offline: its charts render at full width with readable labels.
//!
//! Chromium is driven over the DevTools protocol (JSON over a WebSocket) with the same
//! tokio-tungstenite client the protocol tests use. `CHROMIUM` overrides the browser binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::Killed;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value as Json, json};
use tokio_tungstenite::tungstenite::Message;

/// Start `twin serve` on a free port; returns the process and the viewer's address.
fn serve(data: &std::path::Path) -> (Killed, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_twin"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--speed",
            "60",
            "--data-dir",
        ])
        .arg(data)
        .current_dir(common::root())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the twin runs");
    let stdout = child.stdout.take().expect("stdout");
    let child = Killed(child);
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("the twin prints its viewer address")
            .expect("utf-8");
        if let Some(rest) = line.strip_prefix("viewer: ") {
            break rest
                .split_whitespace()
                .next()
                .expect("an address")
                .to_string();
        }
    };
    // Keep draining stdout so the twin never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

/// Start headless Chromium on `url` with DevTools on a free port; returns the process and the
/// DevTools port.
fn chromium(url: &str, profile: &std::path::Path) -> (Killed, u16) {
    let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let mut child = Command::new(&binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-port=0",
            "--window-size=1280,800",
            // Nothing the page needs is on the network; a dead proxy makes sure of it.
            "--proxy-server=127.0.0.1:9",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{binary} runs (scripts/test.sh installs chromium): {e}"));
    let stderr = child.stderr.take().expect("stderr");
    let child = Killed(child);
    let mut lines = BufReader::new(stderr).lines();
    let port = loop {
        let line = lines
            .next()
            .expect("chromium prints its DevTools address")
            .expect("utf-8");
        if let Some(rest) = line.split("DevTools listening on ws://127.0.0.1:").nth(1) {
            break rest
                .split('/')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("a port");
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, port)
}

/// GET a path from Chromium's DevTools HTTP endpoint. It keeps the connection open after the
/// response, so the body is read by its Content-Length.
fn devtools_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("devtools");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").expect("write");
    let mut data = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = s.read(&mut chunk).expect("read");
        if n == 0 {
            break;
        }
        data.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&data);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())
                    .flatten()
            });
            if length.is_some_and(|n| body.len() >= n) {
                return body.to_string();
            }
        }
    }
    String::from_utf8_lossy(&data).into_owned()
}

/// The DevTools WebSocket of the page.
fn page_target(port: u16) -> String {
    let started = Instant::now();
    loop {
        let body = devtools_get(port, "/json/list");
        let list: Json = serde_json::from_str(&body).unwrap_or(Json::Null);
        if let Some(ws) = list.as_array().into_iter().flatten().find_map(|t| {
            (t["type"] == "page")
                .then(|| t["webSocketDebuggerUrl"].as_str())
                .flatten()
        }) {
            return ws.to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no page target: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

struct DevTools {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
}

impl DevTools {
    async fn call(&mut self, method: &str, params: Json) -> Json {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"id": id, "method": method, "params": params});
        self.ws
            .send(Message::Text(msg.to_string().into()))
            .await
            .expect("send");
        loop {
            let m = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .expect("a DevTools answer in time")
                .expect("open")
                .expect("no error");
            if let Message::Text(t) = m {
                let v: Json = serde_json::from_str(t.as_str()).expect("json");
                if v["id"] == id {
                    assert!(v.get("error").is_none(), "{method}: {v}");
                    return v["result"].clone();
                }
            }
        }
    }

    /// Evaluate a JavaScript expression in the page; its value.
    async fn eval(&mut self, expression: &str) -> Json {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        r["result"]["value"].clone()
    }

    /// Evaluate until the expression is truthy.
    async fn wait_for(&mut self, expression: &str, within: Duration) -> Json {
        let started = Instant::now();
        loop {
            let v = self.eval(expression).await;
            if !(v.is_null() || v == false || v == 0) {
                return v;
            }
            assert!(
                started.elapsed() < within,
                "`{expression}` did not become true within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn click(&mut self, x: f64, y: f64) {
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )
            .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_shows_the_live_city_and_an_asset_panel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_twin, url) = serve(&dir.path().join("twin"));
    let (_browser, port) = chromium(&url, &dir.path().join("profile"));
    let target = tokio::task::spawn_blocking(move || page_target(port))
        .await
        .expect("join");
    let (ws, _) = tokio_tungstenite::connect_async(target.as_str())
        .await
        .expect("DevTools connects");
    let mut page = DevTools { ws, next_id: 0 };

    // The city loads and the feed is live: a snapshot, then deltas changing entities.
    page.wait_for(
        "window.citytwin && citytwin.stats.snapshots >= 1",
        Duration::from_secs(90),
    )
    .await;
    let before = page
        .eval("citytwin.stats.changes")
        .await
        .as_u64()
        .unwrap_or(0);
    page.wait_for(
        &format!("citytwin.stats.deltas >= 3 && citytwin.stats.changes > {before}"),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(page.eval("citytwin.stats.gaps").await, 0, "no sequence gap");
    page.wait_for(
        "document.querySelector('[data-kpi=\"clients\"]') !== null",
        Duration::from_secs(30),
    )
    .await;
    let streets = page.eval("citytwin.state.features.street.length").await;
    assert!(
        streets.as_u64().unwrap_or(0) > 1000,
        "streets drawn: {streets}"
    );

    // Click a charger: its panel opens with its live state and history.
    let id = page
        .eval("citytwin.state.features.charger[0].id")
        .await
        .as_str()
        .expect("a charger id")
        .to_string();
    page.eval(&format!("citytwin.centreOn('{id}')")).await;
    let pos = page.eval(&format!("citytwin.screenPosition('{id}')")).await;
    let (x, y) = (pos["x"].as_f64().expect("x"), pos["y"].as_f64().expect("y"));
    page.click(x, y).await;
    page.wait_for(
        &format!(
            "document.getElementById('panel').dataset.entity === '{id}' && \
             document.getElementById('panel').dataset.loaded === 'true'"
        ),
        Duration::from_secs(20),
    )
    .await;
    let title = page
        .eval("document.getElementById('panel-title').textContent")
        .await;
    assert!(title.as_str().is_some_and(|t| t.contains(&id)), "{title}");
    let attributes = page
        .eval("document.querySelectorAll('#panel-attributes tr').length")
        .await;
    assert!(
        attributes.as_u64().unwrap_or(0) >= 3,
        "attributes shown: {attributes}"
    );
    let hidden = page.eval("document.getElementById('panel').hidden").await;
    assert_eq!(hidden, false);

    // Water age and chlorine arrive from the quality run; the water network can be coloured by
    // free chlorine (red below 0.2 mg/L, amber below 0.5, blue above).
    let junction = page
        .wait_for(
            "citytwin.state.features.water.find(f => typeof f.state.freeChlorine === 'number' \
             && typeof f.state.waterAge === 'number')?.id ?? false",
            Duration::from_secs(60),
        )
        .await;
    let junction = junction
        .as_str()
        .expect("a junction with quality")
        .to_string();
    let chlorine = page
        .eval(&format!(
            "citytwin.state.byId.get('{junction}').state.freeChlorine"
        ))
        .await
        .as_f64()
        .expect("chlorine");
    page.eval(
        "(() => { const s = document.getElementById('water-colour'); s.value = 'freeChlorine'; \
         s.dispatchEvent(new Event('change')); return true; })()",
    )
    .await;
    let colour = page.eval(&format!("citytwin.colourOf('{junction}')")).await;
    let expected = if chlorine < 0.2 {
        "#d62828"
    } else if chlorine < 0.5 {
        "#f0a020"
    } else {
        "#1f6fb2"
    };
    assert_eq!(colour, expected, "{junction} at {chlorine} mg/L");

    // A screenshot that is not blank: many colours, and much of the map is not background.
    page.eval("citytwin.centreOn && document.getElementById('zoom-fit').click()")
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let shot = page
        .call("Page.captureScreenshot", json!({"format": "png"}))
        .await;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().expect("png data"))
        .expect("base64");
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("viewer-screenshot.png");
    std::fs::write(&out, &bytes).expect("save the screenshot");
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| &p[..3])
        .collect();
    let mut counts = std::collections::HashMap::new();
    for p in &pixels {
        *counts.entry(*p).or_insert(0usize) += 1;
    }
    let most = counts.values().copied().max().unwrap_or(0);
    assert!(
        counts.len() > 50,
        "only {} colours in {}",
        counts.len(),
        out.display()
    );
    assert!(
        (most as f64) < 0.9 * pixels.len() as f64,
        "one colour covers {most} of {} pixels: blank? {}",
        pixels.len(),
        out.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_report_opens_offline_with_readable_charts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("report");
    let run = common::twin(&[
        "scenario",
        "run",
        "scenarios/examples/substation-failure-switching.toml",
        "--out",
        out_dir.to_str().expect("utf-8"),
    ]);
    assert!(run.status.success(), "{}", common::stderr(&run));
    let url = format!("file://{}", out_dir.join("report.html").display());
    // No network at all: a proxy that does not exist would fail any fetch.
    let (_browser, port) = chromium(&url, &dir.path().join("profile"));
    let target = page_target(port);
    let (ws, _) = tokio_tungstenite::connect_async(target.as_str())
        .await
        .expect("devtools websocket");
    let mut page = DevTools { ws, next_id: 0 };
    // The target may still be `about:blank` (already `complete`) when it is
    // first listed: wait for the report's own document to have loaded.
    page.wait_for(
        "location.protocol === 'file:' && document.readyState === 'complete' \
         && document.querySelectorAll('svg.chart').length > 0",
        Duration::from_secs(30),
    )
    .await;
    // Nothing was fetched: every byte is in the file.
    assert_eq!(
        page.eval("performance.getEntriesByType('resource').length")
            .await,
        0
    );
    let charts = page
        .eval(
            "Array.from(document.querySelectorAll('svg.chart')).map(s => { const r = s.getBoundingClientRect(); \
             return {w: r.width, h: r.height, lines: s.querySelectorAll('polyline').length, \
             points: Array.from(s.querySelectorAll('polyline')).map(p => p.points.numberOfItems)}; })",
        )
        .await;
    let charts = charts.as_array().expect("charts");
    assert_eq!(
        charts.len(),
        2,
        "grid load and customers without power: {charts:?}"
    );
    for c in charts {
        assert!(
            c["w"].as_f64().expect("w") > 600.0 && c["h"].as_f64().expect("h") > 200.0,
            "{c}"
        );
        assert_eq!(c["lines"], 2, "baseline and scenario: {c}");
        assert_eq!(c["points"], json!([96, 96]), "a point per step: {c}");
    }
    // Every label is rendered at a readable size.
    let smallest = page
        .eval(
            "Math.min(...Array.from(document.querySelectorAll('svg.chart text')).map(t => \
             t.getBoundingClientRect().height))",
        )
        .await;
    assert!(
        smallest.as_f64().expect("px") >= 9.0,
        "smallest chart label {smallest} px"
    );
    let rows = page
        .eval("document.querySelectorAll('table tbody tr').length")
        .await;
    assert!(rows.as_u64().expect("rows") >= 10);
    let shot = page
        .call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        )
        .await;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().expect("png data"))
        .expect("base64");
    std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("scenario-report-screenshot.png"),
        &bytes,
    )
    .expect("save the screenshot");
}
