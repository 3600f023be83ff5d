//! `tessera connect ca get-config|set-config` (and, in `proxy`, the sidecar).

use clap::Args;
use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;
use tessera_mesh::api::connect::CaConfiguration;

use crate::client::Client;
use crate::cmd::fail;
use crate::cmd::HttpFlags;

// Parsed once per process: the size of the proxy's flags does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum ConnectCommand {
    /// The Connect CA's configuration.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Runs a sidecar (-sidecar-for ID) or an ad-hoc proxy (-service NAME -upstream NAME:PORT).
    Proxy(crate::cmd::proxy::ProxyArgs),
}

#[derive(Subcommand)]
pub enum CaCommand {
    /// Prints the CA configuration as JSON.
    GetConfig(GetConfigArgs),
    /// Replaces the CA configuration from a JSON file; a new PrivateKey rotates the root.
    SetConfig(SetConfigArgs),
}

#[derive(Args)]
pub struct GetConfigArgs {
    #[command(flatten)]
    http: HttpFlags,
}

#[derive(Args)]
pub struct SetConfigArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// The JSON file with the new configuration ({"Provider": "consul", "Config": {...}}).
    #[arg(long = "config-file", value_name = "FILE")]
    config_file: String,
    /// Accepted for Consul compatibility; the built-in CA always cross-signs.
    #[arg(long = "force-without-cross-signing")]
    force_without_cross_signing: bool,
}

pub async fn run(command: ConnectCommand) -> u8 {
    match command {
        ConnectCommand::Ca(CaCommand::GetConfig(args)) => get_config(args).await.unwrap_or_else(fail),
        ConnectCommand::Ca(CaCommand::SetConfig(args)) => set_config(args).await.unwrap_or_else(fail),
        ConnectCommand::Proxy(args) => crate::cmd::proxy::run(args).await,
    }
}

async fn get_config(args: GetConfigArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let config: CaConfiguration = client.get("/v1/connect/ca/configuration").await?.json()?;
    println!("{}", serde_json::to_string_pretty(&config)?);
    Ok(0)
}

async fn set_config(args: SetConfigArgs) -> anyhow::Result<u8> {
    let text = std::fs::read_to_string(&args.config_file)
        .map_err(|e| anyhow::anyhow!("Error reading config file {}: {e}", args.config_file))?;
    let mut body: Value = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("Error parsing config file {}: {e}", args.config_file))?;
    if args.force_without_cross_signing {
        body["ForceWithoutCrossSigning"] = Value::Bool(true);
    }
    let client = Client::new(&args.http)?;
    let reply = client.call(Method::PUT, "/v1/connect/ca/configuration", Some(serde_json::to_vec(&body)?)).await?;
    if !reply.status.is_success() {
        anyhow::bail!("Error setting CA configuration: {}", reply.text());
    }
    println!("Configuration updated!");
    Ok(0)
}
