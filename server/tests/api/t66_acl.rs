//! The ACL state and its API: bootstrap once (and once more through the
//! reset file), tokens, policies and roles written and read back, the
//! secret shown only when made, writes refused without the management
//! token, and 401 with ACLs disabled.

use cluster_tests::Http;
use serde_json::json;
use serde_json::Value;

use crate::support::TestServer;

async fn acl_server(dir: &std::path::Path) -> TestServer {
    TestServer::start_with(&dir.join("data"), None, |c| c.acl.enabled = true).await
}

fn parse(answer: Option<(u16, String)>) -> (u16, Value) {
    let (status, body) = answer.expect("the server answers");
    (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

#[tokio::test(flavor = "multi_thread")]
async fn t66_bootstrap_runs_once_and_again_with_the_reset_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = acl_server(dir.path()).await;
    let http = Http::new();

    let (status, boot) = parse(http.put(&server.http, "/v1/acl/bootstrap", "").await);
    assert_eq!(status, 200, "{boot}");
    let secret = boot["SecretID"].as_str().unwrap().to_string();
    assert_eq!(boot["ID"], boot["SecretID"]);
    assert_eq!(boot["Description"], "Bootstrap Token (Global Management)");
    assert_eq!(boot["Policies"], json!([{"ID": "00000000-0000-0000-0000-000000000001", "Name": "global-management"}]));
    let reset_index = boot["CreateIndex"].as_u64().unwrap();

    let (status, text) = http.put(&server.http, "/v1/acl/bootstrap", "").await.unwrap();
    assert_eq!(status, 403);
    assert_eq!(text, format!("Permission denied: ACL bootstrap no longer allowed (reset index: {reset_index})"));

    // A wrong index is Consul's 500, and the file is used up either way.
    let reset = dir.path().join("data").join("acl-bootstrap-reset");
    std::fs::write(&reset, "1").unwrap();
    let (status, text) = http.put(&server.http, "/v1/acl/bootstrap", "").await.unwrap();
    assert_eq!(status, 500, "{text}");
    assert!(text.starts_with("Invalid bootstrap reset index (specified 1"), "{text}");
    assert!(!reset.exists());
    std::fs::write(&reset, format!("{reset_index}\n")).unwrap();
    let (status, again) = parse(http.put(&server.http, "/v1/acl/bootstrap", "").await);
    assert_eq!(status, 200, "{again}");
    assert_ne!(again["SecretID"].as_str().unwrap(), secret);

    // The token read without its secret, and by its secret.
    let accessor = boot["AccessorID"].as_str().unwrap();
    let (status, text) = http.get(&server.http, &format!("/v1/acl/token/{accessor}")).await.unwrap();
    assert_eq!((status, text.as_str()), (403, "Permission denied: anonymous token lacks permission 'acl:read'. The anonymous token is used implicitly when a request does not specify a token."));
    let (status, read) = parse(http.get(&server.http, &format!("/v1/acl/token/{accessor}?token={secret}")).await);
    assert_eq!((status, read["SecretID"].as_str()), (200, Some("<hidden>")));
    let (status, me) = parse(http.get(&server.http, &format!("/v1/acl/token/self?token={secret}")).await);
    assert_eq!((status, me["AccessorID"].as_str()), (200, Some(accessor)));
    let with_header = reqwest::Client::new()
        .get(format!("http://{}/v1/acl/token/self", server.http))
        .header("X-Consul-Token", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(with_header.status(), 200);
    let (status, text) = http.get(&server.http, "/v1/acl/token/self?token=nope").await.unwrap();
    assert_eq!((status, text.as_str()), (403, "ACL not found"));
    // Anonymous and both management tokens.
    let (_, tokens) = parse(http.get(&server.http, &format!("/v1/acl/tokens?token={secret}")).await);
    assert_eq!(tokens.as_array().unwrap().len(), 3, "{tokens}");
    assert!(tokens.as_array().unwrap().iter().all(|t| t["SecretID"] == "<hidden>"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t66_tokens_policies_and_roles_are_written_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = acl_server(dir.path()).await;
    let http = Http::new();
    let (_, boot) = parse(http.put(&server.http, "/v1/acl/bootstrap", "").await);
    let q = format!("?token={}", boot["SecretID"].as_str().unwrap());
    let at = |path: &str| format!("{path}{q}");

    // Writes without the management token are refused and change nothing.
    let policy = json!({"Name": "web-write", "Description": "web", "Rules": "service \"web\" { policy = \"write\" }"});
    let (status, _) = http.put(&server.http, "/v1/acl/policy", &policy.to_string()).await.unwrap();
    assert_eq!(status, 403);
    let (status, _) = parse(http.get(&server.http, &at("/v1/acl/policy/name/web-write")).await);
    assert_eq!(status, 404);

    let (status, created) = parse(http.put(&server.http, &at("/v1/acl/policy"), &policy.to_string()).await);
    assert_eq!(status, 200, "{created}");
    let policy_id = created["ID"].as_str().unwrap().to_string();
    let (_, by_name) = parse(http.get(&server.http, &at("/v1/acl/policy/name/web-write")).await);
    assert_eq!(by_name["Rules"], policy["Rules"]);
    let bad = json!({"Name": "bad", "Rules": "service {"});
    let (status, text) = http.put(&server.http, &at("/v1/acl/policy"), &bad.to_string()).await.unwrap();
    assert_eq!(status, 400, "{text}");
    let (_, list) = parse(http.get(&server.http, &at("/v1/acl/policies")).await);
    assert_eq!(list.as_array().unwrap().len(), 2, "global-management and web-write: {list}");
    assert!(list[0].get("Rules").is_none());

    let role = json!({"Name": "web-role", "Policies": [{"Name": "web-write"}]});
    let (status, role) = parse(http.put(&server.http, &at("/v1/acl/role"), &role.to_string()).await);
    assert_eq!(status, 200, "{role}");
    assert_eq!(role["Policies"][0]["ID"], policy_id.as_str());

    let token = json!({"Description": "web", "Policies": [{"ID": policy_id}], "Roles": [{"Name": "web-role"}],
                       "ServiceIdentities": [{"ServiceName": "web", "Datacenters": ["dc1"]}]});
    let (status, made) = parse(http.put(&server.http, &at("/v1/acl/token"), &token.to_string()).await);
    assert_eq!(status, 200, "{made}");
    let (accessor, secret) = (made["AccessorID"].as_str().unwrap(), made["SecretID"].as_str().unwrap());
    assert_ne!(secret, "<hidden>");
    let (_, read) = parse(http.get(&server.http, &at(&format!("/v1/acl/token/{accessor}"))).await);
    assert_eq!(read["SecretID"], "<hidden>", "the secret is shown once");
    assert_eq!(read["Policies"][0]["Name"], "web-write");
    assert_eq!(read["ServiceIdentities"], json!([{"ServiceName": "web", "Datacenters": ["dc1"]}]));
    let (_, filtered) = parse(http.get(&server.http, &format!("/v1/acl/tokens?policy={policy_id}&{}", &q[1..])).await);
    assert_eq!(filtered.as_array().unwrap().len(), 1);

    // A link to a missing policy is named; a token that is not management cannot write.
    let dangling = json!({"Policies": [{"Name": "nope"}]});
    let (status, text) = http.put(&server.http, &at("/v1/acl/token"), &dangling.to_string()).await.unwrap();
    assert_eq!((status, text.as_str()), (400, r#"No such ACL policy with name "nope""#));
    let (status, _) =
        http.put(&server.http, &format!("/v1/acl/token?token={secret}"), &dangling.to_string()).await.unwrap();
    assert_eq!(status, 403);

    // Update replaces the links; clone makes new IDs; delete removes.
    let update = json!({"Description": "web only", "ServiceIdentities": [{"ServiceName": "web"}]});
    let (status, updated) =
        parse(http.put(&server.http, &at(&format!("/v1/acl/token/{accessor}")), &update.to_string()).await);
    assert_eq!(status, 200, "{updated}");
    assert!(updated.get("Policies").is_none(), "{updated}");
    assert_eq!(updated["CreateIndex"], made["CreateIndex"]);
    let (status, cloned) =
        parse(http.put(&server.http, &at(&format!("/v1/acl/token/{accessor}/clone")), r#"{"Description":"c"}"#).await);
    assert_eq!(status, 200, "{cloned}");
    assert_ne!(cloned["AccessorID"], updated["AccessorID"]);
    assert_eq!(cloned["ServiceIdentities"], updated["ServiceIdentities"]);
    let (status, _) = http.delete(&server.http, &at(&format!("/v1/acl/token/{accessor}"))).await.unwrap();
    assert_eq!(status, 200);
    let (status, _) = http.get(&server.http, &at(&format!("/v1/acl/token/{accessor}"))).await.unwrap();
    assert_eq!(status, 404);
    let (status, _) = http.get(&server.http, &format!("/v1/acl/token/self?token={secret}")).await.unwrap();
    assert_eq!(status, 403, "a deleted token's secret resolves to nothing");

    // The built-ins stay.
    let gm = "00000000-0000-0000-0000-000000000001";
    let (status, _) = http.delete(&server.http, &at(&format!("/v1/acl/policy/{gm}"))).await.unwrap();
    assert_eq!(status, 400);
    let anonymous = "00000000-0000-0000-0000-000000000002";
    let (status, _) = http.delete(&server.http, &at(&format!("/v1/acl/token/{anonymous}"))).await.unwrap();
    assert_eq!(status, 400);
    let role_id = role["ID"].as_str().unwrap();
    let (status, _) = http.delete(&server.http, &at(&format!("/v1/acl/role/{role_id}"))).await.unwrap();
    assert_eq!(status, 200);
    let (_, roles) = parse(http.get(&server.http, &at("/v1/acl/roles")).await);
    assert_eq!(roles, json!([]));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t66_with_acls_disabled_every_acl_endpoint_is_401() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let http = Http::new();
    for answer in [
        http.put(&server.http, "/v1/acl/bootstrap", "").await,
        http.get(&server.http, "/v1/acl/tokens").await,
        http.get(&server.http, "/v1/acl/policies").await,
        http.put(&server.http, "/v1/acl/role", "{}").await,
    ] {
        assert_eq!(answer.unwrap(), (401, "ACL support disabled".to_string()));
    }
    server.stop().await;
}
