//! `tessera validate FILE_OR_DIRECTORY...`: reads config files as `tessera
//! agent` would (agent keys, services, checks), without starting an agent.
//! Exit 0 and `Configuration is valid!`, or 1 and the error, as Consul's
//! `consul validate`.

use std::path::PathBuf;

use clap::Args;
use tessera_server::agent::config_files::Sources;

use crate::agent_config::format_flag;
use crate::cmd::agent::AgentArgs;
use crate::cmd::agent::Given;
use crate::cmd::agent::Purpose;

#[derive(Args)]
pub struct ValidateArgs {
    /// Print nothing when the configuration is valid.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    quiet: bool,
    /// Read every file as hcl or json, whatever its extension.
    #[arg(long = "config-format", value_name = "hcl|json")]
    config_format: Option<String>,
    /// Config files and directories, read in this order.
    #[arg(value_name = "FILE_OR_DIRECTORY")]
    paths: Vec<PathBuf>,
}

pub fn run(args: ValidateArgs) -> u8 {
    if args.paths.is_empty() {
        eprintln!("Must specify at least one config file or directory");
        return 1;
    }
    match check(&args) {
        Ok(warnings) => {
            for warning in warnings {
                eprintln!("{warning}");
            }
            if !args.quiet {
                println!("Configuration is valid!");
            }
            0
        }
        Err(e) => {
            eprintln!("Config validation failed: {e}");
            1
        }
    }
}

/// The checks `tessera agent` makes before it binds anything, except what
/// flags usually give (a data dir, servers to join); the warnings.
fn check(args: &ValidateArgs) -> Result<Vec<String>, String> {
    let format = format_flag(args.config_format.as_deref())?;
    let loaded = crate::agent_config::load(&args.paths, format)?;
    let settings = AgentArgs::defaults().settings(Given::default(), &loaded.config, Purpose::Validate)?;
    crate::logging::check_level(&settings.log_level)?;
    // Services and checks, validated as the agent's loader does.
    let (config_dirs, config_files) = args.paths.iter().cloned().partition(|p| p.is_dir());
    Sources { config_dirs, config_files }.load(settings.config.script_checks).map_err(|e| e.to_string())?;
    let mut warnings = loaded.warnings;
    warnings.extend(settings.warnings);
    if !settings.ignored.is_empty() {
        warnings.push(format!("accepted but not acted on yet: {}", settings.ignored.join(", ")));
    }
    Ok(warnings)
}
