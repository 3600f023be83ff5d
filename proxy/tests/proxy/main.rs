//! The proxy end to end: real TLS over loopback sockets, two `run()`
//! proxies ("web" with an upstream, "socat" with a public listener in front
//! of an echo app), certificates made by rcgen.

mod support;

mod t10_echo;
mod t20_intentions;
mod t30_close_denied;
mod t40_hostile_clients;
mod t45_handshake_limits;
mod t50_upstream_identity;
mod t60_root_rotation;
mod t70_balancing;
mod t80_native;
mod t90_startup;
