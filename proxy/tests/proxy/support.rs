//! Test fixtures: a CA and leaves made with rcgen, snapshots, an echo app,
//! proxies started on port 0, metrics scraping and condition waits.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Once;
use std::time::Duration;
use std::time::Instant;

use rcgen::BasicConstraints;
use rcgen::CertificateParams;
use rcgen::CertifiedIssuer;
use rcgen::DnType;
use rcgen::ExtendedKeyUsagePurpose;
use rcgen::IsCa;
use rcgen::KeyPair;
use rcgen::KeyUsagePurpose;
use rcgen::SanType;
use tessera_mesh::connect::Action;
use tessera_mesh::connect::DefaultPolicy;
use tessera_mesh::connect::Intention;
use tessera_mesh::connect::ServiceIdentity;
use tessera_mesh::connect::TrustDomain;
use tessera_proxy::Endpoint;
use tessera_proxy::Leaf;
use tessera_proxy::Proxy;
use tessera_proxy::ProxyConfig;
use tessera_proxy::ProxySnapshot;
use tessera_proxy::PublicListener;
use tessera_proxy::Root;
use tessera_proxy::Roots;
use tessera_proxy::Upstream;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub const TRUST_DOMAIN: &str = "11111111-2222-3333-4444-555555555555.consul";
pub const DC: &str = "dc1";
/// Upper bound for anything a test waits on.
pub const PATIENCE: Duration = Duration::from_secs(3);

pub fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    });
}

/// A root CA of the test trust domain.
pub struct Ca {
    pub id: String,
    pub name: String,
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// For an intermediate: its certificate and those above it, up to (not
    /// including) the root; appended to the leaves it signs.
    chain_pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        Ca::in_trust_domain(name, TRUST_DOMAIN)
    }

    pub fn in_trust_domain(name: &str, trust_domain: &str) -> Ca {
        let issuer = CertifiedIssuer::self_signed(ca_params(name, trust_domain), KeyPair::generate().unwrap()).unwrap();
        Ca { id: format!("id-{name}"), name: name.to_string(), issuer, chain_pem: String::new() }
    }

    /// An intermediate CA signed by this one.
    pub fn intermediate(&self, name: &str) -> Ca {
        let params = ca_params(name, TRUST_DOMAIN);
        let issuer = CertifiedIssuer::signed_by(params, KeyPair::generate().unwrap(), &self.issuer).unwrap();
        let chain_pem = format!("{}{}", issuer.pem(), self.chain_pem);
        Ca { id: format!("id-{name}"), name: name.to_string(), issuer, chain_pem }
    }

    /// A leaf signed by this CA whose chain leaves the intermediates out.
    pub fn leaf_without_intermediates(&self, service: &str) -> Leaf {
        let mut leaf = self.leaf(service);
        leaf.cert_chain_pem = leaf.cert_chain_pem.replace(&self.chain_pem, "");
        leaf
    }

    pub fn root(&self) -> Root {
        Root { id: self.id.clone(), name: self.name.clone(), cert_pem: self.issuer.pem() }
    }

    /// A proper leaf for `service`: one URI SAN, serverAuth + clientAuth.
    pub fn leaf(&self, service: &str) -> Leaf {
        self.leaf_with(service, |_| {})
    }

    /// A leaf for `service`, its parameters adjusted by `adjust` before signing.
    pub fn leaf_with(&self, service: &str, adjust: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, service);
        params.subject_alt_names = vec![uri(&identity(service).uri())];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        adjust(&mut params);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let cert_chain_pem = format!("{}{}", cert.pem(), self.chain_pem);
        Leaf { cert_chain_pem, key_pem: key.serialize_pem(), serial: "01".into(), valid_before: u64::MAX }
    }
}

fn ca_params(name: &str, trust_domain: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.subject_alt_names = vec![uri(&format!("spiffe://{trust_domain}"))];
    params
}

pub fn uri(text: &str) -> SanType {
    SanType::URI(text.try_into().unwrap())
}

pub fn identity(service: &str) -> ServiceIdentity {
    ServiceIdentity::new(&TrustDomain::parse(TRUST_DOMAIN).unwrap(), DC, service)
}

pub fn roots(cas: &[&Ca]) -> Roots {
    Roots {
        trust_domain: TRUST_DOMAIN.into(),
        active_root_id: cas.last().unwrap().id.clone(),
        roots: cas.iter().map(|ca| ca.root()).collect(),
    }
}

/// `service`'s snapshot: a leaf from `ca`, `ca` as the only root, no
/// intentions, default allow.
pub fn snapshot(ca: &Ca, service: &str) -> ProxySnapshot {
    ProxySnapshot {
        identity: identity(service),
        leaf: ca.leaf(service),
        roots: roots(&[ca]),
        intentions: Vec::new(),
        default_policy: DefaultPolicy::Allow,
    }
}

pub fn intention(source: &str, destination: &str, action: Action) -> Intention {
    Intention {
        id: format!("{source}->{destination}"),
        source: source.into(),
        destination: destination.into(),
        action,
        description: String::new(),
        meta: Default::default(),
        create_index: 1,
        modify_index: 1,
    }
}

/// An application that echoes every byte and closes its side after EOF.
pub async fn echo_app() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = conn.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    addr
}

/// An address where nothing listens.
pub async fn dead_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// A proxy running on port 0 with a snapshot sender to drive it.
pub struct TestProxy {
    pub public: Option<SocketAddr>,
    pub upstreams: HashMap<String, SocketAddr>,
    pub metrics_addr: SocketAddr,
    pub snapshots: watch::Sender<ProxySnapshot>,
    pub endpoints: HashMap<String, watch::Sender<Vec<Endpoint>>>,
    shutdown: CancellationToken,
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestProxy {
    /// A sidecar for `service`'s app at `app`.
    pub async fn public(snapshot: ProxySnapshot, app: SocketAddr, close_denied: bool) -> TestProxy {
        let config = ProxyConfig {
            public_listener: Some(PublicListener::new("127.0.0.1:0".parse().unwrap(), app)),
            upstreams: Vec::new(),
            close_denied,
            metrics_bind: Some("127.0.0.1:0".parse().unwrap()),
            idle_timeout: None,
        };
        TestProxy::start(config, snapshot, HashMap::new()).await
    }

    /// A proxy with one upstream `destination` reaching `endpoints`.
    pub async fn upstream(snapshot: ProxySnapshot, destination: &str, endpoints: Vec<Endpoint>) -> TestProxy {
        let mut upstream = Upstream::new(destination, "127.0.0.1:0".parse().unwrap());
        upstream.connect_timeout = PATIENCE;
        let config = ProxyConfig {
            public_listener: None,
            upstreams: vec![upstream],
            close_denied: true,
            metrics_bind: Some("127.0.0.1:0".parse().unwrap()),
            idle_timeout: None,
        };
        TestProxy::start(config, snapshot, HashMap::from([(destination.to_string(), endpoints)])).await
    }

    pub async fn start(
        config: ProxyConfig,
        snapshot: ProxySnapshot,
        endpoints: HashMap<String, Vec<Endpoint>>,
    ) -> TestProxy {
        init_tracing();
        let proxy = Proxy::bind(config.clone()).await.unwrap();
        let (snapshots, snapshots_rx) = watch::channel(snapshot);
        let mut senders = HashMap::new();
        let mut receivers = HashMap::new();
        for (name, list) in endpoints {
            let (tx, rx) = watch::channel(list);
            senders.insert(name.clone(), tx);
            receivers.insert(name, rx);
        }
        let upstreams = config
            .upstreams
            .iter()
            .map(|u| (u.destination_name.clone(), proxy.upstream_addr(&u.destination_name).unwrap()))
            .collect();
        let shutdown = CancellationToken::new();
        let test_proxy = TestProxy {
            public: proxy.public_addr(),
            upstreams,
            metrics_addr: proxy.metrics_addr().unwrap(),
            snapshots,
            endpoints: senders,
            shutdown: shutdown.clone(),
        };
        tokio::spawn(async move { proxy.serve(snapshots_rx, receivers, shutdown).await.unwrap() });
        test_proxy
    }

    pub fn public_endpoint(&self, service: &str) -> Endpoint {
        Endpoint { addr: self.public.unwrap(), service: service.into() }
    }

    pub fn upstream_addr(&self, destination: &str) -> SocketAddr {
        self.upstreams[destination]
    }

    /// Replaces the snapshot's intentions.
    pub fn set_intentions(&self, intentions: Vec<Intention>) {
        self.snapshots.send_modify(|s| s.intentions = intentions);
    }

    /// One value from `GET /metrics`, e.g. `tessera_proxy_connections_total{direction="inbound"}`.
    pub async fn metric(&self, series: &str) -> u64 {
        let text = scrape(self.metrics_addr).await;
        let prefix = format!("{series} ");
        let line = text.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no {series} in\n{text}"));
        line[prefix.len()..].parse().unwrap()
    }

    /// Waits until `series` reaches at least `at_least`.
    pub async fn wait_metric(&self, series: &str, at_least: u64) {
        self.wait_metric_where(series, &format!(">= {at_least}"), |value| value >= at_least).await;
    }

    /// Polls `series` until `wanted` holds for it, failing after [`PATIENCE`].
    pub async fn wait_metric_where(&self, series: &str, what: &str, wanted: impl Fn(u64) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let value = self.metric(series).await;
            if wanted(value) {
                return;
            }
            assert!(Instant::now() < deadline, "{series} stayed at {value}, wanted {what}");
            tokio::time::sleep(Duration::from_millis(5)).await; // the poll interval, bounded by the deadline
        }
    }
}

/// A plain HTTP/1.0 GET, whole response body.
pub async fn scrape(addr: SocketAddr) -> String {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: metrics\r\n\r\n").await.unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200"), "{response}");
    response.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// Writes `message` and expects it back.
pub async fn echo<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(conn: &mut S, message: &[u8]) {
    conn.write_all(message).await.unwrap();
    let mut back = vec![0; message.len()];
    within(conn.read_exact(&mut back)).await.unwrap();
    assert_eq!(back, message);
}

/// Connects to `addr` and checks one echo.
pub async fn connect_and_echo(addr: SocketAddr) -> TcpStream {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    echo(&mut conn, b"hello").await;
    conn
}

/// Connects to `addr` and expects [`assert_closed`]: refused by policy,
/// identity or a missing endpoint.
pub async fn connect_and_assert_closed(addr: SocketAddr) {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    assert_closed(&mut conn).await;
}

/// The connection is (or becomes) closed without echoing anything.
pub async fn assert_closed<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(conn: &mut S) {
    let _ = conn.write_all(b"hello").await;
    let mut buf = [0u8; 16];
    match within(conn.read(&mut buf)).await {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!("got {:?} from a connection that should be closed", &buf[..n]),
    }
}

/// Bounds any wait by [`PATIENCE`].
pub async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future).await.expect("timed out")
}

/// `web` with an upstream to a `socat` sidecar in front of an echo app.
pub struct Pair {
    pub ca: Ca,
    pub socat: TestProxy,
    pub web: TestProxy,
}

impl Pair {
    pub async fn start(close_denied: bool) -> Pair {
        let ca = Ca::new("Tessera CA 1");
        let app = echo_app().await;
        let socat = TestProxy::public(snapshot(&ca, "socat"), app, close_denied).await;
        let web = TestProxy::upstream(snapshot(&ca, "web"), "socat", vec![socat.public_endpoint("socat")]).await;
        Pair { ca, socat, web }
    }

    pub fn web_upstream(&self) -> SocketAddr {
        self.web.upstream_addr("socat")
    }
}
