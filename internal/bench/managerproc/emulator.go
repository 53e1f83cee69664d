package managerproc

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/memory"
)

// OpCheck names provider.Checker's call in the emulator's counts (the memory store does not count it).
const OpCheck memory.Op = "Check"

// EmulatorConfig shapes the emulated provider account.
type EmulatorConfig struct {
	// Latency is how long every call takes (control plane and data plane alike).
	Latency time.Duration
	// RateCount calls per RatePer are admitted by the provider; more are refused with 429 and a
	// Retry-After. 0: no limit.
	RateCount int
	RatePer   time.Duration
	// Window is the length of the window in which the most calls are recorded (MaxInWindow):
	// RatePer when a limit is set, else this (default one minute).
	Window time.Duration
	// FailRate is the probability that a control-plane call fails before it takes effect: half of
	// those with a 503, half with a 429 with a one-second Retry-After.
	FailRate float64

	// Now, Sleep and Rand replace the clock, the latency's sleep and the fault dice (tests).
	Now   func() time.Time                                 `json:"-"`
	Sleep func(ctx context.Context, d time.Duration) error `json:"-"`
	Rand  func() float64                                   `json:"-"`
}

// Emulator is one provider account: a shared memory.Store behind latency, a rate limit and fault
// injection, counting every call. It implements provider.Client and provider.Checker; Prober
// returns its data plane. It is safe for concurrent use.
type Emulator struct {
	store *memory.Store
	cfg   EmulatorConfig

	mu sync.Mutex
	// sent are the times of the calls in the last window, refused ones included (they reached the
	// provider too); admitted are those the provider accepted, which its limit counts.
	sent, admitted []time.Time
	stats          Stats
}

// Stats is a snapshot of an Emulator's counts.
type Stats struct {
	// Calls counts the control-plane calls the store answered, by operation.
	Calls map[string]int64 `json:"calls"`
	// Reads and Writes classify Calls: a call of an operation that changes things is a write
	// whatever its answer; RepairGrant and RepairBucketAccess, which read first, are writes only
	// when they repaired something.
	Reads  int64 `json:"reads"`
	Writes int64 `json:"writes"`
	// Refused are calls the provider's rate limit turned away (429).
	Refused int64 `json:"refused"`
	// Injected5xx and Injected429 are the injected faults (not counted in Refused).
	Injected5xx int64 `json:"injected5xx"`
	Injected429 int64 `json:"injected429"`
	// Probes are data-plane (S3) calls: not control-plane, not rate-limited.
	Probes int64 `json:"probes"`
	// MaxInWindow is the most control-plane calls sent in any window of WindowSeconds, refused
	// and failed ones included; Limit is the provider's limit for that window (0: none).
	MaxInWindow   int     `json:"maxInWindow"`
	WindowSeconds float64 `json:"windowSeconds"`
	Limit         int     `json:"limit"`
	// FirstCall is when the first control-plane call arrived (zero: none yet).
	FirstCall time.Time `json:"firstCall"`
}

// Sent is every control-plane call sent, whatever its answer.
func (s Stats) Sent() int64 { return s.Reads + s.Writes + s.Refused + s.Injected5xx + s.Injected429 }

// NewEmulator returns an emulated account over store.
func NewEmulator(store *memory.Store, cfg EmulatorConfig) *Emulator {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.RateCount > 0 {
		cfg.Window = cfg.RatePer
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Minute
	}
	e := &Emulator{store: store, cfg: cfg}
	e.stats.Calls = map[string]int64{}
	e.stats.WindowSeconds = cfg.Window.Seconds()
	e.stats.Limit = cfg.RateCount
	return e
}

// Stats returns a snapshot of the counts.
func (e *Emulator) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stats
	s.Calls = make(map[string]int64, len(e.stats.Calls))
	for k, v := range e.stats.Calls {
		s.Calls[k] = v
	}
	return s
}

// admit records a control-plane call arriving now and decides its fate before it reaches the
// store: refused by the rate limit, an injected fault, or nil (go ahead).
func (e *Emulator) admit() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.cfg.Now()
	if e.stats.FirstCall.IsZero() {
		e.stats.FirstCall = now
	}
	// A call at t is in the window (now-Window, now].
	start := now.Add(-e.cfg.Window)
	e.sent = append(trim(e.sent, start), now)
	e.stats.MaxInWindow = max(e.stats.MaxInWindow, len(e.sent))
	if e.cfg.RateCount > 0 {
		e.admitted = trim(e.admitted, start)
		if len(e.admitted) >= e.cfg.RateCount {
			e.stats.Refused++
			// The oldest admitted call leaves the window at admitted[0]+Window.
			wait := e.admitted[0].Add(e.cfg.Window).Sub(now)
			return &provider.RateLimitedError{RetryAfter: wait,
				Err: fmt.Errorf("emulated 429: %d calls in %s", len(e.admitted), e.cfg.Window)}
		}
		e.admitted = append(e.admitted, now)
	}
	if e.cfg.FailRate > 0 {
		if r := e.cfg.Rand(); r < e.cfg.FailRate {
			if r < e.cfg.FailRate/2 {
				e.stats.Injected5xx++
				return fmt.Errorf("emulated 503 Service Unavailable")
			}
			e.stats.Injected429++
			return &provider.RateLimitedError{RetryAfter: time.Second, Err: fmt.Errorf("emulated 429 Too Many Requests")}
		}
	}
	return nil
}

// trim drops the times not after start (the slice is in arrival order).
func trim(ts []time.Time, start time.Time) []time.Time {
	i := 0
	for i < len(ts) && !ts[i].After(start) {
		i++
	}
	if i == 0 {
		return ts
	}
	// Copy down so the backing array does not grow without bound.
	n := copy(ts, ts[i:])
	return ts[:n]
}

// count classifies a call the store answered.
func (e *Emulator) count(op memory.Op, write bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stats.Calls[string(op)]++
	if write {
		e.stats.Writes++
	} else {
		e.stats.Reads++
	}
}

// do runs one control-plane call: admission, the round trip's latency, the store, the count.
// write says whether the answered call changed something.
func do[T any](e *Emulator, ctx context.Context, op memory.Op, f func() (T, error), write func(T, error) bool) (T, error) {
	var zero T
	err := e.admit()
	// A refused call costs a round trip too.
	if serr := e.cfg.Sleep(ctx, e.cfg.Latency); serr != nil {
		return zero, serr
	}
	if err != nil {
		return zero, err
	}
	v, err := f()
	e.count(op, write(v, err))
	return v, err
}

func read[T any](T, error) bool  { return false }
func wrote[T any](T, error) bool { return true }

// repaired is the write classification of RepairGrant and RepairBucketAccess.
func repaired(r bool, err error) bool { return r && err == nil }

func doErr(e *Emulator, ctx context.Context, op memory.Op, f func() error) error {
	_, err := do(e, ctx, op, func() (struct{}, error) { return struct{}{}, f() }, wrote[struct{}])
	return err
}

// Settings implements provider.Client.
func (e *Emulator) Settings() provider.BackendSettings { return e.store.Settings() }

// Check implements provider.Checker.
func (e *Emulator) Check(ctx context.Context) error {
	_, err := do(e, ctx, OpCheck, func() (struct{}, error) { return struct{}{}, e.store.Check(ctx) }, read[struct{}])
	return err
}

// ObserveBucket implements provider.Client.
func (e *Emulator) ObserveBucket(ctx context.Context, bucket string) (provider.BucketObservation, error) {
	return do(e, ctx, memory.OpObserveBucket, func() (provider.BucketObservation, error) { return e.store.ObserveBucket(ctx, bucket) }, read[provider.BucketObservation])
}

// CreateBucket implements provider.Client.
func (e *Emulator) CreateBucket(ctx context.Context, req provider.BucketRequest) error {
	return doErr(e, ctx, memory.OpCreateBucket, func() error { return e.store.CreateBucket(ctx, req) })
}

// MarkBucket implements provider.Client.
func (e *Emulator) MarkBucket(ctx context.Context, bucket string, owner provider.Owner) error {
	return doErr(e, ctx, memory.OpMarkBucket, func() error { return e.store.MarkBucket(ctx, bucket, owner) })
}

// EnableVersioning implements provider.Client.
func (e *Emulator) EnableVersioning(ctx context.Context, bucket string) error {
	return doErr(e, ctx, memory.OpEnableVersioning, func() error { return e.store.EnableVersioning(ctx, bucket) })
}

// RepairBucketAccess implements provider.Client.
func (e *Emulator) RepairBucketAccess(ctx context.Context, bucket string) (bool, error) {
	return do(e, ctx, memory.OpRepairBucket, func() (bool, error) { return e.store.RepairBucketAccess(ctx, bucket) }, repaired)
}

// DeleteBucket implements provider.Client.
func (e *Emulator) DeleteBucket(ctx context.Context, bucket string) error {
	return doErr(e, ctx, memory.OpDeleteBucket, func() error { return e.store.DeleteBucket(ctx, bucket) })
}

// IssueCredential implements provider.Client.
func (e *Emulator) IssueCredential(ctx context.Context, req provider.CredentialRequest) (provider.Credential, error) {
	return do(e, ctx, memory.OpIssueCredential, func() (provider.Credential, error) { return e.store.IssueCredential(ctx, req) }, wrote[provider.Credential])
}

// ListCredentials implements provider.Client.
func (e *Emulator) ListCredentials(ctx context.Context, namePrefix string) ([]provider.CredentialInfo, error) {
	return do(e, ctx, memory.OpListCredentials, func() ([]provider.CredentialInfo, error) { return e.store.ListCredentials(ctx, namePrefix) }, read[[]provider.CredentialInfo])
}

// RevokeCredential implements provider.Client.
func (e *Emulator) RevokeCredential(ctx context.Context, id string) error {
	return doErr(e, ctx, memory.OpRevokeCredential, func() error { return e.store.RevokeCredential(ctx, id) })
}

// RepairGrant implements provider.Client.
func (e *Emulator) RepairGrant(ctx context.Context, id string, req provider.CredentialRequest) (bool, error) {
	return do(e, ctx, memory.OpRepairGrant, func() (bool, error) { return e.store.RepairGrant(ctx, id, req) }, repaired)
}

// Prober returns the account's data plane: the store's probe behind the same latency, counted as
// Probes. S3 calls are not the control-plane API the rate limit protects, and faults are not
// injected into them.
func (e *Emulator) Prober() provider.Prober { return dataPlane{e} }

type dataPlane struct{ e *Emulator }

func (d dataPlane) Probe(ctx context.Context, settings provider.BackendSettings, bucket string, cred provider.Credential, access provider.Access) (provider.ProbeResult, error) {
	if err := d.e.cfg.Sleep(ctx, d.e.cfg.Latency); err != nil {
		return provider.ProbeResult{}, err
	}
	d.e.mu.Lock()
	d.e.stats.Probes++
	d.e.mu.Unlock()
	return d.e.store.Probe(ctx, settings, bucket, cred, access)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Compile-time checks.
var (
	_ provider.Client  = (*Emulator)(nil)
	_ provider.Checker = (*Emulator)(nil)
)
