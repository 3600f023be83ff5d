//! One module per command noun.

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
pub mod validate;
pub mod watch;

use clap::Args;

/// Flags every command that talks to an agent takes.
#[derive(Args, Clone)]
pub struct HttpFlags {
    /// The agent's HTTP address (also TESSERA_HTTP_ADDR or CONSUL_HTTP_ADDR).
    #[arg(long = "http-addr", value_name = "ADDR")]
    pub http_addr: Option<String>,
    /// The datacenter to ask (sent as ?dc=; the agent's own by default).
    #[arg(long, value_name = "DC")]
    pub datacenter: Option<String>,
    /// Let any server answer a read, not only the leader (?stale).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    pub stale: bool,
}

/// Prints an error the way Consul's CLI does and returns exit code 1.
pub fn fail(error: impl std::fmt::Display) -> u8 {
    eprintln!("Error! {error}");
    1
}
