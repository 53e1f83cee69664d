package managerproc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/memory"
)

// clock is a fake clock that moves only when told; the emulator's latency does not move it.
type clock struct{ t time.Time }

func (c *clock) now() time.Time                             { return c.t }
func (c *clock) sleep(context.Context, time.Duration) error { return nil }

func newTestEmulator(c *clock, cfg EmulatorConfig) (*Emulator, *memory.Store) {
	cfg.Now, cfg.Sleep = c.now, c.sleep
	if cfg.Rand == nil {
		cfg.Rand = func() float64 { return 1 } // no fault
	}
	store := memory.New(memory.DefaultSettings())
	return NewEmulator(store, cfg), store
}

func TestEmulatorRefusesWhatExceedsTheWindow(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	e, store := newTestEmulator(c, EmulatorConfig{RateCount: 3, RatePer: time.Minute})
	steps := []struct {
		reason  string
		advance time.Duration
		// refusedFor is the Retry-After of a refusal; 0: the call is admitted.
		refusedFor time.Duration
	}{
		{"first call of the window", 0, 0},
		{"second call at the same instant", 0, 0},
		{"third call fills the window", 0, 0},
		{"a fourth is refused until the first leaves the window", 0, time.Minute},
		{"half a minute later the window is still full", 30 * time.Second, 30 * time.Second},
		{"a window later the first three have left it", 30 * time.Second, 0},
		{"two more fit", 0, 0},
		{"and then the window is full again", 0, 0},
		{"a refused call does not count against the limit", time.Second, 59 * time.Second},
	}
	admitted := 0
	for _, st := range steps {
		c.t = c.t.Add(st.advance)
		_, err := e.ObserveBucket(context.Background(), "b")
		var rl *provider.RateLimitedError
		switch {
		case st.refusedFor == 0 && err != nil:
			t.Fatalf("%s: %v, want the call admitted", st.reason, err)
		case st.refusedFor == 0:
			admitted++
		case !errors.As(err, &rl) || rl.RetryAfter != st.refusedFor:
			t.Fatalf("%s: err = %v, want RateLimitedError with RetryAfter %s", st.reason, err, st.refusedFor)
		}
		if got := store.Calls(memory.OpObserveBucket); got != admitted {
			t.Fatalf("%s: %d calls reached the store, want %d", st.reason, got, admitted)
		}
	}
	s := e.Stats()
	// 4 sent at the start, 1 half a minute later: 5 within one minute, refusals included.
	if s.Refused != 3 || s.Reads != int64(admitted) || s.MaxInWindow != 5 || s.Limit != 3 || s.WindowSeconds != 60 {
		t.Errorf("stats = %+v, want 3 refused, %d reads, at most 5 calls in a 60 s window of limit 3", s, admitted)
	}
	if s.Sent() != int64(len(steps)) {
		t.Errorf("Sent() = %d, want every call, %d", s.Sent(), len(steps))
	}
}

func TestEmulatorWithoutLimitAdmitsEverything(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	e, _ := newTestEmulator(c, EmulatorConfig{Window: 10 * time.Second})
	for i := range 50 {
		if i == 30 {
			c.t = c.t.Add(10 * time.Second) // the first 30 leave the window
		}
		if _, err := e.ListCredentials(context.Background(), "p"); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if s := e.Stats(); s.Refused != 0 || s.MaxInWindow != 30 || s.Limit != 0 || s.Reads != 50 {
		t.Errorf("stats = %+v, want nothing refused, 50 reads, at most 30 in a window, no limit", s)
	}
}

func TestEmulatorClassifiesReadsAndWrites(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		reason string
		// setup prepares the store; call makes the one emulated call measured.
		setup       func(s *memory.Store) string
		call        func(e *Emulator, id string) error
		op          memory.Op
		read, write int64
	}{
		{"observing a bucket is a read", nil,
			func(e *Emulator, _ string) error { _, err := e.ObserveBucket(ctx, "b"); return err }, memory.OpObserveBucket, 1, 0},
		{"listing credentials is a read", nil,
			func(e *Emulator, _ string) error { _, err := e.ListCredentials(ctx, "n"); return err }, memory.OpListCredentials, 1, 0},
		{"the health check is a read", nil,
			func(e *Emulator, _ string) error { return e.Check(ctx) }, OpCheck, 1, 0},
		{"creating a bucket is a write", nil,
			func(e *Emulator, _ string) error { return e.CreateBucket(ctx, provider.BucketRequest{Name: "b"}) }, memory.OpCreateBucket, 0, 1},
		{"a refused write is still a write sent", func(s *memory.Store) string { s.PutBucket("b", nil); return "" },
			func(e *Emulator, _ string) error {
				_ = e.CreateBucket(ctx, provider.BucketRequest{Name: "b"})
				return nil
			}, memory.OpCreateBucket, 0, 1},
		{"marking a bucket is a write", func(s *memory.Store) string { s.PutBucket("b", nil); return "" },
			func(e *Emulator, _ string) error { return e.MarkBucket(ctx, "b", provider.Owner{Name: "x"}) }, memory.OpMarkBucket, 0, 1},
		{"enabling versioning is a write", func(s *memory.Store) string { s.PutBucket("b", nil); return "" },
			func(e *Emulator, _ string) error { return e.EnableVersioning(ctx, "b") }, memory.OpEnableVersioning, 0, 1},
		{"deleting a bucket is a write", func(s *memory.Store) string { s.PutBucket("b", nil); return "" },
			func(e *Emulator, _ string) error { return e.DeleteBucket(ctx, "b") }, memory.OpDeleteBucket, 0, 1},
		{"issuing a credential is a write", func(s *memory.Store) string { s.PutBucket("b", nil); return "" },
			func(e *Emulator, _ string) error {
				_, err := e.IssueCredential(ctx, provider.CredentialRequest{Name: "n", Bucket: "b", Access: provider.ReadWrite})
				return err
			}, memory.OpIssueCredential, 0, 1},
		{"revoking a credential is a write", nil,
			func(e *Emulator, _ string) error { return e.RevokeCredential(ctx, "id") }, memory.OpRevokeCredential, 0, 1},
		{"checking a bucket that is not public is a read", func(s *memory.Store) string { s.PutBucket("b", nil); return "" },
			func(e *Emulator, _ string) error { _, err := e.RepairBucketAccess(ctx, "b"); return err }, memory.OpRepairBucket, 1, 0},
		{"closing a public bucket is a write", func(s *memory.Store) string { s.PutBucket("b", nil); s.ExposeOutOfBand("b"); return "" },
			func(e *Emulator, _ string) error { _, err := e.RepairBucketAccess(ctx, "b"); return err }, memory.OpRepairBucket, 0, 1},
		{"checking an intact grant is a read", issued(provider.ReadWrite),
			func(e *Emulator, id string) error { _, err := e.RepairGrant(ctx, id, grant()); return err }, memory.OpRepairGrant, 1, 0},
		{"restoring a changed grant is a write", issued(provider.ReadOnly),
			func(e *Emulator, id string) error { _, err := e.RepairGrant(ctx, id, grant()); return err }, memory.OpRepairGrant, 0, 1},
	}
	for _, tc := range cases {
		c := &clock{t: time.Unix(1000, 0)}
		e, store := newTestEmulator(c, EmulatorConfig{})
		id := ""
		if tc.setup != nil {
			id = tc.setup(store)
		}
		if err := tc.call(e, id); err != nil {
			t.Fatalf("%s: %v", tc.reason, err)
		}
		s := e.Stats()
		if s.Reads != tc.read || s.Writes != tc.write || s.Calls[string(tc.op)] != 1 {
			t.Errorf("%s: reads %d writes %d calls %v, want reads %d writes %d and one %s", tc.reason, s.Reads, s.Writes, s.Calls, tc.read, tc.write, tc.op)
		}
	}
}

func grant() provider.CredentialRequest {
	return provider.CredentialRequest{Name: "n", Bucket: "b", Access: provider.ReadWrite}
}

// issued makes bucket b and a credential for it issued with access (then repaired to ReadWrite).
func issued(access provider.Access) func(s *memory.Store) string {
	return func(s *memory.Store) string {
		s.PutBucket("b", nil)
		req := grant()
		req.Access = access
		cred, err := s.IssueCredential(context.Background(), req)
		if err != nil {
			panic(err)
		}
		return cred.ID
	}
}

func TestEmulatorInjectsFaultsBeforeTheStore(t *testing.T) {
	cases := []struct {
		reason string
		dice   float64
		// want5xx, want429: which fault; neither: the call goes through.
		want5xx, want429 bool
	}{
		{"a roll in the lower half of the fail rate is a 503", 0.01, true, false},
		{"a roll in the upper half is a 429 with a one-second Retry-After", 0.07, false, true},
		{"a roll above the fail rate goes through", 0.5, false, false},
	}
	for _, tc := range cases {
		c := &clock{t: time.Unix(1000, 0)}
		e, store := newTestEmulator(c, EmulatorConfig{FailRate: 0.1, Rand: func() float64 { return tc.dice }})
		_, err := e.ObserveBucket(context.Background(), "b")
		var rl *provider.RateLimitedError
		switch {
		case tc.want5xx && (err == nil || !strings.Contains(err.Error(), "503") || errors.As(err, &rl)):
			t.Errorf("%s: err = %v, want a plain 503", tc.reason, err)
		case tc.want429 && (!errors.As(err, &rl) || rl.RetryAfter != time.Second):
			t.Errorf("%s: err = %v, want RateLimitedError with RetryAfter 1s", tc.reason, err)
		case !tc.want5xx && !tc.want429 && err != nil:
			t.Errorf("%s: %v", tc.reason, err)
		}
		s := e.Stats()
		faulted := tc.want5xx || tc.want429
		if reached := store.Calls(memory.OpObserveBucket) == 1; reached == faulted {
			t.Errorf("%s: the store was reached = %v", tc.reason, reached)
		}
		if (s.Injected5xx == 1) != tc.want5xx || (s.Injected429 == 1) != tc.want429 || s.Refused != 0 || s.Sent() != 1 {
			t.Errorf("%s: stats = %+v", tc.reason, s)
		}
	}
}

func TestProbesAreDataPlane(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	e, store := newTestEmulator(c, EmulatorConfig{RateCount: 1, RatePer: time.Minute, FailRate: 1})
	store.PutBucket("b", nil)
	cred, err := store.IssueCredential(context.Background(), grant())
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := e.Prober().Probe(context.Background(), store.Settings(), "b", cred, provider.ReadWrite); err != nil {
			t.Fatalf("probe under a full rate limit and certain faults: %v", err)
		}
	}
	if s := e.Stats(); s.Probes != 3 || s.Sent() != 0 || s.MaxInWindow != 0 {
		t.Errorf("stats = %+v, want 3 probes and no control-plane call", s)
	}
}
