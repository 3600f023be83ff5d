//! UDP checks, as Consul's `CheckUDP`: an empty datagram to the target on a
//! connected socket, then a read of at most the timeout. A reply passes,
//! and so does silence (most UDP services answer nothing to an empty
//! datagram); an error passes nothing: the kernel reports the ICMP "port
//! unreachable" a closed port sends back as a refused read, and that (or
//! any other error) is critical.

use std::net::SocketAddr;
use std::time::Duration;

use tessera_mesh::catalog::CheckStatus;
use tokio::net::UdpSocket;

use super::Outcome;

#[derive(Clone)]
pub struct UdpProbe {
    address: String,
    timeout: Duration,
}

impl UdpProbe {
    pub fn new(address: String, timeout: Duration) -> UdpProbe {
        UdpProbe { address, timeout }
    }

    pub async fn run(&self) -> Outcome {
        match self.exchange().await {
            Ok(()) => (CheckStatus::Passing, format!("UDP connect {}: Success", self.address)),
            Err(e) => (CheckStatus::Critical, format!("udp {}: {e}", self.address)),
        }
    }

    async fn exchange(&self) -> std::io::Result<()> {
        let target = self.resolve().await?;
        let local: SocketAddr = match target {
            SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
            SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(local).await?;
        // Connected, so the ICMP error comes back to this socket's reads.
        socket.connect(target).await?;
        socket.send(&[]).await?;
        let mut reply = [0u8; 1];
        match tokio::time::timeout(self.timeout, socket.recv(&mut reply)).await {
            Ok(Ok(_)) | Err(_) => Ok(()),
            Ok(Err(e)) => Err(e),
        }
    }

    async fn resolve(&self) -> std::io::Result<SocketAddr> {
        let lookup = tokio::time::timeout(self.timeout, tokio::net::lookup_host(&self.address)).await;
        let mut addrs = lookup.map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "lookup timed out"))??;
        addrs.next().ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address found"))
    }
}
