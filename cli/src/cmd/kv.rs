//! `tessera kv put|get|delete`, worded as Consul's `consul kv`.

use std::io::Read;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clap::Args;
use clap::Subcommand;
use reqwest::Method;
use reqwest::StatusCode;
use serde::Deserialize;
use tessera_mesh::api::kv::KvPair;

use crate::client::encode_key;
use crate::client::Client;
use crate::cmd::fail;
use crate::cmd::HttpFlags;

#[derive(Subcommand)]
pub enum KvCommand {
    /// Writes a value: `kv put KEY [VALUE]`; VALUE `-` reads stdin, `@file` reads a file.
    Put(PutArgs),
    /// Reads a value, or every value under a prefix with -recurse.
    Get(GetArgs),
    /// Deletes a key, or every key under a prefix with -recurse.
    Delete(DeleteArgs),
    /// Prints every entry under a prefix as Consul's export JSON.
    Export(ExportArgs),
    /// Writes the entries of an export: `kv import DATA`, DATA `-` for stdin or `@file`.
    Import(ImportArgs),
}

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    http: HttpFlags,
    #[arg(default_value = "")]
    prefix: String,
}

#[derive(Args)]
pub struct ImportArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Put every key under this prefix.
    #[arg(long, default_value = "")]
    prefix: String,
    /// The export JSON; `-` reads stdin (the default), `@file` a file.
    #[arg(default_value = "-")]
    data: String,
}

/// One entry of `consul kv export`: lower-case keys, the value in base64.
#[derive(serde::Serialize, Deserialize)]
struct Exported {
    key: String,
    flags: u64,
    value: String,
}

#[derive(Args)]
pub struct PutArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Write only if the key's ModifyIndex equals -modify-index (0: only if absent).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    cas: bool,
    #[arg(long = "modify-index", default_value_t = 0)]
    modify_index: u64,
    #[arg(long, default_value_t = 0)]
    flags: u64,
    key: String,
    value: Option<String>,
}

#[derive(Args)]
pub struct GetArgs {
    #[command(flatten)]
    http: HttpFlags,
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    recurse: bool,
    key: String,
}

#[derive(Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    http: HttpFlags,
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    recurse: bool,
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    cas: bool,
    #[arg(long = "modify-index", default_value_t = 0)]
    modify_index: u64,
    key: String,
}

pub async fn run(command: KvCommand) -> u8 {
    let outcome = match command {
        KvCommand::Put(args) => put(args).await,
        KvCommand::Get(args) => get(args).await,
        KvCommand::Delete(args) => delete(args).await,
        KvCommand::Export(args) => export(args).await,
        KvCommand::Import(args) => import(args).await,
    };
    outcome.unwrap_or_else(fail)
}

fn read_value(raw: Option<String>) -> anyhow::Result<Vec<u8>> {
    match raw.as_deref() {
        None => Ok(Vec::new()),
        Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf)?;
            Ok(buf)
        }
        Some(v) if v.starts_with('@') => {
            std::fs::read(&v[1..]).map_err(|e| anyhow::anyhow!("Failed to read file {}: {e}", &v[1..]))
        }
        Some(v) => Ok(v.as_bytes().to_vec()),
    }
}

async fn put(args: PutArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let value = read_value(args.value)?;
    let mut query = format!("?flags={}", args.flags);
    if args.cas {
        query.push_str(&format!("&cas={}", args.modify_index));
    }
    let path = format!("/v1/kv/{}{query}", encode_key(&args.key));
    let written: bool = client.call(Method::PUT, &path, Some(value)).await?.json()?;
    if !written {
        return Ok(fail(format!("Did not write to {}: CAS failed", args.key)));
    }
    println!("Success! Data written to: {}", args.key);
    Ok(0)
}

async fn get(args: GetArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let mut query = String::new();
    if args.recurse {
        query.push_str("?recurse");
    }
    let reply = client.get(&format!("/v1/kv/{}{query}", encode_key(&args.key))).await?;
    if reply.status == StatusCode::NOT_FOUND {
        if args.recurse {
            return Ok(0);
        }
        return Ok(fail(format!("No key exists at: {}", args.key)));
    }
    let pairs: Vec<KvPair> = reply.json()?;
    for pair in pairs {
        let value = decode(pair.value)?;
        if args.recurse {
            println!("{}:{}", pair.key, String::from_utf8_lossy(&value));
        } else {
            println!("{}", String::from_utf8_lossy(&value));
        }
    }
    Ok(0)
}

fn decode(value: Option<String>) -> anyhow::Result<Vec<u8>> {
    Ok(match value {
        Some(v) => STANDARD.decode(v)?,
        None => Vec::new(),
    })
}

async fn export(args: ExportArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let reply = client.get(&format!("/v1/kv/{}?recurse", encode_key(&args.prefix))).await?;
    let pairs: Vec<KvPair> = match reply.status {
        StatusCode::NOT_FOUND => Vec::new(),
        _ => reply.json()?,
    };
    let exported: Vec<Exported> = pairs
        .into_iter()
        .map(|p| Exported { key: p.key, flags: p.flags, value: p.value.unwrap_or_default() })
        .collect();
    // Consul indents its export with tabs.
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    serde::Serialize::serialize(&exported, &mut serde_json::Serializer::with_formatter(&mut out, formatter))?;
    println!("{}", String::from_utf8_lossy(&out));
    Ok(0)
}

async fn import(args: ImportArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let data = read_value(Some(args.data))?;
    let entries: Vec<Exported> =
        serde_json::from_slice(&data).map_err(|e| anyhow::anyhow!("Cannot unmarshal data: {e}"))?;
    for entry in entries {
        let value =
            STANDARD.decode(&entry.value).map_err(|e| anyhow::anyhow!("{}: value is not base64: {e}", entry.key))?;
        let key = format!("{}{}", args.prefix, entry.key);
        let path = format!("/v1/kv/{}?flags={}", encode_key(&key), entry.flags);
        let written: bool = client.call(Method::PUT, &path, Some(value)).await?.json()?;
        if !written {
            return Ok(fail(format!("Error! Failed to write {key}")));
        }
        println!("Imported: {key}");
    }
    Ok(0)
}

async fn delete(args: DeleteArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let mut query = String::new();
    if args.recurse {
        query.push_str("?recurse");
    } else if args.cas {
        query.push_str(&format!("?cas={}", args.modify_index));
    }
    let path = format!("/v1/kv/{}{query}", encode_key(&args.key));
    let deleted: bool = client.call(Method::DELETE, &path, None).await?.json()?;
    if !deleted {
        return Ok(fail(format!("Did not delete key {}: CAS failed", args.key)));
    }
    match args.recurse {
        true => println!("Success! Deleted keys with prefix: {}", args.key),
        false => println!("Success! Deleted key: {}", args.key),
    }
    Ok(0)
}
