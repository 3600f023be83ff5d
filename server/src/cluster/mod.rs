//! Servers finding each other and agreeing on one cluster:
//! [`discovery`] (who is out there), [`bootstrap`] (-bootstrap-expect and
//! joining), [`membership`] (adding and removing voters on the leader),
//! [`leader`] (work only the leader does), [`forward`] (calls to peers) and
//! [`service`] (answering them).

pub mod agent_api;
pub mod bootstrap;
pub mod discovery;
pub mod forward;
pub mod leader;
pub mod liveness;
pub mod membership;
pub mod service;

use tessera_proto::v1::ServerInfo;

use tessera_store::types::ServerNode;

pub fn to_info(node: &ServerNode, datacenter: &str) -> ServerInfo {
    ServerInfo {
        node_id: node.node_id.clone(),
        name: node.name.clone(),
        rpc_addr: node.rpc_addr.clone(),
        datacenter: datacenter.to_string(),
    }
}

pub fn from_info(info: &ServerInfo) -> ServerNode {
    ServerNode { node_id: info.node_id.clone(), name: info.name.clone(), rpc_addr: info.rpc_addr.clone() }
}
