//! Connect-native: the sidecar's TLS and authorization as a library, for Rust
//! applications that speak mutual TLS themselves. Same snapshot feed, same
//! certificates checks, same intentions decision as the proxy.

use std::io;
use std::time::Duration;

use rand::Rng;
use tessera_mesh::connect::ServiceIdentity;
use tokio::net::TcpListener;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::client;
use tokio_rustls::server;

use crate::config::Endpoint;
use crate::config::ProxySnapshot;
use crate::outbound::expected_service;
use crate::state::Snapshots;
use crate::tls;

/// A service's own mTLS endpoint, following its snapshot feed (leaf
/// renewals, root rotations and intention changes apply to the next
/// connection).
#[derive(Debug)]
pub struct NativeService {
    snapshots: Snapshots,
    connect_timeout: Duration,
    handshake_timeout: Duration,
}

impl NativeService {
    /// Fails if the current snapshot's leaf or roots are unusable.
    pub fn new(snapshots: watch::Receiver<ProxySnapshot>) -> io::Result<NativeService> {
        Ok(NativeService {
            snapshots: Snapshots::new(snapshots).map_err(io::Error::other)?,
            connect_timeout: crate::config::Upstream::DEFAULT_CONNECT_TIMEOUT,
            handshake_timeout: crate::config::PublicListener::DEFAULT_HANDSHAKE_TIMEOUT,
        })
    }

    /// Per-endpoint bound on TCP connect plus handshake in [`Self::dial`].
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Bound on the server-side handshake in [`Self::accept`].
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    pub fn identity(&self) -> ServiceIdentity {
        self.snapshots.current().snapshot.identity.clone()
    }

    /// Opens mutual TLS to one of `endpoints` (starting at a random one,
    /// trying each at most once). Each endpoint must present its `service`'s
    /// identity, or `destination`'s when `service` is empty.
    pub async fn dial(&self, destination: &str, endpoints: &[Endpoint]) -> io::Result<client::TlsStream<TcpStream>> {
        let current = self.snapshots.current();
        let start = if endpoints.is_empty() { 0 } else { rand::thread_rng().gen_range(0..endpoints.len()) };
        let mut last = io::Error::new(io::ErrorKind::NotFound, format!("no endpoint for {destination}"));
        for endpoint in endpoints.iter().cycle().skip(start).take(endpoints.len()) {
            let service = expected_service(&endpoint.service, destination);
            match tls::connect(&current.tls, endpoint.addr, service, self.connect_timeout, |tcp| tcp).await {
                Ok(stream) => return Ok(stream),
                Err(err) => {
                    tracing::debug!(error = %err, "native dial attempt failed");
                    last = err.into();
                }
            }
        }
        Err(last)
    }

    /// Accepts one connection from `listener`, completes the handshake and
    /// authorizes the caller by intentions. An error concerns that one
    /// connection (handshake failed, or `PermissionDenied` when an intention
    /// denies it); keep accepting. Handshakes run one at a time here: to
    /// take many at once, accept TCP yourself and spawn [`Self::handshake`].
    pub async fn accept(&self, listener: &TcpListener) -> io::Result<(server::TlsStream<TcpStream>, ServiceIdentity)> {
        let (tcp, _) = listener.accept().await?;
        self.handshake(tcp).await
    }

    /// The server side of [`Self::accept`] on an already accepted socket.
    pub async fn handshake(&self, tcp: TcpStream) -> io::Result<(server::TlsStream<TcpStream>, ServiceIdentity)> {
        let _ = tcp.set_nodelay(true);
        let current = self.snapshots.current();
        let (stream, peer) = tls::accept(&current.tls, tcp, self.handshake_timeout).await?;
        // Intentions may have changed during the handshake: decide on the latest.
        let latest = self.snapshots.current();
        if !latest.allows(&peer.service) {
            let reason = latest.authorize(&peer.service).reason;
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, reason));
        }
        Ok((stream, peer))
    }
}
