//! Accepting TCP connections and serving HTTP/1.1 on them (with upgrades, for the WebSocket
//! feed), with the limits a public server needs: a cap on connections in all (below the
//! process's file-descriptor limit) and per address (IPv6 by /64 prefix, as one host usually
//! holds a whole /64), and a deadline for a request's headers, which also closes a keep-alive
//! connection idle that long. Bodies have their own deadline where they are read
//! ([`crate::api::read_body`]); WebSocket clients have theirs in [`crate::protocol::WsLimits`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;

/// Connections an address may always open while the server is over `max_connections` in all
/// (up to the file-descriptor limit): a newcomer gets in while many hosts hold their share.
pub const CONNECTIONS_FLOOR: usize = 4;

/// Limits on the connections of the HTTP server.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections in all past which only addresses holding fewer than
    /// [`CONNECTIONS_FLOOR`] get in; nothing passes 64 below the process's file-descriptor
    /// limit (`RLIMIT_NOFILE`), so sockets never exhaust it.
    pub max_connections: usize,
    /// Most open connections from one address (an IPv6 /64 counts as one address).
    pub max_per_address: usize,
    /// A request's headers must arrive within this, counted from the connection's start or
    /// from the end of the previous response (so it is also the keep-alive idle timeout).
    pub header_timeout: Duration,
    /// A request's body must arrive within this once its headers have.
    pub body_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 4096,
            max_per_address: 64,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// What a gate has seen, for `/health`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ConnectionCounts {
    pub open: usize,
    /// Connections closed at once: over the cap in all or for their address.
    pub refused: u64,
}

/// Counts what is in flight (open connections, full dumps being sent) in all and per address,
/// and refuses what would go over either limit.
#[derive(Debug)]
pub struct AddressGate {
    /// Over this many in all, only addresses holding fewer than `floor` are let in…
    max_total: usize,
    floor: usize,
    /// …and never more than this many in all.
    hard_total: usize,
    max_per_address: usize,
    /// New admissions an address may make per second, in bursts (none: no rate limit).
    rate: Option<(f64, f64)>,
    open: AtomicUsize,
    refused: AtomicU64,
    per_address: Mutex<HashMap<IpAddr, Peer>>,
}

/// One address's part: what it holds now, and its admission allowance (a token bucket).
#[derive(Debug)]
struct Peer {
    open: usize,
    allowance: f64,
    refilled: std::time::Instant,
}

/// WebSocket upgrades an address may make per second on average, and in a burst: a viewer
/// connects once and reconnects after a drop (a NAT'd office's viewers reconnecting after a restart
/// get in within seconds, retrying); a
/// reconnect loop (each connection a handshake and a burst of subscriptions) is held to this.
pub const UPGRADES_PER_S: (f64, f64) = (2.0, 10.0);

/// WebSockets one address may hold at once.
pub const UPGRADES_PER_ADDRESS: usize = 64;

/// A connection's admission, in each of its requests' extensions (a WebSocket handler keeps it
/// for the socket's life).
#[derive(Debug, Clone)]
pub struct ConnectionPermit(pub Arc<Admitted>);

/// A connection or request let in: counted until dropped.
#[derive(Debug)]
pub struct Admitted {
    gate: Arc<AddressGate>,
    key: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.gate.open.fetch_sub(1, Ordering::Relaxed);
        let mut map = self.gate.lock();
        if let Some(p) = map.get_mut(&self.key) {
            p.open -= 1;
            // An address with a rate keeps its allowance a while (see `admit`).
            if p.open == 0 && self.gate.rate.is_none() {
                map.remove(&self.key);
            }
        }
    }
}

/// The address a per-address limit counts: an IPv4 address, or an IPv6 address's /64 prefix
/// (an IPv4-mapped IPv6 address counts as its IPv4 address).
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

impl AddressGate {
    /// A gate letting in at most `max_total` at once, `max_per_address` from one address.
    pub fn new(max_total: usize, max_per_address: usize) -> Arc<AddressGate> {
        Arc::new(AddressGate {
            max_total,
            floor: 0,
            hard_total: max_total,
            max_per_address: max_per_address.max(1),
            rate: None,
            open: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
            per_address: Mutex::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Peer>> {
        // Counts change by single increments: a poisoned lock is still consistent.
        self.per_address.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The gate of the server's connections: at most `max_per_address` from one address;
    /// over `max_connections` in all, only addresses holding fewer than
    /// [`CONNECTIONS_FLOOR`] are let in (so many hosts each holding their share cannot lock
    /// out a newcomer, an operator checking `/health` say), up to 64 below the
    /// file-descriptor limit, which nothing passes.
    pub fn for_connections(limits: &ConnectionLimits) -> Arc<AddressGate> {
        let fd_room = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .map_or(usize::MAX, |n| (n as usize).saturating_sub(64).max(16));
        Arc::new(AddressGate {
            max_total: limits.max_connections.min(fd_room),
            floor: CONNECTIONS_FLOOR,
            hard_total: fd_room,
            max_per_address: limits.max_per_address.max(1),
            rate: None,
            open: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
            per_address: Mutex::default(),
        })
    }

    /// The gate of WebSocket upgrades: [`UPGRADES_PER_ADDRESS`] held at once and
    /// [`UPGRADES_PER_S`] new ones per address (the server's `max_clients` bounds them all).
    pub fn for_upgrades() -> Arc<AddressGate> {
        Arc::new(AddressGate {
            max_total: usize::MAX,
            floor: 0,
            hard_total: usize::MAX,
            max_per_address: UPGRADES_PER_ADDRESS,
            rate: Some(UPGRADES_PER_S),
            open: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
            per_address: Mutex::default(),
        })
    }

    /// Let one in from `peer`, or `None` (counted) when it would go over a limit.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Admitted> {
        let key = address_key(peer);
        let now = std::time::Instant::now();
        let mut map = self.lock();
        if map.len() > 10_000 {
            // Forget addresses that hold nothing and whose allowance has refilled.
            let rate = self.rate;
            map.retain(|_, p| {
                p.open > 0
                    || rate.is_some_and(|(per_s, burst)| {
                        p.allowance + now.duration_since(p.refilled).as_secs_f64() * per_s < burst
                    })
            });
        }
        let burst = self.rate.map_or(f64::INFINITY, |(_, b)| b);
        let p = map.entry(key).or_insert(Peer {
            open: 0,
            allowance: burst,
            refilled: now,
        });
        if let Some((per_s, burst)) = self.rate {
            p.allowance =
                (p.allowance + now.duration_since(p.refilled).as_secs_f64() * per_s).min(burst);
            p.refilled = now;
        }
        let open = self.open.load(Ordering::Relaxed);
        if p.open >= self.max_per_address
            || (open >= self.max_total && p.open >= self.floor)
            || open >= self.hard_total
            || p.allowance < 1.0
        {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        p.open += 1;
        p.allowance -= 1.0;
        self.open.fetch_add(1, Ordering::Relaxed);
        Some(Admitted {
            gate: self.clone(),
            key,
        })
    }

    pub fn counts(&self) -> ConnectionCounts {
        ConnectionCounts {
            open: self.open.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

/// Accept connections until `stop` resolves, serving each with `router` (the peer's address
/// in the request's `ConnectInfo`), and then let open connections finish gracefully.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    gate: Arc<AddressGate>,
    limits: ConnectionLimits,
    stop: impl std::future::Future<Output = ()>,
) {
    let (closing, _) = tokio::sync::watch::channel(());
    let closing = Arc::new(closing);
    tokio::pin!(stop);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: wait a moment
                    // rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(admitted) = gate.admit(peer.ip()) else {
            tracing::debug!(%peer, "connection over the limits; closed");
            drop(tcp);
            continue;
        };
        // Deltas are small writes that must leave at once: no Nagle delay.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let router = router.clone();
        let mut closing = closing.subscribe();
        tokio::spawn(async move {
            // Each request carries the connection's admission: a WebSocket keeps it after the
            // upgrade ends the HTTP connection, so upgraded sockets stay within the caps.
            let admitted = ConnectionPermit(Arc::new(admitted));
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.extensions_mut().insert(admitted.clone());
                let mut router = router.clone();
                async move { tower_service::Service::call(&mut router, req).await }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let conn = builder
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::trace!(%peer, error = %e, "connection ended");
                    }
                    return;
                }
                _ = closing.changed() => conn.as_mut().graceful_shutdown(),
            }
            if let Err(e) = conn.await {
                tracing::trace!(%peer, error = %e, "connection ended");
            }
        });
    }
    // Dropping the sender tells every connection to finish its request and close.
    drop(closing);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_host_counts_as_its_64_prefix_and_a_mapped_ipv4_as_itself() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert_eq!(
            address_key(mapped),
            "192.0.2.7".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn the_gate_refuses_over_the_per_address_cap_and_frees_on_drop() {
        let gate = AddressGate::new(100, 2);
        let one: IpAddr = "192.0.2.1".parse().expect("ip");
        let other: IpAddr = "192.0.2.2".parse().expect("ip");
        let a = gate.admit(one).expect("first");
        let _b = gate.admit(one).expect("second");
        assert!(gate.admit(one).is_none(), "a third from the same address");
        assert!(gate.admit(other).is_some(), "another address is let in");
        drop(a);
        assert!(gate.admit(one).is_some(), "room again once one closed");
        assert_eq!(gate.counts().refused, 1);
    }

    #[test]
    fn a_reconnect_loop_is_held_to_the_addresss_rate() {
        let gate = AddressGate::for_upgrades();
        let looper: IpAddr = "192.0.2.5".parse().expect("ip");
        // Open and close at once, again and again: the burst passes, then the rate holds.
        let admitted = (0..200).filter(|_| gate.admit(looper).is_some()).count();
        let (_, burst) = UPGRADES_PER_S;
        assert!(
            (burst as usize..burst as usize + 5).contains(&admitted),
            "{admitted} of 200 at once"
        );
        let other: IpAddr = "192.0.2.6".parse().expect("ip");
        assert!(
            gate.admit(other).is_some(),
            "another address has its own allowance"
        );
    }

    #[test]
    fn over_the_total_a_newcomer_still_gets_its_floor_but_a_holder_does_not() {
        let gate = AddressGate::for_connections(&ConnectionLimits {
            max_connections: 6,
            max_per_address: 100,
            ..ConnectionLimits::default()
        });
        let holder: IpAddr = "192.0.2.1".parse().expect("ip");
        let held: Vec<_> = (0..6)
            .map(|_| gate.admit(holder).expect("under the total"))
            .collect();
        assert!(
            gate.admit(holder).is_none(),
            "over the total, a holder of 6 waits"
        );
        let newcomer: IpAddr = "192.0.2.9".parse().expect("ip");
        let theirs: Vec<_> = (0..CONNECTIONS_FLOOR)
            .map(|_| gate.admit(newcomer).expect("within the floor"))
            .collect();
        assert!(gate.admit(newcomer).is_none(), "past the floor");
        drop((held, theirs));
    }
}
