package graph

import (
	"context"
	"net/url"
	"strings"
	"testing"
)

type fixedToken struct{}

func (fixedToken) Token(context.Context) (string, error) { return "t", nil }

// batchInnerSeeds are ids and parents with what escaping must get right:
// reserved and unreserved bytes, escapes, dots, OData's parentheses,
// commas, bytes that are not ASCII.
var batchInnerSeeds = []string{
	"d194fa3e-18c9-47a1-0fb1-08dad8e7a876", "a b", "a/b", "a?b#c", "%zz", "%2F", ".", "..", "...", "(x)", "a,b",
	"alice@contoso.com", "refresh:DirectoryRole_1_StaleSignInAlert", "é", "\xff", "a;b=c&d+e$f!g*h'i", "0x0101", "",
}

// TestBatchInnerIsOperationURLs: a $batch names each request as the path
// OperationURL gives, parsed by net/url, after the version, with its query;
// batchInner builds it without the parse and must name the same request.
// Version, read from the kind without building the path, is the path's
// first segment.
func TestBatchInnerIsOperationURLs(t *testing.T) {
	for _, id := range batchInnerSeeds {
		for _, parent := range batchInnerSeeds[:6] {
			for _, q := range []string{"", "$select=status", "aadgdc=x&aadgsu=y"} {
				for ki := range Kinds {
					checkBatchInner(t, ki, id, parent, q)
				}
			}
		}
	}
}

func FuzzBatchInner(f *testing.F) {
	for _, s := range batchInnerSeeds {
		f.Add(uint8(0), s, "contoso", "")
		f.Add(uint8(1), "x", s, "$select=status")
	}
	f.Fuzz(func(t *testing.T, kind uint8, id, parent, q string) {
		checkBatchInner(t, int(kind)%len(Kinds), id, parent, q)
	})
}

func checkBatchInner(t *testing.T, ki int, id, parent, q string) {
	t.Helper()
	c, err := NewClient(ClientOptions{GraphEndpoint: "https://graph.example:8443", Tokens: fixedToken{}})
	if err != nil {
		t.Fatal(err)
	}
	k := Kinds[ki]
	ref := OperationRef{Scope: k.Scope, ID: id, RawQuery: q}
	for _, p := range k.Parents {
		ref.SetParent(p, parent)
	}
	p := ref.URLPath()
	wantVersion := strings.TrimPrefix(p, "/")
	if i := strings.IndexByte(wantVersion, '/'); i >= 0 {
		wantVersion = wantVersion[:i]
	}
	if v := ref.Version(); v != wantVersion {
		t.Fatalf("%s %q: Version %q, the path %q says %q", k.Scope, id, v, p, wantVersion)
	}
	got, gerr := c.batchInner(ref, ref.Version())
	u, uerr := c.OperationURL(ref)
	if (gerr == nil) != (uerr == nil) {
		t.Fatalf("%s %q: batchInner %v, OperationURL %v", k.Scope, id, gerr, uerr)
	}
	if uerr != nil {
		return
	}
	want := strings.TrimPrefix(u.EscapedPath(), "/"+ref.Version())
	if u.RawQuery != "" {
		want += "?" + u.RawQuery
	}
	if got != want {
		t.Fatalf("%s id %q parent %q query %q: batchInner %q, OperationURL %q", k.Scope, id, parent, q, got, want)
	}
}

// FuzzEscapeSegment: escapeSegment's shortcut for segments with nothing to
// escape gives what net/url's escaping, with parentheses escaped and
// commas kept, gives.
func FuzzEscapeSegment(f *testing.F) {
	for _, s := range batchInnerSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := parens.Replace(url.PathEscape(s))
		switch s {
		case ".":
			want = "%2E"
		case "..":
			want = "%2E%2E"
		}
		if got := escapeSegment(s); got != want {
			t.Fatalf("escapeSegment(%q) = %q, want %q", s, got, want)
		}
	})
}

// An endpoint is https://host[:port] and nothing else: with a query or a
// fragment, the paths built on it would not be the ones sent; with user
// information, it would be a URL the token may not go to.
func TestNewClientRefusesEndpointsWithMore(t *testing.T) {
	for _, ep := range []string{"https://graph.example?x=1", "https://graph.example?", "https://graph.example#f",
		"https://u:p@graph.example", "https://graph.example/v1.0", "http://graph.example", "https:graph.example"} {
		if _, err := NewClient(ClientOptions{GraphEndpoint: ep, Tokens: fixedToken{}}); err == nil {
			t.Errorf("NewClient took graph endpoint %q", ep)
		}
	}
	for _, ep := range []string{"https://graph.example", "https://graph.example/", "https://127.0.0.1:8443"} {
		if _, err := NewClient(ClientOptions{GraphEndpoint: ep, Tokens: fixedToken{}}); err != nil {
			t.Errorf("NewClient refused graph endpoint %q: %v", ep, err)
		}
	}
}
