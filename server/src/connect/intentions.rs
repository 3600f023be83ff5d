//! Intention writes as the HTTP API and the CLI make them.

use tessera_mesh::connect::intention::validate_name;
use tessera_mesh::connect::Intention;

use crate::consensus::Server;
use crate::consensus::ServerError;
use tessera_store::command::Command;
use tessera_store::command::CommandResponse;

fn check_names(intention: &Intention) -> Result<(), ServerError> {
    validate_name("SourceName", &intention.source).map_err(|e| ServerError::BadRequest(e.to_string()))?;
    validate_name("DestinationName", &intention.destination).map_err(|e| ServerError::BadRequest(e.to_string()))
}

/// Creates (or with `replace` overwrites) the pair's intention; `Ok(None)`
/// when the pair exists and `replace` is off. The id returned is the one
/// sent: a new intention's. A replace keeps the pair's stored id, which the
/// callers that replace (PUT exact) do not report.
pub async fn upsert(server: &Server, mut intention: Intention, replace: bool) -> Result<Option<String>, ServerError> {
    check_names(&intention)?;
    if intention.id.is_empty() {
        intention.id = uuid::Uuid::new_v4().to_string();
    }
    let id = intention.id.clone();
    let applied = server.write(Command::IntentionUpsert { intention, replace }).await?;
    Ok((applied.response == CommandResponse::Applied(true)).then_some(id))
}

/// Deletes the pair's intention; false if there was none.
pub async fn delete(server: &Server, source: &str, destination: &str) -> Result<bool, ServerError> {
    let command = Command::IntentionDelete { source: source.to_string(), destination: destination.to_string() };
    Ok(server.write(command).await?.response == CommandResponse::Applied(true))
}
