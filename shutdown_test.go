package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// wait waits up to d for the process to exit and returns its exit code,
// or fails the test.
func (p *exporter) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return exitCode(p.err)
	case <-time.After(d):
		t.Fatalf("the exporter did not exit within %v:\n%s", d, p.stderr.String())
		return -1
	}
}

// scrapeResult is one scrape's outcome.
type scrapeResult struct {
	code int
	body string
	err  error
	took time.Duration
}

// scrape GETs /metrics with Prometheus' timeout header, in the background.
func scrape(url string, timeout string) <-chan scrapeResult {
	ch := make(chan scrapeResult, 1)
	go func() {
		start := time.Now()
		req, _ := http.NewRequest(http.MethodGet, url+"/metrics", nil)
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", timeout)
		resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
		if err != nil {
			ch <- scrapeResult{err: err, took: time.Since(start)}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		ch <- scrapeResult{code: resp.StatusCode, body: string(b), err: err, took: time.Since(start)}
	}()
	return ch
}

// complete reports whether an exposition is whole: it ends with a newline
// and its last line is a sample or comment, not cut short.
func complete(body string) bool {
	if !strings.HasSuffix(body, "\n") {
		return false
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		n++
	}
	return n > 0 && sc.Err() == nil
}

// On SIGTERM the exporter stops taking connections, lets the scrapes in
// flight finish (with what Graph answered by then, or up 0 at their
// deadline), and exits with code 0 once they have their answer: Prometheus
// gets a whole exposition, never a connection closed under it.
func TestGracefulShutdownOnSIGTERM(t *testing.T) {
	t.Parallel() // a process of its own that mostly waits
	for _, tc := range []struct {
		name          string
		latency       time.Duration // Graph's answer time
		timeout       string        // the scrape's X-Prometheus-Scrape-Timeout-Seconds
		up            string        // msgraph_lro_up the scrape must show
		minTook, most time.Duration // when the scrape must answer
	}{
		// Graph answers within the scrape's deadline: the scrape finishes
		// with the answer.
		{"finishes", 1500 * time.Millisecond, "10", "1", 1400 * time.Millisecond, 5 * time.Second},
		// Graph is slower than the scrape's deadline (2.5s): the scrape is
		// cut off by its own deadline and answers up 0.
		{"cancelled at its deadline", 20 * time.Second, "3", "0", 2 * time.Second, 6 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := graphtest.NewTenant(t)
			ref := graph.OperationRef{Scope: graph.ScopeIndustryData, ID: "d194fa3e-18c9-47a1-0fb1-08dad8e7a876"}
			tn.SetOperation(ref.URLPath(), map[string]any{"id": ref.ID, "status": "running", "createdDateTime": "2022-12-14T05:54:35.400029Z"})
			dir := t.TempDir()
			secret := writeFile(t, dir, "secret", tn.ClientSecret, 0o600)
			cfg := writeFile(t, dir, "msgraph_lro.yml", tenantConfig(tn, secret, "  - {tenant: contoso, scope: industryData, id: "+ref.ID+"}\n"), 0o600)
			p := start(t, []string{"SSL_CERT_FILE=" + tn.CAFile}, "--config.file="+cfg)

			tn.SetLatency(tc.latency)
			begun := time.Now()
			res := scrape(p.url, tc.timeout)
			for tn.Requests() == 0 { // the scrape's Graph request is in flight
				if time.Since(begun) > 10*time.Second {
					t.Fatal("the scrape never reached Graph")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			signalled := time.Now()

			// No new connection is taken once shutdown has begun.
			time.Sleep(300 * time.Millisecond)
			if resp, err := http.Get(p.url + "/-/healthy"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					t.Errorf("a new connection after SIGTERM was served")
				}
			}

			var r scrapeResult
			select {
			case r = <-res:
			case <-time.After(30 * time.Second):
				t.Fatal("the scrape in flight never answered")
			}
			code := p.wait(t, 10*time.Second)
			exited := time.Now()
			switch {
			case r.err != nil:
				t.Errorf("the scrape in flight failed after %v: %v (exit code %d after %v):\n%s",
					r.took, r.err, code, exited.Sub(signalled), p.stderr.String())
			case r.code != 200 || !complete(r.body):
				t.Errorf("the scrape in flight: %d, complete %v:\n%s", r.code, complete(r.body), r.body)
			case !strings.Contains(r.body, fmt.Sprintf("msgraph_lro_up{name=\"\",operation_id=%q,scope=\"industryData\",tenant=\"contoso\"} %s\n", ref.ID, tc.up)):
				t.Errorf("the scrape in flight shows no up %s:\n%s", tc.up, pick(r.body, "msgraph_lro_up"))
			case r.took < tc.minTook || r.took > tc.most:
				t.Errorf("the scrape in flight took %v, want %v to %v", r.took, tc.minTook, tc.most)
			}
			if code != 0 {
				t.Errorf("exit code %d, want 0:\n%s", code, p.stderr.String())
			}
			if d := exited.Sub(begun); d > r.took+3*time.Second {
				t.Errorf("exited %v after the scrape began, %v after it answered: shutdown lingers", d, d-r.took)
			}
			if !strings.Contains(p.stderr.String(), `msg="shutting down" signal=terminated`) {
				t.Errorf("the log does not say it is shutting down:\n%s", p.stderr.String())
			}
		})
	}
}

// With nothing in flight, SIGTERM (and SIGINT) end the exporter at once,
// with exit code 0.
func TestShutdownIdle(t *testing.T) {
	tn := graphtest.NewTenant(t)
	dir := t.TempDir()
	secret := writeFile(t, dir, "secret", tn.ClientSecret, 0o600)
	cfg := writeFile(t, dir, "msgraph_lro.yml", tenantConfig(tn, secret, "  - {tenant: contoso, scope: industryData, id: x}\n"), 0o600)
	var wg sync.WaitGroup
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		p := start(t, []string{"SSL_CERT_FILE=" + tn.CAFile}, "--config.file="+cfg)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := http.Get(p.url + "/-/healthy"); err != nil {
				t.Errorf("%v: /-/healthy: %v", sig, err)
			} else {
				resp.Body.Close()
			}
			begun := time.Now()
			_ = p.cmd.Process.Signal(sig)
			select {
			case <-p.done:
				if c := exitCode(p.err); c != 0 {
					t.Errorf("%v: exit code %d, want 0", sig, c)
				}
				if d := time.Since(begun); d > 2*time.Second {
					t.Errorf("%v: took %v to exit", sig, d)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("%v: did not exit", sig)
			}
		}()
	}
	wg.Wait()
}
