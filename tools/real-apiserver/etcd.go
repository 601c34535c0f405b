package main

import (
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// runEtcd runs a single-member etcd on loopback in this process until SIGINT or SIGTERM.
func runEtcd(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("want DATA_DIR CLIENT_PORT PEER_PORT")
	}
	client, err := url.Parse("http://127.0.0.1:" + args[1])
	if err != nil {
		return err
	}
	peer, err := url.Parse("http://127.0.0.1:" + args[2])
	if err != nil {
		return err
	}
	cfg := embed.NewConfig()
	cfg.Name = "mithril-test"
	cfg.Dir = args[0]
	cfg.ListenClientUrls = []url.URL{*client}
	cfg.AdvertiseClientUrls = []url.URL{*client}
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "warn"
	// Throwaway test data: skipping fsync keeps a 2-core CI machine's disk out of the way.
	cfg.UnsafeNoFsync = true

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
		fmt.Fprintf(os.Stderr, "etcd ready on %s\n", client)
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		return fmt.Errorf("etcd not ready within 60s")
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		fmt.Fprintf(os.Stderr, "etcd stopping on %v\n", s)
		return nil
	case err := <-e.Err():
		return err
	}
}
