package collector

import (
	"context"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// A fetcher that never answers for one operation ends that operation's
// fetch with an error: the next scrape asks again, and a healthy fetcher's
// answer shows.
func TestUnansweredFetchEnds(t *testing.T) {
	f := newFake()
	a, b := importRef("answered"), importRef("skipped")
	f.set(a, running("answered"))
	f.set(b, running("skipped"))
	f.skip[b.Key()] = true
	e := New(log.NewNopLogger(), func() time.Time { return fakeNow })
	targets := []Target{{Tenant: "contoso", Ref: a, Source: SourceConfig}, {Tenant: "contoso", Ref: b, Source: SourceConfig}}
	e.Swap(Snapshot{Targets: targets, Tenants: map[string]Tenant{"contoso": {Fetcher: f}}})
	compareGolden(t, e, 200*time.Millisecond, "unanswered-fetch-first", "msgraph_lro_up")
	healthy := newFake()
	healthy.set(a, running("answered"))
	healthy.set(b, running("skipped"))
	e.Swap(Snapshot{Targets: targets, Tenants: map[string]Tenant{"contoso": {Fetcher: healthy}}})
	compareGolden(t, e, 5*time.Second, "unanswered-fetch-then", "msgraph_lro_up")
	if got := healthy.getsOf(b); got != 1 {
		t.Errorf("the healthy fetcher was asked for the skipped operation %d times, want 1", got)
	}
}

// An operation with every series there is: fifteen samples, each one.
func TestEverySeriesOfOneOperation(t *testing.T) {
	f := newFake()
	ref := importRef("full")
	op := running("full")
	op.HasPercentage, op.PercentageComplete = true, 40
	op.HasValidation, op.ValidationErrors, op.ValidationWarnings = true, 1, 2
	op.ResourceLocation, op.StatusDetail, op.Type, op.ErrorCode = "https://graph.microsoft.com/beta/x", "working", "import", "none"
	f.set(ref, op)
	e := New(log.NewNopLogger(), func() time.Time { return fakeNow })
	e.Swap(Snapshot{Targets: []Target{{Tenant: "contoso", Ref: ref, Name: "full", Labels: map[string]string{"team": "a"}, Source: SourceConfig}},
		Tenants: map[string]Tenant{"contoso": {Fetcher: f}}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n := testutil.CollectAndCount(e.Collector(ctx), "msgraph_lro_up", "msgraph_lro_status", "msgraph_lro_created_timestamp_seconds",
		"msgraph_lro_age_seconds", "msgraph_lro_last_action_timestamp_seconds", "msgraph_lro_last_action_age_seconds", "msgraph_lro_completion_ratio",
		"msgraph_lro_validation_errors", "msgraph_lro_validation_warnings", "msgraph_lro_info", "msgraph_lro_last_success_timestamp_seconds"); n != 15 {
		t.Errorf("%d series of one operation, want 15", n)
	}
	compareGolden(t, e, 5*time.Second, "every-series", "msgraph_lro_up", "msgraph_lro_status", "msgraph_lro_created_timestamp_seconds",
		"msgraph_lro_age_seconds", "msgraph_lro_last_action_timestamp_seconds", "msgraph_lro_last_action_age_seconds", "msgraph_lro_completion_ratio",
		"msgraph_lro_validation_errors", "msgraph_lro_validation_warnings", "msgraph_lro_info", "msgraph_lro_last_success_timestamp_seconds")
}

// policyFake is a fetcher with a retry policy of its own, as a
// graph.Client has.
type policyFake struct {
	*fakeGraph
	policy graph.RetryPolicy
}

func (p policyFake) RetryPolicy() graph.RetryPolicy { return p.policy }

// The cache holds a throttled operation off by its fetcher's policy: a
// first back-off of 7 s keeps it unasked for 7 s, not DefaultRetry's 1 s.
func TestHoldOffFollowsTheFetchersPolicy(t *testing.T) {
	f := policyFake{newFake(), graph.RetryPolicy{MinBackoff: 7 * time.Second, MaxBackoff: time.Minute}}
	ref := importRef("throttled")
	f.errs[ref.Key()] = &graph.Error{StatusCode: 429, Code: "TooManyRequests", Message: "throttled"}
	now := fakeNow
	e := New(log.NewNopLogger(), func() time.Time { return now })
	e.Swap(Snapshot{Targets: []Target{{Tenant: "contoso", Ref: ref, Source: SourceConfig}}, Tenants: map[string]Tenant{"contoso": {Fetcher: f}}})
	scrape := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		testutil.CollectAndCount(e.Collector(ctx), "msgraph_lro_up")
	}
	for _, step := range []struct {
		after time.Duration
		gets  int
	}{{0, 1}, {2 * time.Second, 1}, {4 * time.Second, 1}, {1100 * time.Millisecond, 2}} {
		now = now.Add(step.after)
		scrape()
		if got := f.getsOf(ref); got != step.gets {
			t.Fatalf("%v after the first 429: asked %d times, want %d", now.Sub(fakeNow), got, step.gets)
		}
	}
}

// A scrape that joins another's fetch gets each answer as it comes: a
// /probe of one operation of a cold scrape still in flight returns when
// that operation is answered, not when the whole cold scrape is.
func TestJoinerGetsItsAnswerBeforeTheOwnersGroupEnds(t *testing.T) {
	f := newFake()
	a, b := importRef("first"), importRef("gated")
	f.set(a, running("first"))
	f.set(b, running("gated"))
	gateA, gateB := make(chan struct{}), make(chan struct{})
	f.gate = map[string]chan struct{}{a.Key(): gateA, b.Key(): gateB}
	f.started = make(chan struct{}, 2)
	e := New(log.NewNopLogger(), func() time.Time { return fakeNow })
	e.Swap(Snapshot{Targets: []Target{{Tenant: "contoso", Ref: a, Source: SourceConfig}, {Tenant: "contoso", Ref: b, Source: SourceConfig}},
		Tenants: map[string]Tenant{"contoso": {Fetcher: f}}})
	st := e.st.Load()
	owner := make(chan []result, 1)
	go func() { owner <- e.fetch(context.Background(), st, st.targets, nil) }()
	<-f.started
	// The joiner asks for a while the owner's fetch of a and b is in
	// flight: it joins, asking Graph nothing.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	joiner := make(chan []result, 1)
	go func() { joiner <- e.fetch(ctx, st, st.targets[:1], nil) }()
	waitFor(t, "the joiner to join", func() bool {
		e.flying.mu.Lock()
		defer e.flying.mu.Unlock()
		c := e.flying.m[st.targets[0].key]
		return c != nil && c.done != nil
	})
	close(gateA)
	res := <-joiner
	if !res[0].up || ctx.Err() != nil {
		t.Errorf("the joiner: up %v, deadline %v; want its answer before the gated one", res[0].up, ctx.Err())
	}
	select {
	case <-owner:
		t.Fatal("the owner finished with an answer still gated")
	default:
	}
	close(gateB)
	if got := <-owner; !got[0].up || !got[1].up {
		t.Errorf("the owner: %v %v, want both up", got[0].up, got[1].up)
	}
	if got := f.getsOf(a); got != 1 {
		t.Errorf("Graph was asked for the joined operation %d times, want 1", got)
	}
}
