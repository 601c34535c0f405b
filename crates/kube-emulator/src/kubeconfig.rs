//! A kubeconfig for an emulator socket. Plain HTTP on loopback and no credentials: the emulator
//! has no authentication or authorization (see the module documentation).

use std::net::SocketAddr;

/// The kubeconfig YAML: one cluster, one context (`kube-emulator`, namespace `default`), no user credentials.
pub fn kubeconfig_yaml(addr: SocketAddr) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: kube-emulator
  cluster:
    server: http://{addr}
contexts:
- name: kube-emulator
  context:
    cluster: kube-emulator
    user: kube-emulator
    namespace: default
current-context: kube-emulator
preferences: {{}}
users:
- name: kube-emulator
  user: {{}}
"
    )
}
