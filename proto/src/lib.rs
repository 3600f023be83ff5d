//! Tessera's wire: the generated protobuf messages and tonic services that
//! servers, client agents, sidecars and the CLI speak ([`v1`]), the
//! conversions between them and the domain types of `tessera-mesh`
//! ([`convert`]), and the gRPC channels and listeners every process builds
//! ([`transport`]).
#![forbid(unsafe_code)]

pub mod convert;
pub mod transport;

pub mod v1 {
    tonic::include_proto!("tessera.v1");
}
