package ratelimit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

// fakeClock advances only when the limiter sleeps.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
func (c *fakeClock) sleep(_ context.Context, d time.Duration) error { c.advance(d); return nil }

func TestNoWindowEverSeesMoreThanTheLimit(t *testing.T) {
	cases := []struct {
		reason string
		count  int
		per    time.Duration
	}{
		{"Cloudflare's 1,200 per five minutes", 1200, 5 * time.Minute},
		{"DigitalOcean's 250 per minute", 250, time.Minute},
		{"a small limit where the burst is one request", 10, time.Minute},
	}
	for _, tc := range cases {
		clock := &fakeClock{t: time.Unix(0, 0)}
		l := New(tc.count, tc.per).WithClock(clock.now, clock.sleep).WithMaxWait(time.Hour)
		var sent []time.Time
		for range 3 * tc.count {
			if err := l.Wait(context.Background()); err != nil {
				t.Fatalf("%s: %v", tc.reason, err)
			}
			sent = append(sent, clock.now())
		}
		// Sliding window over every request: the requests in [sent[i], sent[i]+per) never exceed count.
		j := 0
		for i := range sent {
			for j < len(sent) && sent[j].Before(sent[i].Add(tc.per)) {
				j++
			}
			if n := j - i; n > tc.count {
				t.Fatalf("%s: %d requests within %s starting at request %d, limit %d", tc.reason, n, tc.per, i, tc.count)
			}
		}
		// And the limiter is not needlessly slow: 3×count requests take little more than 3 windows.
		if took := sent[len(sent)-1].Sub(sent[0]); took > 3*tc.per+tc.per/4 {
			t.Errorf("%s: %d requests took %s, want at most %s", tc.reason, len(sent), took, 3*tc.per+tc.per/4)
		}
	}
}

func TestWaitHandsLongWaitsBackInsteadOfBlocking(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	slept := time.Duration(0)
	l := New(10, time.Minute).WithClock(clock.now, func(_ context.Context, d time.Duration) error { slept += d; return nil }).WithMaxWait(time.Second)
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := l.Wait(context.Background())
	var rl *provider.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter <= time.Second {
		t.Fatalf("second call within the minute: err = %v, want RateLimitedError with RetryAfter > 1s", err)
	}
	if slept != 0 {
		t.Fatalf("Wait slept %s although the wait exceeded its maximum", slept)
	}
	// A refused wait consumes nothing: once the refill time has passed, exactly one call goes.
	clock.advance(rl.RetryAfter)
	if err := l.Wait(context.Background()); err != nil {
		t.Fatalf("after RetryAfter: %v", err)
	}
}

func TestBlockRefusesEveryCallUntilItEnds(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	l := New(1200, 5*time.Minute).WithClock(clock.now, clock.sleep)
	l.Block(5 * time.Minute)
	l.Block(time.Minute) // a shorter block never shortens a longer one
	var rl *provider.RateLimitedError
	if err := l.Wait(context.Background()); !errors.As(err, &rl) || rl.RetryAfter != 5*time.Minute {
		t.Fatalf("blocked: err = %v, want RateLimitedError with RetryAfter 5m", err)
	}
	clock.advance(5 * time.Minute)
	if err := l.Wait(context.Background()); err != nil {
		t.Fatalf("after the block: %v", err)
	}
}

func TestWaitGivesUpWithItsContext(t *testing.T) {
	l := New(10, time.Hour).WithMaxWait(time.Hour)
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
