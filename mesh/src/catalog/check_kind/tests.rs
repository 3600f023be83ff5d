use super::*;

fn check(json: &str) -> CheckDefinition {
    serde_json::from_str(json).unwrap()
}

fn kind(json: &str) -> Result<CheckKind, DefinitionError> {
    check(json).kind("check", Scripts::Allowed)
}

const API_REFUSAL: &str =
    "Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true";
const LOCAL_REFUSAL: &str = "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or 'enable_local_script_checks' to true";

#[test]
fn script_checks_are_gated_as_consul_gates_them() {
    let off = ScriptChecks::default();
    let local = ScriptChecks { enable_local_script_checks: true, ..off };
    let all = ScriptChecks { enable_script_checks: true, ..off };
    assert_eq!(off.for_api(), Scripts::Refused(API_REFUSAL));
    assert_eq!(off.for_config_files(), Scripts::Refused(LOCAL_REFUSAL));
    assert_eq!(local.for_api(), Scripts::Refused(API_REFUSAL), "local scripts only from config files");
    assert_eq!(local.for_config_files(), Scripts::Allowed);
    assert_eq!((all.for_api(), all.for_config_files()), (Scripts::Allowed, Scripts::Allowed));

    let script = check(r#"{"args":["/bin/true"],"interval":"10s"}"#);
    let err = script.kind("checks[0]", off.for_api()).unwrap_err();
    assert_eq!((err.field.as_str(), err.reason.as_str()), ("checks[0].args", API_REFUSAL));
    assert_eq!(
        script.kind("c", all.for_api()).unwrap(),
        CheckKind::Script {
            args: vec!["/bin/true".into()],
            interval: Duration::from_secs(10),
            timeout: DEFAULT_SCRIPT_TIMEOUT
        }
    );
}

#[test]
fn script_args_are_taken_under_consuls_older_name_too() {
    let by_old_name = check(r#"{"ScriptArgs":["check.sh","-v"],"Interval":"5s","Timeout":"2s"}"#);
    match by_old_name.kind("c", Scripts::Allowed).unwrap() {
        CheckKind::Script { args, timeout, .. } => {
            assert_eq!((args, timeout), (vec!["check.sh".to_string(), "-v".into()], Duration::from_secs(2)))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn interval_types_need_an_interval_named_by_type() {
    for (json, want) in [
        (r#"{"args":["x"]}"#, "required for script checks"),
        (r#"{"grpc":"h:1"}"#, "required for grpc checks"),
        (r#"{"h2ping":"h:1"}"#, "required for h2ping checks"),
        (r#"{"udp":"h:1"}"#, "required for udp checks"),
        (r#"{"udp":"h:1","interval":"1ms"}"#, "must be at least 100ms"),
        (r#"{"udp":"h:1","interval":"soon"}"#, "\"soon\" is not a duration (e.g. 10s, 1m)"),
    ] {
        let err = kind(json).unwrap_err();
        assert_eq!((err.field.as_str(), err.reason.as_str()), ("check.interval", want), "{json}");
    }
}

#[test]
fn grpc_targets_split_into_address_and_service_with_tls_when_asked() {
    assert_eq!(
        kind(r#"{"grpc":"10.0.0.1:9090/pkg.Svc","interval":"5s"}"#).unwrap(),
        CheckKind::Grpc {
            address: "10.0.0.1:9090".into(),
            service: "pkg.Svc".into(),
            tls: None,
            interval: Duration::from_secs(5),
            timeout: DEFAULT_CHECK_TIMEOUT
        }
    );
    let tls = kind(
        r#"{"GRPC":"api:443","GRPCUseTLS":true,"TLSSkipVerify":true,"TLSServerName":"api.internal","Interval":"5s"}"#,
    )
    .unwrap();
    let CheckKind::Grpc { service, tls, .. } = tls else { panic!("{tls:?}") };
    assert_eq!(service, "");
    assert_eq!(tls, Some(CheckTls { skip_verify: true, server_name: "api.internal".into() }));
    let err = kind(r#"{"grpc":"no-port/svc","interval":"5s"}"#).unwrap_err();
    assert_eq!(err.field, "check.grpc");
    assert!(err.reason.contains("host:port or host:port/service"), "{err}");
}

#[test]
fn h2ping_uses_tls_unless_told_not_to() {
    let tls = |json: &str| match kind(json).unwrap() {
        CheckKind::H2Ping { tls, .. } => tls,
        other => panic!("{other:?}"),
    };
    assert_eq!(tls(r#"{"h2ping":"h:8443","interval":"5s"}"#), Some(CheckTls::default()));
    assert_eq!(tls(r#"{"H2PING":"h:8080","H2PingUseTLS":false,"Interval":"5s"}"#), None);
    assert_eq!(kind(r#"{"h2ping":"h","interval":"5s"}"#).unwrap_err().field, "check.h2ping");
}

#[test]
fn udp_targets_need_a_port() {
    assert_eq!(
        kind(r#"{"udp":"[::1]:53","interval":"5s","timeout":"1s"}"#).unwrap(),
        CheckKind::Udp {
            address: "[::1]:53".into(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1)
        }
    );
    let err = kind(r#"{"udp":"dns:domain","interval":"5s"}"#).unwrap_err();
    assert_eq!((err.field.as_str(), err.reason.as_str()), ("check.udp", "\"dns:domain\" is not host:port"));
}

#[test]
fn https_options_reach_http_checks() {
    match kind(r#"{"http":"https://10.0.0.5/health","tls_skip_verify":true,"tls_server_name":"web","interval":"5s"}"#)
        .unwrap()
    {
        CheckKind::Http { tls, .. } => assert_eq!(tls, CheckTls { skip_verify: true, server_name: "web".into() }),
        other => panic!("{other:?}"),
    }
}

#[test]
fn os_service_and_docker_checks_are_refused_by_name_with_the_reason() {
    let err = kind(r#"{"os_service":"nginx","interval":"5s"}"#).unwrap_err();
    assert_eq!(err.field, "check.os_service");
    assert!(err.reason.contains("not supported") && err.reason.contains("systemctl"), "{err}");
    // args with a container id is a Docker check, one type.
    let err = kind(r#"{"docker_container_id":"f00","args":["/bin/check"],"interval":"5s"}"#).unwrap_err();
    assert_eq!(err.field, "check.docker_container_id");
    assert!(err.reason.contains("docker"), "{err}");
}

#[test]
fn a_check_takes_exactly_one_type() {
    let err = kind(r#"{"interval":"5s"}"#).unwrap_err();
    assert!(err.reason.contains("args, http, tcp, udp, grpc, h2ping, ttl or alias_service"), "{err}");
    let err = kind(r#"{"udp":"h:1","grpc":"h:2","interval":"5s"}"#).unwrap_err();
    assert_eq!(err.reason, "a check takes one type, got grpc, udp");
}

#[test]
fn every_interval_type_reports_its_schedule() {
    let script = check(r#"{"args":["x"],"interval":"3s"}"#).kind("c", Scripts::Allowed).unwrap();
    assert_eq!(script.name(), "script");
    assert_eq!(script.schedule(), Some((Duration::from_secs(3), DEFAULT_SCRIPT_TIMEOUT)));
    assert_eq!(kind(r#"{"ttl":"3s"}"#).unwrap().schedule(), None);
}
