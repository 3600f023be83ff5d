//! Connect's shared vocabulary: service identities as SPIFFE URIs
//! ([`spiffe`]), intentions and their evaluation ([`intention`]), the CA's
//! certificate operations ([`ca`]) and the key and CSR a workload makes for
//! itself ([`csr`]). Servers, agents and sidecars all decide with these same
//! functions, so an answer never depends on which of them was asked.

pub mod ca;
pub mod csr;
pub mod intention;
pub mod spiffe;

pub use intention::Action;
pub use intention::Decision;
pub use intention::DefaultPolicy;
pub use intention::Intention;
pub use spiffe::ServiceIdentity;
pub use spiffe::TrustDomain;
