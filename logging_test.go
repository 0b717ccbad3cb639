package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log/level"
)

// logfmtHead is how every logfmt line starts: level, ts, caller, msg.
var logfmtHead = regexp.MustCompile(`^level=(debug|info|warn|error) ts=(\S+) caller=(\w+\.go:\d+) msg=`)

// checkLine says what is wrong with one log line of the given format,
// or "" if it has the project's keys and no other time key.
func checkLine(format, line string) string {
	var ts, caller string
	if format == "json" {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return "not JSON: " + err.Error()
		}
		for _, k := range []string{"level", "ts", "caller", "msg"} {
			if _, ok := m[k]; !ok {
				return "no " + k
			}
		}
		if _, ok := m["time"]; ok {
			return "a time key beside ts"
		}
		ts, _ = m["ts"].(string)
		caller, _ = m["caller"].(string)
		if !regexp.MustCompile(`^\w+\.go:\d+$`).MatchString(caller) {
			return "caller " + caller
		}
	} else {
		m := logfmtHead.FindStringSubmatch(line)
		if m == nil {
			return "does not start level=… ts=… caller=file.go:N msg="
		}
		if strings.Contains(line, " time=") {
			return "a time key beside ts"
		}
		ts = m[2]
	}
	if t, err := time.Parse(time.RFC3339Nano, ts); err != nil || t.Location() != time.UTC {
		return "ts " + ts + " is not RFC 3339 in UTC"
	}
	return ""
}

// Both loggers newLoggers makes, go-kit's and the slog one
// exporter-toolkit writes with, give lines with the same keys in the
// same order, in both formats, and drop what is below the level.
func TestLoggersShareOneFormat(t *testing.T) {
	for _, format := range []string{"logfmt", "json"} {
		t.Run(format, func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "log"))
			if err != nil {
				t.Fatal(err)
			}
			logger, slogger := newLoggers(f, "info", format)
			first := here() + 1 // the line of the first Log
			level.Info(logger).Log("msg", "from go-kit", "n", 1)
			slogger.Info("from slog", "address", "127.0.0.1:1", "http2", false)
			slogger.With("component", "web").WithGroup("tls").Warn("grouped", "version", "1.3")
			slogger.Debug("below the level")
			level.Debug(logger).Log("msg", "below the level too")
			f.Close()
			b, _ := os.ReadFile(f.Name())
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) != 3 {
				t.Fatalf("%d lines, want 3:\n%s", len(lines), b)
			}
			for _, l := range lines {
				if why := checkLine(format, l); why != "" {
					t.Errorf("%s: %s", l, why)
				}
			}
			// What follows the timestamp and caller, exactly.
			var want []string
			if format == "json" {
				want = []string{
					fmt.Sprintf(`"caller":"logging_test.go:%d","level":"info","msg":"from go-kit","n":1`, first),
					fmt.Sprintf(`"address":"127.0.0.1:1","caller":"logging_test.go:%d","http2":false,"level":"info","msg":"from slog"`, first+1),
					fmt.Sprintf(`"caller":"logging_test.go:%d","component":"web","level":"warn","msg":"grouped","tls.version":"1.3"`, first+2),
				}
			} else {
				want = []string{
					fmt.Sprintf(`caller=logging_test.go:%d msg="from go-kit" n=1`, first),
					fmt.Sprintf(`caller=logging_test.go:%d msg="from slog" address=127.0.0.1:1 http2=false`, first+1),
					fmt.Sprintf(`caller=logging_test.go:%d msg=grouped component=web tls.version=1.3`, first+2),
				}
			}
			tsRE := regexp.MustCompile(`"ts":"[^"]+",?|level=\w+ ts=\S+ `)
			for i, l := range lines {
				got := tsRE.ReplaceAllString(l, "")
				got = strings.TrimSuffix(strings.TrimPrefix(got, "{"), "}")
				got = strings.TrimSuffix(got, ",")
				if got != want[i] {
					t.Errorf("line %d: %s\nwant %s", i+1, got, want[i])
				}
			}
		})
	}
}

// here is the line it is called on.
func here() int {
	_, _, line, _ := runtime.Caller(1)
	return line
}

// The running exporter: every line it writes, exporter-toolkit's
// "Listening on" among them, has the same keys.
func TestEveryLogLineOneFormat(t *testing.T) {
	for _, format := range []string{"logfmt", "json"} {
		t.Run(format, func(t *testing.T) {
			x := start(t, nil, "--demo", "--log.format="+format, "--log.level=debug")
			x.get(t, "/metrics")
			toolkit := 0
			sc := bufio.NewScanner(strings.NewReader(x.stderr.String()))
			for sc.Scan() {
				if why := checkLine(format, sc.Text()); why != "" {
					t.Errorf("%s: %s", sc.Text(), why)
				}
				if strings.Contains(sc.Text(), "tls_config.go") {
					toolkit++
				}
			}
			if toolkit < 2 {
				t.Errorf("%d lines from exporter-toolkit, want its Listening on and TLS is disabled:\n%s", toolkit, x.stderr.String())
			}
		})
	}
}
