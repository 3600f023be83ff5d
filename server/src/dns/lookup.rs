//! What a DNS name asks for, under the agent's domain (`consul.`):
//!
//! - `[<tag>.]<service>.service[.<dc>]`
//! - `_<service>._<tag|tcp>.service[.<dc>]` (RFC 2782)
//! - `<service>.connect[.<dc>]`: its sidecars (and native instances)
//! - `<node>.node[.<dc>]`
//! - `<hex ip>.addr[.<dc>]`: the address itself (SRV targets use it)

use std::net::Ipv4Addr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Service { name: String, tag: Option<String> },
    Connect { name: String },
    Node { name: String },
    Addr { ip: Ipv4Addr },
}

/// Parses `query` (any case, trailing dot optional) under `domain`, for a
/// datacenter named `datacenter`. None: not ours, or not a name we serve.
pub fn parse(query: &str, domain: &str, datacenter: &str) -> Option<Lookup> {
    let query = query.trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let rest = query.strip_suffix(&domain)?.strip_suffix('.')?;
    let mut labels: Vec<&str> = rest.split('.').collect();
    // An optional datacenter label after the kind.
    if labels.len() >= 2 && labels[labels.len() - 1] == datacenter && is_kind(labels[labels.len() - 2]) {
        labels.pop();
    }
    let (kind, names) = labels.split_last()?;
    match (*kind, names) {
        ("service", [service]) => Some(rfc2782(service, None).unwrap_or_else(|| service_lookup(service, None))),
        ("service", [first, second]) => {
            Some(rfc2782(first, Some(second)).unwrap_or_else(|| service_lookup(second, Some(first))))
        }
        ("connect", [service]) => Some(Lookup::Connect { name: service.to_string() }),
        ("node", [node]) => Some(Lookup::Node { name: node.to_string() }),
        ("addr", [hex]) if hex.len() == 8 => {
            u32::from_str_radix(hex, 16).ok().map(|n| Lookup::Addr { ip: Ipv4Addr::from(n) })
        }
        _ => None,
    }
}

fn is_kind(label: &str) -> bool {
    matches!(label, "service" | "connect" | "node" | "addr")
}

fn service_lookup(name: &str, tag: Option<&str>) -> Lookup {
    Lookup::Service { name: name.to_string(), tag: tag.map(str::to_string) }
}

/// `_<service>._<tag or tcp>`; `tcp` means any tag.
fn rfc2782(first: &str, second: Option<&str>) -> Option<Lookup> {
    let service = first.strip_prefix('_')?;
    let proto = second?.strip_prefix('_')?;
    let tag = (proto != "tcp").then(|| proto.to_string());
    Some(Lookup::Service { name: service.to_string(), tag })
}

/// The `.addr.` label for an address: its 8 hex digits.
pub fn addr_label(ip: Ipv4Addr) -> String {
    format!("{:08x}", u32::from(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(q: &str) -> Option<Lookup> {
        parse(q, "consul.", "dc1")
    }

    fn svc(name: &str, tag: Option<&str>) -> Option<Lookup> {
        Some(Lookup::Service { name: name.into(), tag: tag.map(Into::into) })
    }

    #[test]
    fn consul_names_parse() {
        assert_eq!(p("socat.service.consul."), svc("socat", None));
        assert_eq!(p("SOCAT.Service.Consul"), svc("socat", None));
        assert_eq!(p("v1.web.service.consul."), svc("web", Some("v1")));
        assert_eq!(p("web.service.dc1.consul."), svc("web", None));
        assert_eq!(p("_web._tcp.service.consul."), svc("web", None));
        assert_eq!(p("_web._v1.service.consul."), svc("web", Some("v1")));
        assert_eq!(p("socat.connect.consul."), Some(Lookup::Connect { name: "socat".into() }));
        assert_eq!(p("n1.node.consul."), Some(Lookup::Node { name: "n1".into() }));
        assert_eq!(p("7f000001.addr.dc1.consul."), Some(Lookup::Addr { ip: Ipv4Addr::LOCALHOST }));
    }

    #[test]
    fn other_names_are_not_ours() {
        assert_eq!(p("example.com."), None);
        assert_eq!(p("consul."), None);
        assert_eq!(p("a.b.c.service.consul."), None);
        assert_eq!(p("web.unknown.consul."), None);
    }

    #[test]
    fn addr_labels_round_trip() {
        let ip = Ipv4Addr::new(10, 1, 2, 3);
        assert_eq!(p(&format!("{}.addr.consul.", addr_label(ip))), Some(Lookup::Addr { ip }));
    }
}
