package main

import (
	"os"
	_ "time/tzdata" // CronJob time zones, as upstream's main imports it

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format, as upstream
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as upstream
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

// runKubeAPIServer runs the upstream kube-apiserver command with args as its flags.
func runKubeAPIServer(args []string) int {
	os.Args = append([]string{"kube-apiserver"}, args...)
	command := app.NewAPIServerCommand()
	return cli.Run(command)
}
