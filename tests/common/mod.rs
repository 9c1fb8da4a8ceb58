//! Helpers shared by the end-to-end tests: run the real `twin` binary and read its output.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn twin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twin"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the twin binary runs")
}

/// Run `twin` in `dir` instead of the project's root: what a user outside a clone does.
pub fn twin_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twin"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the twin binary runs")
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn info_json(dir: &Path) -> serde_json::Value {
    let out = twin(&["city", "info", dir.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("city info --json prints JSON")
}

/// Copy a bundle folder so a test can break one of its files.
pub fn copy_bundle(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// The error of a failed run: exactly one line on stderr, mentioning every fragment.
pub fn assert_one_line_error(out: &Output, fragments: &[&str]) {
    assert!(!out.status.success(), "the command should fail");
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line of error expected, got:\n{err}");
    for f in fragments {
        assert!(lines[0].contains(f), "`{}` should mention `{f}`", lines[0]);
    }
}

/// `twin status --data-dir DIR --json`, or JSON null when it fails (no store yet).
pub fn twin_status(data: &Path) -> serde_json::Value {
    let out = twin(&[
        "status",
        "--data-dir",
        data.to_str().expect("utf-8 path"),
        "--json",
    ]);
    if !out.status.success() {
        return serde_json::Value::Null;
    }
    serde_json::from_str(&stdout(&out)).unwrap_or(serde_json::Value::Null)
}

/// A child process killed (and reaped) when dropped, so a failing test leaves no server behind.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP port free on loopback now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Wait until something listens on `port` (a server just started), at most 10 s.
pub fn wait_for_port(port: u16, what: &str) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Check, from a stopped twin's store (`twin state`), that each bin took `per_bin` distinct
/// readings, the last at level (per_bin - 1) / 100: every acknowledged reading applied once.
pub fn assert_every_reading_applied(data: &Path, ids: &[String], per_bin: usize) {
    let mut args = vec!["state", "--data-dir", data.to_str().expect("utf-8 path")];
    args.extend(ids.iter().map(String::as_str));
    let out = twin(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let states: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    for id in ids {
        let s = &states[id];
        assert_eq!(
            s["readings"], per_bin as u64,
            "{id}: every acknowledged reading applied once: {s}"
        );
        assert_eq!(
            s["state"]["fillingLevel"],
            (per_bin - 1) as f64 / 100.0,
            "{id}: {s}"
        );
    }
}

/// One HTTP/1.1 request to a twin on loopback, with a bearer token when given; the status code
/// and the JSON body.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let body = body.map(serde_json::Value::to_string).unwrap_or_default();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut data = Vec::new();
    s.read_to_end(&mut data).expect("read");
    let text = String::from_utf8_lossy(&data).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    // Bodies may be chunked: keep the JSON between the first `{`/`[` and the last `}`/`]`.
    let start = body.find(['{', '[']).unwrap_or(0);
    let end = body.rfind(['}', ']']).map_or(body.len(), |e| e + 1);
    (code, body[start..end.max(start)].to_string())
}

/// A tokens file for a twin under test: open reads and one operator token.
#[allow(dead_code)]
pub fn write_operator_tokens(data: &Path, token: &str) {
    std::fs::create_dir_all(data).expect("data folder");
    write_tokens(
        &data.join("tokens.toml"),
        &format!(
            "open_reads = true\n\n[[token]]\nname = \"test\"\nrole = \"operator\"\ntoken = \"{token}\"\n"
        ),
    );
}

/// Write a tokens file readable by its owner only (the twin refuses one others can read).
#[allow(dead_code)]
pub fn write_tokens(path: &Path, text: &str) {
    std::fs::write(path, text).expect("tokens file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    }
}

/// Check a passage of a document that quotes what the code produces: the text between
/// `<!-- generated:KEY -->` and `<!-- /generated:KEY -->` in `doc` (a path from the project's
/// root) must be `produced`, or the test fails with both. With `UPDATE_DOCS=1` in the
/// environment the passage is rewritten instead (the document is locked while it is, so tests
/// running in parallel can update the same file).
pub fn check_doc_numbers(doc: &str, key: &str, produced: &str) {
    use std::io::{Read, Seek, Write};
    let path = root().join(doc);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{doc}: {e}"));
    file.lock().expect("lock the document");
    let mut text = String::new();
    file.read_to_string(&mut text).expect("read the document");
    let (open, close) = (
        format!("<!-- generated:{key} -->"),
        format!("<!-- /generated:{key} -->"),
    );
    let start = text
        .find(&open)
        .unwrap_or_else(|| panic!("{doc} has no {open}"))
        + open.len();
    let end = start
        + text[start..]
            .find(&close)
            .unwrap_or_else(|| panic!("{doc} has no {close}"));
    if text[start..end] == *produced {
        return;
    }
    if std::env::var("UPDATE_DOCS").as_deref() == Ok("1") {
        text.replace_range(start..end, produced);
        file.set_len(0).expect("truncate");
        file.rewind().expect("rewind");
        file.write_all(text.as_bytes()).expect("write the document");
        eprintln!("{doc}: rewrote {key}");
        return;
    }
    panic!(
        "{doc} quotes for {key}:\n{}\nbut the code produces today:\n{produced}\n(rewrite it with UPDATE_DOCS=1 and the same test)",
        &text[start..end]
    );
}

/// A number for people: thousands separated by commas, `decimals` after the point
/// (`11498.0, 0` → `11,498`; `-1234.56, 1` → `−1,234.6`, with a true minus sign).
pub fn people_number(x: f64, decimals: usize) -> String {
    let s = format!("{:.*}", decimals, x.abs());
    let (int, frac) = s.split_once('.').map_or((s.as_str(), ""), |(i, f)| (i, f));
    let mut grouped = String::new();
    for (k, c) in int.chars().enumerate() {
        if k > 0 && (int.len() - k) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if x < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "−"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

/// The mosquitto broker's binary (Debian package `mosquitto`; `scripts/test.sh` installs it).
#[allow(dead_code)]
pub fn mosquitto_binary() -> PathBuf {
    for candidate in [
        "/usr/sbin/mosquitto",
        "/usr/local/sbin/mosquitto",
        "/usr/bin/mosquitto",
    ] {
        if Path::new(candidate).exists() {
            return candidate.into();
        }
    }
    PathBuf::from("mosquitto")
}

/// A private mosquitto on a free port that queues everything for offline persistent sessions.
#[allow(dead_code)]
pub fn start_mosquitto(dir: &Path) -> (Killed, u16) {
    let port = free_port();
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
             max_queued_messages 0\nmax_inflight_messages 1000\n"
        ),
    )
    .expect("write mosquitto.conf");
    let child = Command::new(mosquitto_binary())
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto runs (apt-get install mosquitto)");
    let broker = Killed(child);
    wait_for_port(port, "mosquitto");
    (broker, port)
}
