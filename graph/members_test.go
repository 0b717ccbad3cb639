package graph

import (
	"bytes"
	"encoding/json"
	"sort"
	"testing"
)

// membersSeeds are the shapes the member scanner must read as
// encoding/json does: duplicate and escaped keys, bytes that are not
// UTF-8, brackets and quotes inside strings, nesting, white space.
var membersSeeds = []string{
	`{"status":"running","id":"1"}`,
	` { "status" : "running" , "status" : "failed" } `,
	`{"st\u0061tus":"succeeded","status":"running"}`,
	`{"status":"run\"ning","x":"}]{[","y":{"a":[1,{"b":"]"}]},"z":[]}`,
	"{\"status\":\"\xff\xfe\",\"\xffkey\":1}",
	`{"status":"a\\","n":-1.5e+3,"t":true,"f":false,"z":null}`,
	"{\n\t\"status\":\r\n\"running\"\n}",
	`{}`, `null`, `[]`, `"status"`, `{"status":"running"`, `{"a":1}{"b":2}`, ``, `7`,
	`{"":"empty key","status":{"state":"succeeded"}}`,
	`{"errors":[],"warnings":[ 1 , "]", [2,3], {"a":"["} ],"e":[ ]}`,
}

// TestMembersReadAsEncodingJSON: for every seed and every kind's
// documented example, the members are exactly what encoding/json's map of
// raw messages holds, and each string value reads as json.Unmarshal reads
// it.
func TestMembersReadAsEncodingJSON(t *testing.T) {
	for _, s := range membersSeeds {
		checkMembers(t, []byte(s))
	}
	for _, s := range KindFixtures(t) {
		checkMembers(t, []byte(s))
	}
}

func FuzzMembers(f *testing.F) {
	for _, s := range membersSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkMembers(t, body) })
}

func checkMembers(t *testing.T, body []byte) {
	t.Helper()
	var want map[string]json.RawMessage
	werr := json.Unmarshal(body, &want)
	var m members
	ok := m.read(body, false)
	if json.Valid(body) {
		// Known valid (a $batch's inner answer), it reads the same.
		var known members
		if kok := known.read(body, true); kok != ok || len(known.list) != len(m.list) {
			t.Fatalf("%q: read as known valid %v, %d members; checked %v, %d", body, kok, len(known.list), ok, len(m.list))
		}
	}
	if ok != (werr == nil && want != nil) {
		t.Fatalf("%q: read %v, encoding/json: %v (map %v)", body, ok, werr, want != nil)
	}
	if !ok {
		return
	}
	var keys []string
	seen := map[string]bool{}
	for _, mb := range m.list {
		if !seen[mb.key] {
			seen[mb.key] = true
			keys = append(keys, mb.key)
		}
	}
	sort.Strings(keys)
	var wantKeys []string
	for k := range want {
		wantKeys = append(wantKeys, k)
	}
	sort.Strings(wantKeys)
	if len(keys) != len(wantKeys) {
		t.Fatalf("%q: keys %q, encoding/json %q", body, keys, wantKeys)
	}
	for i, k := range keys {
		if k != wantKeys[i] {
			t.Fatalf("%q: keys %q, encoding/json %q", body, keys, wantKeys)
		}
		got, _ := m.get(k)
		if !bytes.Equal(got, want[k]) {
			t.Errorf("%q: member %q is %q, encoding/json %q", body, k, got, want[k])
		}
		var list []json.RawMessage
		lerr := json.Unmarshal(want[k], &list)
		if n, isArray := jsonArrayLen(got); isArray != (lerr == nil && list != nil) || n != len(list) {
			t.Errorf("%q: member %q as an array: %d %v, encoding/json %d %v", body, k, n, isArray, len(list), lerr)
		}
		var ws string
		werr := json.Unmarshal(want[k], &ws)
		gs, gok := m.str(k)
		if gok != (werr == nil) || gs != ws {
			t.Errorf("%q: member %q as a string: %q %v, encoding/json %q %v", body, k, gs, gok, ws, werr)
		}
	}
}
