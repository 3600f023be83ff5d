//! `/v1/connect/*` on servers: CA roots and configuration, and intentions.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use tessera_mesh::acl::Access;
use tessera_mesh::acl::Resource;
use tessera_mesh::api::connect::IntentionCheckResult;
use tessera_mesh::api::connect::IntentionCreated;
use tessera_mesh::connect::intention;
use tessera_mesh::connect::Action;
use tessera_mesh::connect::Intention;

use crate::connect::ca::ConfigChange;
use crate::consensus::Server;
use crate::http::authz::mark_filtered;
use crate::http::authz::Authz;
use crate::http::blocking::prepare_table as prepare;
use crate::http::connect_shapes as shapes;
use crate::http::decode_body;
use crate::http::query::QueryParams;
use crate::http::read_headers;
use crate::http::ApiError;
use crate::http::App;
use tessera_store::ca::CaConfig;
use tessera_store::Table;

pub async fn roots(State(server): State<Arc<Server>>, params: QueryParams) -> Result<Response, ApiError> {
    prepare(&server, &params, Table::Roots).await?;
    let roots = crate::connect::roots::current(&server)?
        .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the CA has no root yet"))?;
    if params.flag("pem")? {
        let headers = [(header::CONTENT_TYPE, "application/pem-certificate-chain")];
        return Ok((read_headers(&server, roots.index), headers, shapes::roots_pem(&roots)).into_response());
    }
    Ok((read_headers(&server, roots.index), Json(shapes::roots(&roots))).into_response())
}

/// operator:write, as Consul's current code asks (its docs say
/// operator:read): the configuration is the CA's.
pub async fn get_ca_config(
    State(server): State<Arc<Server>>,
    authz: Authz,
    params: QueryParams,
) -> Result<Response, ApiError> {
    authz.require(Resource::Operator, "", Access::Write)?;
    prepare(&server, &params, Table::Roots).await?;
    let read = server.store.read(Table::Roots, |view| view.ca_state())?;
    let (config, create, modify) = read.value.config.unwrap_or_else(|| (CaConfig::default(), 0, 0));
    Ok((read_headers(&server, read.index), Json(shapes::ca_config(&config, create, modify))).into_response())
}

/// The `Config` keys of a CA configuration PUT, in Consul's spellings.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigFields {
    #[serde(alias = "LeafCertTTL", alias = "leaf_cert_ttl")]
    leaf_cert_ttl: Option<String>,
    #[serde(alias = "RootCertTTL", alias = "root_cert_ttl")]
    root_cert_ttl: Option<String>,
    #[serde(alias = "IntermediateCertTTL", alias = "intermediate_cert_ttl")]
    intermediate_cert_ttl: Option<String>,
    #[serde(alias = "PrivateKeyType", alias = "private_key_type")]
    private_key_type: Option<String>,
    #[serde(alias = "PrivateKeyBits", alias = "private_key_bits")]
    private_key_bits: Option<u32>,
    #[serde(alias = "CSRMaxPerSecond", alias = "csr_max_per_second")]
    csr_max_per_second: Option<f64>,
    /// Accepted for Consul compatibility; signing is not concurrency-limited.
    #[serde(alias = "CSRMaxConcurrent", alias = "csr_max_concurrent")]
    #[allow(dead_code)]
    csr_max_concurrent: Option<u32>,
    #[serde(alias = "LeafReissueSpread", alias = "leaf_reissue_spread")]
    leaf_reissue_spread: Option<String>,
    #[serde(alias = "PrivateKey", alias = "private_key")]
    private_key: Option<String>,
    #[serde(alias = "RootCert", alias = "root_cert")]
    root_cert: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigBody {
    #[serde(alias = "Provider", default)]
    provider: Option<String>,
    #[serde(alias = "Config", default)]
    config: Option<ConfigFields>,
    #[serde(alias = "ForceWithoutCrossSigning", default)]
    force_without_cross_signing: bool,
    #[serde(alias = "State", default)]
    state: Option<Value>,
    #[serde(alias = "CreateIndex", default)]
    create_index: Option<u64>,
    #[serde(alias = "ModifyIndex", default)]
    modify_index: Option<u64>,
}

fn merge_config(current: CaConfig, fields: ConfigFields) -> Result<ConfigChange, ApiError> {
    if fields.root_cert.as_deref().is_some_and(|c| !c.trim().is_empty()) {
        return Err(ApiError::bad_request(
            "Config.RootCert: an external root certificate is not supported; give PrivateKey and the root is made from it",
        ));
    }
    let config = CaConfig {
        leaf_cert_ttl: fields.leaf_cert_ttl.unwrap_or(current.leaf_cert_ttl),
        root_cert_ttl: fields.root_cert_ttl.unwrap_or(current.root_cert_ttl),
        intermediate_cert_ttl: fields.intermediate_cert_ttl.unwrap_or(current.intermediate_cert_ttl),
        private_key_type: fields.private_key_type.unwrap_or(current.private_key_type),
        private_key_bits: fields.private_key_bits.unwrap_or(current.private_key_bits),
        csr_max_per_second: fields.csr_max_per_second.unwrap_or(current.csr_max_per_second),
        leaf_reissue_spread: fields.leaf_reissue_spread.unwrap_or(current.leaf_reissue_spread),
    };
    Ok(ConfigChange { config, private_key: fields.private_key })
}

/// operator:write.
pub async fn put_ca_config(State(server): State<Arc<Server>>, authz: Authz, body: Bytes) -> Result<Response, ApiError> {
    let body: ConfigBody = decode_body(&body).map_err(|e| ApiError::bad_request(without_values(e.message())))?;
    if let Some(provider) = body.provider.as_deref().filter(|p| !p.is_empty() && *p != "consul") {
        return Err(ApiError::bad_request(format!("Provider: {provider:?} is not supported (only \"consul\")")));
    }
    let _ = (body.force_without_cross_signing, body.state, body.create_index, body.modify_index);
    authz.require(Resource::Operator, "", Access::Write)?;
    let current = server.store.view().ca_state()?.config();
    let change = merge_config(current, body.config.unwrap_or_default())?;
    let rotated = crate::connect::ca::set_config(&server, change).await?;
    tracing::info!(rotated, "CA configuration updated");
    Ok(StatusCode::OK.into_response())
}

/// A decoding error without the value it quotes. serde quotes a string it
/// could not use (`invalid type: string "...", expected u32`): a private key
/// pasted into the wrong field of a CA configuration would come back in the
/// answer, and into whatever logs answers. The field and the reason stay.
fn without_values(message: &str) -> String {
    if let (Some(start), Some(end)) = (message.find("string \""), message.rfind('"')) {
        let start = start + "string".len();
        if end > start {
            return format!("{}{}", &message[..start], &message[end + 1..]);
        }
    }
    if message.contains("PRIVATE KEY") {
        return "Request decode failed: the body is not a CA configuration".into();
    }
    message.to_string()
}

// ---- Intentions ----

/// An intention as API bodies and `-file`s give it.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct IntentionBody {
    #[serde(alias = "SourceName", default)]
    pub source_name: Option<String>,
    #[serde(alias = "DestinationName", default)]
    pub destination_name: Option<String>,
    #[serde(alias = "Action", default)]
    pub action: Option<String>,
    #[serde(alias = "Description", default)]
    pub description: String,
    #[serde(alias = "Meta", default)]
    pub meta: BTreeMap<String, String>,
    #[serde(alias = "SourceType", default)]
    pub source_type: Option<String>,
    #[serde(alias = "SourceNS", alias = "SourceNamespace", default)]
    pub source_ns: Option<String>,
    #[serde(alias = "DestinationNS", alias = "DestinationNamespace", default)]
    pub destination_ns: Option<String>,
    #[serde(alias = "Permissions", default)]
    pub permissions: Option<Value>,
    /// Read-only fields: accepted (a GET answer can be sent back) and ignored.
    #[serde(alias = "ID", default)]
    #[allow(dead_code)]
    pub id: Option<String>,
    #[serde(alias = "Precedence", default)]
    #[allow(dead_code)]
    pub precedence: Option<u32>,
    #[serde(alias = "CreateIndex", default)]
    #[allow(dead_code)]
    pub create_index: Option<u64>,
    #[serde(alias = "ModifyIndex", default)]
    #[allow(dead_code)]
    pub modify_index: Option<u64>,
}

fn parse_body(body: &[u8]) -> Result<IntentionBody, ApiError> {
    if body.is_empty() {
        return Ok(IntentionBody::default());
    }
    decode_body(body)
}

fn to_intention(body: IntentionBody, source: String, destination: String) -> Result<Intention, ApiError> {
    if body.permissions.as_ref().is_some_and(|p| !p.is_null()) {
        return Err(ApiError::bad_request("Permissions: L7 intentions are not supported; give Action"));
    }
    if let Some(t) = body.source_type.as_deref().filter(|t| !t.is_empty() && *t != "consul") {
        return Err(ApiError::bad_request(format!("SourceType: {t:?} is not supported (only \"consul\")")));
    }
    for (field, ns) in [("SourceNS", &body.source_ns), ("DestinationNS", &body.destination_ns)] {
        if let Some(ns) = ns.as_deref().filter(|ns| !ns.is_empty() && *ns != "default") {
            return Err(ApiError::bad_request(format!("{field}: {ns:?}: only the default namespace exists")));
        }
    }
    let action = match body.action.as_deref() {
        None | Some("") => return Err(ApiError::bad_request("Action: must be allow or deny")),
        Some(a) => a.parse::<Action>().map_err(|e| ApiError::bad_request(format!("Action: {e}")))?,
    };
    Ok(Intention {
        id: String::new(),
        source,
        destination,
        action,
        description: body.description,
        meta: body.meta,
        create_index: 0,
        modify_index: 0,
    })
}

fn pair(params: &QueryParams) -> Result<(String, String), ApiError> {
    let get = |name: &str| {
        params
            .get(name)
            .filter(|v| !v.is_empty())
            .cloned()
            .ok_or_else(|| ApiError::bad_request(format!("required query parameter '{name}' not set")))
    };
    Ok((get("source")?, get("destination")?))
}

/// May the token read this intention: intention:read on its destination.
fn intention_readable(authz: &Authz, i: &Intention) -> bool {
    authz.allowed(Resource::Intention, &i.destination, Access::Read)
}

/// The intentions the token may read.
pub async fn list(State(server): State<Arc<Server>>, authz: Authz, params: QueryParams) -> Result<Response, ApiError> {
    prepare(&server, &params, Table::Intentions).await?;
    let read = server.store.read(Table::Intentions, |view| view.intentions())?;
    let mut all = read.value;
    let removed = crate::http::authz::retain_allowed(&mut all, |i| intention_readable(&authz, i));
    all.sort_by(intention::evaluation_order);
    let body: Vec<_> = all.iter().map(shapes::intention).collect();
    let mut headers = read_headers(&server, read.index);
    mark_filtered(&mut headers, &authz, removed);
    Ok((headers, Json(body)).into_response())
}

/// Writing an intention needs intention:write on its destination (on
/// every intentions rule for `*`).
fn require_intention_write(authz: &Authz, destination: &str) -> Result<(), ApiError> {
    Ok(authz.require(Resource::Intention, destination, Access::Write)?)
}

/// Legacy create: an error if the pair exists.
pub async fn create(State(server): State<Arc<Server>>, authz: Authz, body: Bytes) -> Result<Response, ApiError> {
    let mut body = parse_body(&body)?;
    let source = body.source_name.take().unwrap_or_default();
    let destination = body.destination_name.take().unwrap_or_default();
    let intention = to_intention(body, source.clone(), destination.clone())?;
    require_intention_write(&authz, &destination)?;
    match crate::connect::intentions::upsert(&server, intention, false).await? {
        Some(id) => Ok(Json(IntentionCreated { id }).into_response()),
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("an intention with source {source:?} and destination {destination:?} already exists"),
        )),
    }
}

/// intention:read on the destination, checked before the lookup (so a
/// refusal tells nothing of whether the intention exists).
pub async fn get_exact(
    State(server): State<Arc<Server>>,
    authz: Authz,
    params: QueryParams,
) -> Result<Response, ApiError> {
    let (source, destination) = pair(&params)?;
    authz.require(Resource::Intention, &destination, Access::Read)?;
    prepare(&server, &params, Table::Intentions).await?;
    let read = server.store.read(Table::Intentions, |view| view.intention(&source, &destination))?;
    match read.value {
        Some(i) => Ok((read_headers(&server, read.index), Json(shapes::intention(&i))).into_response()),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, format!("Intention not found: {source} => {destination}"))),
    }
}

/// Upsert of the pair named in the query.
pub async fn put_exact(
    State(server): State<Arc<Server>>,
    authz: Authz,
    params: QueryParams,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (source, destination) = pair(&params)?;
    let intention = to_intention(parse_body(&body)?, source, destination)?;
    require_intention_write(&authz, &intention.destination)?;
    crate::connect::intentions::upsert(&server, intention, true).await?;
    Ok(Json(true).into_response())
}

pub async fn delete_exact(
    State(server): State<Arc<Server>>,
    authz: Authz,
    params: QueryParams,
) -> Result<Response, ApiError> {
    let (source, destination) = pair(&params)?;
    require_intention_write(&authz, &destination)?;
    crate::connect::intentions::delete(&server, &source, &destination).await?;
    Ok(Json(true).into_response())
}

/// `{"Allowed": bool}` under this agent's default policy. Needs
/// service:read on the destination only, as Consul (the answer tells
/// nothing of the intentions themselves).
pub async fn check(State(app): State<App>, authz: Authz, params: QueryParams) -> Result<Response, ApiError> {
    let (source, destination) = pair(&params)?;
    authz.require(Resource::Service, &destination, Access::Read)?;
    prepare(&app.server, &params, Table::Intentions).await?;
    let read = app.server.store.read(Table::Intentions, |view| view.intentions())?;
    let decision = intention::evaluate(&read.value, &source, &destination, app.agent.connect().default_policy());
    Ok((read_headers(&app.server, read.index), Json(IntentionCheckResult { allowed: decision.allowed }))
        .into_response())
}

/// `?by=source|destination&name=X`: the matching intentions in evaluation
/// order. Each name needs intention:read, as Consul's `Intention.Match`
/// asks (denied as a whole, not filtered); a matched intention the token
/// may not read (a wildcard destination) is left out.
pub async fn matches(
    State(server): State<Arc<Server>>,
    authz: Authz,
    params: QueryParams,
) -> Result<Response, ApiError> {
    let by = params.get("by").map(String::as_str);
    let names: Vec<&str> = params.all("name").collect();
    if names.is_empty() {
        return Err(ApiError::bad_request("required query parameter 'name' not set"));
    }
    for name in &names {
        authz.require(Resource::Intention, name, Access::Read)?;
    }
    prepare(&server, &params, Table::Intentions).await?;
    let read = server.store.read(Table::Intentions, |view| view.intentions())?;
    let (all, index) = (read.value, read.index);
    // `?name=` values to the intentions that match each.
    let mut out = BTreeMap::new();
    let mut removed = false;
    for name in names {
        let matched = match by {
            Some("source") => intention::matching_source(&all, name),
            Some("destination") => intention::matching_destination(&all, name),
            other => {
                return Err(ApiError::bad_request(format!("by: must be source or destination, got {other:?}")));
            }
        };
        let mut matched = matched;
        removed |= crate::http::authz::retain_allowed(&mut matched, |i| intention_readable(&authz, i));
        out.insert(name.to_string(), matched.into_iter().map(shapes::intention).collect::<Vec<_>>());
    }
    let mut headers = read_headers(&server, index);
    mark_filtered(&mut headers, &authz, removed);
    Ok((headers, Json(out)).into_response())
}
