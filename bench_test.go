package main

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var vm = regexp.MustCompile(`(?m)^(VmRSS|VmHWM):\s+(\d+) kB$`)

// procMiB reads the resident set (VmRSS) and its peak (VmHWM) of a process.
func procMiB(b *testing.B, pid int) (rss, peak float64) {
	b.Helper()
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range vm.FindAllStringSubmatch(string(s), -1) {
		kb, _ := strconv.Atoi(m[2])
		if m[1] == "VmRSS" {
			rss = float64(kb) / 1024
		} else {
			peak = float64(kb) / 1024
		}
	}
	return rss, peak
}

// procCPU is the CPU time (user and system) process pid has used.
func procCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The fields after the command's name, which may hold spaces:
	// utime and stime are the 14th and 15th of the line.
	f := strings.Fields(string(s[bytes.LastIndexByte(s, ')')+1:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// BenchmarkResidentMemory10000 runs the exporter binary watching 10,000
// operations of the simulated tenant and reports its resident set after a
// cold and a warm scrape. Target: at most 64 MiB.
func BenchmarkResidentMemory10000(b *testing.B) {
	const n = 10000
	tn, cfg := scaleTenant(b, n, 0)
	var rss, peak float64
	for i := 0; i < b.N; i++ {
		// BENCH_EXPORTER_ENV passes one more variable to the exporter, e.g.
		// GOMEMLIMIT=48MiB, to measure the effect of a GC setting.
		x := start(b, []string{"SSL_CERT_FILE=" + tn.CAFile, os.Getenv("BENCH_EXPORTER_ENV")}, "--config.file="+cfg)
		for _, phase := range []string{"cold", "warm"} {
			code, body := x.get(b, "/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "120")
			if code != 200 || strings.Count(body, "\nmsgraph_lro_up{") != n || strings.Contains(body, "} 0\nmsgraph_lro_up") {
				b.Fatalf("%s scrape: %d, %d operations", phase, code, strings.Count(body, "\nmsgraph_lro_up{"))
			}
		}
		rss, peak = procMiB(b, x.cmd.Process.Pid)
	}
	b.ReportMetric(rss, "rss_MiB")
	b.ReportMetric(peak, "peak_rss_MiB")
}
