//! Consul's JSON shapes for catalog data, in one place: the agent, catalog
//! and health endpoints all answer with these.

use serde_json::json;
use serde_json::Map;
use serde_json::Value;
use tessera_mesh::catalog::model::ProxySettings;
use tessera_mesh::catalog::model::Upstream;
use tessera_mesh::catalog::HealthCheck;
use tessera_mesh::catalog::Node;
use tessera_mesh::catalog::Service;
use tessera_mesh::catalog::ServiceKind;

use tessera_store::Row;

fn upstream(u: &Upstream) -> Value {
    json!({
        "DestinationType": u.destination_type,
        "DestinationName": u.destination_name,
        "DestinationNamespace": u.destination_namespace,
        "Datacenter": u.datacenter,
        "LocalBindAddress": u.local_bind_address,
        "LocalBindPort": u.local_bind_port,
        "Config": u.config,
    })
}

pub fn proxy(p: &ProxySettings) -> Value {
    json!({
        "DestinationServiceName": p.destination_service_name,
        "DestinationServiceID": p.destination_service_id,
        "LocalServiceAddress": p.local_service_address,
        "LocalServicePort": p.local_service_port,
        "Mode": p.mode,
        "Config": p.config,
        "Upstreams": p.upstreams.iter().map(upstream).collect::<Vec<_>>(),
    })
}

fn weights(s: &Service) -> Value {
    json!({"Passing": s.weights.passing, "Warning": s.weights.warning})
}

/// An agent's view of a service (`/v1/agent/services`, `Service` in health answers).
pub fn service(s: &Service, datacenter: &str) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("ID".into(), json!(s.id));
    out.insert("Service".into(), json!(s.name));
    out.insert("Tags".into(), json!(s.tags));
    out.insert("Meta".into(), json!(s.meta));
    out.insert("Port".into(), json!(s.port));
    out.insert("Address".into(), json!(s.address));
    out.insert("TaggedAddresses".into(), json!({}));
    out.insert("Weights".into(), weights(s));
    out.insert("EnableTagOverride".into(), json!(s.enable_tag_override));
    out.insert("Datacenter".into(), json!(datacenter));
    if s.kind != ServiceKind::Typical {
        out.insert("Kind".into(), json!(s.kind.as_str()));
    }
    if let Some(p) = &s.proxy {
        out.insert("Proxy".into(), proxy(p));
    }
    if s.connect_native {
        out.insert("Connect".into(), json!({"Native": true}));
    }
    out
}

/// The map inside a `json!({...})` literal, taken without copying it.
fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("only called on object literals"),
    }
}

pub fn indexed<T>(mut fields: Map<String, Value>, row: &Row<T>) -> Value {
    fields.insert("CreateIndex".into(), json!(row.create_index));
    fields.insert("ModifyIndex".into(), json!(row.modify_index));
    Value::Object(fields)
}

pub fn node(n: &Row<Node>) -> Value {
    let fields = json!({
        "ID": n.value.id,
        "Node": n.value.name,
        "Address": n.value.address,
        "Datacenter": n.value.datacenter,
        "TaggedAddresses": {"lan": n.value.address, "wan": n.value.address},
        "Meta": n.value.meta,
    });
    indexed(object(fields), n)
}

pub fn check(c: &HealthCheck) -> Map<String, Value> {
    object(json!({
        "Node": c.node,
        "CheckID": c.check_id,
        "Name": c.name,
        "Status": c.status.as_str(),
        "Notes": c.notes,
        "Output": c.output,
        "ServiceID": c.service_id,
        "ServiceName": c.service_name,
        "ServiceTags": c.service_tags,
        "Type": c.kind,
        "Interval": c.interval,
        "Timeout": c.timeout,
    }))
}

/// `/v1/catalog/service/:name` rows: node and service fields side by side.
pub fn catalog_service(n: &Row<Node>, s: &Row<Service>) -> Value {
    let svc = &s.value;
    let fields = json!({
        "ID": n.value.id,
        "Node": n.value.name,
        "Address": n.value.address,
        "Datacenter": n.value.datacenter,
        "TaggedAddresses": {"lan": n.value.address, "wan": n.value.address},
        "NodeMeta": n.value.meta,
        "ServiceKind": svc.kind.as_str(),
        "ServiceID": svc.id,
        "ServiceName": svc.name,
        "ServiceTags": svc.tags,
        "ServiceAddress": svc.address,
        "ServiceWeights": weights(svc),
        "ServiceMeta": svc.meta,
        "ServicePort": svc.port,
        "ServiceEnableTagOverride": svc.enable_tag_override,
        "ServiceProxy": svc.proxy.as_ref().map(proxy).unwrap_or_else(|| json!({})),
        "ServiceConnect": if svc.connect_native { json!({"Native": true}) } else { json!({}) },
    });
    indexed(object(fields), s)
}
