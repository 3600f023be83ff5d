//! `tessera acl token create|read|update|delete|list|clone`.

use clap::Args;
use clap::Subcommand;
use reqwest::Method;
use serde_json::json;
use serde_json::Map;
use serde_json::Value;

use super::call;
use super::format;
use super::node_identity;
use super::service_identity;
use crate::client::Client;
use crate::cmd::HttpFlags;

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Creates a token.
    Create(LinkArgs),
    /// Shows a token (its SecretID is shown only when made).
    Read(ReadArgs),
    /// Replaces a token's description and the kinds of links given.
    Update(LinkArgs),
    /// Deletes a token.
    Delete(IdArgs),
    /// Lists every token.
    List(ListArgs),
    /// Makes a new token with the same links.
    Clone(IdArgs),
}

#[derive(Args)]
pub struct LinkArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// The token to update (`-id` is the deprecated name).
    #[arg(long = "accessor-id", alias = "id", value_name = "ID")]
    accessor_id: Option<String>,
    /// The AccessorID to create the token with (a UUID; made when not given).
    #[arg(long)]
    accessor: Option<String>,
    /// The SecretID to create the token with (a UUID; made when not given).
    #[arg(long)]
    secret: Option<String>,
    #[arg(long)]
    description: Option<String>,
    #[arg(long = "policy-id", value_name = "ID")]
    policy_id: Vec<String>,
    #[arg(long = "policy-name", value_name = "NAME")]
    policy_name: Vec<String>,
    #[arg(long = "role-id", value_name = "ID")]
    role_id: Vec<String>,
    #[arg(long = "role-name", value_name = "NAME")]
    role_name: Vec<String>,
    /// NAME[:dc1,dc2]; repeatable.
    #[arg(long = "service-identity", value_name = "NAME[:DCS]")]
    service_identity: Vec<String>,
    /// NAME:DC; repeatable.
    #[arg(long = "node-identity", value_name = "NAME:DC")]
    node_identity: Vec<String>,
    /// A token valid only in this datacenter.
    #[arg(long)]
    local: bool,
    /// How long the token lives (e.g. 1h).
    #[arg(long = "expires-ttl", value_name = "DURATION")]
    expires_ttl: Option<String>,
    #[arg(long, default_value = "pretty")]
    format: String,
}

#[derive(Args)]
pub struct ReadArgs {
    #[command(flatten)]
    http: HttpFlags,
    #[arg(long = "accessor-id", alias = "id", value_name = "ID")]
    accessor_id: Option<String>,
    /// The token this command's own -token is.
    #[arg(long = "self")]
    own: bool,
    #[arg(long, default_value = "pretty")]
    format: String,
}

#[derive(Args)]
pub struct IdArgs {
    #[command(flatten)]
    http: HttpFlags,
    #[arg(long = "accessor-id", alias = "id", value_name = "ID")]
    accessor_id: Option<String>,
    /// The clone's description (clone only).
    #[arg(long)]
    description: Option<String>,
    #[arg(long, default_value = "pretty")]
    format: String,
}

#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    http: HttpFlags,
    #[arg(long, default_value = "pretty")]
    format: String,
}

pub async fn run(command: TokenCommand) -> anyhow::Result<u8> {
    match command {
        TokenCommand::Create(args) => create(args).await,
        TokenCommand::Read(args) => read(args).await,
        TokenCommand::Update(args) => update(args).await,
        TokenCommand::Delete(args) => delete(args).await,
        TokenCommand::List(args) => list(args).await,
        TokenCommand::Clone(args) => clone(args).await,
    }
}

fn links(ids: &[String], names: &[String]) -> Vec<Value> {
    ids.iter().map(|id| json!({"ID": id})).chain(names.iter().map(|name| json!({"Name": name}))).collect()
}

/// The link kinds the flags give, by their body key.
fn given_links(args: &LinkArgs) -> anyhow::Result<Map<String, Value>> {
    let mut body = Map::new();
    if !args.policy_id.is_empty() || !args.policy_name.is_empty() {
        body.insert("Policies".into(), Value::Array(links(&args.policy_id, &args.policy_name)));
    }
    if !args.role_id.is_empty() || !args.role_name.is_empty() {
        body.insert("Roles".into(), Value::Array(links(&args.role_id, &args.role_name)));
    }
    if !args.service_identity.is_empty() {
        let ids = args.service_identity.iter().map(|s| service_identity(s)).collect();
        body.insert("ServiceIdentities".into(), Value::Array(ids));
    }
    if !args.node_identity.is_empty() {
        let ids = args.node_identity.iter().map(|n| node_identity(n)).collect::<anyhow::Result<_>>()?;
        body.insert("NodeIdentities".into(), Value::Array(ids));
    }
    Ok(body)
}

async fn create(args: LinkArgs) -> anyhow::Result<u8> {
    let mut body = given_links(&args)?;
    if body.is_empty() {
        anyhow::bail!(
            "Cannot create a token without specifying -policy-name, -policy-id, -role-name, -role-id, \
             -service-identity, or -node-identity at least once"
        );
    }
    let mut set = |key: &str, value: Option<&String>| {
        if let Some(v) = value {
            body.insert(key.into(), Value::String(v.clone()));
        }
    };
    set("Description", args.description.as_ref());
    set("AccessorID", args.accessor.as_ref());
    set("SecretID", args.secret.as_ref());
    set("ExpirationTTL", args.expires_ttl.as_ref());
    body.insert("Local".into(), Value::Bool(args.local));
    let client = Client::new(&args.http)?;
    let token =
        call(&client, Method::PUT, "/v1/acl/token", Some(&Value::Object(body)), "Failed to create new token").await?;
    format::print(&args.format, &token, format::token)
}

fn accessor(id: &Option<String>, what: &str) -> anyhow::Result<String> {
    id.clone()
        .filter(|i| !i.is_empty())
        .ok_or_else(|| anyhow::anyhow!("Cannot {what} a token without specifying the -accessor-id parameter"))
}

async fn read(args: ReadArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let path = match (args.own, &args.accessor_id) {
        (true, _) => "/v1/acl/token/self".to_string(),
        (false, id) => format!("/v1/acl/token/{}", accessor(id, "read")?),
    };
    let token = call(&client, Method::GET, &path, None, "Error reading token").await?;
    format::print(&args.format, &token, format::token)
}

async fn update(args: LinkArgs) -> anyhow::Result<u8> {
    let id = accessor(&args.accessor_id, "update")?;
    let client = Client::new(&args.http)?;
    let path = format!("/v1/acl/token/{id}");
    let current = call(&client, Method::GET, &path, None, "Error when retrieving current token").await?;
    // The current token, with the kinds given replaced (links sent by ID).
    let mut body = Map::new();
    for key in ["Description", "Policies", "Roles", "ServiceIdentities", "NodeIdentities", "Local", "ExpirationTime"] {
        if let Some(value) = current.get(key) {
            body.insert(key.into(), value.clone());
        }
    }
    body.extend(given_links(&args)?);
    if let Some(description) = &args.description {
        body.insert("Description".into(), Value::String(description.clone()));
    }
    let token = call(&client, Method::PUT, &path, Some(&Value::Object(body)), "Failed to update token").await?;
    format::print(&args.format, &token, format::token)
}

async fn delete(args: IdArgs) -> anyhow::Result<u8> {
    let id = accessor(&args.accessor_id, "delete")?;
    let client = Client::new(&args.http)?;
    call(&client, Method::DELETE, &format!("/v1/acl/token/{id}"), None, &format!("Error deleting token {id:?}"))
        .await?;
    println!("Token {id:?} deleted successfully");
    Ok(0)
}

async fn list(args: ListArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let tokens = call(&client, Method::GET, "/v1/acl/tokens", None, "Failed to retrieve the token list").await?;
    format::print(&args.format, &tokens, format::token)
}

async fn clone(args: IdArgs) -> anyhow::Result<u8> {
    let id = accessor(&args.accessor_id, "clone")?;
    let client = Client::new(&args.http)?;
    let body = json!({"Description": args.description.unwrap_or_default()});
    let token =
        call(&client, Method::PUT, &format!("/v1/acl/token/{id}/clone"), Some(&body), "Failed to clone token").await?;
    format::print(&args.format, &token, format::token)
}
