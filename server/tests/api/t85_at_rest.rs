//! Data at rest: the data dir and everything in it are the agent user's
//! only, and a CA private key given through the API never comes back in
//! an answer.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use cluster_tests::Http;

use crate::support::TestServer;
use crate::support::SETTLE;

/// Every path under `dir` (itself included, links not followed) whose mode
/// is not `0700` for a dir or `0600` for a file, with its mode.
fn open_paths(dir: &Path) -> Vec<(String, u32)> {
    let meta = std::fs::symlink_metadata(dir).unwrap();
    let mode = meta.permissions().mode() & 0o777;
    let wanted = if meta.is_dir() { 0o700 } else { 0o600 };
    let mut open = Vec::new();
    if mode != wanted && !meta.file_type().is_symlink() {
        open.push((dir.display().to_string(), mode));
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(dir).unwrap() {
            open.extend(open_paths(&entry.unwrap().path()));
        }
    }
    open
}

#[tokio::test(flavor = "multi_thread")]
async fn t85_an_open_data_dir_is_tightened_and_every_file_made_in_it_is_private() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    // As a package's `install -d` leaves it.
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = TestServer::start(&data, None).await;
    let http = Http::new();
    http.wait_json(&server.http, "/v1/agent/services", SETTLE).await;
    let web = r#"{"Name": "web", "ID": "web-1", "Port": 8080}"#;
    assert_eq!(http.put(&server.http, "/v1/agent/service/register", web).await.unwrap().0, 200);
    assert_eq!(http.put(&server.http, "/v1/kv/secret", "value").await.unwrap().0, 200);
    server.stop().await;

    let files = ["node-id", "store/CURRENT", "store/LOCK", "agent/services"];
    for file in files {
        assert!(data.join(file).exists(), "{file} was made");
    }
    assert_eq!(open_paths(&data), Vec::<(String, u32)>::new(), "dirs 0700, files 0600");
}

#[tokio::test(flavor = "multi_thread")]
async fn t85_a_ca_private_key_is_never_answered_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let http = Http::new();
    http.wait_json(&server.http, "/v1/connect/ca/roots", SETTLE).await;
    let secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA";
    let key = format!("-----BEGIN PRIVATE KEY-----\\n{secret}\\n-----END PRIVATE KEY-----\\n");
    let bodies = [
        // Not a usable key: refused by the CA.
        format!(r#"{{"Provider": "consul", "Config": {{"PrivateKey": "{key}"}}}}"#),
        // A key in the wrong field: refused by the decoder, which quotes what it could not use.
        format!(r#"{{"Provider": "consul", "Config": {{"PrivateKeyBits": "{key}"}}}}"#),
    ];
    for body in bodies {
        let (code, text) = http.put(&server.http, "/v1/connect/ca/configuration", &body).await.unwrap();
        assert_eq!(code, 400, "{text}");
        assert!(!text.contains(secret) && !text.contains("PRIVATE KEY"), "the key came back: {text}");
    }
    let (code, text) = http.get(&server.http, "/v1/connect/ca/configuration").await.unwrap();
    assert!(code == 200 && !text.contains("PRIVATE KEY"), "{text}");
    server.stop().await;
}
