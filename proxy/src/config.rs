//! What the proxy is told: the static listener layout ([`ProxyConfig`]) that
//! the CLI builds once, and the dynamic [`ProxySnapshot`] that the agent feed
//! replaces whole on every change (leaf renewal, root rotation, intentions).
//! Plain data only; everything derived from it (TLS configs) lives elsewhere.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use tessera_mesh::connect::DefaultPolicy;
use tessera_mesh::connect::Intention;
use tessera_mesh::connect::ServiceIdentity;

/// This service's leaf certificate and its private key.
#[derive(Clone, PartialEq, Eq)]
pub struct Leaf {
    /// PEM: the leaf first, then any intermediates up to (not including) a root.
    pub cert_chain_pem: String,
    /// PEM: PKCS#8, SEC1 or PKCS#1 private key of the leaf.
    pub key_pem: String,
    pub serial: String,
    /// Unix seconds after which the leaf is no longer valid.
    pub valid_before: u64,
}

/// Debug leaves the key out: snapshots end up in logs.
impl fmt::Debug for Leaf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Leaf")
            .field("serial", &self.serial)
            .field("valid_before", &self.valid_before)
            .field("cert_chain_pem", &format_args!("<{} bytes>", self.cert_chain_pem.len()))
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// The CA roots every peer certificate must chain to. All of them are trusted
/// (not only the active one), so a rotation never cuts peers still holding a
/// leaf signed by the previous root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    pub trust_domain: String,
    pub active_root_id: String,
    pub roots: Vec<Root>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    pub id: String,
    pub name: String,
    pub cert_pem: String,
}

/// Everything the proxy learns from its agent; replaced whole on every change.
#[derive(Debug, Clone)]
pub struct ProxySnapshot {
    pub identity: ServiceIdentity,
    pub leaf: Leaf,
    pub roots: Roots,
    /// Those whose destination is `identity.service` or `*`.
    pub intentions: Vec<Intention>,
    pub default_policy: DefaultPolicy,
}

/// One instance of an upstream service: where to connect, and which identity
/// the far end must present there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub addr: SocketAddr,
    /// The service name the far end's certificate must carry.
    pub service: String,
}

/// The mutual-TLS listener that the mesh dials; allowed connections are
/// forwarded in plain TCP to the local application.
#[derive(Debug, Clone)]
pub struct PublicListener {
    pub bind: SocketAddr,
    pub local_app: SocketAddr,
    /// How long to wait for the local application to accept (1 s by default).
    pub local_connect_timeout: Duration,
    /// How long a peer may take to complete the TLS handshake (10 s by
    /// default, Consul's `handshake_timeout_ms`).
    pub handshake_timeout: Duration,
    /// Connections accepted whose handshake has not finished, at most;
    /// more are closed as they arrive.
    pub max_pending_handshakes: usize,
}

impl PublicListener {
    pub const DEFAULT_LOCAL_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
    /// With the 10 s timeout, a flood of silent connections holds at most
    /// 256 descriptors and handshake states (a few KiB each), while honest
    /// peers handshake in milliseconds: 256 in flight is thousands of new
    /// connections a second. The same bound as the agent's TLS listeners.
    pub const DEFAULT_MAX_PENDING_HANDSHAKES: usize = 256;

    /// A listener with the default timeouts.
    pub fn new(bind: SocketAddr, local_app: SocketAddr) -> Self {
        PublicListener {
            bind,
            local_app,
            local_connect_timeout: Self::DEFAULT_LOCAL_CONNECT_TIMEOUT,
            handshake_timeout: Self::DEFAULT_HANDSHAKE_TIMEOUT,
            max_pending_handshakes: Self::DEFAULT_MAX_PENDING_HANDSHAKES,
        }
    }
}

/// A plain TCP listener on loopback for the local application; each
/// connection is carried over mutual TLS to an instance of `destination_name`.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub destination_name: String,
    pub local_bind: SocketAddr,
    /// Per attempt: TCP connect plus TLS handshake (Consul's `connect_timeout_ms`, 10 s).
    pub connect_timeout: Duration,
}

impl Upstream {
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

    /// An upstream with the default connect timeout.
    pub fn new(destination_name: impl Into<String>, local_bind: SocketAddr) -> Self {
        Upstream {
            destination_name: destination_name.into(),
            local_bind,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// The listener layout; fixed for the life of a [`crate::run`].
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub public_listener: Option<PublicListener>,
    pub upstreams: Vec<Upstream>,
    /// Close open inbound connections that an intention change denies
    /// (Tessera's default). `false` keeps Consul's behaviour: intentions are
    /// only checked when a connection opens.
    pub close_denied: bool,
    /// Where to serve Prometheus metrics (`GET /metrics`), if anywhere.
    pub metrics_bind: Option<SocketAddr>,
    /// Close a relayed connection (inbound or upstream) that carried no
    /// byte either way for this long. None (the default): never, as
    /// Consul's built-in proxy: pooled database connections and idle
    /// websockets are legitimately silent for hours, and both ends of an
    /// established relay are authenticated, so an operator opts in.
    pub idle_timeout: Option<Duration>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            public_listener: None,
            upstreams: Vec::new(),
            close_denied: true,
            metrics_bind: None,
            idle_timeout: None,
        }
    }
}
