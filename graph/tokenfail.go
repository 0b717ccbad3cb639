package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
)

// ResultUnreachable is the `result` of a token request that never reached
// the identity platform: DNS, connect, TLS, a proxy that refused.
const ResultUnreachable = "unreachable"

// Back-off of the app-only token source after a failure the identity
// platform gave no Retry-After for: tokenBackoffMin, doubled after each
// further failure up to tokenBackoffMax, each wait drawn between half and
// all of it (jitter, so that exporters restarted together do not ask
// together).
const (
	tokenBackoffMin = time.Second
	tokenBackoffMax = 5 * time.Minute
)

// failLogEvery is how often a repeated token failure is logged again; the
// lines between are counted in the next one (failures_since_last_log).
const failLogEvery = 5 * time.Minute

// failMemo is a token source's remembered failure, shared by every caller
// until it may be tried again, so that an outage costs one token request
// per back-off period and one log line per failLogEvery, not one per Graph
// request. Its owner guards it with its lock.
type failMemo struct {
	now func() time.Time

	failure error       // the remembered failure
	until   time.Time   // when it may be tried again
	streak  int         // failures in a row
	logs    repeatLimit // the failures logged, by their text
}

func (m *failMemo) clock() time.Time {
	if m.now != nil {
		return m.now()
	}
	return time.Now()
}

// held returns the remembered failure while it holds, else nil.
func (m *failMemo) held() error {
	if m.failure != nil && m.clock().Before(m.until) {
		return m.failure
	}
	return nil
}

// remember holds err for d from now. It says whether to log it now (the
// first of its kind, or failLogEvery since it was last logged) and how
// many times it happened since it was last logged.
func (m *failMemo) remember(err error, d time.Duration) (logNow bool, repeated int) {
	var te *TokenError
	if errors.As(err, &te) {
		te.logged = true
	}
	now := m.clock()
	m.failure, m.until = err, now.Add(d)
	m.streak++
	return m.logs.allow(err.Error(), now)
}

// recovered forgets the failure; it says whether there was one.
func (m *failMemo) recovered() bool {
	was := m.failure != nil
	m.failure, m.streak, m.logs = nil, 0, repeatLimit{}
	return was
}

// backoff is the wait after the streak-th failure in a row without a
// Retry-After: exponential, capped, with jitter.
func backoff(streak int, jitter func() float64) time.Duration {
	d := tokenBackoffMin
	for i := 1; i < streak && d < tokenBackoffMax; i++ {
		d *= 2
	}
	d = min(d, tokenBackoffMax)
	if jitter == nil {
		jitter = rand.Float64
	}
	return d/2 + time.Duration(jitter()*float64(d/2))
}

// tokenRetryAfter is the identity platform's Retry-After on a failed token
// request, if it sent one.
func tokenRetryAfter(err error, now time.Time) (time.Duration, bool) {
	var ce msalerrors.CallErr
	if !errors.As(err, &ce) || ce.Resp == nil {
		return 0, false
	}
	return ParseRetryAfter(ce.Resp.Header.Get("Retry-After"), now)
}

// unreachable says whether a token request failed before any answer came
// from the identity platform, and if so what the network said.
func unreachable(err error) (cause string, ok bool) {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return "", false
	}
	host := ue.URL
	if u, perr := url.Parse(ue.URL); perr == nil {
		host = u.Host
	}
	inner := ue.Err.Error()
	// Go's net errors repeat the URL; the host is enough.
	return fmt.Sprintf("%s %s: %s", ue.Op, host, Truncate(inner, 300)), true
}

// discoveryHint says what to do when MSAL's authority validation stopped
// a token request: Entra's instance discovery refused authority_host
// (invalid_instance), or could not be reached. "" for any other error.
func discoveryHint(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "invalid_instance"):
		return "Entra's instance discovery does not know authority_host as a Microsoft login host, so no credential was sent to it: check authority_host; only for a private cloud or test identity platform you trust, set disable_instance_discovery: true"
	case strings.Contains(s, "/common/discovery/instance"):
		return "Entra's instance discovery, which checks authority_host before any credential is sent to it, could not be asked: allow egress to login.microsoftonline.com, or, only for a private cloud you trust, set disable_instance_discovery: true"
	}
	return ""
}

// maxIdentityAnswer caps what is read of any identity platform answer: a
// token answer is a few kB, and MSAL reads whatever comes into memory.
const maxIdentityAnswer = 1 << 20

// errIdentityAnswerTooLarge is what reading past maxIdentityAnswer gives.
var errIdentityAnswerTooLarge = fmt.Errorf("identity platform answer larger than %d bytes", maxIdentityAnswer)

// identityClient is the HTTP client MSAL talks to the identity platform
// with: no redirects, and every answer read through maxIdentityAnswer.
func identityClient(hc *http.Client) *http.Client {
	c := noRedirects(hc, 2)
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c.Transport = cappedTransport{rt}
	return c
}

type cappedTransport struct{ rt http.RoundTripper }

func (t cappedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > maxIdentityAnswer {
		resp.Body.Close()
		return nil, fmt.Errorf("%w (Content-Length %d)", errIdentityAnswerTooLarge, resp.ContentLength)
	}
	resp.Body = &cappedBody{rc: resp.Body, left: maxIdentityAnswer}
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport underneath.
func (t cappedTransport) CloseIdleConnections() {
	if c, ok := t.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

type cappedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly the cap from a longer one.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, errIdentityAnswerTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// maxErrorText is how much of an error text is kept before it is scrubbed:
// the regexps and replacements then never see more.
const maxErrorText = 8 << 10

// secretForms are the ways a secret may be quoted back: as sent, form
// encoded, and JSON-escaped (Go's and .NET's escaping, which writes
// \u002B for '+').
func secretForms(secret string) []string {
	if secret == "" {
		return nil
	}
	forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret)}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	_ = enc.Encode(secret)
	forms = append(forms, strings.Trim(strings.TrimSpace(b.String()), `"`))
	b.Reset()
	enc.SetEscapeHTML(false)
	_ = enc.Encode(secret)
	forms = append(forms, strings.Trim(strings.TrimSpace(b.String()), `"`))
	for _, hex := range []string{`\u%04x`, `\u%04X`} {
		b.Reset()
		for _, r := range secret {
			if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				b.WriteRune(r)
			} else {
				fmt.Fprintf(&b, hex, r)
			}
		}
		forms = append(forms, b.String())
	}
	seen := map[string]bool{}
	out := forms[:0]
	for _, f := range forms {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// cutAndScrub cuts msg to maxErrorText, then replaces every secret form by
// <secret>, and drops a cut-off start of one at the end.
func cutAndScrub(msg string, secrets []string) string {
	cut := len(msg) > maxErrorText
	if cut {
		msg = msg[:maxErrorText]
		for !utf8.ValidString(msg) && len(msg) > 0 {
			msg = msg[:len(msg)-1]
		}
	}
	for _, v := range secrets {
		if v != "" {
			msg = strings.ReplaceAll(msg, v, "<secret>")
		}
	}
	if cut {
		for _, v := range secrets {
			for k := len(v) - 1; k > 0; k-- {
				if strings.HasSuffix(msg, v[:k]) {
					msg = msg[:len(msg)-k] + "<secret>"
					break
				}
			}
		}
	}
	// A client assertion (federated token, certificate-signed JWT) is a
	// credential too, and is read afresh for every request.
	msg = jwtLike.ReplaceAllString(msg, "<secret>")
	if cut {
		msg = cutJWT.ReplaceAllString(msg, "<secret>")
	}
	return msg
}

// cutJWT is the start of a JWT that the cut left at the end.
var cutJWT = regexp.MustCompile(`eyJ[A-Za-z0-9_.-]*$`)
