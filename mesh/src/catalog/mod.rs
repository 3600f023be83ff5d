//! The service catalog's vocabulary, shared by servers, client agents and
//! the sidecar: what a node, a service instance and a health check are
//! ([`model`]), how users describe services in files and API bodies
//! ([`definition`]) and what their checks run ([`check_kind`]), and how a `connect.sidecar_service` block becomes a
//! sidecar registration ([`sidecar`]). Pure data and pure functions: no I/O.

pub mod check_kind;
pub mod definition;
pub mod duration;
pub mod model;
pub mod sidecar;

pub use definition::CheckDefinition;
pub use definition::ConfigFile;
pub use definition::DefinitionError;
pub use definition::ServiceDefinition;
pub use model::CheckStatus;
pub use model::HealthCheck;
pub use model::Node;
pub use model::Service;
pub use model::ServiceKind;
