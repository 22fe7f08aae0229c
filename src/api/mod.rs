//! The four kinds of `dialtone.io/v1alpha1` and their shared types. Types only: no I/O, no logic
//! beyond small accessors.

pub mod alarm_policy;
pub mod common;
pub mod conditions;
pub mod contact_center_region;
pub mod failover_plan;
pub mod maintenance_window;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use alarm_policy::{AlarmPolicy, AlarmPolicySpec, AlarmPolicyStatus};
pub use contact_center_region::{
    ContactCenterRegion, ContactCenterRegionSpec, ContactCenterRegionStatus,
};
pub use failover_plan::{FailoverPlan, FailoverPlanSpec, FailoverPlanStatus};
pub use maintenance_window::{MaintenanceWindow, MaintenanceWindowSpec};

/// The API group of every dialtone kind.
pub const GROUP: &str = "dialtone.io";
/// The API version of every dialtone kind.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` as manifests spell it.
pub const API_VERSION: &str = "dialtone.io/v1alpha1";

/// The four CRDs, in the order `dialtone crds` prints them.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        AlarmPolicy::crd(),
        ContactCenterRegion::crd(),
        FailoverPlan::crd(),
        MaintenanceWindow::crd(),
    ]
}

/// Any dialtone object, as read from a manifest or the API server.
#[derive(Clone, Debug)]
pub enum Object {
    AlarmPolicy(AlarmPolicy),
    ContactCenterRegion(ContactCenterRegion),
    FailoverPlan(FailoverPlan),
    MaintenanceWindow(MaintenanceWindow),
}

impl Object {
    /// `Kind namespace/name`, for messages.
    pub fn key(&self) -> String {
        let (kind, meta) = match self {
            Object::AlarmPolicy(o) => ("AlarmPolicy", &o.metadata),
            Object::ContactCenterRegion(o) => ("ContactCenterRegion", &o.metadata),
            Object::FailoverPlan(o) => ("FailoverPlan", &o.metadata),
            Object::MaintenanceWindow(o) => ("MaintenanceWindow", &o.metadata),
        };
        object_key(
            kind,
            meta.namespace.as_deref().unwrap_or("default"),
            meta.name.as_deref().unwrap_or(""),
        )
    }
}

/// The value of the annotation `key` on an object, if it is set.
pub fn annotation<'a>(
    metadata: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<&'a str> {
    metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// `Kind namespace/name`.
pub fn object_key(kind: &str, namespace: &str, name: &str) -> String {
    format!("{kind} {namespace}/{name}")
}
