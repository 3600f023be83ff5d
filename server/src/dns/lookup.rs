//! What a DNS name asks for, under the agent's domain (`consul.`):
//!
//! - `[<tag>.]<service>.service[.<dc>]`
//! - `_<service>._<tag|tcp>.service[.<dc>]` (RFC 2782)
//! - `<service>.connect[.<dc>]`: its sidecars (and native instances)
//! - `<node>.node[.<dc>]`
//! - `<hex ip>.addr[.<dc>]`: the address itself (SRV targets use it); 8 hex
//!   digits for IPv4, 32 for IPv6
//! - `<reversed ip>.in-addr.arpa` / `.ip6.arpa`: reverse lookups (PTR), the
//!   nodes with that address

use std::net::IpAddr;
use std::net::Ipv4Addr;
use std::net::Ipv6Addr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Service { name: String, tag: Option<String> },
    Connect { name: String },
    Node { name: String },
    Addr { ip: IpAddr },
    Reverse { ip: IpAddr },
}

/// Parses `query` (any case, trailing dot optional) under `domain`, for a
/// datacenter named `datacenter`. None: not ours, or not a name we serve.
pub fn parse(query: &str, domain: &str, datacenter: &str) -> Option<Lookup> {
    let query = query.trim_end_matches('.').to_ascii_lowercase();
    if let Some(ip) = reverse(&query) {
        return Some(Lookup::Reverse { ip });
    }
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
            u32::from_str_radix(hex, 16).ok().map(|n| Lookup::Addr { ip: IpAddr::V4(Ipv4Addr::from(n)) })
        }
        ("addr", [hex]) if hex.len() == 32 => {
            u128::from_str_radix(hex, 16).ok().map(|n| Lookup::Addr { ip: IpAddr::V6(Ipv6Addr::from(n)) })
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

/// The `.addr.` label for an address: its 8 (IPv4) or 32 (IPv6) hex digits.
pub fn addr_label(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{:08x}", u32::from(v4)),
        IpAddr::V6(v6) => format!("{:032x}", u128::from(v6)),
    }
}

/// Whether the zone answers for `query`: names under the domain, and the
/// reverse trees (`arpa.`), as Consul's DNS serves both.
pub fn in_zone(query: &str, domain: &str) -> bool {
    let query = query.trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let under = |zone: &str| query == zone || query.ends_with(&format!(".{zone}"));
    under(&domain) || under("arpa")
}

/// The address a reverse name stands for: `4.3.2.1.in-addr.arpa` or 32
/// nibbles under `ip6.arpa`, least significant first.
fn reverse(query: &str) -> Option<IpAddr> {
    if let Some(labels) = query.strip_suffix(".in-addr.arpa") {
        let octets: Vec<u8> = labels.split('.').rev().map(str::parse).collect::<Result<_, _>>().ok()?;
        let octets: [u8; 4] = octets.try_into().ok()?;
        return Some(IpAddr::V4(Ipv4Addr::from(octets)));
    }
    let nibbles = query.strip_suffix(".ip6.arpa")?;
    let hex: String = nibbles.split('.').rev().collect();
    (hex.len() == 32).then(|| u128::from_str_radix(&hex, 16).ok()).flatten().map(|n| IpAddr::V6(Ipv6Addr::from(n)))
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
    fn the_zone_is_the_domain_and_the_reverse_trees() {
        assert!(in_zone("web.service.consul.", "consul."));
        assert!(in_zone("CONSUL", "consul."));
        assert!(in_zone("4.3.2.1.in-addr.arpa.", "consul."));
        assert!(!in_zone("example.com.", "consul."));
        assert!(!in_zone("notconsul.", "consul."));
        assert!(!in_zone("consul.example.", "consul."));
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
        assert_eq!(p("7f000001.addr.dc1.consul."), Some(Lookup::Addr { ip: Ipv4Addr::LOCALHOST.into() }));
        let v6 = format!("{}.addr.consul.", "0".repeat(31) + "1");
        assert_eq!(p(&v6), Some(Lookup::Addr { ip: Ipv6Addr::LOCALHOST.into() }));
        assert_eq!(p("3.2.1.10.in-addr.arpa."), Some(Lookup::Reverse { ip: Ipv4Addr::new(10, 1, 2, 3).into() }));
        let nibbles = format!("1.{}ip6.arpa.", "0.".repeat(31));
        assert_eq!(p(&nibbles), Some(Lookup::Reverse { ip: Ipv6Addr::LOCALHOST.into() }));
        assert_eq!(p("1.2.in-addr.arpa."), None, "a partial reverse zone is not a host");
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
        for ip in [IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)), IpAddr::V6("fd00::7".parse().unwrap())] {
            assert_eq!(p(&format!("{}.addr.consul.", addr_label(ip))), Some(Lookup::Addr { ip }));
        }
    }
}
