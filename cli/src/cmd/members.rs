//! `tessera members`, with Consul's columns.

use clap::Args;
use serde::Deserialize;

use crate::client::columns;
use crate::client::Client;
use crate::cmd::fail;
use crate::cmd::HttpFlags;

#[derive(Args)]
pub struct MembersArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Show only members whose status (alive, failed) is this; exit 2 if none.
    #[arg(long)]
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Member {
    name: String,
    addr: String,
    port: u16,
    status: u8,
    tags: Tags,
}

#[derive(Deserialize)]
struct Tags {
    role: String,
    dc: String,
    build: String,
    vsn: String,
}

fn status_name(code: u8) -> &'static str {
    match code {
        1 => "alive",
        2 => "leaving",
        3 => "left",
        4 => "failed",
        _ => "none",
    }
}

pub async fn run(args: MembersArgs) -> u8 {
    match list(args).await {
        Ok(code) => code,
        Err(e) => fail(e),
    }
}

async fn list(args: MembersArgs) -> anyhow::Result<u8> {
    let client = Client::new(args.http.http_addr.as_deref())?;
    let members: Vec<Member> = client.get("/v1/agent/members").await?.json()?;
    let header = ["Node", "Address", "Status", "Type", "Build", "Protocol", "DC", "Partition", "Segment"];
    let mut rows = vec![header.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    for m in members.iter().filter(|m| args.status.as_deref().is_none_or(|s| s == status_name(m.status))) {
        let kind = if m.tags.role == "consul" { "server" } else { "client" };
        let segment = if kind == "server" { "<all>" } else { "<default>" };
        rows.push(vec![
            m.name.clone(),
            format!("{}:{}", m.addr, m.port),
            status_name(m.status).to_string(),
            kind.to_string(),
            m.tags.build.clone(),
            m.tags.vsn.clone(),
            m.tags.dc.clone(),
            "default".to_string(),
            segment.to_string(),
        ]);
    }
    if rows.len() == 1 {
        return Ok(2);
    }
    print!("{}", columns(&rows));
    Ok(0)
}
