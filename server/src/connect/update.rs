//! What a WatchConnect stream sends: the CA roots and intentions that moved
//! past what the receiving agent holds. Client agents get it over gRPC; a
//! server's own agent applies the same update in place.

use tessera_proto::v1::ConnectUpdate;
use tessera_proto::v1::IntentionRecord;
use tessera_proto::v1::Intentions;
use tessera_proto::v1::WatchConnectRequest;
use tessera_store::Table;

use crate::consensus::Server;
use crate::consensus::ServerError;

/// The parts that moved past what the agent holds (a snapshot install may
/// move an index back; anything different is sent).
pub fn connect_update(server: &Server, held: &mut WatchConnectRequest) -> Result<ConnectUpdate, ServerError> {
    let mut update = ConnectUpdate::default();
    let trust_domain = crate::connect::ca::trust_domain(server).map(|td| td.as_str().to_string()).unwrap_or_default();
    if held.trust_domain != trust_domain {
        // Indexes of another cluster (or none yet): send everything.
        held.roots_index = 0;
        held.intentions_index = 0;
        held.trust_domain = trust_domain;
    }
    let roots_index = server.store.table_index(Table::Roots);
    if roots_index != held.roots_index {
        if let Some(roots) = crate::connect::roots::current(server)? {
            held.roots_index = roots.index;
            update.roots = Some(roots);
        }
    }
    if server.store.table_index(Table::Intentions) != held.intentions_index {
        let read = server.store.read(Table::Intentions, |view| view.intentions())?;
        held.intentions_index = read.index;
        update.intentions =
            Some(Intentions { index: read.index, intentions: read.value.iter().map(IntentionRecord::from).collect() });
    }
    // Only the index: the agent drops its resolved tokens and asks again.
    let acl_index = server.store.table_index(Table::Acl);
    if acl_index != held.acl_index {
        held.acl_index = acl_index;
        update.acl_index = acl_index.max(1);
    }
    Ok(update)
}
