package graphtest

import (
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Patterns of the pages the authorize endpoint writes, which OpenURL reads
// back as a browser would.
var (
	formAction  = regexp.MustCompile(`<form method="POST" name="hiddenform" action="([^"]*)">`)
	formInput   = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)" />`)
	pageAADSTS  = regexp.MustCompile(`<p>(AADSTS\d+: [^<]*)</p>`)
	errNotLocal = errors.New("graphtest: OpenURL opens only the tenant's authorize endpoint")
)

// OpenURL plays the system browser for MSAL's AcquireTokenInteractive:
// pass it as public.WithOpenURL(tenant.OpenURL). It opens u, which must be
// the tenant's authorize endpoint, as the SetBrowserUser user, and does
// what the answer asks of a browser: it posts a form_post page's form to
// the redirect URI (MSAL's local server), or follows a 302 there. With
// nobody signed in it sees the sign-in page and returns nil, and MSAL
// waits, as it would for a user who never signs in. An error page (a bad
// client id or redirect URI) is returned as an error, so that the test
// fails at once instead of at its deadline.
func (t *Tenant) OpenURL(u string) error {
	if !strings.HasPrefix(u, t.authorityHost+"/") {
		return fmt.Errorf("%w: %s", errNotLocal, u)
	}
	c := t.HTTPClient()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	// The redirect URI is a plain-HTTP loopback server, not the tenant.
	local := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer local.CloseIdleConnections()
	switch {
	case resp.StatusCode == http.StatusFound:
		loc := resp.Header.Get("Location")
		if !loopbackRedirect(strings.SplitN(strings.SplitN(loc, "?", 2)[0], "#", 2)[0]) {
			return fmt.Errorf("graphtest: the authorize endpoint redirected to %q", loc)
		}
		r, err := local.Get(loc)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, r.Body)
		return r.Body.Close()
	case resp.StatusCode != http.StatusOK:
		if m := pageAADSTS.FindSubmatch(body); m != nil {
			return fmt.Errorf("graphtest: the authorize endpoint answered %d: %s", resp.StatusCode, html.UnescapeString(string(m[1])))
		}
		return fmt.Errorf("graphtest: the authorize endpoint answered %d", resp.StatusCode)
	}
	action := formAction.FindSubmatch(body)
	if action == nil {
		return nil // the sign-in page: nobody signs in
	}
	target := html.UnescapeString(string(action[1]))
	if !loopbackRedirect(target) {
		return fmt.Errorf("graphtest: the form posts to %q", target)
	}
	f := url.Values{}
	for _, m := range formInput.FindAllSubmatch(body, -1) {
		f.Set(html.UnescapeString(string(m[1])), html.UnescapeString(string(m[2])))
	}
	r, err := local.PostForm(target, f)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, r.Body)
	return r.Body.Close()
}
