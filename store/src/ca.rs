//! What the Connect CA keeps in Raft: its configuration and its roots.
//! Everything here is a stored format: fields are only ever added.

use std::time::Duration;

use serde::Deserialize;
use serde::Serialize;
use tessera_mesh::catalog::duration;
use tessera_mesh::connect::ca::RootCa;

/// The built-in CA provider's settings (Consul's `Config` of
/// `/v1/connect/ca/configuration`, provider `consul`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaConfig {
    pub leaf_cert_ttl: String,
    pub root_cert_ttl: String,
    pub intermediate_cert_ttl: String,
    pub private_key_type: String,
    pub private_key_bits: u32,
    /// Leaf signing rate limit on the leader; 0 turns it off.
    #[serde(default)]
    pub csr_max_per_second: f64,
    /// Agents re-issue their leaves after a root change at a random moment
    /// within this, so a rotation does not bring every CSR at once.
    #[serde(default = "default_reissue_spread")]
    pub leaf_reissue_spread: String,
}

fn default_reissue_spread() -> String {
    "10s".into()
}

/// Leaf lifetimes allowed: Consul allows 1h–8760h; shorter ones are allowed
/// here so renewal can be exercised, down to this.
pub const MIN_LEAF_TTL: Duration = Duration::from_secs(10);
pub const MAX_LEAF_TTL: Duration = Duration::from_secs(8760 * 3600);

impl Default for CaConfig {
    fn default() -> Self {
        CaConfig {
            leaf_cert_ttl: "72h".into(),
            root_cert_ttl: "87600h".into(),
            intermediate_cert_ttl: "8760h".into(),
            private_key_type: "ec".into(),
            private_key_bits: 256,
            csr_max_per_second: 0.0,
            leaf_reissue_spread: default_reissue_spread(),
        }
    }
}

impl CaConfig {
    pub fn leaf_ttl(&self) -> Duration {
        duration::parse(&self.leaf_cert_ttl).unwrap_or(Duration::from_secs(72 * 3600))
    }

    pub fn root_ttl(&self) -> Duration {
        duration::parse(&self.root_cert_ttl).unwrap_or(Duration::from_secs(87600 * 3600))
    }

    pub fn reissue_spread(&self) -> Duration {
        duration::parse(&self.leaf_reissue_spread).unwrap_or(Duration::from_secs(10))
    }

    /// Checks every field; the message names the field and the value.
    pub fn validate(&self) -> Result<(), String> {
        let ttl = |field: &str, raw: &str| {
            duration::parse(raw).ok_or_else(|| format!("{field}: {raw:?} is not a duration (e.g. \"72h\")"))
        };
        let leaf = ttl("LeafCertTTL", &self.leaf_cert_ttl)?;
        if !(MIN_LEAF_TTL..=MAX_LEAF_TTL).contains(&leaf) {
            return Err(format!("LeafCertTTL: {:?} must be between 10s and 8760h", self.leaf_cert_ttl));
        }
        let root = ttl("RootCertTTL", &self.root_cert_ttl)?;
        if root < leaf {
            return Err(format!("RootCertTTL: {:?} must be longer than LeafCertTTL", self.root_cert_ttl));
        }
        ttl("IntermediateCertTTL", &self.intermediate_cert_ttl)?;
        ttl("LeafReissueSpread", &self.leaf_reissue_spread)?;
        if self.private_key_type != "ec" || ![256, 384].contains(&self.private_key_bits) {
            return Err(format!(
                "PrivateKeyType/PrivateKeyBits: {}/{} is not supported (ec with 256 or 384 bits)",
                self.private_key_type, self.private_key_bits
            ));
        }
        if !(self.csr_max_per_second >= 0.0 && self.csr_max_per_second.is_finite()) {
            return Err(format!("CSRMaxPerSecond: {} must be 0 (off) or positive", self.csr_max_per_second));
        }
        Ok(())
    }
}

/// A root as stored: the CA material and its place in rotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRoot {
    pub root: RootCa,
    pub active: bool,
    /// The cross-signed certificate that chains this root to the previous one.
    #[serde(default)]
    pub intermediate_pems: Vec<String>,
    /// When it stopped being active (unix seconds); pruned after its leaves expire.
    #[serde(default)]
    pub rotated_out_at: Option<u64>,
    pub create_index: u64,
    pub modify_index: u64,
}

/// The Connect CA state as one read: configuration and roots.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CaState {
    pub config: Option<(CaConfig, u64, u64)>,
    pub roots: Vec<StoredRoot>,
}

impl CaState {
    pub fn active(&self) -> Option<&StoredRoot> {
        self.roots.iter().find(|r| r.active)
    }

    pub fn config(&self) -> CaConfig {
        self.config.as_ref().map(|(c, _, _)| c.clone()).unwrap_or_default()
    }
}
