//! The one mapping of server errors across the layers: a store error is
//! [`ServerError::Internal`]; a [`ServerError`] becomes a gRPC [`Status`] and
//! comes back out of one unchanged (an error forwarded from the leader reads
//! as it was raised); [`is_transient`] is the one list of codes that mean
//! "try again, later or elsewhere"; [`ServerError::http_status`] is what the
//! HTTP API answers.

use tessera_store::StoreError;
use tonic::Code;
use tonic::Status;

/// Errors an API caller can act on (Clone: a read round's error is every
/// sharing reader's answer).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ServerError {
    /// No leader emerged within the hold timeout (Consul's exact text).
    #[error("No cluster leader")]
    NoLeader,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Internal(String),
    /// The caller may not do this (e.g. claim another node's service identity).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    RateLimited(String),
    /// A conditional change lost a race; retrying may succeed.
    #[error("{0}")]
    Conflict(String),
    /// This server cannot serve the call now (it is stopping); another may.
    #[error("{0}")]
    Unavailable(String),
    /// The data dir's disk is (nearly) full: writes wait for space.
    #[error("{0}")]
    InsufficientStorage(String),
}

/// One try at an operation on the leader.
pub enum Attempt {
    /// Leadership moved or the leader is unreachable: find it again.
    Retry(String),
    Fail(ServerError),
}

impl From<StoreError> for ServerError {
    fn from(e: StoreError) -> Self {
        ServerError::Internal(e.to_string())
    }
}

impl ServerError {
    /// The HTTP status the API answers with (Consul's: no leader is a 500).
    pub fn http_status(&self) -> u16 {
        match self {
            ServerError::NoLeader | ServerError::Internal(_) | ServerError::Unavailable(_) => 500,
            ServerError::NotFound(_) => 404,
            ServerError::BadRequest(_) => 400,
            ServerError::Forbidden(_) => 403,
            ServerError::RateLimited(_) => 429,
            ServerError::Conflict(_) => 409,
            ServerError::InsufficientStorage(_) => 507,
        }
    }
}

impl From<ServerError> for Status {
    fn from(e: ServerError) -> Status {
        match e {
            ServerError::NoLeader => Status::unavailable(e.to_string()),
            ServerError::NotFound(m) => Status::not_found(m),
            ServerError::BadRequest(m) => Status::invalid_argument(m),
            ServerError::Internal(m) => Status::internal(m),
            ServerError::Forbidden(m) => Status::permission_denied(m),
            ServerError::RateLimited(m) => Status::resource_exhausted(m),
            ServerError::Conflict(m) => Status::aborted(m),
            ServerError::Unavailable(m) => Status::unavailable(m),
            ServerError::InsufficientStorage(m) => Status::resource_exhausted(m),
        }
    }
}

impl From<Status> for ServerError {
    fn from(status: Status) -> ServerError {
        let message = status.message().to_string();
        match status.code() {
            Code::Unavailable if message == ServerError::NoLeader.to_string() => ServerError::NoLeader,
            Code::Unavailable => ServerError::Unavailable(message),
            Code::NotFound => ServerError::NotFound(message),
            Code::InvalidArgument => ServerError::BadRequest(message),
            Code::PermissionDenied => ServerError::Forbidden(message),
            Code::ResourceExhausted if message.starts_with("Insufficient storage") => {
                ServerError::InsufficientStorage(message)
            }
            Code::ResourceExhausted => ServerError::RateLimited(message),
            Code::Aborted => ServerError::Conflict(message),
            _ => ServerError::Internal(message),
        }
    }
}

/// Whether a failed call may succeed if made again, to the same peer later
/// or to another one: the peer was unreachable, too slow, went away, or is
/// no longer the leader (`FailedPrecondition`). Every caller that retries
/// (forwarding to the leader, client agents choosing a server) asks this.
/// Raft RPCs classify on their own: openraft backs off an unreachable peer,
/// so only codes saying the peer is down count there.
pub fn is_transient(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown | Code::FailedPrecondition
    )
}

/// A full disk's refusal (507) that came after an attempt of the same
/// write went unanswered: that attempt may yet apply, so the refusal no
/// longer means "not written"; what the caller is told instead (a 500).
pub fn refusal_after_unanswered(refusal: &str) -> String {
    format!("{}; an earlier attempt of this write went unanswered, so it may have applied", refusal.trim())
}

/// What a failed call to the leader means for the caller.
pub fn classify(status: Status) -> Attempt {
    match is_transient(status.code()) {
        true => Attempt::Retry(format!("{}: {}", status.code(), status.message())),
        false => Attempt::Fail(status.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_error() -> Vec<ServerError> {
        let m = || "why".to_string();
        vec![
            ServerError::NoLeader,
            ServerError::NotFound(m()),
            ServerError::BadRequest(m()),
            ServerError::Internal(m()),
            ServerError::Forbidden(m()),
            ServerError::RateLimited(m()),
            ServerError::Conflict(m()),
            ServerError::Unavailable(m()),
        ]
    }

    #[test]
    fn an_error_forwarded_over_grpc_comes_back_as_it_went() {
        for e in every_error() {
            let (before, status) = (format!("{e:?}"), e.http_status());
            let back = ServerError::from(Status::from(e));
            assert_eq!(format!("{back:?}"), before);
            assert_eq!(back.http_status(), status);
        }
    }

    #[test]
    fn only_transient_codes_are_retried_and_the_rest_keep_their_meaning() {
        for code in
            [Code::Unavailable, Code::DeadlineExceeded, Code::Cancelled, Code::Unknown, Code::FailedPrecondition]
        {
            assert!(matches!(classify(Status::new(code, "x")), Attempt::Retry(_)), "{code:?}");
        }
        let retried = |e: &ServerError| matches!(e, ServerError::NoLeader | ServerError::Unavailable(_));
        for e in every_error().into_iter().filter(|e| !retried(e)) {
            let expected = e.http_status();
            match classify(Status::from(e)) {
                Attempt::Fail(back) => assert_eq!(back.http_status(), expected),
                Attempt::Retry(r) => panic!("retried a final answer: {r}"),
            }
        }
    }

    #[test]
    fn http_statuses_are_consuls() {
        let statuses: Vec<u16> = every_error().iter().map(ServerError::http_status).collect();
        assert_eq!(statuses, vec![500, 404, 400, 500, 403, 429, 409, 500]);
    }
}
