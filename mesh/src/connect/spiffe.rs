//! SPIFFE identities. The trust domain is `<cluster-id>.consul`; a service
//! is `spiffe://<trust-domain>/ns/<namespace>/dc/<datacenter>/svc/<name>`.

use std::fmt;

use serde::Deserialize;
use serde::Serialize;

pub const DEFAULT_NAMESPACE: &str = "default";
const SCHEME: &str = "spiffe://";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpiffeError {
    #[error("{0:?} is not a spiffe:// URI")]
    NotSpiffe(String),
    #[error("{0:?} is not a service identity (spiffe://<trust-domain>/ns/<ns>/dc/<dc>/svc/<name>)")]
    NotService(String),
    #[error("{0:?} has an empty or invalid trust domain")]
    BadTrustDomain(String),
}

/// The cluster's trust domain, lower case, e.g. `7f3c…-….consul`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TrustDomain(String);

impl TrustDomain {
    pub fn for_cluster(cluster_id: &str) -> TrustDomain {
        TrustDomain(format!("{}.consul", cluster_id.to_ascii_lowercase()))
    }

    /// A trust domain as written (the host of a SPIFFE URI).
    pub fn parse(text: &str) -> Result<TrustDomain, SpiffeError> {
        let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
        if text.is_empty() || !text.chars().all(valid) {
            return Err(SpiffeError::BadTrustDomain(text.to_string()));
        }
        Ok(TrustDomain(text.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `spiffe://<trust-domain>`, the URI SAN of a root certificate.
    pub fn uri(&self) -> String {
        format!("{SCHEME}{}", self.0)
    }
}

impl fmt::Display for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A service's identity, as carried by the single URI SAN of its leaf.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServiceIdentity {
    pub trust_domain: String,
    pub namespace: String,
    pub datacenter: String,
    pub service: String,
}

impl ServiceIdentity {
    pub fn new(trust_domain: &TrustDomain, datacenter: &str, service: &str) -> Self {
        ServiceIdentity {
            trust_domain: trust_domain.as_str().to_string(),
            namespace: DEFAULT_NAMESPACE.to_string(),
            datacenter: datacenter.to_string(),
            service: service.to_string(),
        }
    }

    pub fn uri(&self) -> String {
        format!("{SCHEME}{}/ns/{}/dc/{}/svc/{}", self.trust_domain, self.namespace, self.datacenter, self.service)
    }

    /// Parses exactly the service form; anything else (an agent or server
    /// identity, extra path segments, a query) is refused.
    pub fn parse(uri: &str) -> Result<ServiceIdentity, SpiffeError> {
        let rest = uri.strip_prefix(SCHEME).ok_or_else(|| SpiffeError::NotSpiffe(uri.to_string()))?;
        let (host, path) = rest.split_once('/').ok_or_else(|| SpiffeError::NotService(uri.to_string()))?;
        let trust_domain = TrustDomain::parse(host)?;
        let parts: Vec<&str> = path.split('/').collect();
        let valid_segment = |s: &str| !s.is_empty() && s.chars().all(|c| !c.is_whitespace() && !"?#%@:".contains(c));
        match parts.as_slice() {
            ["ns", ns, "dc", dc, "svc", service] if [ns, dc, service].iter().all(|s| valid_segment(s)) => {
                Ok(ServiceIdentity {
                    trust_domain: trust_domain.0,
                    namespace: ns.to_string(),
                    datacenter: dc.to_string(),
                    service: service.to_string(),
                })
            }
            _ => Err(SpiffeError::NotService(uri.to_string())),
        }
    }

    pub fn in_trust_domain(&self, trust_domain: &TrustDomain) -> bool {
        self.trust_domain == trust_domain.as_str()
    }
}

impl fmt::Display for ServiceIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_identity_round_trips() {
        let td = TrustDomain::for_cluster("11111111-2222-3333-4444-55555555AAAA");
        assert_eq!(td.as_str(), "11111111-2222-3333-4444-55555555aaaa.consul");
        let id = ServiceIdentity::new(&td, "dc1", "web");
        assert_eq!(id.uri(), "spiffe://11111111-2222-3333-4444-55555555aaaa.consul/ns/default/dc/dc1/svc/web");
        assert_eq!(ServiceIdentity::parse(&id.uri()).unwrap(), id);
    }

    #[test]
    fn other_forms_are_not_service_identities() {
        for uri in [
            "https://x.consul/ns/default/dc/dc1/svc/web",
            "spiffe://x.consul",
            "spiffe://x.consul/agent/client/dc/dc1/id/abc",
            "spiffe://x.consul/ns/default/dc/dc1/svc/web/extra",
            "spiffe://x.consul/ns/default/dc/dc1/svc/",
            "spiffe://x.consul/ns/default/dc/dc1/svc/web?x=1",
            "spiffe:///ns/default/dc/dc1/svc/web",
            "spiffe://bad host/ns/default/dc/dc1/svc/web",
        ] {
            assert!(ServiceIdentity::parse(uri).is_err(), "{uri} parsed");
        }
    }
}
