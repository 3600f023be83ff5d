//! Commands about the agent the CLI talks to: `monitor` (its log lines as
//! they come), `info` (its stats) and `join`, with Consul's output.

use std::io::Write;

use clap::Args;
use reqwest::Method;
use tessera_mesh::api::agent::AgentSelf;

use crate::client::encode_key;
use crate::client::Client;
use crate::cmd::fail;
use crate::cmd::HttpFlags;

#[derive(Args)]
pub struct MonitorArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// trace, debug, info, warn or err.
    #[arg(long = "log-level", default_value = "INFO")]
    log_level: String,
    /// Lines as JSON objects.
    #[arg(long = "log-json", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    log_json: bool,
}

pub async fn monitor(args: MonitorArgs) -> u8 {
    monitor_inner(args).await.unwrap_or_else(|e| fail(format!("Error starting monitor: {e}")))
}

async fn monitor_inner(args: MonitorArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let level = serde_urlencoded::to_string([("loglevel", args.log_level.as_str())])?;
    let json = if args.log_json { "&logjson" } else { "" };
    let mut response = client.open(&format!("/v1/agent/monitor?{level}{json}")).await?;
    if !response.status().is_success() {
        let status = response.status().as_u16();
        anyhow::bail!("Unexpected response code: {status} ({})", response.text().await.unwrap_or_default().trim());
    }
    let mut out = std::io::stdout();
    while let Some(chunk) = response.chunk().await.unwrap_or(None) {
        out.write_all(&chunk)?;
        out.flush()?;
    }
    eprintln!("Remote side ended the monitor! This usually means that the\nremote side has exited or crashed.");
    Ok(1)
}

#[derive(Args)]
pub struct InfoArgs {
    #[command(flatten)]
    http: HttpFlags,
}

/// `Stats` of `/v1/agent/self`: each group, then `\tkey = value`, sorted.
pub async fn info(args: InfoArgs) -> u8 {
    info_inner(args).await.unwrap_or_else(|e| fail(format!("Error querying agent: {e}")))
}

async fn info_inner(args: InfoArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let me: AgentSelf = client.get("/v1/agent/self").await?.json()?;
    let mut text = String::new();
    for (group, values) in &me.stats {
        text.push_str(&format!("{group}:\n"));
        for (key, value) in values {
            text.push_str(&format!("\t{key} = {value}\n"));
        }
    }
    print!("{text}");
    Ok(0)
}

#[derive(Args)]
pub struct JoinArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Join over the WAN (refused: Tessera serves one datacenter).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    wan: bool,
    /// Servers to join, as host or host:port (the server port by default).
    #[arg(required = true, value_name = "ADDRESS")]
    addresses: Vec<String>,
}

/// Joins through each address in turn; succeeds when one did, as Consul's.
pub async fn join(args: JoinArgs) -> u8 {
    let client = match Client::new(&args.http) {
        Ok(client) => client,
        Err(e) => return fail(e),
    };
    let mut joined = 0;
    for address in &args.addresses {
        let path = format!("/v1/agent/join/{}{}", encode_key(address), if args.wan { "?wan=1" } else { "" });
        match client.call(Method::PUT, &path, None).await {
            Ok(reply) if reply.status.is_success() => joined += 1,
            Ok(reply) => eprintln!("Error joining address '{address}': {}", reply.text()),
            Err(e) => eprintln!("Error joining address '{address}': {e}"),
        }
    }
    if joined == 0 {
        eprintln!("Failed to join any nodes.");
        return 1;
    }
    println!("Successfully joined cluster by contacting {joined} nodes.");
    0
}
