//! Consul's checks of ACL names and IDs (its `agent/structs/acl.go` and
//! `agent/consul/acl_endpoint.go`), with its texts.

/// IDs with this prefix are Consul's built-ins; nobody may choose one.
pub const RESERVED_ID_PREFIX: &str = "00000000-0000-0000-0000-0000000000";

/// The built-in global-management policy's name.
pub const GLOBAL_MANAGEMENT_NAME: &str = "global-management";

fn word_chars(name: &str) -> bool {
    name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `^[A-Za-z0-9\-_]{1,128}$`
pub fn valid_policy_name(name: &str) -> bool {
    (1..=128).contains(&name.len()) && word_chars(name)
}

/// `^[A-Za-z0-9\-_]{1,256}$`
pub fn valid_role_name(name: &str) -> bool {
    (1..=256).contains(&name.len()) && word_chars(name)
}

/// A service or node identity's name: `^[a-z0-9]([a-z0-9\-_]*[a-z0-9])?$`,
/// at most 256 characters.
pub fn valid_identity_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let inner = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_';
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => name.len() <= 256 && edge(first) && edge(last) && bytes.iter().all(inner),
        _ => false,
    }
}

/// A UUID in Consul's form: 8-4-4-4-12 hex digits.
pub fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub fn is_reserved_id(id: &str) -> bool {
    id.starts_with(RESERVED_ID_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_consuls_patterns() {
        assert!(valid_policy_name("web-read_1"));
        assert!(!valid_policy_name(""));
        assert!(!valid_policy_name("a b"));
        assert!(!valid_policy_name(&"a".repeat(129)));
        assert!(valid_role_name(&"a".repeat(256)));
        assert!(valid_identity_name("web"));
        assert!(valid_identity_name("web_1-x"));
        assert!(!valid_identity_name("Web"));
        assert!(!valid_identity_name("web-"));
        assert!(!valid_identity_name("-web"));
        assert!(!valid_identity_name(""));
    }

    #[test]
    fn uuids_and_reserved_ids() {
        assert!(is_uuid("6a1253d2-1785-24fd-91c2-f8e78c745511"));
        assert!(!is_uuid("6a1253d2-1785-24fd-91c2"));
        assert!(!is_uuid("6a1253d2-1785-24fd-91c2-f8e78c74551g"));
        assert!(is_reserved_id("00000000-0000-0000-0000-000000000002"));
        assert!(!is_reserved_id("00000000-0000-0000-0000-100000000002"));
    }
}
