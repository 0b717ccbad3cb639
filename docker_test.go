package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// There is no Docker engine in CI: these tests read the Dockerfile and
// .dockerignore as docker build would, and run --demo the way a read-only
// container would.

// dockerignore is .dockerignore as docker build applies it: each pattern
// matches a path relative to the context, or a directory above it
// (".git" keeps out .git/config); `*` stays within a path segment, `**`
// spans any number of them; the last pattern that matches decides, and a
// "!" pattern lets a path back in.
type dockerignore []struct {
	re     *regexp.Regexp
	negate bool
}

func readDockerignore(t *testing.T) dockerignore {
	t.Helper()
	b, err := os.ReadFile(".dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var d dockerignore
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		neg := strings.HasPrefix(l, "!")
		l = filepath.Clean(strings.TrimPrefix(l, "!"))
		var re strings.Builder
		for i := 0; i < len(l); i++ {
			switch {
			case strings.HasPrefix(l[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(l[i:], "**"):
				re.WriteString(".*")
				i++
			case l[i] == '*':
				re.WriteString("[^/]*")
			case l[i] == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(l[i : i+1]))
			}
		}
		d = append(d, struct {
			re     *regexp.Regexp
			negate bool
		}{regexp.MustCompile("^" + re.String() + "(/.*)?$"), neg})
	}
	return d
}

func (d dockerignore) excludes(path string) bool {
	out := false
	for _, p := range d {
		if p.re.MatchString(path) {
			out = !p.negate
		}
	}
	return out
}

func TestDockerignore(t *testing.T) {
	d := readDockerignore(t)
	// What the build needs: every Go source that is not a test, go.mod,
	// go.sum, VERSION (embedded) and LICENSE (copied into the image).
	out, err := exec.Command("go", "list", "-f", `{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}`, "./...").Output()
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	need := []string{"go.mod", "go.sum", "VERSION", "LICENSE"}
	for _, f := range strings.Fields(string(out)) {
		rel, _ := filepath.Rel(wd, f)
		need = append(need, rel)
	}
	if len(need) < 20 {
		t.Fatalf("go list found only %v", need)
	}
	for _, f := range need {
		if d.excludes(f) {
			t.Errorf(".dockerignore keeps out %s, which the build needs", f)
		}
	}
	for _, f := range []string{
		".git/config", ".git/objects/ab/cdef", "msgraph_lro_exporter", "collector/collector.test", "cover.out",
		"msgraph_lro.yml", "prod.yml", "deploy/msgraph_lro.yml", "deploy/msgraph_lro-prod.yml",
		"client.pem", "certs/app.pem", "server.key", "web/server.crt", "app.pfx",
		"secret", "client-secret.txt", "run/secrets/msgraph", ".env", "deploy/.env", ".build/linux-amd64/msgraph_lro_exporter",
	} {
		if !d.excludes(f) {
			t.Errorf(".dockerignore lets %s into the build context", f)
		}
	}
}

// The Dockerfile takes the number from VERSION (no copy of its own), and
// puts the version, revision and build date in the binary and the OCI
// labels; make docker passes them.
func TestDockerfileVersion(t *testing.T) {
	df, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	v := strings.TrimSpace(versionFile)
	if strings.Contains(string(df), v) {
		t.Errorf("the Dockerfile holds the version number %s itself", v)
	}
	for _, s := range []string{
		`v="${VERSION:-$(cat VERSION)}"`,
		"-X github.com/prometheus/common/version.Version=$v",
		"-X github.com/prometheus/common/version.Revision=${REVISION}",
		"-X github.com/prometheus/common/version.BuildDate=$d",
		`org.opencontainers.image.version="${VERSION}"`,
		`org.opencontainers.image.revision="${REVISION}"`,
		`org.opencontainers.image.created="${BUILD_DATE}"`,
		`org.opencontainers.image.licenses="Apache-2.0"`,
		`org.opencontainers.image.source=`,
		"USER nonroot:nonroot",
	} {
		if !strings.Contains(string(df), s) {
			t.Errorf("the Dockerfile lacks %s", s)
		}
	}
	for _, s := range []string{"--build-arg VERSION=$(VERSION)", "--build-arg REVISION=$(REVISION)", "--build-arg BUILD_DATE="} {
		if !strings.Contains(string(mk), s) {
			t.Errorf("make docker does not pass %s", s)
		}
	}
}

// --demo writes no file, so it runs on a read-only root file system
// (readOnlyRootFilesystem, docker run --read-only): here TMPDIR names a
// directory that cannot exist, under a regular file, which no user, root
// included, can create anything in.
func TestDemoWritesNoFile(t *testing.T) {
	t.Parallel() // a process of its own that mostly waits
	file := writeFile(t, t.TempDir(), "a-file", "", 0o644)
	x := start(t, []string{"TMPDIR=" + filepath.Join(file, "tmp")}, "--demo")
	body := x.scrape(t)
	up := regexp.MustCompile(`(?m)^msgraph_lro_up\{.*\} 1$`).FindAllString(body, -1)
	if len(up) != 17 {
		t.Errorf("%d operations read, want the demo's 17:\n%s", len(up), pick(body, "msgraph_lro_up"))
	}
	if code, _ := x.get(t, "/"); code != 200 {
		t.Errorf("landing page: %d", code)
	}
	if s := x.stderr.String(); strings.Contains(s, "warning=") || strings.Contains(s, "level=error") {
		t.Errorf("the demo warns of its configuration or errs:\n%s", s)
	}
}
