//! `tessera`: runs the agent and talks to it. Flags follow Consul's
//! single-dash style; `--flag` works too. Exit codes: 0 success, 1 error
//! (including bad flags).

mod args;
mod client;
mod cmd;

use std::process::ExitCode;

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
    Agent(cmd::agent::AgentArgs),
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
}

fn main() -> ExitCode {
    let argv = args::normalize(std::env::args());
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            let informational =
                matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion);
            let _ = e.print();
            return if informational { ExitCode::SUCCESS } else { ExitCode::from(1) };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("Error starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Agent(args) => cmd::agent::run(args).await,
            Command::Members(args) => cmd::members::run(args).await,
            Command::Kv(command) => cmd::kv::run(command).await,
            Command::Operator(command) => cmd::operator::run(command).await,
            Command::Catalog(command) => cmd::catalog::run(command).await,
            Command::Services(command) => cmd::catalog::run_services(command).await,
            Command::Reload(args) => cmd::catalog::reload(args).await,
            Command::Leave(args) => cmd::catalog::leave(args).await,
        }
    });
    ExitCode::from(code)
}
