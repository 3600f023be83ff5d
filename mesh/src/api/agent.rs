//! `/v1/agent/*` answers about the agent itself: its members, `self`,
//! `version`, and Connect authorization.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;

/// Consul's member status codes (serf's).
pub const ALIVE: u8 = 1;
pub const LEAVING: u8 = 2;
pub const LEFT: u8 = 3;
pub const FAILED: u8 = 4;

/// Serf's name for a member status code, as `consul members` prints it.
pub fn status_name(code: u8) -> &'static str {
    match code {
        ALIVE => "alive",
        LEAVING => "leaving",
        LEFT => "left",
        FAILED => "failed",
        _ => "none",
    }
}

/// A member (`api.AgentMember`) as `/v1/agent/members` and `Member` of
/// `/v1/agent/self` show one: serf's fields and tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Member {
    pub name: String,
    pub addr: String,
    pub port: u16,
    pub tags: BTreeMap<String, String>,
    pub status: u8,
    pub protocol_min: u8,
    pub protocol_max: u8,
    pub protocol_cur: u8,
    pub delegate_min: u8,
    pub delegate_max: u8,
    pub delegate_cur: u8,
}

impl Member {
    pub fn tag(&self, key: &str) -> &str {
        self.tags.get(key).map_or("", String::as_str)
    }
}

/// `/v1/agent/self`. Consul's top level is a map of sections; these are
/// the ones Tessera answers, each always present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSelf {
    #[serde(rename = "Config")]
    pub config: SelfConfig,
    /// A subset of Consul's RuntimeConfig, under its names: an open map in
    /// Consul too (its keys are the runtime config's fields).
    #[serde(rename = "DebugConfig")]
    pub debug_config: BTreeMap<String, serde_json::Value>,
    #[serde(rename = "Coord")]
    pub coord: Coord,
    #[serde(rename = "Member")]
    pub member: Member,
    /// Section → name → value, all strings (as Consul's).
    #[serde(rename = "Stats")]
    pub stats: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(rename = "Meta")]
    pub meta: BTreeMap<String, String>,
    #[serde(rename = "xDS")]
    pub xds: Xds,
}

/// `Config` of `/v1/agent/self`: what version-gated clients read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SelfConfig {
    pub datacenter: String,
    pub primary_datacenter: String,
    pub node_name: String,
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub revision: String,
    pub server: bool,
    pub version: String,
    pub build_date: String,
    pub tessera_version: String,
}

/// A network coordinate (`coordinate.Coordinate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Coord {
    pub vec: [f64; 8],
    pub error: f64,
    pub adjustment: f64,
    pub height: f64,
}

impl Coord {
    /// The origin: Tessera keeps no Vivaldi coordinates, so every node sits
    /// at the same point (what a new Consul agent reports before its first
    /// round trip).
    pub const ORIGIN: Coord = Coord { vec: [0.0; 8], error: 1.5, adjustment: 0.0, height: 1e-5 };
}

/// `xDS` of `/v1/agent/self`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Xds {
    pub supported_proxies: BTreeMap<String, Vec<String>>,
    pub port: i32,
    pub ports: XdsPorts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct XdsPorts {
    pub plaintext: i32,
    #[serde(rename = "TLS")]
    pub tls: i32,
}

/// `/v1/agent/version`, with Tessera's own version after Consul's fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentVersion {
    #[serde(rename = "SDKVersion")]
    pub sdk_version: String,
    #[serde(rename = "BuildDate")]
    pub build_date: String,
    #[serde(rename = "HumanVersion")]
    pub human_version: String,
    #[serde(rename = "FIPS")]
    pub fips: String,
    #[serde(rename = "TesseraVersion")]
    pub tessera_version: String,
}

/// `POST /v1/agent/connect/authorize`'s answer (`api.AgentAuthorize`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentAuthorize {
    pub authorized: bool,
    pub reason: String,
}
