//! `tessera acl role create|read|update|delete|list`.

use clap::Args;
use clap::Subcommand;
use reqwest::Method;
use serde_json::json;
use serde_json::Value;

use super::call;
use super::format;
use super::node_identity;
use super::service_identity;
use crate::client::encode_key;
use crate::client::Client;
use crate::cmd::HttpFlags;

#[derive(Subcommand)]
pub enum RoleCommand {
    Create(RoleArgs),
    Read(RoleArgs),
    /// Replaces the description and the kinds of links given.
    Update(RoleArgs),
    Delete(RoleArgs),
    List(RoleArgs),
}

#[derive(Args)]
pub struct RoleArgs {
    #[command(flatten)]
    http: HttpFlags,
    #[arg(long)]
    id: Option<String>,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    description: Option<String>,
    #[arg(long = "policy-id", value_name = "ID")]
    policy_id: Vec<String>,
    #[arg(long = "policy-name", value_name = "NAME")]
    policy_name: Vec<String>,
    #[arg(long = "service-identity", value_name = "NAME[:DCS]")]
    service_identity: Vec<String>,
    #[arg(long = "node-identity", value_name = "NAME:DC")]
    node_identity: Vec<String>,
    #[arg(long, default_value = "pretty")]
    format: String,
}

pub async fn run(command: RoleCommand) -> anyhow::Result<u8> {
    match command {
        RoleCommand::Create(args) => create(args).await,
        RoleCommand::Read(args) => read(args).await,
        RoleCommand::Update(args) => update(args).await,
        RoleCommand::Delete(args) => delete(args).await,
        RoleCommand::List(args) => list(args).await,
    }
}

/// The link kinds the flags give, over `body`.
fn set_links(body: &mut Value, args: &RoleArgs) -> anyhow::Result<()> {
    if !args.policy_id.is_empty() || !args.policy_name.is_empty() {
        let ids = args.policy_id.iter().map(|id| json!({"ID": id}));
        body["Policies"] = Value::Array(ids.chain(args.policy_name.iter().map(|n| json!({"Name": n}))).collect());
    }
    if !args.service_identity.is_empty() {
        body["ServiceIdentities"] = Value::Array(args.service_identity.iter().map(|s| service_identity(s)).collect());
    }
    if !args.node_identity.is_empty() {
        let ids = args.node_identity.iter().map(|n| node_identity(n)).collect::<anyhow::Result<_>>()?;
        body["NodeIdentities"] = Value::Array(ids);
    }
    if let Some(description) = &args.description {
        body["Description"] = Value::String(description.clone());
    }
    Ok(())
}

async fn find(client: &Client, args: &RoleArgs) -> anyhow::Result<Value> {
    let path = match (&args.id, &args.name) {
        (Some(id), _) => format!("/v1/acl/role/{id}"),
        (None, Some(name)) => format!("/v1/acl/role/name/{}", encode_key(name)),
        (None, None) => anyhow::bail!("Must specify either the -id or -name parameters"),
    };
    call(client, Method::GET, &path, None, "Error reading role").await
}

async fn create(args: RoleArgs) -> anyhow::Result<u8> {
    let name = args.name.clone().filter(|n| !n.is_empty());
    let name = name.ok_or_else(|| anyhow::anyhow!("Missing required '-name' flag"))?;
    let mut body = json!({"Name": name});
    set_links(&mut body, &args)?;
    let client = Client::new(&args.http)?;
    let role = call(&client, Method::PUT, "/v1/acl/role", Some(&body), "Failed to create new role").await?;
    format::print(&args.format, &role, format::role)
}

async fn read(args: RoleArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let role = find(&client, &args).await?;
    format::print(&args.format, &role, format::role)
}

async fn update(args: RoleArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let current = find(&client, &args).await?;
    let id = current["ID"].as_str().unwrap_or_default().to_string();
    let mut body = json!({"ID": id});
    for key in ["Name", "Description", "Policies", "ServiceIdentities", "NodeIdentities"] {
        if let Some(value) = current.get(key) {
            body[key] = value.clone();
        }
    }
    if let (Some(_), Some(name)) = (&args.id, &args.name) {
        body["Name"] = Value::String(name.clone());
    }
    set_links(&mut body, &args)?;
    let role = call(&client, Method::PUT, &format!("/v1/acl/role/{id}"), Some(&body), "Failed to update role").await?;
    format::print(&args.format, &role, format::role)
}

async fn delete(args: RoleArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let role = find(&client, &args).await?;
    let id = role["ID"].as_str().unwrap_or_default();
    call(&client, Method::DELETE, &format!("/v1/acl/role/{id}"), None, &format!("Error deleting role {id:?}")).await?;
    println!("Role {id:?} deleted successfully");
    Ok(0)
}

async fn list(args: RoleArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let roles = call(&client, Method::GET, "/v1/acl/roles", None, "Failed to retrieve the role list").await?;
    format::print(&args.format, &roles, format::role)
}
