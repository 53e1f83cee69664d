package fakecloudflare

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	cloudflare "github.com/cloudflare/cloudflare-go/v7"
	"github.com/cloudflare/cloudflare-go/v7/accounts"
	"github.com/cloudflare/cloudflare-go/v7/option"
	"github.com/minio/minio-go/v7"
)

func verifyErr(f *fixture, tok string, opts ...option.RequestOption) error {
	c := cloudflare.NewClient(append([]option.RequestOption{option.WithBaseURL(f.URL()), option.WithAPIToken(tok), option.WithMaxRetries(0)}, opts...)...)
	_, err := c.Accounts.Tokens.Verify(context.Background(), accounts.TokenVerifyParams{AccountID: cloudflare.F(f.AccountID())})
	return err
}

func retryAfter(t *testing.T, err error) int {
	t.Helper()
	apiErr := wantAPIError(t, err, 429, codeRateLimited)
	n, convErr := strconv.Atoi(apiErr.Response.Header.Get("Retry-After"))
	if convErr != nil {
		t.Fatalf("Retry-After %q", apiErr.Response.Header.Get("Retry-After"))
	}
	return n
}

func TestRateLimit(t *testing.T) {
	f := newFake(t, Config{RateLimit: 3, RateWindow: time.Minute})
	_, other, err := f.AddToken("other", pgR2Read)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		reason         string
		token          string
		wantRetryAfter []int // nil = success; else the allowed Retry-After range [lo, hi]
	}{
		{"request 1 of 3", f.adminValue, nil},
		{"request 2 of 3", f.adminValue, nil},
		{"request 3 of 3", f.adminValue, nil},
		{"request 4 exceeds the limit: 429, blocked for one window", f.adminValue, []int{60, 60}},
		{"the token stays blocked: every call is refused", f.adminValue, []int{59, 60}},
		{"the limit counts per token: another token is unaffected", other, nil},
	}
	for _, st := range steps {
		t.Run(st.reason, func(t *testing.T) {
			var resp *http.Response
			err := verifyErr(f, st.token, option.WithResponseInto(&resp))
			if st.wantRetryAfter == nil {
				if err != nil {
					t.Fatal(err)
				}
				if got := resp.Header.Get("Ratelimit-Policy"); got != `"default";q=3;w=60` {
					t.Fatalf("Ratelimit-Policy %q", got)
				}
				if got := resp.Header.Get("Ratelimit"); !strings.HasPrefix(got, `"default";r=`) {
					t.Fatalf("Ratelimit %q", got)
				}
				return
			}
			if n := retryAfter(t, err); n < st.wantRetryAfter[0] || n > st.wantRetryAfter[1] {
				t.Fatalf("Retry-After %d, want %v", n, st.wantRetryAfter)
			}
		})
	}
	t.Run("the block covers every endpoint", func(t *testing.T) {
		_, err := f.cf.Accounts.Tokens.List(context.Background(), accounts.TokenListParams{AccountID: cloudflare.F(f.AccountID())})
		retryAfter(t, err)
	})
}

func TestRateLimitWindowEnds(t *testing.T) {
	window := 300 * time.Millisecond
	f := newFake(t, Config{RateLimit: 2, RateWindow: window})
	for i := range 2 {
		if err := verifyErr(f, f.adminValue); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	if n := retryAfter(t, verifyErr(f, f.adminValue)); n != 1 {
		t.Fatalf("Retry-After %d, want 1 (seconds, rounded up)", n)
	}
	time.Sleep(window + 50*time.Millisecond)
	if err := verifyErr(f, f.adminValue); err != nil {
		t.Fatalf("after the block: %v", err)
	}
}

func TestInjectThrottle(t *testing.T) {
	f := newFake(t, Config{})
	f.InjectThrottle(2, 1500*time.Millisecond)
	cases := []struct {
		reason string
		token  string
		want   int // Retry-After; 0 = success
	}{
		{"the first injected 429, Retry-After rounded up", f.adminValue, 2},
		{"the second applies whatever the token", "cfat_unknown", 2},
		{"then requests pass again", f.adminValue, 0},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			err := verifyErr(f, tc.token)
			if tc.want == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if n := retryAfter(t, err); n != tc.want {
				t.Fatalf("Retry-After %d, want %d", n, tc.want)
			}
		})
	}
	t.Run("a client that retries gets through", func(t *testing.T) {
		f.InjectThrottle(1, 0)
		if err := verifyErr(f, f.adminValue, option.WithMaxRetries(1)); err != nil {
			t.Fatal(err)
		}
		reqs := f.Requests()
		if reqs[len(reqs)-2].Status != 429 || reqs[len(reqs)-1].Status != 200 {
			t.Fatalf("last two requests %+v", reqs[len(reqs)-2:])
		}
	})
}

func TestPropagationDelay(t *testing.T) {
	const delay = 600 * time.Millisecond
	f := newFake(t, Config{PropagationDelay: delay})
	ctx := context.Background()
	acct := f.AccountID()
	bucket := uniq("prop")
	mustBucket(t, f, bucket, "")
	grant := allow(bucketKey(acct, "default", bucket), groupID(t, f, pgItemWrite))
	put := func(tok *accounts.TokenNewResponse) error {
		_, err := s3Client(t, f.Server, tok.ID, tok.Value).PutObject(ctx, bucket, "k", strings.NewReader("x"), 1, minio.PutObjectOptions{})
		return err
	}

	// A token deleted before its identity exists must never get one.
	early := mustToken(t, f, "deleted-early", grant)
	if _, err := f.cf.Accounts.Tokens.Delete(ctx, early.ID, accounts.TokenDeleteParams{AccountID: cloudflare.F(acct)}); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	tok := mustToken(t, f, "delayed", grant)
	t.Run("new keys are unknown to S3 at first", func(t *testing.T) {
		wantS3Code(t, put(tok), "InvalidAccessKeyId")
		for _, tk := range f.Tokens() {
			if tk.ID == tok.ID && tk.S3Identity {
				t.Fatal("S3Identity before the delay")
			}
		}
	})
	t.Run("they work once the delay has passed", func(t *testing.T) {
		var err error
		for time.Since(start) < delay+10*time.Second {
			if err = put(tok); err == nil {
				break
			}
			if minio.ToErrorResponse(err).Code != "InvalidAccessKeyId" {
				t.Fatalf("unexpected S3 error while waiting: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < delay {
			t.Fatalf("worked after %v, before the %v delay", el, delay)
		}
	})
	t.Run("a token deleted before the delay never gets an identity", func(t *testing.T) {
		wantS3Code(t, put(early), "InvalidAccessKeyId")
	})
	t.Run("the API accepts the token during the delay (only S3 lags)", func(t *testing.T) {
		late := mustToken(t, f, "api-at-once", grant)
		if err := verifyErr(f, late.Value); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCloseRemovesIdentities checks that a closed fake leaves no working S3 keys behind.
func TestCloseRemovesIdentities(t *testing.T) {
	s, err := Start(Config{MinIO: minioSrv, PropagationDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	id, value, err := s.AddToken("admin", pgR2Write)
	if err != nil {
		t.Fatal(err)
	}
	c := s3Client(t, s, id, value)
	if _, err := c.ListBuckets(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close() // idempotent
	_, err = c.ListBuckets(context.Background())
	wantS3Code(t, err, "InvalidAccessKeyId")
	if _, err := s.client(value).Accounts.Tokens.Verify(context.Background(), accounts.TokenVerifyParams{AccountID: cloudflare.F(s.AccountID())}); err == nil || errors.As(err, new(*cloudflare.Error)) {
		t.Fatalf("a closed fake answered: %v", err)
	}
}
