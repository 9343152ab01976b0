//! Access control and filters over a real gRPC connection: tokens, scopes, status codes, the
//! admin service, health and reflection.

mod common;

use common::{
    alert, alerts_until_heartbeat, authed, connect, quick_config, subscribe, Running, GLOBAL,
    GLOBEX, NORTHWIND,
};
use mspwatch_alert::Severity;
use mspwatch_deliver::pb::admin_service_client::AdminServiceClient;
use mspwatch_deliver::pb::{self, AlertFilter};
use mspwatch_deliver::GrpcConfig;
use tokio_stream::StreamExt as _;
use tonic::{Code, Request};

fn filter(msps: &[&str], tenants: &[&str], min: pb::Severity, rules: &[&str]) -> AlertFilter {
    let owned = |values: &[&str]| values.iter().map(|value| (*value).to_owned()).collect();
    AlertFilter {
        msp_ids: owned(msps),
        tenant_ids: owned(tenants),
        min_severity: min.into(),
        rule_ids: owned(rules),
    }
}

/// Feeds one alert of each kind the filters tell apart.
fn feed_mixed(server: &Running) {
    let alerts = [
        alert("nw-high-delete", Some("msp-northwind"), "tn-acme", Severity::High, "deletion"),
        alert("nw-low-export", Some("msp-northwind"), "tn-initech", Severity::Low, "export"),
        alert("gx-critical-delete", Some("msp-globex"), "tn-hooli", Severity::Critical, "deletion"),
        alert("unattributed", None, "tn-stray", Severity::Critical, "deletion"),
    ];
    for alert in alerts {
        server.log.push(alert);
    }
}

async fn streamed(server: &Running, token: &str, filter: AlertFilter) -> Vec<String> {
    let mut client = server.alerts_client().await;
    let start = mspwatch_deliver::Cursor::default().encode();
    let (mut stream, _) = subscribe(&mut client, token, filter, &start).await.expect("subscribes");
    alerts_until_heartbeat(&mut stream).await
}

async fn listed(server: &Running, token: &str, filter: AlertFilter) -> Vec<String> {
    let mut client = server.alerts_client().await;
    let request = pb::ListAlertsRequest { filter: Some(filter), ..Default::default() };
    let page = client.list_alerts(authed(request, token)).await.expect("lists").into_inner();
    let mut ids: Vec<String> = page.alerts.into_iter().map(|alert| alert.id).collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_narrow_by_msp_tenant_severity_and_rule() {
    let server = Running::start(quick_config(), 100).await;
    feed_mixed(&server);
    let any = pb::Severity::Unspecified;
    let cases = [
        (
            filter(&[], &[], any, &[]),
            vec!["nw-high-delete", "nw-low-export", "gx-critical-delete", "unattributed"],
        ),
        (filter(&["msp-northwind"], &[], any, &[]), vec!["nw-high-delete", "nw-low-export"]),
        (
            filter(&[], &["tn-hooli", "tn-stray"], any, &[]),
            vec!["gx-critical-delete", "unattributed"],
        ),
        (
            filter(&[], &[], pb::Severity::High, &[]),
            vec!["nw-high-delete", "gx-critical-delete", "unattributed"],
        ),
        (filter(&[], &[], any, &["export"]), vec!["nw-low-export"]),
        (
            filter(&["msp-northwind", "msp-globex"], &[], pb::Severity::Critical, &["deletion"]),
            vec!["gx-critical-delete"],
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(streamed(&server, GLOBAL, filter.clone()).await, expected, "{filter:?}");
        let mut sorted: Vec<String> = expected.iter().map(|id| (*id).to_owned()).collect();
        sorted.sort();
        assert_eq!(listed(&server, GLOBAL, filter.clone()).await, sorted, "{filter:?}");
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_token_never_sees_another_msps_alerts() {
    let server = Running::start(quick_config(), 100).await;
    feed_mixed(&server);
    let all = AlertFilter::default();
    assert_eq!(
        streamed(&server, NORTHWIND, all.clone()).await,
        ["nw-high-delete", "nw-low-export"]
    );
    assert_eq!(listed(&server, NORTHWIND, all.clone()).await, ["nw-high-delete", "nw-low-export"]);
    assert_eq!(streamed(&server, GLOBEX, all.clone()).await, ["gx-critical-delete"]);
    let other_msps_tenant = filter(&[], &["tn-hooli", "tn-stray"], pb::Severity::Unspecified, &[]);
    assert!(streamed(&server, NORTHWIND, other_msps_tenant.clone()).await.is_empty());
    assert!(listed(&server, NORTHWIND, other_msps_tenant).await.is_empty());

    let mut client = server.alerts_client().await;
    let (mut live, _) = subscribe(&mut client, NORTHWIND, all, "").await.unwrap();
    server.log.push(alert(
        "gx-live",
        Some("msp-globex"),
        "tn-hooli",
        Severity::Critical,
        "deletion",
    ));
    server.log.push(alert("nw-live", Some("msp-northwind"), "tn-acme", Severity::Low, "deletion"));
    assert_eq!(alerts_until_heartbeat(&mut live).await, ["nw-live"]);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_malformed_or_wrong_tokens_are_unauthenticated() {
    let server = Running::start(GrpcConfig::default(), 10).await;
    let mut client = server.alerts_client().await;
    let mut admin = AdminServiceClient::new(connect(&server.endpoint()).await);
    let request = || pb::SubscribeRequest::default();

    let error = client.subscribe(Request::new(request())).await.unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated);
    let error = client.subscribe(authed(request(), "not-a-token")).await.unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated);
    let mut basic = Request::new(request());
    basic.metadata_mut().insert("authorization", format!("Basic {GLOBAL}").parse().unwrap());
    assert_eq!(client.subscribe(basic).await.unwrap_err().code(), Code::Unauthenticated);
    let error =
        client.list_alerts(Request::new(pb::ListAlertsRequest::default())).await.unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated);
    let error = admin.get_stats(authed(pb::GetStatsRequest {}, "wrong")).await.unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated);
    assert!(!error.message().contains("wrong"), "the message never repeats the token");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_scope_requests_are_permission_denied() {
    let server = Running::start(GrpcConfig::default(), 10).await;
    feed_mixed(&server);
    let mut client = server.alerts_client().await;
    let mut admin = AdminServiceClient::new(connect(&server.endpoint()).await);
    let globex_only = filter(&["msp-globex"], &[], pb::Severity::Unspecified, &[]);

    let error = subscribe(&mut client, NORTHWIND, globex_only.clone(), "").await.unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
    let request = pb::ListAlertsRequest { filter: Some(globex_only), ..Default::default() };
    assert_eq!(
        client.list_alerts(authed(request, NORTHWIND)).await.unwrap_err().code(),
        Code::PermissionDenied
    );

    for id in ["gx-critical-delete", "unattributed"] {
        let request = pb::GetAlertRequest { id: id.to_owned() };
        let error = client.get_alert(authed(request, NORTHWIND)).await.unwrap_err();
        assert_eq!(error.code(), Code::PermissionDenied, "{id}");
    }
    let own = pb::GetAlertRequest { id: "nw-high-delete".to_owned() };
    assert_eq!(
        client.get_alert(authed(own, NORTHWIND)).await.unwrap().into_inner().id,
        "nw-high-delete"
    );

    use pb::get_baseline_request::Subject;
    for subject in [
        Subject::MspId("msp-globex".to_owned()),
        Subject::MspId("msp-never-heard-of".to_owned()),
        Subject::CredentialId("cred-unattributed".to_owned()),
    ] {
        let request = pb::GetBaselineRequest { subject: Some(subject.clone()) };
        let error = admin.get_baseline(authed(request, NORTHWIND)).await.unwrap_err();
        assert_eq!(error.code(), Code::PermissionDenied, "{subject:?}");
    }
    let error = admin.get_baseline(authed(
        pb::GetBaselineRequest {
            subject: Some(Subject::CredentialId("cred-northwind".to_owned())),
        },
        GLOBEX,
    ));
    assert_eq!(error.await.unwrap_err().code(), Code::PermissionDenied);
    let own = pb::GetBaselineRequest {
        subject: Some(Subject::CredentialId("cred-northwind".to_owned())),
    };
    let baseline = admin.get_baseline(authed(own, NORTHWIND)).await.unwrap().into_inner();
    assert_eq!(baseline.msp_id.as_deref(), Some("msp-northwind"));
    assert!(baseline.json.contains("cred-northwind"));
    let unknown =
        pb::GetBaselineRequest { subject: Some(Subject::CredentialId("cred-x".to_owned())) };
    assert_eq!(
        admin.get_baseline(authed(unknown, GLOBAL)).await.unwrap_err().code(),
        Code::NotFound
    );

    let error = admin.reload_rules(authed(pb::ReloadRulesRequest {}, NORTHWIND)).await.unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_show_only_what_the_scope_covers() {
    let server = Running::start(GrpcConfig::default(), 10).await;
    let mut admin = AdminServiceClient::new(connect(&server.endpoint()).await);
    let global =
        admin.get_stats(authed(pb::GetStatsRequest {}, GLOBAL)).await.unwrap().into_inner();
    assert_eq!(global.counters.get("events_in"), Some(&1234));
    assert!(global.counters.contains_key("alert_log_entries"));
    assert_eq!(global.msps.len(), 2);

    let scoped =
        admin.get_stats(authed(pb::GetStatsRequest {}, NORTHWIND)).await.unwrap().into_inner();
    assert!(scoped.counters.is_empty());
    assert_eq!(scoped.msps.keys().collect::<Vec<_>>(), ["msp-northwind"]);
    assert_eq!(scoped.msps.get("msp-northwind").map(|stats| stats.events), Some(1000));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_errors_pass_through_and_success_reports_the_count() {
    let server = Running::start(GrpcConfig::default(), 10).await;
    let mut admin = AdminServiceClient::new(connect(&server.endpoint()).await);
    let errors = vec![
        "rules/broken.yaml:3:5: unknown field `treshold`".to_owned(),
        "rules/broken.yaml:9:1: rule id `x` is used twice".to_owned(),
    ];
    *server.backend.reload_errors.lock().unwrap() = Some(errors.clone());
    let refused =
        admin.reload_rules(authed(pb::ReloadRulesRequest {}, GLOBAL)).await.unwrap().into_inner();
    assert!(!refused.ok);
    assert_eq!(refused.errors, errors);

    *server.backend.reload_errors.lock().unwrap() = None;
    let done =
        admin.reload_rules(authed(pb::ReloadRulesRequest {}, GLOBAL)).await.unwrap().into_inner();
    assert!(done.ok && done.errors.is_empty());
    assert_eq!(done.rule_count, 7);

    let rules =
        admin.list_rules(authed(pb::ListRulesRequest {}, NORTHWIND)).await.unwrap().into_inner();
    assert_eq!(rules.rules.first().map(|rule| rule.severity), Some(pb::Severity::Critical.into()));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_serves_serving_without_a_token() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    let server = Running::start(GrpcConfig::default(), 10).await;
    let mut health = HealthClient::new(connect(&server.endpoint()).await);
    for service in ["", "mspwatch.v1.AlertService", "mspwatch.v1.AdminService"] {
        let request = tonic_health::pb::HealthCheckRequest { service: service.to_owned() };
        let response = health.check(request).await.unwrap().into_inner();
        assert_eq!(response.status, ServingStatus::Serving as i32, "{service}");
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_the_services_without_a_token() {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    let server = Running::start(GrpcConfig::default(), 10).await;
    let mut reflection = ServerReflectionClient::new(connect(&server.endpoint()).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("not a list of services: {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|service| service.name).collect();
    for expected in
        ["mspwatch.v1.AlertService", "mspwatch.v1.AdminService", "grpc.health.v1.Health"]
    {
        assert!(names.iter().any(|name| name == expected), "{expected} missing from {names:?}");
    }
    server.stop().await.unwrap();
}
