package config

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSecretNeverShows(t *testing.T) {
	const value = "hunter2-s3cr3t"
	s := Secret(value)
	if s.Reveal() != value {
		t.Fatalf("Reveal() = %q", s.Reveal())
	}
	wrapped := struct {
		S Secret
		P *Secret
	}{s, &s}

	for _, format := range []string{"%v", "%s", "%q", "%+v", "%#v", "%x", "%X", "%d", "%10s", "%-10v", "%T"} {
		got := fmt.Sprintf(format, s)
		if format == "%T" {
			if got != "config.Secret" {
				t.Errorf("%%T = %q", got)
			}
			continue
		}
		if got != "<secret>" {
			t.Errorf("Sprintf(%q) = %q, want <secret>", format, got)
		}
		if w := fmt.Sprintf(format, wrapped); strings.Contains(w, value) || !strings.Contains(w, "<secret>") {
			t.Errorf("Sprintf(%q, struct) = %q", format, w)
		}
	}
	for name, got := range map[string]string{
		"String":   s.String(),
		"GoString": s.GoString(),
		"Sprint":   fmt.Sprint(s),
		"Sprintln": fmt.Sprintln(s),
	} {
		if strings.TrimSpace(got) != "<secret>" {
			t.Errorf("%s = %q, want <secret>", name, got)
		}
	}

	y, err := yaml.Marshal(map[string]Secret{"client_secret": s})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(y); got != "client_secret: <secret>\n" {
		t.Errorf("yaml = %q", got)
	}
	j, err := json.Marshal(map[string]Secret{"client_secret": s})
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]string
	if err := json.Unmarshal(j, &back); err != nil {
		t.Fatal(err)
	}
	if back["client_secret"] != "<secret>" || strings.Contains(string(j), value) {
		t.Errorf("json = %s", j)
	}
	txt, err := s.MarshalText()
	if err != nil || string(txt) != "<secret>" {
		t.Errorf("MarshalText = %q, %v", txt, err)
	}
}

func TestEmptySecretMarshalsEmpty(t *testing.T) {
	var s Secret
	if got := fmt.Sprint(s); got != "<secret>" {
		t.Errorf("Sprint(empty) = %q; fmt never tells whether a secret is set", got)
	}
	y, _ := yaml.Marshal(map[string]Secret{"s": s})
	j, _ := json.Marshal(s)
	txt, _ := s.MarshalText()
	if string(y) != "s: \"\"\n" || string(j) != `""` || string(txt) != "" {
		t.Errorf("empty secret marshals as yaml %q, json %s, text %q; want empty", y, j, txt)
	}
}

// A whole loaded config, printed or marshalled, shows no secret.
func TestConfigNeverShowsSecrets(t *testing.T) {
	setupTestdata(t)
	t.Setenv(envFederatedTokenFile, "/env/token")
	t.Setenv(envTenantID, "33333333-3333-3333-3333-333333333333")
	t.Setenv(envClientID, "44444444-4444-4444-4444-444444444444")
	c, err := Load("testdata/good-credentials.yml")
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{
		"%v":             fmt.Sprintf("%v", c),
		"%+v":            fmt.Sprintf("%+v", c),
		"%#v":            fmt.Sprintf("%#v", c),
		"%v of a tenant": fmt.Sprintf("%v", c.Tenants[0]),
		"yaml":           string(y),
		"json":           string(j),
	} {
		checkNoSecret(t, name, out)
		if !strings.Contains(out, "<secret>") && !strings.Contains(out, `\u003csecret\u003e`) {
			t.Errorf("%s shows no <secret>:\n%s", name, out)
		}
	}
	if !strings.Contains(string(y), "client_secret: <secret>") {
		t.Errorf("yaml lacks client_secret: <secret>:\n%s", y)
	}
}
