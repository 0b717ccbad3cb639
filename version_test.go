package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/common/version"
)

// setVersion sets prometheus/common/version's variables for one test.
func setVersion(t *testing.T, v, rev, date string) {
	t.Helper()
	old := [3]string{version.Version, version.Revision, version.BuildDate}
	version.Version, version.Revision, version.BuildDate = v, rev, date
	t.Cleanup(func() { version.Version, version.Revision, version.BuildDate = old[0], old[1], old[2] })
}

func TestFillVersion(t *testing.T) {
	file := strings.TrimSpace(versionFile)
	vcs := []debug.BuildSetting{{Key: "vcs.revision", Value: "ae11e79f179628e5a43f4bd5260a8667b2e066ee"}, {Key: "vcs.time", Value: "2026-12-01T19:32:00Z"}}
	for _, c := range []struct {
		name                  string
		ldVersion, ldRevision string
		bi                    *debug.BuildInfo
		ok                    bool
		version, rev, date    string // rev "": left to version, which says "unknown" or what it read itself
	}{
		{name: "go install of a tag", bi: &debug.BuildInfo{Main: debug.Module{Version: "v0.2.0"}}, ok: true,
			version: "0.2.0", rev: ""},
		{name: "go install of an untagged commit", bi: &debug.BuildInfo{Main: debug.Module{Version: "v0.1.1-0.20261201193200-ae11e79f1796"}}, ok: true,
			version: file, rev: "ae11e79f1796", date: "20261201-19:32:00"},
		{name: "go build in a clone", bi: &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261201193200-ae11e79f1796"}, Settings: vcs}, ok: true,
			version: file, rev: "ae11e79f179628e5a43f4bd5260a8667b2e066ee", date: "20261201-19:32:00"},
		{name: "go build in a modified clone", bi: &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261201193200-ae11e79f1796+dirty"},
			Settings: append([]debug.BuildSetting{{Key: "vcs.modified", Value: "true"}}, vcs...)}, ok: true,
			version: file, rev: "ae11e79f179628e5a43f4bd5260a8667b2e066ee-modified", date: "20261201-19:32:00"},
		{name: "go build without VCS", bi: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, ok: true,
			version: file, rev: ""},
		{name: "no build information", version: file, rev: ""},
		{name: "ldflags win", ldVersion: "9.9.9", ldRevision: "0123abc", bi: &debug.BuildInfo{Main: debug.Module{Version: "v0.2.0"}, Settings: vcs}, ok: true,
			version: "9.9.9", rev: "0123abc", date: "20261201-19:32:00"},
	} {
		t.Run(c.name, func(t *testing.T) {
			setVersion(t, c.ldVersion, c.ldRevision, "")
			fillVersion(c.bi, c.ok)
			want := c.rev
			if want == "" {
				if version.Revision != "" {
					t.Errorf("Revision = %q, want it left to version", version.Revision)
				}
				want = version.GetRevision()
			}
			if version.Version != c.version || version.GetRevision() != want || version.BuildDate != c.date {
				t.Errorf("version %q, revision %q, date %q; want %q, %q, %q", version.Version, version.GetRevision(), version.BuildDate, c.version, want, c.date)
			}
		})
	}
}

// vcsRevision is the revision Go recorded in a binary ("" for none), and
// whether the tree was modified.
func vcsRevision(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	rev := regexp.MustCompile(`(?m)^\s+build\s+vcs\.revision=(\S+)$`).FindSubmatch(out)
	if rev == nil {
		return ""
	}
	if regexp.MustCompile(`(?m)^\s+build\s+vcs\.modified=true$`).Match(out) {
		return string(rev[1]) + "-modified"
	}
	return string(rev[1])
}

// TestVersionOfPlainGoBuild: a go build with no -ldflags reports VERSION
// and the commit Go recorded, in --version and in the build_info metric.
func TestVersionOfPlainGoBuild(t *testing.T) {
	bin := binary(t) // go build -o …, nothing else
	want := strings.TrimSpace(versionFile)
	rev := vcsRevision(t, bin)
	if rev == "" {
		// GOFLAGS=-buildvcs=false, a git worktree Go cannot read, or no
		// git: nothing to report, and --version says so.
		t.Logf("go build recorded no VCS revision here; expecting revision unknown")
		rev = "unknown"
	}
	if head, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil && rev != "unknown" && !strings.HasPrefix(rev, strings.TrimSpace(string(head))) {
		t.Errorf("the binary records revision %s, git HEAD is %s", rev, head)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	if first := strings.SplitN(string(out), "\n", 2)[0]; first != "msgraph_lro_exporter, version "+want+" (branch: , revision: "+rev+")" {
		t.Errorf("--version first line %q; want version %s and revision %s", first, want, rev)
	}

	x := start(t, nil, "--demo")
	_, body := x.get(t, "/metrics")
	line := regexp.MustCompile(`(?m)^msgraph_lro_exporter_build_info\{.*\} 1$`).FindString(body)
	for _, l := range []string{`version="` + want + `"`, `revision="` + rev + `"`} {
		if !strings.Contains(line, l) {
			t.Errorf("build_info %q lacks %s", line, l)
		}
	}
	_, page := x.get(t, "/")
	if !strings.Contains(page, "version="+want) || !strings.Contains(page, "revision="+rev) {
		t.Errorf("the landing page does not show version %s and revision %s", want, rev)
	}
}

func TestVersionFileIsARelease(t *testing.T) {
	b, err := os.ReadFile("VERSION")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?\n?$`).Match(b) {
		t.Errorf("VERSION %q is not MAJOR.MINOR.PATCH on one line", b)
	}
}

// TestVersionCarriesTheCommit: where Go stamps the build with the VCS
// state (a git checkout; -buildvcs=true overrides a GOFLAGS that turns it
// off, as this project's machines have), --version names the commit of
// HEAD, so the plain-build test above cannot pass with "unknown" alone.
func TestVersionCarriesTheCommit(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	// Go stamps the VCS state only where .git is a directory: not in a
	// linked worktree (git worktree add), whose .git is a file.
	if fi, err := os.Stat(".git"); err == nil && !fi.IsDir() {
		t.Skip(".git is a file (a linked git worktree): go build stamps no VCS state here")
	}
	bin := filepath.Join(t.TempDir(), "msgraph_lro_exporter")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -buildvcs=true: %v\n%s", err, out)
	}
	want := strings.TrimSpace(string(head))
	if rev := vcsRevision(t, bin); !strings.HasPrefix(rev, want) {
		t.Fatalf("go build -buildvcs=true recorded revision %q, HEAD is %s", rev, want)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	if first := strings.SplitN(string(out), "\n", 2)[0]; !strings.Contains(first, "version "+strings.TrimSpace(versionFile)+" ") || !strings.Contains(first, "revision: "+want) {
		t.Errorf("--version first line %q; want version %s and revision %s", first, strings.TrimSpace(versionFile), want)
	}
}
