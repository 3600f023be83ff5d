//! `/v1/connect/*` and `/v1/agent/connect/*` answers: CA roots, the CA
//! configuration, leaf certificates, intentions.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;

/// `/v1/connect/ca/roots` and `/v1/agent/connect/ca/roots` (`api.CARootList`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaRootList {
    #[serde(rename = "ActiveRootID")]
    pub active_root_id: String,
    #[serde(rename = "TrustDomain")]
    pub trust_domain: String,
    #[serde(rename = "Roots")]
    pub roots: Vec<CaRoot>,
}

/// One trusted root (`api.CARoot`); times are RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CaRoot {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub serial_number: String,
    #[serde(rename = "SigningKeyID")]
    pub signing_key_id: String,
    pub external_trust_domain: String,
    pub not_before: String,
    pub not_after: String,
    /// PEM (Go's `RootCertPEM`, written as `RootCert`).
    pub root_cert: String,
    pub intermediate_certs: Vec<String>,
    pub active: bool,
    pub private_key_type: String,
    pub private_key_bits: u32,
    pub create_index: u64,
    pub modify_index: u64,
}

/// `/v1/agent/connect/ca/leaf/:service` (`api.LeafCert`); times are RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LeafCert {
    pub serial_number: String,
    #[serde(rename = "CertPEM")]
    pub cert_pem: String,
    #[serde(rename = "PrivateKeyPEM")]
    pub private_key_pem: String,
    pub service: String,
    #[serde(rename = "ServiceURI")]
    pub service_uri: String,
    pub valid_after: String,
    pub valid_before: String,
    pub namespace: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// `GET /v1/connect/ca/configuration` (`api.CAConfig`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CaConfiguration {
    pub provider: String,
    pub config: CaProviderConfig,
    /// The provider's state; `null` for the built-in one.
    pub state: Option<BTreeMap<String, String>>,
    pub force_without_cross_signing: bool,
    pub create_index: u64,
    pub modify_index: u64,
}

/// The built-in provider's `Config`. A map in Go, so its keys are written
/// sorted: the fields are declared in that order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaProviderConfig {
    #[serde(rename = "CSRMaxPerSecond")]
    pub csr_max_per_second: f64,
    #[serde(rename = "IntermediateCertTTL")]
    pub intermediate_cert_ttl: String,
    #[serde(rename = "LeafCertTTL")]
    pub leaf_cert_ttl: String,
    #[serde(rename = "LeafReissueSpread")]
    pub leaf_reissue_spread: String,
    #[serde(rename = "PrivateKeyBits")]
    pub private_key_bits: u32,
    #[serde(rename = "PrivateKeyType")]
    pub private_key_type: String,
    #[serde(rename = "RootCertTTL")]
    pub root_cert_ttl: String,
}

/// An intention (`api.Intention`), with the fields Tessera answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intention {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Description")]
    pub description: String,
    #[serde(rename = "SourceNS")]
    pub source_ns: String,
    #[serde(rename = "SourceName")]
    pub source_name: String,
    #[serde(rename = "DestinationNS")]
    pub destination_ns: String,
    #[serde(rename = "DestinationName")]
    pub destination_name: String,
    #[serde(rename = "SourceType")]
    pub source_type: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Precedence")]
    pub precedence: u32,
    #[serde(rename = "Meta")]
    pub meta: BTreeMap<String, String>,
    #[serde(rename = "CreateIndex")]
    pub create_index: u64,
    #[serde(rename = "ModifyIndex")]
    pub modify_index: u64,
}

impl From<&crate::connect::Intention> for Intention {
    fn from(i: &crate::connect::Intention) -> Self {
        Intention {
            id: i.id.clone(),
            description: i.description.clone(),
            source_ns: "default".into(),
            source_name: i.source.clone(),
            destination_ns: "default".into(),
            destination_name: i.destination.clone(),
            source_type: "consul".into(),
            action: i.action.to_string(),
            precedence: i.precedence(),
            meta: i.meta.clone(),
            create_index: i.create_index,
            modify_index: i.modify_index,
        }
    }
}

/// `POST /v1/connect/intentions`' answer: the new intention's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentionCreated {
    #[serde(rename = "ID")]
    pub id: String,
}

/// `/v1/connect/intentions/check` (`api.IntentionCheck`'s reply).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentionCheckResult {
    #[serde(rename = "Allowed")]
    pub allowed: bool,
}
