//! Connections per client address, as Consul's `connlimit` counts them
//! (`limits.http_max_conns_per_client`, `limits.rpc_max_conns_per_client`):
//! every listener of the agent asks its [`PerAddress`] for a [`ConnGuard`]
//! when it accepts a TCP connection, before any handshake, and the guard
//! travels with the connection; dropping it (the connection closed, or
//! refused at its handshake) gives the slot back. Over the limit the
//! listener closes the connection at once, and says so in the log at most
//! once per [`REFUSED_LOG_EVERY`] per listener, however many it refuses.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::task::Context;
use std::task::Poll;
use std::time::Duration;
use std::time::Instant;

use tokio::io::AsyncRead;
use tokio::io::AsyncWrite;
use tokio::io::ReadBuf;

/// A flood of refused connections is one log line per this long (with how
/// many were refused since the last one), not one line per connection:
/// the log must not become the next resource the flood exhausts.
pub const REFUSED_LOG_EVERY: Duration = Duration::from_secs(10);

/// The open connections of one listener, by client address.
#[derive(Debug)]
pub struct PerAddress {
    /// The listener's name in logs (`HTTP`, `server port`, ...).
    what: &'static str,
    /// The limit's config key, named in the log line.
    key: &'static str,
    /// 0: no limit (as Consul's 0).
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
    refused: Mutex<Refused>,
}

#[derive(Debug, Default)]
struct Refused {
    last_logged: Option<Instant>,
    since: u64,
}

/// One connection's slot; given back when dropped.
#[derive(Debug)]
pub struct ConnGuard {
    limit: Arc<PerAddress>,
    ip: IpAddr,
}

impl PerAddress {
    /// At most `max` open connections per client address on the listener
    /// `what` (0: no limit); `key` is the setting that says so.
    pub fn new(what: &'static str, key: &'static str, max: usize) -> Arc<PerAddress> {
        Arc::new(PerAddress { what, key, max, open: Mutex::default(), refused: Mutex::default() })
    }

    /// No limit, for listeners the caller does not bound.
    pub fn unlimited(what: &'static str) -> Arc<PerAddress> {
        PerAddress::new(what, "", 0)
    }

    /// The listener's name, for its logs.
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// A slot for a connection from `ip`, or None (logged, rate-limited)
    /// when `ip` already has the maximum open.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<ConnGuard> {
        {
            let mut open = self.lock();
            let count = open.entry(ip).or_insert(0);
            if self.max == 0 || *count < self.max {
                *count += 1;
                return Some(ConnGuard { limit: self.clone(), ip });
            }
        }
        self.log_refused(ip);
        None
    }

    /// How many connections `ip` has open.
    pub fn open(&self, ip: IpAddr) -> usize {
        self.lock().get(&ip).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn log_refused(&self, ip: IpAddr) {
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        refused.since += 1;
        let now = Instant::now();
        if refused.last_logged.is_some_and(|at| now.duration_since(at) < REFUSED_LOG_EVERY) {
            return;
        }
        tracing::warn!(
            peer = %ip,
            refused = refused.since,
            limit = self.max,
            "{}: connection refused: too many open from this address ({} = {}); \
             at most one such line per {:?}",
            self.what,
            self.key,
            self.max,
            REFUSED_LOG_EVERY,
        );
        refused.last_logged = Some(now);
        refused.since = 0;
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut open = self.limit.lock();
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                // Forget the address: a scan of many addresses leaves no map behind.
                open.remove(&self.ip);
            }
        }
    }
}

/// A connection that holds its slot for as long as it lives.
#[derive(Debug)]
pub struct Limited<S> {
    inner: S,
    _guard: ConnGuard,
}

impl<S> Limited<S> {
    pub fn new(inner: S, guard: ConnGuard) -> Limited<S> {
        Limited { inner, _guard: guard }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Limited<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Limited<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_address_and_gives_slots_back_on_drop() {
        let limit = PerAddress::new("test", "limits.test", 2);
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.101".parse().unwrap(), "127.0.0.102".parse().unwrap());
        let first = limit.try_acquire(a).expect("first");
        let _second = limit.try_acquire(a).expect("second");
        assert!(limit.try_acquire(a).is_none(), "a third from the same address is refused");
        let _other = limit.try_acquire(b).expect("another address has its own count");
        drop(first);
        assert_eq!(limit.open(a), 1);
        assert!(limit.try_acquire(a).is_some(), "a slot given back is usable again");
    }

    #[test]
    fn zero_is_no_limit_and_addresses_are_forgotten_at_zero() {
        let limit = PerAddress::unlimited("test");
        let ip: IpAddr = "127.0.0.103".parse().unwrap();
        let guards: Vec<_> = (0..1000).map(|_| limit.try_acquire(ip).expect("no limit")).collect();
        assert_eq!(limit.open(ip), 1000);
        drop(guards);
        assert!(limit.lock().is_empty());
    }
}
