//! The ACL table's writes: bootstrap once (and once more with the reset
//! index), links checked at apply, the built-ins protected, refusals that
//! change nothing, and secrets that never reach the log or the rows.

use super::*;
use crate::acl::ServiceIdentityRow;
use crate::command::Command;
use crate::engine::Durability;
use crate::engine::Engine;
use tessera_mesh::acl::secret;

const SECRET: &str = "9c2f1e3a-5b4d-4e6f-8a7b-0c1d2e3f4a5b";

fn commit<T>(engine: &Engine, f: impl FnOnce(&mut Txn<'_>) -> T) -> T {
    let mut txn = Txn::new(engine);
    let answer = f(&mut txn);
    engine.write(txn.into_ops(), Durability::Buffered).unwrap();
    answer
}

fn read<T>(engine: &Engine, f: impl FnOnce(&Txn<'_>) -> T) -> T {
    f(&Txn::new(engine))
}

fn management(key: &str, accessor: &str, secret_text: &str) -> AclToken {
    AclToken {
        accessor_id: accessor.into(),
        secret_hash: secret::hash(key, secret_text),
        description: "Bootstrap Token (Global Management)".into(),
        policies: vec![acl::GLOBAL_MANAGEMENT_POLICY_ID.into()],
        create_time: "2024-01-01T00:00:00Z".into(),
        ..AclToken::default()
    }
}

fn open() -> (tempfile::TempDir, Engine, String) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path()).unwrap();
    (dir, engine, secret::new_key())
}

#[test]
fn bootstrap_runs_once_then_again_only_with_the_reset_index() {
    let (_dir, engine, key) = open();
    let first = management(&key, "a0000000-0000-4000-8000-000000000001", SECRET);
    commit(&engine, |t| bootstrap(t, 5, &key, &first, None).unwrap()).unwrap();
    read(&engine, |t| {
        assert_eq!(acl_meta(t).unwrap(), AclMeta { hash_key: key.clone(), bootstrap_index: 5 });
        assert_eq!(policy(t, acl::GLOBAL_MANAGEMENT_POLICY_ID).unwrap().unwrap().name, "global-management");
        let anonymous = token(t, acl::ANONYMOUS_TOKEN_ID).unwrap().unwrap();
        assert_eq!(anonymous.secret_hash, secret::hash(&key, "anonymous"));
        let found = token_by_secret_hash(t, &secret::hash(&key, SECRET)).unwrap().unwrap();
        assert_eq!((found.accessor_id.as_str(), found.create_index), (first.accessor_id.as_str(), 5));
    });

    let second = management(&key, "a0000000-0000-4000-8000-000000000002", "other-secret");
    let refused = commit(&engine, |t| bootstrap(t, 6, &key, &second, None).unwrap());
    assert_eq!(refused, Err("ACL bootstrap no longer allowed (reset index: 5)".into()));
    let wrong = commit(&engine, |t| bootstrap(t, 7, &key, &second, Some(4)).unwrap());
    assert_eq!(wrong, Err("Invalid bootstrap reset index (specified 4, reset index: 5)".into()));
    assert!(read(&engine, |t| token(t, &second.accessor_id).unwrap()).is_none());

    commit(&engine, |t| bootstrap(t, 8, &key, &second, Some(5)).unwrap()).unwrap();
    assert_eq!(read(&engine, |t| acl_meta(t).unwrap().bootstrap_index), 8);
    assert_eq!(read(&engine, |t| tokens(t).unwrap().len()), 3, "both management tokens and the anonymous one");
    assert_eq!(meta::table_index(&engine, Table::Acl).unwrap(), 8);
}

#[test]
fn a_bootstrap_under_another_key_is_refused() {
    let (_dir, engine, key) = open();
    commit(&engine, |t| bootstrap(t, 2, &key, &management(&key, "a1", SECRET), None).unwrap()).unwrap();
    let other = secret::new_key();
    let refused = commit(&engine, |t| bootstrap(t, 3, &other, &management(&other, "a2", "s2"), Some(2)).unwrap());
    assert!(refused.is_err());
    assert!(read(&engine, |t| token(t, "a2").unwrap()).is_none());
}

#[test]
fn token_links_are_checked_at_apply_and_a_refusal_changes_nothing() {
    let (_dir, engine, key) = open();
    commit(&engine, |t| bootstrap(t, 2, &key, &management(&key, "boot", SECRET), None).unwrap()).unwrap();
    let web = AclPolicy {
        id: "p-web".into(),
        name: "web".into(),
        rules: r#"service "web" { policy = "write" }"#.into(),
        ..AclPolicy::default()
    };
    commit(&engine, |t| set_policy(t, 3, &web, true).unwrap()).unwrap();

    let mut token = AclToken {
        accessor_id: "t1".into(),
        secret_hash: secret::hash(&key, "s1"),
        policies: vec!["p-web".into(), "p-gone".into()],
        service_identities: vec![ServiceIdentityRow { service_name: "web".into(), datacenters: vec![] }],
        ..AclToken::default()
    };
    let refused = commit(&engine, |t| set_token(t, 4, &token, true).unwrap());
    assert_eq!(refused, Err(r#"No such ACL policy with ID "p-gone""#.into()));
    assert!(read(&engine, |t| self::token(t, "t1").unwrap()).is_none());
    assert_eq!(meta::table_index(&engine, Table::Acl).unwrap(), 3, "a refusal moves no index");

    token.policies.pop();
    commit(&engine, |t| set_token(t, 5, &token, true).unwrap()).unwrap();
    let again = commit(&engine, |t| set_token(t, 6, &token, true).unwrap());
    assert_eq!(again, Err("Invalid Token: AccessorID is already in use".into()));
    let reused_secret = AclToken { accessor_id: "t2".into(), ..token.clone() };
    let reused = commit(&engine, |t| set_token(t, 6, &reused_secret, true).unwrap());
    assert_eq!(reused, Err("Invalid Token: SecretID is already in use".into()));

    let changed = AclToken { secret_hash: secret::hash(&key, "s2"), ..token.clone() };
    let refused = commit(&engine, |t| set_token(t, 7, &changed, false).unwrap());
    assert_eq!(refused, Err("Changing a tokens SecretID is not permitted".into()));
    let updated = AclToken { description: "new".into(), ..token.clone() };
    commit(&engine, |t| set_token(t, 8, &updated, false).unwrap()).unwrap();
    let row = read(&engine, |t| self::token(t, "t1").unwrap().unwrap());
    assert_eq!((row.description.as_str(), row.create_index, row.modify_index), ("new", 5, 8));

    assert_eq!(commit(&engine, |t| delete_token(t, 9, "t1").unwrap()), Ok(true));
    assert!(read(&engine, |t| token_by_secret_hash(t, &secret::hash(&key, "s1")).unwrap()).is_none());
    assert_eq!(commit(&engine, |t| delete_token(t, 10, "t1").unwrap()), Ok(false));
    assert!(commit(&engine, |t| delete_token(t, 10, acl::ANONYMOUS_TOKEN_ID).unwrap()).is_err());
}

#[test]
fn policies_keep_names_unique_rules_valid_and_the_builtin_intact() {
    let (_dir, engine, key) = open();
    commit(&engine, |t| bootstrap(t, 2, &key, &management(&key, "boot", SECRET), None).unwrap()).unwrap();
    let web = AclPolicy { id: "p1".into(), name: "web".into(), ..AclPolicy::default() };
    commit(&engine, |t| set_policy(t, 3, &web, true).unwrap()).unwrap();
    let clash = AclPolicy { id: "p2".into(), ..web.clone() };
    let refused = commit(&engine, |t| set_policy(t, 4, &clash, true).unwrap());
    assert_eq!(refused, Err(r#"Invalid Policy: A Policy with Name "web" already exists"#.into()));
    let bad_rules =
        AclPolicy { id: "p3".into(), name: "bad".into(), rules: "service {".into(), ..AclPolicy::default() };
    assert!(commit(&engine, |t| set_policy(t, 4, &bad_rules, true).unwrap()).is_err());

    let renamed = AclPolicy { name: "web2".into(), ..web.clone() };
    commit(&engine, |t| set_policy(t, 5, &renamed, false).unwrap()).unwrap();
    read(&engine, |t| {
        assert!(policy_by_name(t, "web").unwrap().is_none());
        assert_eq!(policy_by_name(t, "web2").unwrap().unwrap().create_index, 3);
    });

    let mut builtin = read(&engine, |t| policy(t, acl::GLOBAL_MANAGEMENT_POLICY_ID).unwrap().unwrap());
    builtin.rules = "acl = \"read\"".into();
    assert!(commit(&engine, |t| set_policy(t, 6, &builtin, false).unwrap()).is_err());
    assert!(commit(&engine, |t| delete_policy(t, 6, acl::GLOBAL_MANAGEMENT_POLICY_ID).unwrap()).is_err());
    assert_eq!(commit(&engine, |t| delete_policy(t, 7, "p1").unwrap()), Ok(true));
    assert!(read(&engine, |t| policy_by_name(t, "web2").unwrap()).is_none());
}

#[test]
fn roles_check_their_policies_and_names() {
    let (_dir, engine, key) = open();
    commit(&engine, |t| bootstrap(t, 2, &key, &management(&key, "boot", SECRET), None).unwrap()).unwrap();
    let role = AclRole { id: "r1".into(), name: "ops".into(), policies: vec!["nope".into()], ..AclRole::default() };
    assert_eq!(
        commit(&engine, |t| set_role(t, 3, &role, true).unwrap()),
        Err(r#"No such ACL policy with ID "nope""#.into())
    );
    let role = AclRole { policies: vec![acl::GLOBAL_MANAGEMENT_POLICY_ID.into()], ..role };
    commit(&engine, |t| set_role(t, 4, &role, true).unwrap()).unwrap();
    assert_eq!(read(&engine, |t| role_by_name(t, "ops").unwrap().unwrap().id), "r1");
    let clash = AclRole { id: "r2".into(), ..role.clone() };
    assert!(commit(&engine, |t| set_role(t, 5, &clash, true).unwrap()).is_err());
    assert_eq!(commit(&engine, |t| delete_role(t, 6, "r1").unwrap()), Ok(true));
    assert!(read(&engine, |t| roles(t).unwrap()).is_empty());
}

#[test]
fn no_secret_reaches_the_log_entry_or_the_rows() {
    let (_dir, engine, key) = open();
    let token = management(&key, "a0000000-0000-4000-8000-000000000001", SECRET);
    let entry = Command::AclBootstrap { hash_key: key.clone(), token: token.clone(), reset_index: None }.encode();
    assert!(!String::from_utf8_lossy(&entry).contains(SECRET), "the log entry holds the secret");
    commit(&engine, |t| bootstrap(t, 2, &key, &token, None).unwrap()).unwrap();
    for (k, v) in engine.export(&[Cf::Acl]).unwrap().into_iter().map(|(_, k, v)| (k, v)) {
        let row = String::from_utf8_lossy(&k).into_owned() + &String::from_utf8_lossy(&v);
        assert!(!row.contains(SECRET), "a row holds the secret: {row}");
    }
}
