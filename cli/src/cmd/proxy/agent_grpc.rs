//! Where the sidecar reaches its agent's gRPC: `host:port` or
//! `http://host:port` in plaintext (the grpc port), `https://host:port`
//! over TLS (the grpc_tls port), as Consul reads `CONSUL_GRPC_ADDR`. Over
//! TLS the agent's certificate is checked against the gRPC CA
//! (`-grpc-ca-file`, `CONSUL_GRPC_CACERT`) or else the HTTP one
//! (`-ca-file`, `CONSUL_CACERT`), for `-tls-server-name` or the address's
//! host; `-client-cert` is presented when the agent requires one.

use std::sync::Arc;

use anyhow::anyhow;
use anyhow::Context;
use rustls_pki_types::ServerName;
use tessera_proxy::agent::AgentGrpc;

use super::ProxyArgs;

/// `token`: the one every HTTP call of the proxy presents (`-token`, ...).
pub fn target(args: &ProxyArgs, token: Option<&str>) -> anyhow::Result<AgentGrpc> {
    let (tls, addr) = split_scheme(&args.grpc_addr)?;
    let token = token.map(str::to_string);
    if !tls {
        return Ok(AgentGrpc { addr, tls: None, token });
    }
    let given = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    let ca = (given(&args.grpc_ca_file), given(&args.grpc_ca_path));
    let (config, name) = crate::client::grpc_tls_config(&args.http, ca)?;
    let name = name.unwrap_or_else(|| host_of(&addr).to_string());
    let name = name.rsplit_once(':').filter(|(_, port)| port.parse::<u16>().is_ok()).map_or(name.as_str(), |(h, _)| h);
    let server_name = ServerName::try_from(name.to_string())
        .with_context(|| format!("-grpc-addr: {name:?} is not a name a certificate can be checked for"))?;
    Ok(AgentGrpc { addr, tls: Some((Arc::new(config), server_name)), token })
}

/// Whether the address asks for TLS, and its `host:port`.
fn split_scheme(raw: &str) -> anyhow::Result<(bool, String)> {
    let (tls, rest) = match raw.split_once("://") {
        None => (false, raw),
        Some(("http", rest)) => (false, rest),
        Some(("https", rest)) => (true, rest),
        Some((other, _)) => return Err(anyhow!("-grpc-addr: unknown scheme {other:?} (http or https)")),
    };
    Ok((tls, rest.trim_end_matches('/').to_string()))
}

/// `host` of `host:port` (an IPv6 address without its brackets).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_choose_tls() {
        assert_eq!(split_scheme("127.0.0.1:8502").unwrap(), (false, "127.0.0.1:8502".to_string()));
        assert_eq!(split_scheme("http://h:8502/").unwrap(), (false, "h:8502".to_string()));
        assert_eq!(split_scheme("https://h:8503").unwrap(), (true, "h:8503".to_string()));
        assert!(split_scheme("unix:///x").is_err());
        assert_eq!(host_of("[::1]:8503"), "::1");
        assert_eq!(host_of("localhost:8503"), "localhost");
    }
}
