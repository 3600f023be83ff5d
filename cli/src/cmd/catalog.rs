//! `tessera catalog services|nodes`, `tessera services register|deregister`
//! and `tessera reload`, worded as Consul's commands.

use std::collections::BTreeMap;

use clap::Args;
use clap::Subcommand;
use reqwest::Method;
use tessera_mesh::api::catalog::OwnedNode;
use tessera_mesh::api::entries::OwnedCatalogNode;
use tessera_mesh::catalog::ConfigFile;
use tessera_mesh::catalog::ServiceDefinition;

use crate::client::columns;
use crate::client::Client;
use crate::cmd::fail;
use crate::cmd::HttpFlags;

#[derive(Subcommand)]
pub enum CatalogCommand {
    /// Lists the services of the catalog.
    Services(ServicesArgs),
    /// Lists the nodes of the catalog.
    Nodes(NodesArgs),
    /// Lists the datacenters the agent knows (its own).
    Datacenters(DatacentersArgs),
}

#[derive(Args)]
pub struct DatacentersArgs {
    #[command(flatten)]
    http: HttpFlags,
}

#[derive(Args)]
pub struct ServicesArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Show each service's tags.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    tags: bool,
    /// Only the services of this node.
    #[arg(long)]
    node: Option<String>,
}

#[derive(Args)]
pub struct NodesArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Only nodes that run this service.
    #[arg(long)]
    service: Option<String>,
}

pub async fn run(command: CatalogCommand) -> u8 {
    let outcome = match command {
        CatalogCommand::Services(args) => services(args).await,
        CatalogCommand::Nodes(args) => nodes(args).await,
        CatalogCommand::Datacenters(args) => datacenters(args).await,
    };
    outcome.unwrap_or_else(fail)
}

async fn datacenters(args: DatacentersArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let names: Vec<String> = client.get("/v1/catalog/datacenters").await?.json()?;
    for name in names {
        println!("{name}");
    }
    Ok(0)
}

async fn services(args: ServicesArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let by_name: BTreeMap<String, Vec<String>> = match &args.node {
        None => client.get("/v1/catalog/services").await?.json()?,
        Some(node) => {
            // `null` for a node the catalog does not have.
            let answer: Option<OwnedCatalogNode> = client.get(&format!("/v1/catalog/node/{node}")).await?.json()?;
            let services = answer.map(|a| a.services).unwrap_or_default();
            services.into_values().map(|s| (s.service.into_owned(), s.tags.into_owned())).collect()
        }
    };
    let rows: Vec<Vec<String>> = by_name
        .into_iter()
        .map(|(name, tags)| if args.tags { vec![name, tags.join(",")] } else { vec![name] })
        .collect();
    print!("{}", columns(&rows));
    Ok(0)
}

async fn nodes(args: NodesArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let path = match &args.service {
        Some(service) => format!("/v1/catalog/nodes?service={service}"),
        None => "/v1/catalog/nodes".to_string(),
    };
    let nodes: Vec<OwnedNode> = client.get(&path).await?.json()?;
    let mut rows = vec![["Node", "ID", "Address", "DC"].map(String::from).to_vec()];
    for n in nodes {
        let id: String = n.id.chars().take(8).collect();
        rows.push(vec![n.node.into_owned(), id, n.address.into_owned(), n.datacenter.into_owned()]);
    }
    print!("{}", columns(&rows));
    Ok(0)
}

#[derive(Subcommand)]
pub enum ServicesCommand {
    /// Registers services from files, or one from flags.
    Register(RegisterArgs),
    /// Deregisters services named in files, or by -id.
    Deregister(DeregisterArgs),
}

#[derive(Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    http: HttpFlags,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    id: Option<String>,
    #[arg(long)]
    address: Option<String>,
    #[arg(long)]
    port: Option<u16>,
    /// A tag (repeatable).
    #[arg(long)]
    tag: Vec<String>,
    /// Service definition files (JSON or HCL).
    files: Vec<std::path::PathBuf>,
}

#[derive(Args)]
pub struct DeregisterArgs {
    #[command(flatten)]
    http: HttpFlags,
    #[arg(long)]
    id: Option<String>,
    files: Vec<std::path::PathBuf>,
}

pub async fn run_services(command: ServicesCommand) -> u8 {
    let outcome = match command {
        ServicesCommand::Register(args) => register(args).await,
        ServicesCommand::Deregister(args) => deregister(args).await,
    };
    outcome.unwrap_or_else(fail)
}

/// The service definitions in `files`, read as the agent reads its config
/// files.
fn definitions_in(files: &[std::path::PathBuf]) -> anyhow::Result<Vec<ServiceDefinition>> {
    let mut out = Vec::new();
    for file in files {
        let named = |e: String| anyhow::anyhow!("{}: {e}", file.display());
        let text = std::fs::read_to_string(file).map_err(|e| named(e.to_string()))?;
        out.extend(ConfigFile::parse(file, &text).map_err(named)?.all_services().cloned());
    }
    Ok(out)
}

async fn register(args: RegisterArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let mut definitions = definitions_in(&args.files)?;
    if let Some(name) = args.name {
        definitions.push(ServiceDefinition {
            id: args.id,
            name,
            tags: args.tag,
            address: args.address.unwrap_or_default(),
            port: args.port.unwrap_or_default(),
            ..ServiceDefinition::default()
        });
    }
    if definitions.is_empty() {
        return Ok(fail("give service definition files or -name"));
    }
    for definition in definitions {
        let body = serde_json::to_vec(&definition)?;
        let reply = client.call(Method::PUT, "/v1/agent/service/register", Some(body)).await?;
        if !reply.status.is_success() {
            return Ok(fail(format!("Error registering service {:?}: {}", definition.name, reply.text())));
        }
        println!("Registered service: {}", definition.name);
    }
    Ok(0)
}

async fn deregister(args: DeregisterArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let mut ids: Vec<String> = definitions_in(&args.files)?.iter().map(ServiceDefinition::effective_id).collect();
    ids.extend(args.id);
    if ids.is_empty() {
        return Ok(fail("give service definition files or -id"));
    }
    for id in ids {
        let reply = client.call(Method::PUT, &format!("/v1/agent/service/deregister/{id}"), None).await?;
        if !reply.status.is_success() {
            return Ok(fail(format!("Error deregistering service {id:?}: {}", reply.text())));
        }
        println!("Deregistered service: {id}");
    }
    Ok(0)
}

#[derive(Args)]
pub struct ReloadArgs {
    #[command(flatten)]
    http: HttpFlags,
}

pub async fn reload(args: ReloadArgs) -> u8 {
    let outcome = async {
        let client = Client::new(&args.http)?;
        let reply = client.call(Method::PUT, "/v1/agent/reload", None).await?;
        if !reply.status.is_success() {
            eprintln!("Error reloading: {}", reply.text());
            return Ok(1);
        }
        println!("Configuration reload triggered");
        anyhow::Ok(0)
    };
    outcome.await.unwrap_or_else(fail)
}

#[derive(Args)]
pub struct LeaveArgs {
    #[command(flatten)]
    http: HttpFlags,
}

/// `tessera leave`: the agent leaves the catalog and stops.
pub async fn leave(args: LeaveArgs) -> u8 {
    let outcome = async {
        let client = Client::new(&args.http)?;
        let reply = client.call(Method::PUT, "/v1/agent/leave", None).await?;
        if !reply.status.is_success() {
            eprintln!("Error leaving: {}", reply.text());
            return Ok(1);
        }
        println!("Graceful leave complete");
        anyhow::Ok(0)
    };
    outcome.await.unwrap_or_else(fail)
}
