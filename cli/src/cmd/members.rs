//! `tessera members`, with Consul's columns.

use clap::Args;
use tessera_mesh::api::agent::status_name;
use tessera_mesh::api::agent::Member;

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
    /// Every tag of each member, as Consul's -detailed prints them.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    detailed: bool,
}

pub async fn run(args: MembersArgs) -> u8 {
    match list(args).await {
        Ok(code) => code,
        Err(e) => fail(e),
    }
}

async fn list(args: MembersArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let members: Vec<Member> = client.get("/v1/agent/members").await?.json()?;
    let shown: Vec<&Member> =
        members.iter().filter(|m| args.status.as_deref().is_none_or(|s| s == status_name(m.status))).collect();
    if shown.is_empty() {
        return Ok(2);
    }
    let rows = match args.detailed {
        true => detailed_rows(&shown),
        false => standard_rows(&shown),
    };
    print!("{}", columns(&rows));
    Ok(0)
}

fn standard_rows(members: &[&Member]) -> Vec<Vec<String>> {
    let header = ["Node", "Address", "Status", "Type", "Build", "Protocol", "DC", "Partition", "Segment"];
    let mut rows = vec![header.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    for m in members {
        let kind = if m.tag("role") == "consul" { "server" } else { "client" };
        let segment = if kind == "server" { "<all>" } else { "<default>" };
        // Consul prints the version part of `version:revision`.
        let build = m.tag("build").split(':').next().unwrap_or_default();
        rows.push(vec![
            m.name.clone(),
            format!("{}:{}", m.addr, m.port),
            status_name(m.status).to_string(),
            kind.to_string(),
            build.to_string(),
            m.tag("vsn").to_string(),
            m.tag("dc").to_string(),
            "default".to_string(),
            segment.to_string(),
        ]);
    }
    rows
}

/// `key=value` tags, sorted by key and comma-joined, as Consul's -detailed.
fn detailed_rows(members: &[&Member]) -> Vec<Vec<String>> {
    let mut rows = vec![["Node", "Address", "Status", "Tags"].iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    for m in members {
        let tags: Vec<String> = m.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        rows.push(vec![
            m.name.clone(),
            format!("{}:{}", m.addr, m.port),
            status_name(m.status).to_string(),
            tags.join(","),
        ]);
    }
    rows
}
