//! `tessera acl bootstrap|token|policy|role|set-agent-token`, with Consul's
//! flags and output (`-format pretty|json`). Every request carries the
//! token of `-token`, `-token-file` or the environment (`HttpFlags`).

mod format;
mod policy;
mod role;
mod token;

use clap::Args;
use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use crate::client::Client;
use crate::cmd::fail;
use crate::cmd::HttpFlags;

#[derive(Subcommand)]
pub enum AclCommand {
    /// Bootstraps the ACL system: creates the management token, once.
    Bootstrap(BootstrapArgs),
    /// Creates, reads, updates, deletes, lists and clones tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Creates, reads, updates, deletes and lists policies.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Creates, reads, updates, deletes and lists roles.
    #[command(subcommand)]
    Role(role::RoleCommand),
    /// Sets one of the agent's tokens (not supported yet).
    SetAgentToken(SetAgentTokenArgs),
}

#[derive(Args)]
pub struct BootstrapArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// pretty or json.
    #[arg(long, default_value = "pretty")]
    format: String,
}

#[derive(Args)]
pub struct SetAgentTokenArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// default, agent, recovery (agent_recovery), replication, config_file_service_registration or dns.
    #[arg(value_name = "TYPE")]
    kind: Option<String>,
    #[arg(value_name = "TOKEN")]
    token: Option<String>,
}

pub async fn run(command: AclCommand) -> u8 {
    let outcome = match command {
        AclCommand::Bootstrap(args) => bootstrap(args).await,
        AclCommand::Token(command) => token::run(command).await,
        AclCommand::Policy(command) => policy::run(command).await,
        AclCommand::Role(command) => role::run(command).await,
        AclCommand::SetAgentToken(args) => set_agent_token(args).await,
    };
    match outcome {
        Ok(code) => code,
        Err(e) => fail(e),
    }
}

async fn bootstrap(args: BootstrapArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let reply = client.call(Method::PUT, "/v1/acl/bootstrap", None).await?;
    let token: Value = match reply.json() {
        Ok(token) => token,
        Err(e) => return Ok(fail(format!("Failed ACL bootstrapping: {e}"))),
    };
    format::print(&args.format, &token, format::token)
}

/// `acl set-agent-token TYPE TOKEN`: `PUT /v1/agent/token/<type>`.
async fn set_agent_token(args: SetAgentTokenArgs) -> anyhow::Result<u8> {
    let (Some(kind), Some(token)) = (args.kind, args.token) else {
        return Ok(fail("Missing TYPE and TOKEN arguments"));
    };
    let path = match kind.as_str() {
        "default" | "agent" | "replication" | "config_file_service_registration" | "dns" => kind.clone(),
        "recovery" | "agent_recovery" | "master" | "agent_master" => "agent_recovery".to_string(),
        other => return Ok(fail(format!("Unknown token type {other:?}"))),
    };
    let client = Client::new(&args.http)?;
    let body = serde_json::json!({ "Token": token }).to_string().into_bytes();
    let reply = client.call(Method::PUT, &format!("/v1/agent/token/{path}"), Some(body)).await?;
    if !reply.status.is_success() {
        let text = reply.text();
        return Ok(fail(format!("Failed setting token: Unexpected response code: {} ({text})", reply.status.as_u16())));
    }
    println!("ACL token {kind:?} set successfully");
    Ok(0)
}

/// The answer's JSON, or the error Consul's CLI prints (`what` says what failed).
async fn call(client: &Client, method: Method, path: &str, body: Option<&Value>, what: &str) -> anyhow::Result<Value> {
    let reply = client.call(method, path, body.map(|b| b.to_string().into_bytes())).await?;
    reply.json().map_err(|e| anyhow::anyhow!("{what}: {e}"))
}

/// `NAME[:dc1,dc2]` as `-service-identity` gives it.
fn service_identity(text: &str) -> Value {
    match text.split_once(':') {
        Some((name, dcs)) => {
            let dcs: Vec<&str> = dcs.split(',').filter(|d| !d.is_empty()).collect();
            serde_json::json!({"ServiceName": name, "Datacenters": dcs})
        }
        None => serde_json::json!({"ServiceName": text}),
    }
}

/// `NAME:DC` as `-node-identity` gives it.
fn node_identity(text: &str) -> anyhow::Result<Value> {
    match text.split_once(':') {
        Some((name, dc)) if !name.is_empty() && !dc.is_empty() => {
            Ok(serde_json::json!({"NodeName": name, "Datacenter": dc}))
        }
        _ => anyhow::bail!("Malformed -node-identity argument: {text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_parse_as_consul_gives_them() {
        assert_eq!(service_identity("web"), serde_json::json!({"ServiceName": "web"}));
        assert_eq!(
            service_identity("web:dc1,dc2"),
            serde_json::json!({"ServiceName": "web", "Datacenters": ["dc1", "dc2"]})
        );
        assert_eq!(node_identity("n1:dc1").unwrap(), serde_json::json!({"NodeName": "n1", "Datacenter": "dc1"}));
        assert!(node_identity("n1").is_err());
    }
}
