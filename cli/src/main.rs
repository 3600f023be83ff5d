//! `tessera`: runs the agent and talks to it. Flags follow Consul's
//! single-dash style; `--flag` works too. Exit codes: 0 success, 1 error
//! (including bad flags).

mod agent_config;
mod args;
mod client;
mod cmd;
mod logging;

use std::process::ExitCode;

use clap::CommandFactory;
use clap::FromArgMatches;
use clap::Parser;
use clap::Subcommand;

#[derive(Parser)]
#[command(name = "tessera", version, about = "Tessera: a service mesh control plane, one binary.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a Tessera agent (a server with -server or -dev).
    Agent(Box<cmd::agent::AgentArgs>),
    /// Lists the cluster's members and whether they answer.
    Members(cmd::members::MembersArgs),
    /// Reads and writes the replicated key/value store.
    #[command(subcommand)]
    Kv(cmd::kv::KvCommand),
    /// Operator tools for the cluster.
    #[command(subcommand)]
    Operator(cmd::operator::OperatorCommand),
    /// Reads the service catalog.
    #[command(subcommand)]
    Catalog(cmd::catalog::CatalogCommand),
    /// Registers and deregisters services with the local agent.
    #[command(subcommand)]
    Services(cmd::catalog::ServicesCommand),
    /// Reloads the agent's service definitions (as SIGHUP does).
    Reload(cmd::catalog::ReloadArgs),
    /// Makes a client agent leave the cluster and stop.
    Leave(cmd::catalog::LeaveArgs),
    /// Connect: the CA and the sidecar proxy.
    #[command(subcommand)]
    Connect(cmd::connect::ConnectCommand),
    /// Manages intentions: which service may connect to which.
    #[command(subcommand)]
    Intention(cmd::intention::IntentionCommand),
    /// Manages ACL tokens, policies and roles (state only: not enforced yet).
    #[command(subcommand)]
    Acl(cmd::acl::AclCommand),
    /// Creates a CA and certificates for agent TLS.
    #[command(subcommand)]
    Tls(cmd::tls::TlsCommand),
    /// Checks agent config files and directories without starting an agent.
    Validate(cmd::validate::ValidateArgs),
    /// Puts the node or a service into maintenance mode, takes it out, or lists it.
    Maint(cmd::ops::MaintArgs),
    /// Forces a node out of the cluster: a server loses its vote, any other node leaves the catalog.
    ForceLeave(cmd::ops::ForceLeaveArgs),
    /// Prints Tessera's version and the Consul API level it answers as.
    Version,
    /// Streams the agent's log lines, at a level of its own.
    Monitor(cmd::agent_ops::MonitorArgs),
    /// Prints the agent's stats (agent, build, consul, raft, runtime).
    Info(cmd::agent_ops::InfoArgs),
    /// Tells the agent to join the cluster through other servers.
    Join(cmd::agent_ops::JoinArgs),
    /// Watches a view of the data (a key, a prefix, services, nodes, a service, checks) for changes.
    Watch(cmd::watch::WatchArgs),
}

fn argv_is_intention_check() -> bool {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).take(2).collect();
    args == ["intention", "check"]
}

fn main() -> ExitCode {
    let argv = args::normalize(std::env::args());
    // The matches tell `agent` which flags were given (a flag left at its
    // default does not override a config file).
    let parsed = Cli::command().try_get_matches_from(argv).and_then(|m| Ok((Cli::from_arg_matches(&m)?, m)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            let informational =
                matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion);
            let _ = e.print();
            // `intention check` keeps 1 for "denied"; its usage errors are 2, as Consul's.
            let check = argv_is_intention_check();
            return if informational { ExitCode::SUCCESS } else { ExitCode::from(if check { 2 } else { 1 }) };
        }
    };
    // A one-thread sidecar runs on the calling thread: no cross-thread
    // wakeups between the socket events and the relay tasks.
    let mut builder = match &cli.command {
        Command::Connect(cmd::connect::ConnectCommand::Proxy(args)) if args.threads <= 1 => {
            tokio::runtime::Builder::new_current_thread()
        }
        Command::Connect(cmd::connect::ConnectCommand::Proxy(args)) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(args.threads);
            builder
        }
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("Error starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Agent(args) => cmd::agent::run(*args, matches.subcommand_matches("agent")).await,
            Command::Members(args) => cmd::members::run(args).await,
            Command::Kv(command) => cmd::kv::run(command).await,
            Command::Operator(command) => cmd::operator::run(command).await,
            Command::Catalog(command) => cmd::catalog::run(command).await,
            Command::Services(command) => cmd::catalog::run_services(command).await,
            Command::Reload(args) => cmd::catalog::reload(args).await,
            Command::Leave(args) => cmd::catalog::leave(args).await,
            Command::Connect(command) => cmd::connect::run(command).await,
            Command::Intention(command) => cmd::intention::run(command).await,
            Command::Acl(command) => cmd::acl::run(command).await,
            Command::Tls(command) => cmd::tls::run(command),
            Command::Validate(args) => cmd::validate::run(args),
            Command::Maint(args) => cmd::ops::maint(args).await,
            Command::ForceLeave(args) => cmd::ops::force_leave(args).await,
            Command::Version => cmd::ops::version(),
            Command::Monitor(args) => cmd::agent_ops::monitor(args).await,
            Command::Info(args) => cmd::agent_ops::info(args).await,
            Command::Join(args) => cmd::agent_ops::join(args).await,
            Command::Watch(args) => cmd::watch::run(args).await,
        }
    });
    ExitCode::from(code)
}
