//! One WebSocket client: reads its requests, and sends each of its subscriptions a snapshot and
//! then, at most at the subscription's rate, what changed after its cursor (see [`crate::feed`]).
//!
//! A client costs a cursor per subscription and the message being written. A client that does
//! not read blocks only its own task (the write waits), and when it reads again it is sent the
//! coalesced changes, or a fresh snapshot if it fell out of the journal.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;

use crate::feed::{FeedHub, Next};
use crate::protocol::{self, ClientMessage, Subscription, WsLimits};

struct Stream {
    sub: Subscription,
    /// The version this subscription has been sent up to.
    cursor: u64,
    /// Sequence number of the next message.
    seq: u64,
    /// Earliest time of the next message (the rate limit).
    next_at: Instant,
    /// Token bucket of the rate limit: messages may go out at once while tokens last; they
    /// refill at the subscription's rate up to [`BURST`].
    tokens: f64,
    refilled_at: Instant,
    needs_snapshot: bool,
    kpi_pending: bool,
    alert_pending: bool,
    scenario_pending: bool,
}

impl Stream {
    fn pending(&self, version: u64) -> bool {
        self.needs_snapshot
            || self.kpi_pending
            || self.alert_pending
            || self.scenario_pending
            || (self.sub.wants_entities() && self.cursor < version)
    }
}

/// Messages a subscription may send back to back before its rate applies: sparse changes go
/// out at once, a steady stream is held to the rate on average.
pub const BURST: f64 = 2.0;

impl Stream {
    fn refill(&mut self, now: Instant) {
        let dt = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + dt * self.sub.rate_hz).min(BURST);
        self.refilled_at = now;
    }

    /// Spend a token for a message sent now; the next one may go when a token is back.
    fn spend(&mut self, now: Instant) {
        self.tokens -= 1.0;
        self.next_at = if self.tokens >= 1.0 {
            now
        } else {
            now + std::time::Duration::from_secs_f64((1.0 - self.tokens) / self.sub.rate_hz)
        };
    }
}

/// Decrements the client count when a connection ends, however it ends.
pub struct ClientSlot(Arc<FeedHub>);

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Take a client slot, or `None` when the server is full.
pub fn reserve_client(hub: &Arc<FeedHub>, limits: &WsLimits) -> Option<ClientSlot> {
    let n = hub.clients.fetch_add(1, Ordering::Relaxed);
    let slot = ClientSlot(hub.clone());
    if n >= limits.max_clients {
        return None;
    }
    Some(slot)
}

/// Serve one connected client until it leaves.
/// Refill the client's message allowance for the time passed and take one message from it;
/// false when none is left.
fn take_allowance(allowance: &mut f64, refilled: &mut Instant, limits: &WsLimits) -> bool {
    let now = Instant::now();
    let earned = now.duration_since(*refilled).as_secs_f64() * limits.max_messages_per_s;
    *allowance = (*allowance + earned).min(limits.message_burst);
    *refilled = now;
    if *allowance < 1.0 {
        return false;
    }
    *allowance -= 1.0;
    true
}

pub async fn run_client(socket: WebSocket, hub: Arc<FeedHub>, limits: WsLimits, slot: ClientSlot) {
    let _slot = slot;
    let (mut sink, mut incoming) = socket.split();
    let mut version_rx = hub.version();
    let mut kpis_rx = hub.kpis();
    let mut alerts_rx = hub.alerts();
    let mut scenarios_rx = hub.scenarios();
    kpis_rx.mark_unchanged();
    alerts_rx.mark_unchanged();
    scenarios_rx.mark_unchanged();
    let mut streams: Vec<Stream> = Vec::new();
    let connected = Instant::now();
    let mut subscribed_once = false;
    let mut last_heard = connected;
    let mut next_ping = connected + limits.ping_every;
    // The client's own messages, as a token bucket.
    let (mut allowance, mut refilled) = (limits.message_burst, connected);
    loop {
        // The connection's own deadlines: its first subscription, its liveness, the next ping.
        let give_up_at = if subscribed_once {
            last_heard + limits.dead_after
        } else {
            (connected + limits.first_subscribe_within).min(last_heard + limits.dead_after)
        };
        let now = Instant::now();
        if now >= give_up_at {
            let why = if subscribed_once {
                format!(
                    "nothing heard from the client for {:?}; the connection is closed",
                    limits.dead_after
                )
            } else {
                format!(
                    "no subscription within {:?} of connecting; the connection is closed",
                    limits.first_subscribe_within
                )
            };
            let _ = sink
                .send(Message::Text(protocol::error_message("idle", &why).into()))
                .await;
            let _ = sink.send(Message::Close(None)).await;
            break;
        }
        if now >= next_ping {
            if sink.send(Message::Ping(Default::default())).await.is_err() {
                break;
            }
            next_ping = now + limits.ping_every;
        }
        let version = *version_rx.borrow_and_update();
        let due = streams
            .iter()
            .filter(|s| s.pending(version))
            .map(|s| s.next_at)
            .min();
        // Streams waiting for their rate's next slot do not care about new versions; only an
        // up-to-date stream needs waking (thousands of clients would wake per change otherwise).
        let wants_version = streams
            .iter()
            .any(|s| s.sub.wants_entities() && !s.needs_snapshot && s.cursor >= version);
        let mut replies: Vec<String> = Vec::new();
        let wake_for_connection = give_up_at.min(next_ping);
        tokio::select! {
            msg = incoming.next() => match msg {
                Some(Ok(Message::Text(_) | Message::Binary(_)))
                    if !take_allowance(&mut allowance, &mut refilled, &limits) =>
                {
                    let why = format!(
                        "a client may send {} messages a second (bursts of {}); the connection is closed",
                        limits.max_messages_per_s, limits.message_burst
                    );
                    let _ = sink
                        .send(Message::Text(protocol::error_message("too_fast", &why).into()))
                        .await;
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
                Some(Ok(Message::Text(text))) => {
                    last_heard = Instant::now();
                    match protocol::parse_client_message(text.as_str(), &limits) {
                        Ok(m) => {
                            subscribed_once |= matches!(m, ClientMessage::Subscribe(_));
                            handle(m, &mut streams, &limits, &mut replies)
                        }
                        Err(e) => replies.push(protocol::error_message(e.reason, &e.message)),
                    }
                }
                Some(Ok(Message::Binary(_))) => replies.push(protocol::error_message(
                    "binary_frame",
                    "messages are JSON text frames; binary frames are not part of the protocol",
                )),
                Some(Ok(Message::Close(_))) | None => break,
                // Pongs and pings: the client is alive.
                Some(Ok(_)) => last_heard = Instant::now(),
                Some(Err(e)) => {
                    // Oversized frames and protocol violations end here: tell the client why.
                    tracing::debug!(error = %e, "websocket client error");
                    let text = e.to_string();
                    let error = if text.contains("limit") || text.contains("too long") {
                        protocol::error_message(
                            "too_large",
                            &format!(
                                "frames and messages are limited to {} bytes; the connection \
                                 is closed ({text})",
                                limits.max_message_bytes
                            ),
                        )
                    } else {
                        protocol::error_message("protocol", &text)
                    };
                    let _ = sink.send(Message::Text(error.into())).await;
                    break;
                }
            },
            r = version_rx.changed(), if wants_version => if r.is_err() { break },
            r = kpis_rx.changed() => {
                if r.is_err() { break }
                streams.iter_mut().filter(|s| s.sub.kpi).for_each(|s| s.kpi_pending = true);
            }
            r = alerts_rx.changed() => {
                if r.is_err() { break }
                streams.iter_mut().filter(|s| s.sub.alert).for_each(|s| s.alert_pending = true);
            }
            r = scenarios_rx.changed() => {
                if r.is_err() { break }
                streams.iter_mut().filter(|s| s.sub.scenario).for_each(|s| s.scenario_pending = true);
            }
            _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {}
            _ = tokio::time::sleep_until(wake_for_connection) => {}
        }
        for r in replies {
            if sink.send(Message::Text(r.into())).await.is_err() {
                return;
            }
        }
        let version = *version_rx.borrow();
        let now = Instant::now();
        for s in streams.iter_mut() {
            if s.next_at > now || !s.pending(version) {
                continue;
            }
            let messages = due_messages(&hub, s, &kpis_rx, &alerts_rx, &scenarios_rx);
            if messages.is_empty() {
                continue;
            }
            s.refill(now);
            s.spend(now);
            for m in messages {
                if sink.send(Message::Text(m.render().into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn handle(
    m: ClientMessage,
    streams: &mut Vec<Stream>,
    limits: &WsLimits,
    replies: &mut Vec<String>,
) {
    match m {
        ClientMessage::Subscribe(sub) => {
            let existing = streams.iter().position(|s| s.sub.id == sub.id);
            if existing.is_none() && streams.len() >= limits.max_subscriptions {
                replies.push(protocol::error_message(
                    "too_many_subscriptions",
                    &format!(
                        "a client may hold {} subscriptions; unsubscribe one first",
                        limits.max_subscriptions
                    ),
                ));
                return;
            }
            let layers = layer_names(&sub);
            replies.push(protocol::subscribed_message(&sub, &layers));
            // A resubscription keeps the stream's sequence and its rate limit's bucket: asking
            // again never buys a snapshot sooner than the subscription's rate allows.
            let now = Instant::now();
            let (seq, next_at, tokens, refilled_at) = existing.map_or((0, now, BURST, now), |k| {
                let s = &streams[k];
                (s.seq, s.next_at, s.tokens, s.refilled_at)
            });
            let stream = Stream {
                sub,
                cursor: 0,
                seq,
                next_at,
                tokens,
                refilled_at,
                needs_snapshot: true,
                kpi_pending: false,
                alert_pending: false,
                scenario_pending: false,
            };
            match existing {
                Some(k) => streams[k] = stream,
                None => streams.push(stream),
            }
        }
        ClientMessage::Unsubscribe { id } => match streams.iter().position(|s| s.sub.id == id) {
            Some(k) => {
                streams.remove(k);
                replies.push(protocol::unsubscribed_message(&id));
            }
            None => replies.push(protocol::error_message(
                "unknown_subscription",
                &format!("no subscription `{id}` to unsubscribe"),
            )),
        },
        ClientMessage::Ping { id } => replies.push(protocol::pong_message(id)),
    }
}

fn layer_names(sub: &Subscription) -> Vec<String> {
    let mut v: Vec<String> = twin_core::EntityKind::ALL
        .iter()
        .filter(|&&k| sub.filter.layers & crate::feed::Filter::bit(k) != 0)
        .map(|k| k.prefix().to_string())
        .collect();
    if sub.kpi {
        v.push("kpi".into());
    }
    if sub.alert {
        v.push("alert".into());
    }
    if sub.scenario {
        v.push("scenario".into());
    }
    v
}

/// A message to send; snapshot parts are written only when their turn comes, so a client
/// never holds more than one part's text.
enum Outgoing {
    Text(String),
    Snapshot {
        sub: Subscription,
        seq: u64,
        version: u64,
        body: Option<(Arc<Vec<(Arc<str>, usize)>>, usize)>,
        index: usize,
        kpis: Option<Arc<crate::feed::Kpis>>,
        alerts: Option<Arc<Vec<crate::feed::AlertView>>>,
    },
}

impl Outgoing {
    fn render(self) -> String {
        match self {
            Outgoing::Text(t) => t,
            Outgoing::Snapshot {
                sub,
                seq,
                version,
                body,
                index,
                kpis,
                alerts,
            } => {
                let part = body.as_ref().map(|(parts, total)| protocol::SnapshotPart {
                    index,
                    parts: parts.len(),
                    total: *total,
                    body: &parts[index].0,
                    count: parts[index].1,
                });
                protocol::snapshot_message(
                    &sub,
                    seq,
                    version,
                    part,
                    kpis.as_deref(),
                    alerts.as_deref().map(|a| a.as_slice()),
                )
            }
        }
    }
}

/// The messages a due stream is sent now, in order, with consecutive sequence numbers.
fn due_messages(
    hub: &FeedHub,
    s: &mut Stream,
    kpis_rx: &tokio::sync::watch::Receiver<Arc<crate::feed::Kpis>>,
    alerts_rx: &tokio::sync::watch::Receiver<Arc<Vec<crate::feed::AlertView>>>,
    scenarios_rx: &tokio::sync::watch::Receiver<Arc<Vec<serde_json::Value>>>,
) -> Vec<Outgoing> {
    let mut out = Vec::new();
    if !s.needs_snapshot && s.sub.wants_entities() {
        match hub.changes_after(&s.sub.filter, s.cursor) {
            Next::Nothing => {}
            Next::Behind => s.needs_snapshot = true,
            Next::Changes { body, entities, to } => {
                if entities > 0 {
                    out.push(Outgoing::Text(protocol::delta_message(
                        &s.sub.id, s.seq, s.cursor, to, entities, &body,
                    )));
                    s.seq += 1;
                }
                s.cursor = to;
            }
        }
    }
    if s.needs_snapshot {
        let kpis = s.sub.kpi.then(|| kpis_rx.borrow().clone());
        let alerts = s.sub.alert.then(|| alerts_rx.borrow().clone());
        let snap = s.sub.wants_entities().then(|| hub.snapshot(&s.sub.filter));
        let version = snap
            .as_ref()
            .map_or_else(|| hub.current_version(), |b| b.version);
        let parts = snap.as_ref().map_or(1, |b| b.parts.len());
        for index in 0..parts {
            let last = index + 1 == parts;
            out.push(Outgoing::Snapshot {
                sub: s.sub.clone(),
                seq: s.seq,
                version,
                body: snap.as_ref().map(|b| (b.parts.clone(), b.entities)),
                index,
                kpis: if last { kpis.clone() } else { None },
                alerts: if last { alerts.clone() } else { None },
            });
            s.seq += 1;
        }
        s.cursor = version;
        s.needs_snapshot = false;
        s.kpi_pending = false;
        s.alert_pending = false;
        // Runs under way (or done) come right after the snapshot.
        s.scenario_pending = s.sub.scenario && !scenarios_rx.borrow().is_empty();
        if !s.scenario_pending {
            return out;
        }
    }
    if s.kpi_pending {
        out.push(Outgoing::Text(protocol::kpi_message(
            &s.sub.id,
            s.seq,
            &kpis_rx.borrow(),
        )));
        s.seq += 1;
        s.kpi_pending = false;
    }
    if s.alert_pending {
        out.push(Outgoing::Text(protocol::alert_message(
            &s.sub.id,
            s.seq,
            &alerts_rx.borrow(),
        )));
        s.seq += 1;
        s.alert_pending = false;
    }
    if s.scenario_pending {
        out.push(Outgoing::Text(protocol::scenario_message(
            &s.sub.id,
            s.seq,
            &scenarios_rx.borrow(),
        )));
        s.seq += 1;
        s.scenario_pending = false;
    }
    out
}
