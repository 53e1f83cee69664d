package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/memory"
)

// method is one provider.Client call through the limited client, with the memory store's name for it.
type method struct {
	op   memory.Op
	call func(ctx context.Context, c provider.Client) error
}

var methods = []method{
	{memory.OpObserveBucket, func(ctx context.Context, c provider.Client) error { _, err := c.ObserveBucket(ctx, "b"); return err }},
	{memory.OpCreateBucket, func(ctx context.Context, c provider.Client) error {
		return c.CreateBucket(ctx, provider.BucketRequest{Name: "b"})
	}},
	{memory.OpMarkBucket, func(ctx context.Context, c provider.Client) error { return c.MarkBucket(ctx, "b", provider.Owner{}) }},
	{memory.OpEnableVersioning, func(ctx context.Context, c provider.Client) error { return c.EnableVersioning(ctx, "b") }},
	{memory.OpRepairBucket, func(ctx context.Context, c provider.Client) error {
		_, err := c.RepairBucketAccess(ctx, "b")
		return err
	}},
	{memory.OpDeleteBucket, func(ctx context.Context, c provider.Client) error { return c.DeleteBucket(ctx, "b") }},
	{memory.OpIssueCredential, func(ctx context.Context, c provider.Client) error {
		_, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: "n", Bucket: "b", Access: provider.ReadWrite})
		return err
	}},
	{memory.OpListCredentials, func(ctx context.Context, c provider.Client) error { _, err := c.ListCredentials(ctx, "n"); return err }},
	{memory.OpRevokeCredential, func(ctx context.Context, c provider.Client) error { return c.RevokeCredential(ctx, "id") }},
	{memory.OpRepairGrant, func(ctx context.Context, c provider.Client) error {
		_, err := c.RepairGrant(ctx, "id", provider.CredentialRequest{Bucket: "b"})
		return err
	}},
}

// storeCalls is the number of calls that reached the store.
func storeCalls(s *memory.Store) int {
	n := 0
	for _, op := range memory.AllOps {
		n += s.Calls(op)
	}
	return n
}

func TestClientKeepsEveryWindowUnderTheLimit(t *testing.T) {
	cases := []struct {
		reason string
		count  int
		per    time.Duration
		calls  int
	}{
		{"Cloudflare's 1,200 per five minutes, over three windows", 1200, 5 * time.Minute, 3600},
		{"DigitalOcean's 250 per minute, over four windows", 250, time.Minute, 1000},
		{"a limit so small the burst is one call", 10, time.Minute, 40},
	}
	for _, tc := range cases {
		clock := &fakeClock{t: time.Unix(0, 0)}
		store := memory.New(memory.DefaultSettings())
		c := Client(store, New(tc.count, tc.per).WithClock(clock.now, clock.sleep).WithMaxWait(time.Hour))
		// The fake clock moves only while the limiter sleeps, so the time after a call returns is
		// the time it reached the store.
		sent := make([]time.Time, 0, tc.calls)
		for i := range tc.calls {
			_ = methods[i%len(methods)].call(context.Background(), c) // the store's answers do not matter here
			sent = append(sent, clock.now())
		}
		if got := storeCalls(store); got != tc.calls {
			t.Fatalf("%s: %d calls reached the store, want all %d", tc.reason, got, tc.calls)
		}
		j := 0
		for i := range sent {
			for j < len(sent) && sent[j].Before(sent[i].Add(tc.per)) {
				j++
			}
			if n := j - i; n > tc.count {
				t.Fatalf("%s: %d calls within %s from call %d, limit %d", tc.reason, n, tc.per, i, tc.count)
			}
		}
	}
}

func TestClientBlocksTheAccountWhenTheProviderAsksToWait(t *testing.T) {
	cases := []struct {
		reason string
		err    error
		// block is how long later calls must be refused without reaching the provider (0: not at all).
		block time.Duration
	}{
		{"a 429 with Retry-After stops every call for that long", &provider.RateLimitedError{RetryAfter: 2 * time.Minute, Err: errors.New("429")}, 2 * time.Minute},
		{"a wrapped 429 is recognised", fmt.Errorf("list tokens: %w", &provider.RateLimitedError{RetryAfter: time.Minute, Err: errors.New("429")}), time.Minute},
		{"a 429 without Retry-After leaves the pacing to the controller's backoff", &provider.RateLimitedError{Err: errors.New("429")}, 0},
		{"a 5xx is not a request to slow down", errors.New("503 Service Unavailable"), 0},
	}
	for _, tc := range cases {
		clock := &fakeClock{t: time.Unix(0, 0)}
		store := memory.New(memory.DefaultSettings())
		c := Client(store, New(1200, 5*time.Minute).WithClock(clock.now, clock.sleep))
		store.FailBefore(memory.OpListCredentials, tc.err)
		if _, err := c.ListCredentials(context.Background(), "n"); !errors.Is(err, tc.err) {
			t.Fatalf("%s: first call: err = %v, want the provider's %v", tc.reason, err, tc.err)
		}
		before := storeCalls(store)
		_, err := c.ObserveBucket(context.Background(), "b")
		var rl *provider.RateLimitedError
		switch {
		case tc.block == 0 && err != nil:
			t.Fatalf("%s: next call: %v, want it sent", tc.reason, err)
		case tc.block == 0 && storeCalls(store) != before+1:
			t.Fatalf("%s: next call did not reach the provider", tc.reason)
		case tc.block == 0:
			continue
		case !errors.As(err, &rl) || rl.RetryAfter != tc.block:
			t.Fatalf("%s: next call: err = %v, want RateLimitedError with RetryAfter %s", tc.reason, err, tc.block)
		case storeCalls(store) != before:
			t.Fatalf("%s: the refused call reached the provider", tc.reason)
		}
		clock.advance(tc.block)
		if _, err := c.ObserveBucket(context.Background(), "b"); err != nil {
			t.Fatalf("%s: after the block: %v", tc.reason, err)
		}
		if storeCalls(store) != before+1 {
			t.Fatalf("%s: the call after the block did not reach the provider", tc.reason)
		}
	}
}

func TestClientWaitsBeforeEveryCall(t *testing.T) {
	for _, m := range methods {
		reason := fmt.Sprintf("%s is admitted by the limiter", m.op)
		clock := &fakeClock{t: time.Unix(0, 0)}
		store := memory.New(memory.DefaultSettings())
		l := New(1200, 5*time.Minute).WithClock(clock.now, clock.sleep)
		l.Block(time.Minute)
		var rl *provider.RateLimitedError
		if err := m.call(context.Background(), Client(store, l)); !errors.As(err, &rl) {
			t.Errorf("%s: blocked account: err = %v, want RateLimitedError", reason, err)
		}
		if n := store.Calls(m.op); n != 0 {
			t.Errorf("%s: %d calls reached the store while the account was blocked", reason, n)
		}
	}
	// Check too: the store's Check answers nil, the blocked limiter a RateLimitedError.
	clock := &fakeClock{t: time.Unix(0, 0)}
	l := New(1200, 5*time.Minute).WithClock(clock.now, clock.sleep)
	l.Block(time.Minute)
	var rl *provider.RateLimitedError
	if err := Client(memory.New(memory.DefaultSettings()), l).(provider.Checker).Check(context.Background()); !errors.As(err, &rl) {
		t.Errorf("Check is admitted by the limiter: err = %v, want RateLimitedError", err)
	}
}

// clientOnly hides every method but provider.Client's.
type clientOnly struct{ provider.Client }

func TestClientIsACheckerExactlyWhenItsProviderIs(t *testing.T) {
	cases := []struct {
		reason string
		c      provider.Client
		want   bool
	}{
		{"a client with a health check keeps it", memory.New(memory.DefaultSettings()), true},
		{"a client without one does not gain one", clientOnly{memory.New(memory.DefaultSettings())}, false},
	}
	for _, tc := range cases {
		if _, ok := Client(tc.c, New(10, time.Minute)).(provider.Checker); ok != tc.want {
			t.Errorf("%s: implements provider.Checker = %v, want %v", tc.reason, ok, tc.want)
		}
	}
	// The health check's answer passes through.
	store := memory.New(memory.DefaultSettings())
	store.CheckError = fmt.Errorf("keys refused: %w", provider.ErrInvalidConfig)
	if err := Client(store, New(10, time.Minute)).(provider.Checker).Check(context.Background()); !errors.Is(err, provider.ErrInvalidConfig) {
		t.Errorf("Check: err = %v, want the store's ErrInvalidConfig", err)
	}
}
