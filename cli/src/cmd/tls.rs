//! `tessera tls ca create` and `tessera tls cert create`: a CA for agent
//! TLS and the certificates it signs, in the current directory, under
//! Consul's file names and with Consul's messages, so a guide written for
//! `consul tls` works as it is. Errors print as Consul's do (no `Error!`
//! prefix) and exit 1.

mod files;
mod generate;

use std::net::IpAddr;

use clap::Args;
use clap::Subcommand;

use generate::CaOptions;
use generate::CertOptions;
use generate::Kind;

#[derive(Subcommand)]
pub enum TlsCommand {
    /// Creates a certificate authority for agent TLS.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Creates certificates signed by that CA.
    #[command(subcommand)]
    Cert(CertCommand),
}

#[derive(Subcommand)]
pub enum CaCommand {
    /// Creates <domain>-agent-ca.pem and <domain>-agent-ca-key.pem here.
    Create(CaCreateArgs),
}

#[derive(Subcommand)]
pub enum CertCommand {
    /// Creates a -server, -client or -cli certificate and key here.
    Create(CertCreateArgs),
}

#[derive(Args)]
pub struct CaCreateArgs {
    /// Days the CA is valid for.
    #[arg(long, default_value_t = 1825)]
    days: u32,
    /// The agents' DNS domain (names the files; with -name-constraint, the domain allowed).
    #[arg(long, default_value = "consul")]
    domain: String,
    /// Only let the CA sign for localhost, -domain and -additional-name-constraint.
    #[arg(long = "name-constraint", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    name_constraint: bool,
    /// Another DNS domain the CA may sign for (repeatable; with -name-constraint).
    #[arg(long = "additional-name-constraint", value_name = "DOMAIN")]
    additional_name_constraints: Vec<String>,
    /// The cluster's ID: the CA then carries the URI spiffe://<id>.<domain>.
    #[arg(long = "cluster-id", value_name = "ID")]
    cluster_id: Option<String>,
    /// The CA's common name (Tessera Agent CA <serial> by default).
    #[arg(long = "common-name", value_name = "NAME")]
    common_name: Option<String>,
}

#[derive(Args)]
pub struct CertCreateArgs {
    /// A server certificate.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    server: bool,
    /// A client agent certificate.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    client: bool,
    /// A certificate for the CLI (and other HTTPS clients).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    cli: bool,
    /// The datacenter.
    #[arg(long, default_value = "dc1")]
    dc: String,
    /// The agents' DNS domain.
    #[arg(long, default_value = "consul")]
    domain: String,
    /// The CA certificate (#DOMAIN# is replaced by -domain).
    #[arg(long, default_value = "#DOMAIN#-agent-ca.pem", value_name = "FILE")]
    ca: String,
    /// The CA's private key (#DOMAIN# is replaced by -domain).
    #[arg(long, default_value = "#DOMAIN#-agent-ca-key.pem", value_name = "FILE")]
    key: String,
    /// Days the certificate is valid for.
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// With -server: also <node>.server.<dc>.<domain>. With -client (Tessera's):
    /// <node>.client.<dc>.<domain>, which binds the certificate to that node.
    #[arg(long, value_name = "NAME")]
    node: Option<String>,
    /// Another DNS name for the certificate (repeatable; not for -cli).
    #[arg(long = "additional-dnsname", value_name = "NAME")]
    additional_dnsnames: Vec<String>,
    /// Another IP address for the certificate (repeatable).
    #[arg(long = "additional-ipaddress", value_name = "IP")]
    additional_ipaddresses: Vec<String>,
}

/// Printed before a server certificate is made, as Consul warns: the
/// certificate is as powerful as the CA's key within the cluster.
const SERVER_WARNING: &str = "==> WARNING: a server certificate lets its holder join as a server and
    read all of the cluster's state, root keys and ACL tokens included.
    Keep it on server hosts only, and guard it as you guard the CA's key.";

pub fn run(command: TlsCommand) -> u8 {
    let outcome = match command {
        TlsCommand::Ca(CaCommand::Create(args)) => ca_create(args),
        TlsCommand::Cert(CertCommand::Create(args)) => cert_create(args),
    };
    match outcome {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e:#}");
            1
        }
    }
}

fn ca_create(args: CaCreateArgs) -> anyhow::Result<()> {
    let cert_file = format!("{}-agent-ca.pem", args.domain);
    let key_file = format!("{}-agent-ca-key.pem", args.domain);
    refuse_existing(&[&cert_file, &key_file])?;
    let permitted_dns = match args.name_constraint {
        true => {
            args.additional_name_constraints.iter().cloned().chain([args.domain.clone(), "localhost".into()]).collect()
        }
        false => Vec::new(),
    };
    let ca = generate::ca(&CaOptions {
        days: args.days,
        domain: args.domain,
        common_name: args.common_name.filter(|n| !n.is_empty()),
        permitted_dns,
        cluster_id: args.cluster_id.filter(|id| !id.is_empty()),
    })?;
    save(&cert_file, &ca.cert, files::CERT_MODE)?;
    save(&key_file, &ca.key, files::KEY_MODE)
}

fn cert_create(args: CertCreateArgs) -> anyhow::Result<()> {
    let opts = cert_options(&args)?;
    let prefix = generate::file_prefix(opts.kind, &opts.dc, &opts.domain);
    let Some((cert_file, key_file)) = files::free_pair(&prefix) else {
        anyhow::bail!("Could not find a filename that doesn't already exist");
    };
    let ca_file = args.ca.replacen("#DOMAIN#", &args.domain, 1);
    let ca_key_file = args.key.replacen("#DOMAIN#", &args.domain, 1);
    let ca = std::fs::read_to_string(&ca_file).map_err(|e| anyhow::anyhow!("Error reading CA: {ca_file}: {e}"))?;
    let ca_key = std::fs::read_to_string(&ca_key_file)
        .map_err(|e| anyhow::anyhow!("Error reading CA key: {ca_key_file}: {e}"))?;
    if opts.kind == Kind::Server {
        println!("{SERVER_WARNING}");
    }
    println!("==> Using {ca_file} and {ca_key_file}");
    let leaf = generate::cert(&opts, &ca, &ca_key)?;
    save(&cert_file, &leaf.cert, files::CERT_MODE)?;
    save(&key_file, &leaf.key, files::KEY_MODE)
}

/// The flags checked in Consul's order, with its messages.
fn cert_options(args: &CertCreateArgs) -> anyhow::Result<CertOptions> {
    if args.ca.is_empty() {
        anyhow::bail!("Please provide the ca");
    }
    if args.key.is_empty() {
        anyhow::bail!("Please provide the key");
    }
    let kind = match (args.server, args.client, args.cli) {
        (true, false, false) => Kind::Server,
        (false, true, false) => Kind::Client,
        (false, false, true) => Kind::Cli,
        _ => anyhow::bail!("Please provide either -server, -client, or -cli"),
    };
    let node = args.node.clone().filter(|n| !n.is_empty());
    if node.is_some() && kind == Kind::Cli {
        anyhow::bail!("-node requires -server or -client");
    }
    Ok(CertOptions {
        kind,
        dc: args.dc.clone(),
        domain: args.domain.clone(),
        days: args.days,
        node,
        additional_dns: args
            .additional_dnsnames
            .iter()
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty())
            .collect(),
        additional_ips: parse_ips(&args.additional_ipaddresses)?,
    })
}

/// Consul would put a broken address in the certificate; refused instead.
fn parse_ips(given: &[String]) -> anyhow::Result<Vec<IpAddr>> {
    given
        .iter()
        .map(|ip| ip.trim())
        .filter(|ip| !ip.is_empty())
        .map(|ip| ip.parse().map_err(|_| anyhow::anyhow!("Invalid IP address for -additional-ipaddress: {ip}")))
        .collect()
}

fn refuse_existing(paths: &[&str]) -> anyhow::Result<()> {
    match paths.iter().find(|path| files::exists(path)) {
        Some(path) => anyhow::bail!("{path} already exists."),
        None => Ok(()),
    }
}

fn save(path: &str, contents: &str, mode: u32) -> anyhow::Result<()> {
    files::write_new(path, contents, mode).map_err(|e| anyhow::anyhow!("Error writing {path}: {e}"))?;
    println!("==> Saved {path}");
    Ok(())
}
