package graph

import (
	"encoding/json"
	"strings"
	"testing"
)

// validJSONSeeds are the edges of encoding/json's grammar.
var validJSONSeeds = []string{
	``, ` `, `{}`, `[]`, `[ ]`, `{ }`, `null`, `true`, `false`, `nul`, `nulll`, `tru`, `"a"`, `"`, `"\`, `"\"`,
	`0`, `-0`, `01`, `-`, `1.`, `1.5`, `.5`, `1e`, `1e+`, `1E-7`, `1e5x`, `-01`, `2.5e+10`, `1 2`,
	`"\u00e9"`, `"\u00g9"`, `"\u00e"`, `"\x"`, `"\/\b\f\n\r\t\\"`, "\"\x1f\"", "\"\x7f\xff\xfe\"", "\"tab\there\"",
	`{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{"a":}`, `{,"a":1}`, `{1:2}`, `{"a":1 "b":2}`, `{"a":[1,{"b":null}]}`,
	`[1,]`, `[,1]`, `[1 2]`, `[1,2]`, `[[[]]]`, `[[[]]`, `[]]`, `{"a":{"b":{}}}`, `{"a":{"b":{}}`, `{]`, `[}`,
	" \t\r\n{\"a\" : [ 1 , 2 ] }\n", "\v1", `{"a":1}{"b":2}`, `{"a":1} x`, `"a"b`,
}

func TestValidJSONIsEncodingJSONs(t *testing.T) {
	for _, s := range validJSONSeeds {
		checkValid(t, []byte(s))
	}
	for _, s := range KindFixtures(t) {
		checkValid(t, []byte(s))
	}
	// encoding/json's depth limit: 10,000 open at once is valid, one more
	// is not.
	for _, d := range []int{maxJSONDepth - 1, maxJSONDepth, maxJSONDepth + 1} {
		checkValid(t, []byte(strings.Repeat("[", d)+strings.Repeat("]", d)))
		checkValid(t, []byte(strings.Repeat(`{"a":`, d)+"1"+strings.Repeat("}", d)))
	}
	if !validJSON([]byte(strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth))) {
		t.Fatal("10,000 arrays deep: not valid")
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, s := range validJSONSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkValid(t, b) })
}

func checkValid(t *testing.T, b []byte) {
	t.Helper()
	if got, want := validJSON(b), json.Valid(b); got != want {
		t.Fatalf("validJSON(%q) = %v, json.Valid %v", b, got, want)
	}
}

func BenchmarkValidJSON(b *testing.B) {
	var body []byte
	for _, s := range KindFixtures(b) {
		if len(s) > len(body) {
			body = []byte(s)
		}
	}
	b.Run("ours", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			validJSON(body)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			json.Valid(body)
		}
	})
}
