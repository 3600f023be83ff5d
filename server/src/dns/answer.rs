//! Builds DNS answers from the catalog: healthy instances only (critical
//! ones are left out, warning ones too with `only_passing`), shuffled;
//! NXDOMAIN with the zone's SOA when there is nothing to answer; REFUSED for
//! names outside the domain (the recursor in front of the zone takes those
//! when there is one). DNS reads the local state machine (stale reads, as
//! Consul's DNS does by default).

use crate::acl::caller::Caller;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::op::OpCode;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::rdata::AAAA;
use hickory_proto::rr::rdata::PTR;
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::rdata::SRV;
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::Name;
use hickory_proto::rr::RData;
use hickory_proto::rr::Record;
use hickory_proto::rr::RecordType;
use rand::seq::SliceRandom;
use tessera_mesh::catalog::CheckStatus;

use crate::dns::lookup;
use crate::dns::lookup::Lookup;
use crate::health;
use tessera_store::View;

/// The SOA's TTL (Consul's `dns_config.soa.min_ttl` default).
const SOA_TTL: u32 = 0;

pub struct Zone {
    pub domain: String,
    pub datacenter: String,
    pub ttls: Ttls,
    pub only_passing: bool,
}

/// Answer TTLs from `dns_config` (Consul's default is 0: not cached).
#[derive(Debug, Clone, Default)]
pub struct Ttls {
    pub node: u32,
    /// Exact service names, lower-cased.
    exact: BTreeMap<String, u32>,
    /// `prefix*` entries (`*` is the empty prefix), lower-cased, longest first.
    prefixes: Vec<(String, u32)>,
}

impl Ttls {
    pub fn new(node: Duration, services: &BTreeMap<String, Duration>) -> Ttls {
        let secs = |d: &Duration| d.as_secs().min(u32::MAX as u64) as u32;
        let (mut exact, mut prefixes) = (BTreeMap::new(), Vec::new());
        for (pattern, ttl) in services {
            let pattern = pattern.to_ascii_lowercase();
            match pattern.strip_suffix('*') {
                Some(prefix) => prefixes.push((prefix.to_string(), secs(ttl))),
                None => {
                    exact.insert(pattern, secs(ttl));
                }
            }
        }
        prefixes.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        Ttls { node: secs(&node), exact, prefixes }
    }

    /// As Consul picks it: the exact name, else the longest matching prefix.
    pub fn service(&self, name: &str) -> u32 {
        let name = name.to_ascii_lowercase();
        if let Some(ttl) = self.exact.get(&name) {
            return *ttl;
        }
        self.prefixes.iter().find(|(prefix, _)| name.starts_with(prefix.as_str())).map_or(0, |(_, ttl)| *ttl)
    }

    fn of(&self, lookup: &Lookup) -> u32 {
        match lookup {
            Lookup::Service { name, .. } | Lookup::Connect { name } => self.service(name),
            Lookup::Node { .. } | Lookup::Addr { .. } | Lookup::Reverse { .. } => self.node,
        }
    }
}

/// An address to answer with, and the name it stands under; for a node,
/// its meta as TXT strings (`key=value`), as Consul adds them.
struct Target {
    host: Name,
    ip: IpAddr,
    port: u16,
    weight: u16,
    txt: Vec<String>,
}

fn address_record(name: Name, ttl: u32, ip: IpAddr) -> Record {
    match ip {
        IpAddr::V4(v4) => Record::from_rdata(name, ttl, RData::A(A(v4))),
        IpAddr::V6(v6) => Record::from_rdata(name, ttl, RData::AAAA(AAAA(v6))),
    }
}

impl Zone {
    /// Records `caller` may not read (service:read on the service, node:read
    /// on each node) are left out, as Consul's DNS does: a name the token
    /// sees nothing of is NXDOMAIN.
    pub fn answer(&self, view: &View<'_>, request: &Message, caller: &Caller) -> Message {
        let mut response = Message::response(request.metadata.id, OpCode::Query);
        response.metadata.authoritative = true;
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        let Some(query) = request.queries.first() else {
            response.metadata.response_code = ResponseCode::FormErr;
            return response;
        };
        response.add_query(query.clone());
        let name = query.name().clone();
        if !lookup::in_zone(&name.to_ascii(), &self.domain) {
            response.metadata.authoritative = false;
            response.metadata.response_code = ResponseCode::Refused;
            return response;
        }
        let lookup = lookup::parse(&name.to_ascii(), &self.domain, &self.datacenter);
        let targets = lookup.as_ref().map(|l| (self.ttls.of(l), self.targets(view, l, caller)));
        match targets {
            Some((ttl, Ok(targets))) if !targets.is_empty() => {
                self.add_records(&mut response, &name, query.query_type(), ttl, targets)
            }
            Some((_, Err(e))) => {
                tracing::warn!(error = %e, "dns: catalog read failed");
                response.metadata.response_code = ResponseCode::ServFail;
            }
            _ => {
                response.metadata.response_code = ResponseCode::NXDomain;
                response.add_authority(self.soa());
            }
        }
        response
    }

    fn targets(
        &self,
        view: &View<'_>,
        lookup: &Lookup,
        caller: &Caller,
    ) -> Result<Vec<Target>, tessera_store::StoreError> {
        let instances = match lookup {
            Lookup::Service { name, .. } | Lookup::Connect { name } if !caller.service_read(name) => return Ok(vec![]),
            Lookup::Service { name, tag } => {
                let mut found = health::instances(view, name, false)?;
                if let Some(tag) = tag {
                    found.retain(|i| i.service.value.tags.iter().any(|t| t.eq_ignore_ascii_case(tag)));
                }
                found
            }
            Lookup::Connect { name } => health::instances(view, name, true)?,
            Lookup::Node { name } if !caller.node_read(name) => return Ok(vec![]),
            Lookup::Node { name } => {
                let node = view.node(name)?;
                return Ok(node.and_then(|n| self.node_target(&n.value)).into_iter().collect());
            }
            Lookup::Addr { ip } => {
                return Ok(vec![Target { host: self.addr_name(*ip), ip: *ip, port: 0, weight: 1, txt: Vec::new() }]);
            }
            // The nodes with the address; the answer names them.
            Lookup::Reverse { ip } => {
                let nodes = view.nodes()?;
                return Ok(nodes
                    .iter()
                    .filter(|n| n.value.address.parse() == Ok(*ip) && caller.node_read(&n.value.name))
                    .filter_map(|n| self.node_target(&n.value))
                    .collect());
            }
        };
        let mut targets: Vec<Target> = instances
            .iter()
            .filter(|i| caller.node_read(&i.node.value.name))
            .filter(|i| match i.status() {
                CheckStatus::Critical => false,
                CheckStatus::Warning => !self.only_passing,
                _ => true,
            })
            .filter_map(|i| {
                let service = &i.service.value;
                let ip: IpAddr = service.effective_address(&i.node.value).parse().ok()?;
                let host = match service.address.is_empty() {
                    true => self.node_name(&i.node.value.name),
                    false => self.addr_name(ip),
                };
                let weights = service.weights;
                let weight = if i.status() == CheckStatus::Warning { weights.warning } else { weights.passing };
                let weight = weight.min(u16::MAX as u32) as u16;
                Some(Target { host, ip, port: service.port, weight, txt: Vec::new() })
            })
            .collect();
        targets.shuffle(&mut rand::thread_rng());
        Ok(targets)
    }

    fn node_target(&self, node: &tessera_mesh::catalog::Node) -> Option<Target> {
        let ip = node.address.parse().ok()?;
        let txt = node.meta.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Some(Target { host: self.node_name(&node.name), ip, port: 0, weight: 1, txt })
    }

    fn add_records(&self, response: &mut Message, name: &Name, qtype: RecordType, ttl: u32, targets: Vec<Target>) {
        let before = response.answers.len();
        match qtype {
            RecordType::SRV => {
                for t in &targets {
                    let srv = SRV::new(1, t.weight, t.port, t.host.clone());
                    response.add_answer(Record::from_rdata(name.clone(), ttl, RData::SRV(srv)));
                    response.add_additional(address_record(t.host.clone(), ttl, t.ip));
                }
            }
            RecordType::PTR => {
                for t in &targets {
                    response.add_answer(Record::from_rdata(name.clone(), ttl, RData::PTR(PTR(t.host.clone()))));
                }
            }
            RecordType::TXT => {
                for t in targets.iter().filter(|t| !t.txt.is_empty()) {
                    response.add_answer(Record::from_rdata(name.clone(), ttl, RData::TXT(TXT::new(t.txt.clone()))));
                }
            }
            RecordType::A | RecordType::AAAA | RecordType::ANY => {
                let wanted = |ip: &IpAddr| match qtype {
                    RecordType::A => ip.is_ipv4(),
                    RecordType::AAAA => ip.is_ipv6(),
                    _ => true,
                };
                let mut seen = std::collections::BTreeSet::new();
                for t in targets.iter().filter(|t| wanted(&t.ip) && seen.insert(t.ip)) {
                    response.add_answer(address_record(name.clone(), ttl, t.ip));
                    // A node's meta rides along, as Consul's enable_additional_node_meta_txt.
                    if !t.txt.is_empty() {
                        let txt = RData::TXT(TXT::new(t.txt.clone()));
                        response.add_additional(Record::from_rdata(name.clone(), ttl, txt));
                    }
                }
            }
            _ => {}
        }
        // The name exists but has no records of this type: NOERROR with the SOA.
        if response.answers.len() == before {
            response.add_authority(self.soa());
        }
    }

    fn zone_name(&self, label: &str) -> Name {
        Name::from_ascii(format!("{label}.{}.{}", self.datacenter, self.domain)).unwrap_or_else(|_| Name::root())
    }

    fn node_name(&self, node: &str) -> Name {
        self.zone_name(&format!("{node}.node"))
    }

    fn addr_name(&self, ip: IpAddr) -> Name {
        self.zone_name(&format!("{}.addr", lookup::addr_label(ip)))
    }

    fn soa(&self) -> Record {
        let zone = Name::from_ascii(&self.domain).unwrap_or_else(|_| Name::root());
        let ns = Name::from_ascii(format!("ns.{}", self.domain)).unwrap_or_else(|_| Name::root());
        let mail = Name::from_ascii(format!("hostmaster.{}", self.domain)).unwrap_or_else(|_| Name::root());
        let serial =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as u32);
        Record::from_rdata(zone, SOA_TTL, RData::SOA(SOA::new(ns, mail, serial, 3600, 600, 86400, 0)))
    }
}
