//! Cluster tests on real `tessera` processes. One binary; each module takes
//! its own 127.0.<subnet>.0/24 so the tests run in parallel.
//!
//! Names follow openraft's tiers: t10 forming a cluster, t50 failures,
//! t30 the catalog on one agent, t40 client agents, t45 hosts in network namespaces, t60 membership, t70 restarts, t80 operator
//! errors and the CLI, t85 Consul-style config files and `tessera validate`.

mod t10_bootstrap;
mod t30_catalog;
mod t40_clients;
mod t45_hosts;
mod t47_acl_hosts;
mod t50_failover;
mod t55_faults;
mod t60_membership;
mod t64_acl_followers;
mod t70_restart;
mod t80_errors;
mod t83_disk_full;
mod t85_config_files;
mod t86_watch;
mod t87_cli_ops;
mod t88_acl_cli;
mod t89_acl_auto_encrypt;
mod t90_connect;
mod t95_walkthrough;
mod t96_mesh_hosts;
mod t97_https;
mod t97_tls;
mod t98_acl_walkthrough;
