//! HTTP API tests on a server started in this process (`support`): what
//! needs one server and no second process runs here, without a binary.

mod support;
mod t30_agent;
mod t31_checks;
mod t40_decoding;
mod t50_queries;
mod t55_once;
mod t60_endpoints;
mod t65_autopilot;
mod t65_usage_and_near;
mod t66_acl;
mod t66_typed_answers;
mod t67_acl_enforcement;
mod t68_acl_agent;
mod t70_dns;
mod t75_browser;
mod t80_metrics;
mod t85_at_rest;
mod t88_leaves;
mod t90_https;
mod t92_limits;
