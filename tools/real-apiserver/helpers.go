package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// runFreePorts prints N distinct free ports; all listeners stay open until every port is chosen.
func runFreePorts(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("want N")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		listeners = append(listeners, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}

func adminClient(certDir string) (*http.Client, error) {
	caPEM, err := os.ReadFile(filepath.Join(certDir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(filepath.Join(certDir, "admin.crt"), filepath.Join(certDir, "admin.key"))
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}, nil
}

// runWaitReady polls URL/readyz with the admin certificate until it answers 200 "ok".
func runWaitReady(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("want URL CERT_DIR TIMEOUT")
	}
	timeout, err := time.ParseDuration(args[2])
	if err != nil {
		return err
	}
	client, err := adminClient(args[1])
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	last := "no answer yet"
	for time.Now().Before(deadline) {
		resp, err := client.Get(args[0] + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("%s/readyz not ok within %s; last answer: %s", args[0], timeout, last)
}

// runKubeconfig writes an admin kubeconfig with the certificates inlined, via a rename so a
// reader never sees half a file.
func runKubeconfig(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("want URL CERT_DIR OUT")
	}
	server, certDir, out := args[0], args[1], args[2]
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(certDir, name))
		return base64.StdEncoding.EncodeToString(b), err
	}
	ca, err := read("ca.crt")
	if err != nil {
		return err
	}
	crt, err := read("admin.crt")
	if err != nil {
		return err
	}
	key, err := read("admin.key")
	if err != nil {
		return err
	}
	text := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: mithril-real
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: mithril-admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: mithril-real
  context:
    cluster: mithril-real
    user: mithril-admin
current-context: mithril-real
`, server, ca, crt, key)
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
