//! Who is on the other end of a server-port connection, decided once per
//! connection from its verified certificate, and the connection type that
//! carries it into every request (`request.extensions().get::<PeerInfo>()`).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Context;
use std::task::Poll;

use rustls_pki_types::CertificateDer;
use tokio::io::AsyncRead;
use tokio::io::AsyncWrite;
use tokio::io::ReadBuf;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;
use x509_parser::prelude::X509Certificate;

use crate::transport::accept::Accepted;
use crate::transport::tls::Names;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// The server port runs without TLS (the operator's opt-out): the
    /// caller is not known, and every call is let through as before TLS.
    Unverified,
    /// TLS without a client certificate: may only ask who this server is
    /// and, with auto-encrypt, for a client certificate.
    Anonymous,
    /// A server of this datacenter (`server.<dc>.<domain>`).
    Server,
    /// A client agent. `node` is the node its certificate names (an
    /// auto-encrypt certificate); None for an operator-made client
    /// certificate (`client.<dc>.<domain>`), which names no node.
    ClientAgent { node: Option<String> },
    /// A certificate of the CA that names neither (a CLI certificate).
    Other,
}

#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub addr: Option<SocketAddr>,
    pub peer: Peer,
}

/// Classifies a peer by its end-entity certificate, already verified
/// against the trusted roots by the handshake.
pub fn classify(names: &Names, certs: Option<&[CertificateDer<'_>]>) -> Peer {
    let Some(leaf) = certs.and_then(|c| c.first()) else { return Peer::Anonymous };
    let Ok((_, cert)) = X509Certificate::from_der(leaf.as_ref()) else { return Peer::Other };
    let Ok(Some(sans)) = cert.subject_alternative_name() else { return Peer::Other };
    let (server, client) = (names.server_name(), names.client_name());
    let mut found = Peer::Other;
    for name in &sans.value.general_names {
        match name {
            GeneralName::DNSName(dns) if dns.eq_ignore_ascii_case(&server) => return Peer::Server,
            GeneralName::URI(uri) => {
                if let Some(node) = agent_node(uri, &names.datacenter) {
                    found = Peer::ClientAgent { node: Some(node) };
                }
            }
            GeneralName::DNSName(dns) => {
                if let Some(node) = named_client_node(dns, &client) {
                    found = Peer::ClientAgent { node: Some(node) };
                } else if dns.eq_ignore_ascii_case(&client) && found == Peer::Other {
                    found = Peer::ClientAgent { node: None };
                }
            }
            _ => {}
        }
    }
    found
}

/// The node of `<node>.client.<dc>.<domain>` (`tessera tls cert create
/// -client -node`): one label before the client name.
fn named_client_node(dns: &str, client_name: &str) -> Option<String> {
    let lower = dns.to_ascii_lowercase();
    let node = lower.strip_suffix(&format!(".{}", client_name.to_ascii_lowercase()))?;
    (!node.is_empty() && !node.contains('.')).then(|| node.to_string())
}

/// The node of Consul's agent SPIFFE id,
/// `spiffe://<trust domain>/agent/client/dc/<dc>/id/<node>`, in `datacenter`.
pub fn agent_node(uri: &str, datacenter: &str) -> Option<String> {
    let rest = uri.strip_prefix("spiffe://")?;
    let (_, path) = rest.split_once('/')?;
    let mut parts = path.split('/');
    let shape = (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    match shape {
        ("agent", "client", "dc", dc, "id", node) if dc == datacenter && !node.is_empty() && parts.next().is_none() => {
            Some(node.to_string())
        }
        _ => None,
    }
}

/// The agent SPIFFE id of a client node.
pub fn agent_uri(trust_domain: &str, datacenter: &str, node: &str) -> String {
    format!("spiffe://{trust_domain}/agent/client/dc/{datacenter}/id/{node}")
}

/// The caller of a request. A request that came over no connection of
/// ours (none recorded) counts as anonymous: the check fails closed.
pub fn peer_of<T>(request: &tonic::Request<T>) -> Peer {
    request.extensions().get::<PeerInfo>().map_or(Peer::Anonymous, |info| info.peer.clone())
}

fn refused(peer: &Peer, what: &str) -> tonic::Status {
    let who = match peer {
        Peer::Anonymous => "a caller without a certificate",
        Peer::ClientAgent { .. } => "a client agent",
        Peer::Other => "a certificate that names neither a server nor a client agent",
        Peer::Server | Peer::Unverified => "this caller",
    };
    tonic::Status::permission_denied(format!("{what} is for {}; refused for {who}", "servers of this datacenter"))
}

/// Raft, Join, Hello, Apply and the other server-to-server calls: only a
/// peer whose certificate names `server.<dc>.<domain>`.
#[allow(clippy::result_large_err)]
pub fn require_server<T>(request: &tonic::Request<T>, what: &str) -> Result<(), tonic::Status> {
    match peer_of(request) {
        Peer::Server | Peer::Unverified => Ok(()),
        other => Err(refused(&other, what)),
    }
}

/// Whom an agent call may speak for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Speaker {
    /// A server (forwarding for a client), an operator-made client
    /// certificate, or the plaintext opt-out: any node named in the request.
    AnyNode,
    /// A client agent whose certificate names its node: that node only.
    Node(String),
}

impl Speaker {
    /// Refuses a call about `node` from a caller bound to another node.
    #[allow(clippy::result_large_err)]
    pub fn may_speak_for(&self, node: &str) -> Result<(), tonic::Status> {
        match self {
            Speaker::Node(own) if own != node => Err(tonic::Status::permission_denied(format!(
                "the caller's certificate is for node {own:?}; it may not act for node {node:?}"
            ))),
            _ => Ok(()),
        }
    }
}

/// The agent calls (sync, heartbeat, leaves, forwarding): servers and client agents.
#[allow(clippy::result_large_err)]
pub fn require_agent<T>(request: &tonic::Request<T>, what: &str) -> Result<Speaker, tonic::Status> {
    match peer_of(request) {
        Peer::Server | Peer::Unverified | Peer::ClientAgent { node: None } => Ok(Speaker::AnyNode),
        Peer::ClientAgent { node: Some(node) } => Ok(Speaker::Node(node)),
        other => Err(tonic::Status::permission_denied(format!(
            "{what} is for agents of this datacenter; refused for {}",
            match other {
                Peer::Anonymous => "a caller without a certificate",
                _ => "a certificate that names neither a server nor a client agent",
            }
        ))),
    }
}

/// A server-port connection, plain (the opt-out) or TLS, with its peer.
pub struct Conn {
    io: Io,
    info: PeerInfo,
}

enum Io {
    Plain(Accepted),
    Tls(Box<tokio_rustls::server::TlsStream<Accepted>>),
}

impl Conn {
    pub fn plain(stream: Accepted, addr: SocketAddr) -> Conn {
        Conn { io: Io::Plain(stream), info: PeerInfo { addr: Some(addr), peer: Peer::Unverified } }
    }

    pub fn tls(stream: tokio_rustls::server::TlsStream<Accepted>, addr: SocketAddr, names: &Names) -> Conn {
        let peer = classify(names, stream.get_ref().1.peer_certificates());
        Conn { io: Io::Tls(Box::new(stream)), info: PeerInfo { addr: Some(addr), peer } }
    }

    /// A connection to an agent's own gRPC TLS port (`grpc_tls`). No call
    /// there depends on who the caller is (as on its plaintext gRPC port),
    /// so the certificate, if any, is not classified.
    pub fn agent_tls(stream: tokio_rustls::server::TlsStream<Accepted>, addr: SocketAddr) -> Conn {
        Conn { io: Io::Tls(Box::new(stream)), info: PeerInfo { addr: Some(addr), peer: Peer::Unverified } }
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        self.info.clone()
    }
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_ids_name_a_node_of_this_datacenter() {
        assert_eq!(agent_node("spiffe://abc.consul/agent/client/dc/dc1/id/web-1", "dc1").as_deref(), Some("web-1"));
        assert_eq!(agent_node("spiffe://abc.consul/agent/client/dc/dc2/id/web-1", "dc1"), None);
        assert_eq!(agent_node("spiffe://abc.consul/ns/default/dc/dc1/svc/web", "dc1"), None);
        assert_eq!(agent_node("spiffe://abc.consul/agent/client/dc/dc1/id/", "dc1"), None);
        assert_eq!(agent_node("spiffe://abc.consul/agent/client/dc/dc1/id/a/b", "dc1"), None);
        let uri = agent_uri("abc.consul", "dc1", "n1");
        assert_eq!(agent_node(&uri, "dc1").as_deref(), Some("n1"));
    }

    #[test]
    fn a_client_name_with_one_more_label_names_the_node() {
        let client = "client.dc1.consul";
        assert_eq!(named_client_node("web-1.client.dc1.consul", client).as_deref(), Some("web-1"));
        assert_eq!(named_client_node("WEB-1.Client.DC1.consul", client).as_deref(), Some("web-1"));
        assert_eq!(named_client_node("client.dc1.consul", client), None);
        assert_eq!(named_client_node("a.b.client.dc1.consul", client), None);
        assert_eq!(named_client_node("web-1.client.dc2.consul", client), None);
    }
}
