package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// A client_secret_file that is a named pipe nobody writes is refused at
// once, at a reload as at --config.check, and SIGTERM right after a
// storm of SIGHUPs (reloads of that config among them) ends the exporter
// within 5 s.
func TestFIFOSecretRefusedAndSIGTERMDuringReloads(t *testing.T) {
	tn := graphtest.NewTenant(t)
	dir := t.TempDir()
	secret := writeFile(t, dir, "secret", tn.ClientSecret, 0o600)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ops := "  - {tenant: contoso, scope: industryData, id: x}\n"
	cfg := writeFile(t, dir, "msgraph_lro.yml", tenantConfig(tn, secret, ops), 0o600)
	bad := writeFile(t, dir, "bad.yml", tenantConfig(tn, fifo, ops), 0o600)

	begun := time.Now()
	out, err := exec.Command(binary(t), "--config.check", "--config.file="+bad).CombinedOutput()
	if d := time.Since(begun); d > 5*time.Second || exitCode(err) != 1 || !strings.Contains(string(out), fifo+" is not a regular file (a named pipe)") {
		t.Errorf("--config.check of a FIFO secret: exit %d after %v:\n%s", exitCode(err), d, out)
	}

	x := start(t, []string{"SSL_CERT_FILE=" + tn.CAFile}, "--config.file="+cfg)
	writeFile(t, dir, "msgraph_lro.yml", tenantConfig(tn, fifo, ops), 0o600)
	_ = x.cmd.Process.Signal(syscall.SIGHUP)
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(x.stderr.String(), "is not a regular file (a named pipe)"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the reload did not refuse the FIFO:\n%s", x.stderr.String())
		}
	}
	// A burst of SIGHUPs, the SIGTERM right behind it: the signal package
	// drops what a full channel cannot take, so SIGTERM must have its own.
	for range 200 {
		_ = x.cmd.Process.Signal(syscall.SIGHUP)
	}
	begun = time.Now()
	_ = x.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-x.done:
		if d := time.Since(begun); d > 5*time.Second || exitCode(x.err) != 0 {
			t.Errorf("SIGTERM during reloads: exit %d after %v", exitCode(x.err), d)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("SIGTERM during reloads: no exit in 10 s:\n%s", x.stderr.String())
	}
}

// 100 idle keep-alive connections are closed by the exporter after
// --web.idle-timeout, and their goroutines go with them.
func TestIdleConnectionsClosed(t *testing.T) {
	t.Parallel() // a process of its own that mostly waits
	x := start(t, nil, "--demo", "--web.idle-timeout=1s")
	host := strings.TrimPrefix(x.url, "http://")
	goroutines := func() float64 {
		_, body := x.get(t, "/metrics")
		for _, l := range strings.Split(body, "\n") {
			var v float64
			if _, err := fmt.Sscanf(l, "go_goroutines %g", &v); err == nil {
				return v
			}
		}
		t.Fatal("no go_goroutines")
		return 0
	}
	before := goroutines()
	var conns []net.Conn
	for range 100 {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /-/healthy HTTP/1.1\r\nHost: %s\r\n\r\n", host)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		conns = append(conns, c)
	}
	if during := goroutines(); during < before+90 {
		t.Errorf("goroutines %v with 100 idle connections, %v before: are they kept open?", during, before)
	}
	closed := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
			closed++
		}
	}
	if closed != 100 {
		t.Errorf("%d of 100 idle connections closed by the exporter within 5 s of a 1 s idle timeout", closed)
	}
	if after := goroutines(); after > before+5 {
		t.Errorf("goroutines %v after the idle connections were closed, %v before", after, before)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// 20 reloads of a configuration whose tenant did not change cost no new
// token (the tenant keeps its client and MSAL's cache) and no goroutine;
// reloads that change the tenant's client settings build a new client,
// one token each, and close the old one's idle connections, so goroutines
// stay where they were.
func TestReloadsKeepUnchangedClients(t *testing.T) {
	tn := graphtest.NewTenant(t)
	tn.SetOperation(graph.OperationRef{Scope: graph.ScopeIndustryData, ID: "x"}.URLPath(), map[string]any{"id": "x", "status": "running"})
	dir := t.TempDir()
	secret := writeFile(t, dir, "secret", tn.ClientSecret, 0o600)
	ops := "  - {tenant: contoso, scope: industryData, id: x}\n"
	cfg := writeFile(t, dir, "msgraph_lro.yml", "global: {cache_ttl: 1ms}\n"+tenantConfig(tn, secret, ops), 0o600)
	x := start(t, []string{"SSL_CERT_FILE=" + tn.CAFile}, "--config.file="+cfg, "--web.enable-lifecycle")
	up := func() {
		t.Helper()
		if v, _ := sample(x.scrape(t), "msgraph_lro_up", "operation_id", "x"); v != "1" {
			t.Fatalf("msgraph_lro_up %q, want 1:\n%s", v, x.stderr.String())
		}
	}
	goroutines := func() float64 {
		t.Helper()
		v, _ := sample(x.scrape(t), "go_goroutines")
		var f float64
		fmt.Sscan(v, &f)
		return f
	}
	up()
	before := goroutines()
	for range 20 {
		writeFile(t, dir, "secret", tn.ClientSecret+"\n", 0o600) // rewritten, the same secret
		if code, body := x.post(t, "/-/reload"); code != http.StatusOK {
			t.Fatalf("reload: %d %s", code, body)
		}
		up()
	}
	if got := tn.TokenRequests(); got != 1 {
		t.Errorf("20 reloads of an unchanged tenant: %d token requests in all, want 1", got)
	}
	if after := goroutines(); after > before+2 {
		t.Errorf("goroutines %v after 20 reloads, %v before", after, before)
	}
	for i := range 10 {
		writeFile(t, dir, "msgraph_lro.yml", fmt.Sprintf("global: {cache_ttl: 1ms, request_timeout: %ds}\n", 5+i)+tenantConfig(tn, secret, ops), 0o600)
		if code, body := x.post(t, "/-/reload"); code != http.StatusOK {
			t.Fatalf("reload: %d %s", code, body)
		}
		up()
	}
	if got := tn.TokenRequests(); got != 11 {
		t.Errorf("10 reloads that change the tenant's client: %d token requests in all, want 11", got)
	}
	if after := goroutines(); after > before+4 {
		t.Errorf("goroutines %v after 10 reloads with new clients, %v before: the old clients' connections linger", after, before)
	}
}
