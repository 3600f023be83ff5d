//! One module per command noun.

pub mod acl;
pub mod agent;
pub mod agent_ops;
pub mod catalog;
pub mod connect;
pub mod intention;
pub mod kv;
pub mod members;
pub mod operator;
pub mod ops;
pub mod proxy;
pub mod tls;
pub mod validate;
pub mod watch;

use clap::Args;

/// Flags every command that talks to an agent takes: where it is and, for
/// HTTPS, how to trust it and prove who we are (each flag wins over its
/// environment variable, `TESSERA_...` or `CONSUL_...`).
#[derive(Args, Clone, Default)]
pub struct HttpFlags {
    /// The agent's HTTP address, https:// for TLS (also TESSERA_HTTP_ADDR or CONSUL_HTTP_ADDR).
    #[arg(long = "http-addr", value_name = "ADDR")]
    pub http_addr: Option<String>,
    /// The datacenter to ask (sent as ?dc=; the agent's own by default).
    #[arg(long, value_name = "DC")]
    pub datacenter: Option<String>,
    /// Let any server answer a read, not only the leader (?stale).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    pub stale: bool,
    /// PEM file of the CA that signed the agent's HTTPS certificate (also CONSUL_CACERT).
    #[arg(long = "ca-file", value_name = "FILE")]
    pub ca_file: Option<String>,
    /// Directory of PEM CA certificates, when no -ca-file (also CONSUL_CAPATH).
    #[arg(long = "ca-path", value_name = "DIR")]
    pub ca_path: Option<String>,
    /// PEM client certificate to present, with -client-key (also CONSUL_CLIENT_CERT).
    #[arg(long = "client-cert", value_name = "FILE")]
    pub client_cert: Option<String>,
    /// PEM private key of -client-cert (also CONSUL_CLIENT_KEY).
    #[arg(long = "client-key", value_name = "FILE")]
    pub client_key: Option<String>,
    /// The name the agent's certificate must hold, instead of the address's host (also CONSUL_TLS_SERVER_NAME).
    #[arg(long = "tls-server-name", value_name = "NAME")]
    pub tls_server_name: Option<String>,
    /// The ACL token (SecretID) to send as X-Consul-Token (also CONSUL_HTTP_TOKEN).
    #[arg(long, value_name = "SECRET")]
    pub token: Option<String>,
    /// A file holding the ACL token; wins over -token (also CONSUL_HTTP_TOKEN_FILE).
    #[arg(long = "token-file", value_name = "FILE")]
    pub token_file: Option<String>,
}

/// Prints an error the way Consul's CLI does and returns exit code 1.
pub fn fail(error: impl std::fmt::Display) -> u8 {
    eprintln!("Error! {error}");
    1
}
