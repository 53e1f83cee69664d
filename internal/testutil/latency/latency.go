// Package latency delays a test server's answers, so that a fake API answers as slowly as the
// real one does over a network (the benchmark's fakes).
package latency

import (
	"net/http"
	"time"
)

// Handler is h, each request delayed by d before h serves it (none when d is zero); a request
// whose client goes away while it waits is not served.
func Handler(d time.Duration, h http.Handler) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			h.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	})
}
