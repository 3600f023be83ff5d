//! The versions an agent reports.

/// The Consul HTTP API level Tessera answers as: what version-gated clients
/// read in `Config.Version`. Tessera's own version stands beside it.
pub const CONSUL_API_VERSION: &str = "1.17.0";
pub const TESSERA_VERSION: &str = env!("CARGO_PKG_VERSION");
