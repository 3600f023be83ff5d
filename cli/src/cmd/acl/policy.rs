//! `tessera acl policy create|read|update|delete|list`.

use clap::Args;
use clap::Subcommand;
use reqwest::Method;
use serde_json::json;
use serde_json::Value;

use super::call;
use super::format;
use crate::client::encode_key;
use crate::client::Client;
use crate::cmd::HttpFlags;

#[derive(Subcommand)]
pub enum PolicyCommand {
    Create(PolicyArgs),
    Read(PolicyArgs),
    /// Replaces the fields given (`-id` names the policy; then `-name` renames it).
    Update(PolicyArgs),
    Delete(PolicyArgs),
    List(PolicyArgs),
}

#[derive(Args)]
pub struct PolicyArgs {
    #[command(flatten)]
    http: HttpFlags,
    #[arg(long)]
    id: Option<String>,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// The rules: inline, `@file`, or `-` for stdin.
    #[arg(long)]
    rules: Option<String>,
    /// A datacenter the policy is valid in; repeatable (all when none).
    #[arg(long = "valid-datacenter", value_name = "DC")]
    valid_datacenter: Vec<String>,
    #[arg(long, default_value = "pretty")]
    format: String,
}

pub async fn run(command: PolicyCommand) -> anyhow::Result<u8> {
    match command {
        PolicyCommand::Create(args) => create(args).await,
        PolicyCommand::Read(args) => read(args).await,
        PolicyCommand::Update(args) => update(args).await,
        PolicyCommand::Delete(args) => delete(args).await,
        PolicyCommand::List(args) => list(args).await,
    }
}

/// `-rules` as Consul reads it: `@path` a file, `-` stdin, else the text.
fn rules_text(given: &str) -> anyhow::Result<String> {
    if let Some(path) = given.strip_prefix('@') {
        return std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("Failed to read rules from {path}: {e}"));
    }
    if given == "-" {
        return std::io::read_to_string(std::io::stdin()).map_err(|e| anyhow::anyhow!("Failed to read stdin: {e}"));
    }
    Ok(given.to_string())
}

/// The policy `-id` or else `-name` names.
async fn find(client: &Client, args: &PolicyArgs) -> anyhow::Result<Value> {
    let path = match (&args.id, &args.name) {
        (Some(id), _) => format!("/v1/acl/policy/{id}"),
        (None, Some(name)) => format!("/v1/acl/policy/name/{}", encode_key(name)),
        (None, None) => anyhow::bail!("Must specify either the -id or -name parameters"),
    };
    call(client, Method::GET, &path, None, "Error reading policy").await
}

async fn create(args: PolicyArgs) -> anyhow::Result<u8> {
    let name = args.name.clone().filter(|n| !n.is_empty());
    let name = name.ok_or_else(|| anyhow::anyhow!("Missing required '-name' flag"))?;
    let rules = args.rules.as_deref().map(rules_text).transpose()?.unwrap_or_default();
    let body = json!({"Name": name, "Description": args.description.clone().unwrap_or_default(),
                      "Rules": rules, "Datacenters": args.valid_datacenter});
    let client = Client::new(&args.http)?;
    let policy = call(&client, Method::PUT, "/v1/acl/policy", Some(&body), "Failed to create new policy").await?;
    format::print(&args.format, &policy, format::policy)
}

async fn read(args: PolicyArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let policy = find(&client, &args).await?;
    format::print(&args.format, &policy, format::policy)
}

async fn update(args: PolicyArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let mut policy = find(&client, &args).await?;
    let id = policy["ID"].as_str().unwrap_or_default().to_string();
    if let (Some(_), Some(name)) = (&args.id, &args.name) {
        policy["Name"] = Value::String(name.clone());
    }
    if let Some(description) = &args.description {
        policy["Description"] = Value::String(description.clone());
    }
    if let Some(rules) = &args.rules {
        policy["Rules"] = Value::String(rules_text(rules)?);
    }
    if !args.valid_datacenter.is_empty() {
        policy["Datacenters"] = json!(args.valid_datacenter);
    }
    let body = json!({"ID": id, "Name": policy["Name"], "Description": policy["Description"],
                      "Rules": policy["Rules"], "Datacenters": policy["Datacenters"]});
    let path = format!("/v1/acl/policy/{id}");
    let updated = call(&client, Method::PUT, &path, Some(&body), "Failed to update policy").await?;
    format::print(&args.format, &updated, format::policy)
}

async fn delete(args: PolicyArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let policy = find(&client, &args).await?;
    let id = policy["ID"].as_str().unwrap_or_default();
    call(&client, Method::DELETE, &format!("/v1/acl/policy/{id}"), None, &format!("Error deleting policy {id:?}"))
        .await?;
    println!("Policy {id:?} deleted successfully");
    Ok(0)
}

async fn list(args: PolicyArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let policies = call(&client, Method::GET, "/v1/acl/policies", None, "Failed to retrieve the policy list").await?;
    format::print(&args.format, &policies, format::policy)
}
