//! Bootstrap in the binaries: a web tier and a worker started against a namespace that
//! has none of relink's search attributes (as on a bare `temporal server start-dev`,
//! without `./dev`) add them and wait until they are usable, so the first Reconnect
//! click works instead of failing; migrations are applied by both binaries.

use relink_domain::{AccountStatus, SEARCH_ATTRIBUTES};
use relink_tests::{AppOptions, eventually, spawn_app};
use std::collections::HashMap;
use std::time::Duration;
use temporalio_client::{Client, tonic::Request};
use temporalio_common::protos::temporal::api::{
    enums::v1::IndexedValueType, operatorservice::v1::ListSearchAttributesRequest,
    workflowservice::v1::RegisterNamespaceRequest,
};

/// The custom search attributes of `namespace` (`None` while the server does not know
/// the namespace yet).
async fn custom_attributes(admin: &Client, namespace: &str) -> Option<HashMap<String, i32>> {
    admin
        .connection()
        .operator_service()
        .list_search_attributes(Request::new(ListSearchAttributesRequest {
            namespace: namespace.to_string(),
        }))
        .await
        .ok()
        .map(|r| r.into_inner().custom_attributes)
}

#[tokio::test]
async fn a_stack_on_a_namespace_without_search_attributes_prepares_it_and_a_click_works() {
    let address = std::env::var("TEMPORAL_ADDRESS").unwrap_or_else(|_| "127.0.0.1:7233".into());
    let admin = relink_runtime::connect_temporal(&address, "default")
        .await
        .unwrap();
    let namespace = format!("relink-bootstrap-{}", uuid::Uuid::new_v4().simple());
    admin
        .connection()
        .workflow_service()
        .register_namespace(Request::new(RegisterNamespaceRequest {
            namespace: namespace.clone(),
            workflow_execution_retention_period: Some(
                Duration::from_secs(86_400).try_into().unwrap(),
            ),
            ..Default::default()
        }))
        .await
        .unwrap();
    let before = eventually(
        Duration::from_secs(30),
        "the new namespace is known",
        || custom_attributes(&admin, &namespace),
    )
    .await;
    for name in SEARCH_ATTRIBUTES {
        assert!(!before.contains_key(name), "a new namespace has no {name}");
    }

    // The web tier and the worker as their binaries build them, on that namespace.
    let app = spawn_app(AppOptions {
        temporal_namespace: Some(namespace.clone()),
        ..Default::default()
    })
    .await;
    let after = custom_attributes(&admin, &namespace).await.unwrap();
    for name in SEARCH_ATTRIBUTES {
        assert_eq!(
            after.get(name).copied(),
            Some(IndexedValueType::Keyword as i32),
            "{name} added as Keyword"
        );
    }
    // Idempotent: a second process finds them there.
    assert!(
        relink_runtime::ensure_search_attributes(&app.temporal)
            .await
            .unwrap()
            .is_empty()
    );

    // The first click starts its workflow with those attributes: a link, not a 502.
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let (status, link) = app.click_reconnect(&s.token, &s.account.to_string()).await;
    assert_eq!(status, 200, "{link}");
    assert!(
        link["url"].as_str().is_some_and(|u| !u.is_empty()),
        "{link}"
    );
}
