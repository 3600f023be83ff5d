//! `tessera intention create|delete|get|list|match|check`, worded and
//! exiting as Consul's (`check`: 0 allowed, 1 denied, 2 error).

use std::collections::BTreeMap;

use clap::Args;
use clap::Subcommand;
use reqwest::Method;
use serde_json::json;
use serde_json::Value;
use tessera_mesh::api::connect::Intention;
use tessera_mesh::api::connect::IntentionCheckResult;

use crate::client::columns;
use crate::client::Client;
use crate::cmd::fail;
use crate::cmd::HttpFlags;

#[derive(Subcommand)]
pub enum IntentionCommand {
    /// Creates an intention: SRC may (-allow, the default) or may not (-deny) connect to DST.
    Create(CreateArgs),
    /// Deletes the intention of SRC and DST (or with one argument, of that ID).
    Delete(PairOrIdArgs),
    /// Shows the intention of SRC and DST (or with one argument, of that ID).
    Get(PairOrIdArgs),
    /// Lists every intention.
    List(ListArgs),
    /// Lists the intentions that match a source or a destination, in evaluation order.
    Match(MatchArgs),
    /// Says whether SRC may connect to DST (exit 0 allowed, 1 denied, 2 error).
    Check(PairArgs),
}

#[derive(Args)]
pub struct CreateArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Allow the connection (the default).
    #[arg(long)]
    allow: bool,
    /// Deny the connection.
    #[arg(long)]
    deny: bool,
    /// Overwrite the pair's existing intention instead of failing.
    #[arg(long)]
    replace: bool,
    /// Metadata as key=value; repeatable.
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    meta: Vec<String>,
    #[arg(long)]
    description: Option<String>,
    /// Read intentions (JSON objects with SourceName, DestinationName, Action) from files instead.
    #[arg(long)]
    file: bool,
    /// SRC DST, or with -file the files.
    #[arg(value_name = "ARGS")]
    args: Vec<String>,
}

#[derive(Args)]
pub struct PairArgs {
    #[command(flatten)]
    http: HttpFlags,
    source: String,
    destination: String,
}

#[derive(Args)]
pub struct PairOrIdArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// SRC DST, or an intention ID.
    #[arg(value_name = "SRC DST|ID", num_args = 1..=2, required = true)]
    args: Vec<String>,
}

#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    http: HttpFlags,
}

#[derive(Args)]
pub struct MatchArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Match intentions by source.
    #[arg(long)]
    source: bool,
    /// Match intentions by destination (the default).
    #[arg(long)]
    destination: bool,
    name: String,
}

pub async fn run(command: IntentionCommand) -> u8 {
    match command {
        IntentionCommand::Create(args) => create(args).await.unwrap_or_else(fail),
        IntentionCommand::Delete(args) => delete(args).await.unwrap_or_else(fail),
        IntentionCommand::Get(args) => get(args).await.unwrap_or_else(fail),
        IntentionCommand::List(args) => list(args).await.unwrap_or_else(fail),
        IntentionCommand::Match(args) => matches(args).await.unwrap_or_else(fail),
        IntentionCommand::Check(args) => check(args).await.unwrap_or_else(|e| {
            eprintln!("Error! {e}");
            2
        }),
    }
}

/// (source, destination) from `SRC DST`, or from an ID by the list.
async fn resolve_pair(client: &Client, args: &[String]) -> anyhow::Result<(String, String)> {
    match args {
        [source, destination] => Ok((source.clone(), destination.clone())),
        [id] => {
            let all: Vec<Intention> = client.get("/v1/connect/intentions").await?.json()?;
            let found = all.into_iter().find(|i| i.id == *id);
            let found = found.ok_or_else(|| anyhow::anyhow!("Intention with ID {id:?} not found"))?;
            Ok((found.source_name, found.destination_name))
        }
        _ => anyhow::bail!("Must specify SRC DST, or an intention ID"),
    }
}

/// `/v1/connect/intentions/<endpoint>` for one source/destination pair.
fn pair_path(endpoint: &str, source: &str, destination: &str) -> String {
    format!("/v1/connect/intentions/{endpoint}?source={}&destination={}", query(source), query(destination))
}

fn query(value: &str) -> String {
    crate::client::encode_key(value).replace('/', "%2F")
}

fn parse_meta(pairs: &[String]) -> anyhow::Result<serde_json::Map<String, Value>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), Value::String(v.to_string()))),
            _ => Err(anyhow::anyhow!("-meta {pair:?}: expected key=value")),
        })
        .collect()
}

/// One intention to create: (source, destination, body).
fn from_flags(args: &CreateArgs) -> anyhow::Result<Vec<(String, String, Value)>> {
    if args.allow && args.deny {
        anyhow::bail!("Only one of -allow or -deny may be specified");
    }
    let [source, destination] = args.args.as_slice() else {
        anyhow::bail!("Must specify two arguments: source and destination");
    };
    let body = json!({
        "SourceName": source,
        "DestinationName": destination,
        "SourceType": "consul",
        "Action": if args.deny { "deny" } else { "allow" },
        "Description": args.description.clone().unwrap_or_default(),
        "Meta": parse_meta(&args.meta)?,
    });
    Ok(vec![(source.clone(), destination.clone(), body)])
}

fn from_files(files: &[String]) -> anyhow::Result<Vec<(String, String, Value)>> {
    if files.is_empty() {
        anyhow::bail!("-file needs at least one file");
    }
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
        let body: Value = serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
        let field = |name: &str| {
            body[name].as_str().map(String::from).ok_or_else(|| anyhow::anyhow!("{file}: {name} must be given"))
        };
        out.push((field("SourceName")?, field("DestinationName")?, body.clone()));
    }
    Ok(out)
}

async fn create(args: CreateArgs) -> anyhow::Result<u8> {
    let intentions = if args.file { from_files(&args.args)? } else { from_flags(&args)? };
    let client = Client::new(&args.http)?;
    for (source, destination, body) in intentions {
        let bytes = serde_json::to_vec(&body)?;
        let reply = if args.replace {
            client.call(Method::PUT, &pair_path("exact", &source, &destination), Some(bytes)).await?
        } else {
            client.call(Method::POST, "/v1/connect/intentions", Some(bytes)).await?
        };
        if !reply.status.is_success() {
            anyhow::bail!("Error creating intention {source} => {destination}: {}", reply.text());
        }
        let action = body["Action"].as_str().unwrap_or("allow");
        println!("Created: {source} => {destination} ({action})");
    }
    Ok(0)
}

async fn delete(args: PairOrIdArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let (source, destination) = resolve_pair(&client, &args.args).await?;
    let path = pair_path("exact", &source, &destination);
    let found = client.get(&path).await?;
    if found.status == reqwest::StatusCode::NOT_FOUND {
        anyhow::bail!("Error deleting intention: intention {source} => {destination} not found");
    }
    let reply = client.call(Method::DELETE, &path, None).await?;
    reply.json::<Value>()?;
    println!("Intention deleted.");
    Ok(0)
}

async fn get(args: PairOrIdArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let (source, destination) = resolve_pair(&client, &args.args).await?;
    let i: Intention = client.get(&pair_path("exact", &source, &destination)).await?.json()?;
    let mut rows = vec![
        vec!["ID:".into(), i.id],
        vec!["Source:".into(), i.source_name],
        vec!["Destination:".into(), i.destination_name],
        vec!["Action:".into(), i.action],
        vec!["Description:".into(), i.description],
        vec!["Precedence:".into(), i.precedence.to_string()],
        vec!["Create Index:".into(), i.create_index.to_string()],
        vec!["Modify Index:".into(), i.modify_index.to_string()],
    ];
    for (k, v) in i.meta {
        rows.push(vec![format!("Meta[{k}]:"), v]);
    }
    print!("{}", columns(&rows));
    Ok(0)
}

async fn list(args: ListArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let all: Vec<Intention> = client.get("/v1/connect/intentions").await?.json()?;
    let mut rows = vec![vec!["ID".into(), "Source".into(), "Action".into(), "Destination".into(), "Precedence".into()]];
    for i in all {
        rows.push(vec![i.id, i.source_name, i.action, i.destination_name, i.precedence.to_string()]);
    }
    print!("{}", columns(&rows));
    Ok(0)
}

async fn matches(args: MatchArgs) -> anyhow::Result<u8> {
    if args.source && args.destination {
        anyhow::bail!("Only one of -source or -destination may be specified");
    }
    let by = if args.source { "source" } else { "destination" };
    let client = Client::new(&args.http)?;
    let path = format!("/v1/connect/intentions/match?by={by}&name={}", query(&args.name));
    let mut answer: BTreeMap<String, Vec<Intention>> = client.get(&path).await?.json()?;
    for i in answer.remove(&args.name).unwrap_or_default() {
        println!("{} => {} ({})", i.source_name, i.destination_name, i.action);
    }
    Ok(0)
}

async fn check(args: PairArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let path = pair_path("check", &args.source, &args.destination);
    let answer: IntentionCheckResult = client.get(&path).await?.json()?;
    if answer.allowed {
        println!("Allowed");
        Ok(0)
    } else {
        println!("Denied");
        Ok(1)
    }
}
