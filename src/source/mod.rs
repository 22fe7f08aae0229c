//! Where desired state comes from: a directory of manifests (here) or the Kubernetes API.

pub mod manifests;
