//! The process's open-file limit, raised at agent start from its soft value
//! (often 1024) to the hard one: every connection, RocksDB file and check
//! takes a descriptor, and 1,024 are gone with a few hundred idle clients
//! per listener. Go (and so Consul) has done the same for every program
//! since Go 1.19. An unlimited hard limit is left alone: Linux refuses an
//! infinite soft limit for files.

use rustix::process::getrlimit;
use rustix::process::setrlimit;
use rustix::process::Resource;
use rustix::process::Rlimit;

/// The soft limit before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raised {
    pub before: Option<u64>,
    pub after: Option<u64>,
}

/// Raises the soft limit on open files to the hard limit.
pub fn raise() -> std::io::Result<Raised> {
    let limit = getrlimit(Resource::Nofile);
    let before = limit.current;
    let Some(hard) = limit.maximum else { return Ok(Raised { before, after: before }) };
    if before.is_some_and(|soft| soft >= hard) {
        return Ok(Raised { before, after: before });
    }
    setrlimit(Resource::Nofile, Rlimit { current: Some(hard), maximum: Some(hard) })?;
    Ok(Raised { before, after: getrlimit(Resource::Nofile).current })
}

/// [`raise`], logged: the new limit, or why it stayed.
pub fn raise_and_log() {
    match raise() {
        Ok(Raised { before, after }) if before != after => {
            tracing::info!(before = ?before, after = ?after, "raised the open-file limit (RLIMIT_NOFILE) to its hard limit")
        }
        Ok(Raised { after, .. }) => tracing::debug!(limit = ?after, "open-file limit already at its hard limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_limit() {
        let raised = raise().expect("raising to the hard limit is always allowed");
        let now = getrlimit(Resource::Nofile);
        assert_eq!(raised.after, now.current);
        if now.maximum.is_some() {
            assert_eq!(now.current, now.maximum, "soft limit raised to the hard one");
        }
        assert_eq!(raise().unwrap().before, raise().unwrap().after, "a second raise changes nothing");
    }
}
