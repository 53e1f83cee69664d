// Package ratelimit keeps the operator's calls to one provider account under the provider's
// documented limit, whatever the number of StateBackends: every reconcile that talks to the account
// shares one Limiter.
//
// The limit is a count per window ("1,200 requests per five minutes"). A token bucket of burst b
// refilled at (count-b)/window never admits more than count requests in any window of that length
// (at most b saved up plus count-b refilled), so the documented limit holds even at the edges of
// the provider's window.
package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

// DefaultMaxWait is how long Wait blocks a reconcile at most. A longer wait is handed back to the
// controller as a provider.RateLimitedError, which requeues the backend instead of holding a worker.
const DefaultMaxWait = 30 * time.Second

// Limiter admits requests to one provider account. It is safe for concurrent use.
type Limiter struct {
	mu           sync.Mutex
	bucket       *rate.Limiter
	blockedUntil time.Time
	maxWait      time.Duration
	now          func() time.Time
	sleep        func(ctx context.Context, d time.Duration) error
}

// New returns a limiter that admits at most count requests in any window of length per.
func New(count int, per time.Duration) *Limiter {
	if count < 1 {
		count = 1
	}
	burst := min(max(count/60, 1), 20)
	if burst >= count {
		burst = 1
	}
	refill := rate.Limit(float64(count-burst) / per.Seconds())
	if count == burst {
		refill = rate.Limit(float64(count) / per.Seconds())
	}
	return &Limiter{
		bucket:  rate.NewLimiter(refill, burst),
		maxWait: DefaultMaxWait,
		now:     time.Now,
		sleep:   sleepCtx,
	}
}

// WithClock makes the limiter use now and sleep instead of the wall clock (tests).
func (l *Limiter) WithClock(now func() time.Time, sleep func(ctx context.Context, d time.Duration) error) *Limiter {
	l.now, l.sleep = now, sleep
	return l
}

// WithMaxWait sets how long Wait may block before it returns a RateLimitedError instead.
func (l *Limiter) WithMaxWait(d time.Duration) *Limiter {
	l.maxWait = d
	return l
}

// Wait blocks until one request may be sent. When the provider has blocked the account (Block), or
// the wait would be longer than the limiter's maximum, it returns a *provider.RateLimitedError at
// once, with the time after which to try again, and consumes nothing.
func (l *Limiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	now := l.now()
	if now.Before(l.blockedUntil) {
		wait := l.blockedUntil.Sub(now)
		l.mu.Unlock()
		return &provider.RateLimitedError{RetryAfter: wait, Err: fmt.Errorf("the provider asked for no calls for another %s", wait.Round(time.Second))}
	}
	r := l.bucket.ReserveN(now, 1)
	delay := r.DelayFrom(now)
	if !r.OK() || delay > l.maxWait {
		r.CancelAt(now)
		l.mu.Unlock()
		return &provider.RateLimitedError{RetryAfter: delay, Err: fmt.Errorf("client-side limit of this provider account reached; next call in %s", delay.Round(time.Second))}
	}
	l.mu.Unlock()
	if delay <= 0 {
		return nil
	}
	if err := l.sleep(ctx, delay); err != nil {
		l.mu.Lock()
		r.CancelAt(l.now())
		l.mu.Unlock()
		return err
	}
	return nil
}

// Block stops every request until d from now: the provider answered 429 and, as Cloudflare
// documents, refuses every call of the account for a while; calling on would only extend that.
func (l *Limiter) Block(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until := l.now().Add(d); until.After(l.blockedUntil) {
		l.blockedUntil = until
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
