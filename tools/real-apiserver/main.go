// Command mithril-real-apiserver bundles what a local, real Kubernetes API server needs for the
// operator's tests: kube-apiserver itself, an embedded etcd, and small helpers (certificates, free
// ports, readiness wait, kubeconfig). start.sh drives the subcommands; nothing here is used by the
// Rust code.
package main

import (
	"fmt"
	"os"
)

const usage = `usage: mithril-real-apiserver SUBCOMMAND [args]

  kube-apiserver [flags]                      run kube-apiserver (the upstream command and flags)
  etcd DATA_DIR CLIENT_PORT PEER_PORT         run a single-member etcd on 127.0.0.1 until SIGINT/SIGTERM
  certs DIR                                   write CAs, serving and admin client certificates, SA key
  free-ports N                                print N free TCP ports on 127.0.0.1, one a line
  wait-ready URL CERT_DIR TIMEOUT             poll URL/readyz as the admin until ok (TIMEOUT like 120s)
  kubeconfig URL CERT_DIR OUT                 write an admin kubeconfig to OUT (atomically)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	sub, args := os.Args[1], os.Args[2:]
	var err error
	switch sub {
	case "kube-apiserver":
		os.Exit(runKubeAPIServer(args))
	case "etcd":
		err = runEtcd(args)
	case "certs":
		err = runCerts(args)
	case "free-ports":
		err = runFreePorts(args)
	case "wait-ready":
		err = runWaitReady(args)
	case "kubeconfig":
		err = runKubeconfig(args)
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mithril-real-apiserver %s: %v\n", sub, err)
		os.Exit(1)
	}
}
