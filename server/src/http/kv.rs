//! `/v1/kv/<key>`: Consul's KV API on the replicated KV table.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::acl::caller::Caller;
use crate::consensus::Server;
use crate::http::authz::mark_filtered;
use crate::http::authz::retain_allowed;
use crate::http::authz::Authz;
use crate::http::blocking::QueryOptions;
use crate::http::query::QueryParams;
use crate::http::read_headers;
use crate::http::ApiError;
use tessera_mesh::acl::Access;
use tessera_mesh::acl::Resource;
use tessera_mesh::api::kv::KvPair;
use tessera_store::command::Command;
use tessera_store::command::CommandResponse;
use tessera_store::KvEntry;
use tessera_store::Table;

/// Consul's limit on a KV value.
const MAX_VALUE_BYTES: usize = 512 * 1024;

/// A stored entry as Consul answers it: the value in base64, `null` when empty.
fn pair(e: KvEntry) -> KvPair {
    KvPair {
        lock_index: e.lock_index,
        key: e.key,
        flags: e.flags,
        value: (!e.value.is_empty()).then(|| STANDARD.encode(&e.value)),
        create_index: e.create_index,
        modify_index: e.modify_index,
    }
}

pub async fn get(
    State(server): State<Arc<Server>>,
    authz: Authz,
    Path(key): Path<String>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    read(&server, &authz, &key, &params).await
}

pub async fn get_root(
    State(server): State<Arc<Server>>,
    authz: Authz,
    params: QueryParams,
) -> Result<Response, ApiError> {
    read(&server, &authz, "", &params).await
}

/// One key needs key:read on it (denied before any wait); `?keys` and
/// `?recurse` answer only what the token may read, as Consul filters them.
async fn read(server: &Server, authz: &Caller, key: &str, params: &QueryParams) -> Result<Response, ApiError> {
    let options = QueryOptions::parse(params)?;
    let listing = params.contains_key("keys") || params.contains_key("recurse");
    if !listing {
        authz.require(Resource::Key, key, Access::Read)?;
    }
    options.prepare(server, Table::Kv).await?;
    let read = server.store.read(Table::Kv, |view| match listing {
        true => view.kv_list(key),
        false => Ok(view.kv_get(key)?.into_iter().collect()),
    })?;
    let mut headers = read_headers(server, read.index);
    let readable = |key: &String| authz.allowed(Resource::Key, key, Access::Read);
    if params.contains_key("keys") {
        let separator = params.get("separator").map(String::as_str).unwrap_or("");
        // Consul filters the folded keys (a folder by its own name).
        let mut keys = list_keys(read.value, key, separator);
        mark_filtered(&mut headers, authz, retain_allowed(&mut keys, readable));
        return Ok(found_or_404(headers, !keys.is_empty(), Json(keys)));
    }
    if params.contains_key("recurse") {
        let mut entries = read.value;
        mark_filtered(&mut headers, authz, retain_allowed(&mut entries, |e| readable(&e.key)));
        let entries: Vec<KvPair> = entries.into_iter().map(pair).collect();
        return Ok(found_or_404(headers, !entries.is_empty(), Json(entries)));
    }
    let Some(entry) = read.value.into_iter().next() else {
        return Ok((StatusCode::NOT_FOUND, headers).into_response());
    };
    if params.contains_key("raw") {
        return Ok((headers, entry.value).into_response());
    }
    Ok((headers, Json(vec![pair(entry)])).into_response())
}

fn found_or_404(headers: axum::http::HeaderMap, found: bool, body: impl IntoResponse) -> Response {
    if found {
        (headers, body).into_response()
    } else {
        (StatusCode::NOT_FOUND, headers).into_response()
    }
}

/// Keys under `prefix`; with a separator, each key is cut just after the
/// first separator that follows the prefix, and duplicates collapse.
fn list_keys(entries: Vec<KvEntry>, prefix: &str, separator: &str) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for entry in entries {
        let key = match separator.is_empty() {
            true => entry.key,
            false => match entry.key[prefix.len()..].find(separator) {
                Some(at) => entry.key[..prefix.len() + at + separator.len()].to_string(),
                None => entry.key,
            },
        };
        if keys.last() != Some(&key) {
            keys.push(key);
        }
    }
    keys
}

pub async fn put(
    State(server): State<Arc<Server>>,
    authz: Authz,
    Path(key): Path<String>,
    params: QueryParams,
    body: Bytes,
) -> Result<Response, ApiError> {
    write_key(&server, &authz, key, &params, body).await
}

pub async fn put_root(
    State(server): State<Arc<Server>>,
    authz: Authz,
    params: QueryParams,
    body: Bytes,
) -> Result<Response, ApiError> {
    write_key(&server, &authz, String::new(), &params, body).await
}

/// A set (`?cas` too) needs key:write on the key.
async fn write_key(
    server: &Server,
    authz: &Caller,
    key: String,
    params: &QueryParams,
    body: Bytes,
) -> Result<Response, ApiError> {
    if key.is_empty() {
        return Err(ApiError::bad_request("Missing key name"));
    }
    if params.contains_key("acquire") || params.contains_key("release") {
        return Err(ApiError::bad_request("sessions (?acquire, ?release) are not supported by tessera"));
    }
    if body.len() > MAX_VALUE_BYTES {
        let message = format!("Request body too large, max size: {MAX_VALUE_BYTES} bytes");
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message));
    }
    let flags = parse_number(params, "flags", "Invalid flags")?.unwrap_or(0);
    let cas = parse_number(params, "cas", "Invalid CAS index")?;
    authz.require(Resource::Key, &key, Access::Write)?;
    let command = Command::KvSet { key, value: body.to_vec(), flags, cas };
    Ok(Json(applied(server.write(command).await?.response)).into_response())
}

pub async fn delete(
    State(server): State<Arc<Server>>,
    authz: Authz,
    Path(key): Path<String>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    delete_key(&server, &authz, key, &params).await
}

pub async fn delete_root(
    State(server): State<Arc<Server>>,
    authz: Authz,
    params: QueryParams,
) -> Result<Response, ApiError> {
    delete_key(&server, &authz, String::new(), &params).await
}

/// One key needs key:write on it; `?recurse` needs write on everything
/// under the prefix (Consul's KeyWritePrefix).
async fn delete_key(server: &Server, authz: &Caller, key: String, params: &QueryParams) -> Result<Response, ApiError> {
    let recurse = params.contains_key("recurse");
    if key.is_empty() && !recurse {
        return Err(ApiError::bad_request("Missing key name"));
    }
    let cas = parse_number(params, "cas", "Invalid CAS index")?;
    match recurse {
        true => authz.require_key_write_prefix(&key)?,
        false => authz.require(Resource::Key, &key, Access::Write)?,
    }
    let command = Command::KvDelete { key, recurse, cas };
    Ok(Json(applied(server.write(command).await?.response)).into_response())
}

fn applied(response: CommandResponse) -> bool {
    matches!(response, CommandResponse::Applied(true) | CommandResponse::Done)
}

fn parse_number(params: &QueryParams, name: &str, message: &str) -> Result<Option<u64>, ApiError> {
    match params.get(name) {
        None => Ok(None),
        Some(raw) => raw.parse().map(Some).map_err(|_| ApiError::bad_request(format!("{message}: {raw:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str) -> KvEntry {
        KvEntry { key: key.into(), create_index: 1, modify_index: 1, lock_index: 0, flags: 0, value: vec![] }
    }

    #[test]
    fn keys_with_a_separator_fold_into_folders() {
        let entries = vec![entry("web/a"), entry("web/sub/b"), entry("web/sub/c"), entry("web/z")];
        assert_eq!(list_keys(entries, "web/", "/"), vec!["web/a", "web/sub/", "web/z"]);
    }

    #[test]
    fn empty_values_show_as_null_like_consul() {
        let json = serde_json::to_value(pair(entry("k"))).unwrap();
        assert!(json["Value"].is_null());
        assert_eq!(json["Key"], "k");
    }
}
