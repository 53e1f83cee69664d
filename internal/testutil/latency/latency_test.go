package latency

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestHandler: a delayed request is served; one whose client went away while it waited is not.
func TestHandler(t *testing.T) {
	for _, tc := range []struct {
		reason    string
		d         time.Duration
		cancelled bool
		served    bool
	}{
		{"no latency: served", 0, false, true},
		{"a short latency: served once it passed", time.Millisecond, false, true},
		{"the client gave up while waiting: never served", time.Hour, true, false},
	} {
		served := false
		h := Handler(tc.d, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			served = true
			w.WriteHeader(http.StatusNoContent)
		}))
		ctx, cancel := context.WithCancel(context.Background())
		if tc.cancelled {
			cancel()
		}
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx))
		cancel()
		if served != tc.served {
			t.Errorf("%s: served = %v, want %v", tc.reason, served, tc.served)
		}
	}
}
