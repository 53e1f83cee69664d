package spaces

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/digitalocean/godo"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/ratelimit"
)

// keysPerPage is the page size of key listings (the API's maximum is 200).
const keysPerPage = 200

// defaultBlock is how long every call is held back after a 429 that says nothing about when to
// come back: DigitalOcean's per-minute window.
const defaultBlock = time.Minute

// keysAPI is every DigitalOcean API call the provider makes, and no more (create, list, get,
// update and delete of Spaces keys): godo's Spaces keys service, built without godo's retries
// (the reconcile loop retries with backoff) and with every request going through the account's
// shared limiters.
type keysAPI struct {
	keys godo.SpacesKeysService
}

func newKeysAPI(baseURL, token string, hc *http.Client, limiters []*ratelimit.Limiter) (*keysAPI, error) {
	limitedClient := *hc
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	limitedClient.Transport = &limitedTransport{next: base, limiters: limiters}
	c, err := godo.New(&limitedClient,
		godo.SetBaseURL(baseURL),
		godo.SetUserAgent("tfstate-operator"),
		godo.SetRequestHeaders(map[string]string{"Authorization": "Bearer " + token}),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: apiBaseURL: %w", provider.ErrInvalidConfig, err)
	}
	return &keysAPI{keys: c.SpacesKeys}, nil
}

// limitedTransport sends each request through the shared limiters and, on a 429, holds back every
// call with this token until DigitalOcean's window has room again.
type limitedTransport struct {
	next     http.RoundTripper
	limiters []*ratelimit.Limiter
}

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for _, l := range t.limiters {
		if err := l.Wait(req.Context()); err != nil {
			return nil, err
		}
	}
	resp, err := t.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		for _, l := range t.limiters {
			l.Block(retryAfter(resp.Header, time.Now()))
		}
	}
	return resp, err
}

// retryAfter is when to call again after a 429: Retry-After (seconds) if sent, else the
// RateLimit-Reset epoch second DigitalOcean documents, else defaultBlock.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After"))); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if epoch, err := strconv.ParseInt(strings.TrimSpace(h.Get("RateLimit-Reset")), 10, 64); err == nil {
		if d := time.Unix(epoch, 0).Sub(now); d > 0 {
			return d
		}
		return time.Second
	}
	return defaultBlock
}

// APIError is a DigitalOcean API error reply. Unlike godo's ErrorResponse it never carries the HTTP
// request (whose Authorization header holds the token).
type APIError struct {
	Op         string
	StatusCode int
	// ID is the reply's "id" ("not_found", "unauthorized", "too_many_requests", ...).
	ID        string
	Message   string
	RequestID string
	// RetryAfter is set on 429 replies.
	RetryAfter time.Duration
}

// Error names the operation, the status and the documented id, never the message or the request
// id: they are the reply's text (godo puts a body that is not JSON in the message), and a tenant's
// apiBaseURL can name a service that is not DigitalOcean.
func (e *APIError) Error() string {
	return fmt.Sprintf("digitalocean %s: HTTP %d %s", e.Op, e.StatusCode, e.ID)
}

// apiErr converts a godo error of operation op: 401 is a refused token (terminal), 403 a missing
// scope (terminal), 429 a RateLimitedError, a key-limit refusal ErrQuotaExceeded; anything else
// stays retryable.
func apiErr(op string, resp *godo.Response, err error) error {
	if err == nil {
		return nil
	}
	var rl *provider.RateLimitedError
	if errors.As(err, &rl) {
		return err // the client-side limiter, not DigitalOcean
	}
	var er *godo.ErrorResponse
	if !errors.As(err, &er) || er.Response == nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			// Drop the URL's request context; keep the cause.
			return fmt.Errorf("digitalocean %s: %w", op, provider.Redact(ue.Err, 0, ""))
		}
		return fmt.Errorf("digitalocean %s: %w", op, provider.Redact(err, 0, ""))
	}
	e := &APIError{Op: op, StatusCode: er.Response.StatusCode, Message: er.Message, RequestID: er.RequestID}
	if resp != nil && resp.Response != nil {
		e.RequestID = firstNonEmpty(e.RequestID, resp.Header.Get("x-request-id"))
	}
	e.ID = errorID(er)
	switch {
	case e.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%w: the DigitalOcean API token was refused: %w", provider.ErrInvalidConfig, e)
	case e.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: the DigitalOcean API token needs the spaces_key scopes (create_credentials, read, update, delete): %w", provider.ErrPermissionDenied, e)
	case e.StatusCode == http.StatusTooManyRequests:
		e.RetryAfter = retryAfter(er.Response.Header, time.Now())
		return &provider.RateLimitedError{RetryAfter: e.RetryAfter, Err: e}
	case isKeyLimit(e):
		return fmt.Errorf("%w: DigitalOcean allows 200 Spaces keys per account by default, one per StateBackend (ask support to raise it): %w", provider.ErrQuotaExceeded, e)
	}
	return e
}

// errorID is the documented reply "id" for the status (godo decodes only the message).
func errorID(er *godo.ErrorResponse) string {
	switch er.Response.StatusCode {
	case http.StatusNotFound:
		return "not_found"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusTooManyRequests:
		return "too_many_requests"
	case http.StatusUnprocessableEntity:
		return "unprocessable_entity"
	}
	return strconv.Itoa(er.Response.StatusCode)
}

// isKeyLimit recognises the refusal of a key beyond the account's limit. [inference] The reply is
// not documented; DigitalOcean refuses other per-account limits (Droplets) with 422 and a message
// naming the limit.
func isKeyLimit(e *APIError) bool {
	if e.StatusCode != http.StatusUnprocessableEntity && e.StatusCode != http.StatusForbidden {
		return false
	}
	m := strings.ToLower(e.Message)
	return strings.Contains(m, "limit") || strings.Contains(m, "maximum")
}

func isNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// create creates a key with the grants. Its secret half is in the reply and nowhere else, ever.
func (a *keysAPI) create(ctx context.Context, name string, grants ...*godo.Grant) (*godo.SpacesKey, error) {
	k, resp, err := a.keys.Create(ctx, &godo.SpacesKeyCreateRequest{Name: name, Grants: grants})
	if err != nil {
		return nil, apiErr("create Spaces key", resp, err)
	}
	if k == nil || k.AccessKey == "" || k.SecretKey == "" {
		return nil, fmt.Errorf("digitalocean create Spaces key %q: the reply holds no key pair", name)
	}
	return k, nil
}

// get returns the key (without its secret). An unknown key wraps provider.ErrCredentialNotFound.
func (a *keysAPI) get(ctx context.Context, accessKey string) (*godo.SpacesKey, error) {
	if accessKey == "" {
		// godo refuses an empty access key before any request; no key has one.
		return nil, fmt.Errorf("digitalocean get Spaces key: empty access key: %w", provider.ErrCredentialNotFound)
	}
	k, resp, err := a.keys.Get(ctx, accessKey)
	if err != nil {
		return nil, notFoundIsCredentialNotFound(apiErr("get Spaces key", resp, err))
	}
	if k == nil {
		return nil, fmt.Errorf("digitalocean get Spaces key %s: the reply holds no key", accessKey)
	}
	return k, nil
}

// update replaces the key's name and grants (a PUT: both are sent whole) and returns the key as
// DigitalOcean stored it. A key deleted meanwhile wraps provider.ErrCredentialNotFound.
func (a *keysAPI) update(ctx context.Context, accessKey, name string, grants ...*godo.Grant) (*godo.SpacesKey, error) {
	k, resp, err := a.keys.Update(ctx, accessKey, &godo.SpacesKeyUpdateRequest{Name: name, Grants: grants})
	if err != nil {
		return nil, notFoundIsCredentialNotFound(apiErr("update Spaces key", resp, err))
	}
	if k == nil {
		return nil, fmt.Errorf("digitalocean update Spaces key %s: the reply holds no key", accessKey)
	}
	return k, nil
}

func notFoundIsCredentialNotFound(err error) error {
	if isNotFound(err) {
		return fmt.Errorf("%w: %w", provider.ErrCredentialNotFound, err)
	}
	return err
}

// list returns every key of the account, following the pages.
func (a *keysAPI) list(ctx context.Context) ([]*godo.SpacesKey, error) {
	var out []*godo.SpacesKey
	// DigitalOcean lists newest first (sort_direction desc, digitalocean/openapi
	// spaces/parameters.yml): a key created between two pages pushes one already read onto the
	// next page, so each key is kept once.
	seen := map[string]bool{}
	for page := 1; ; page++ {
		keys, resp, err := a.keys.List(ctx, &godo.ListOptions{Page: page, PerPage: keysPerPage})
		if err != nil {
			return nil, apiErr("list Spaces keys", resp, err)
		}
		for _, k := range keys {
			if k != nil && !seen[k.AccessKey] {
				seen[k.AccessKey] = true
				out = append(out, k)
			}
		}
		if resp == nil || resp.Links == nil || resp.Links.IsLastPage() || len(keys) == 0 {
			return out, nil
		}
		if page > 1000 {
			return nil, errors.New("digitalocean list Spaces keys: more than 1000 pages")
		}
	}
}

// listOne lists a single key: the cheapest call that proves the token may read keys.
func (a *keysAPI) listOne(ctx context.Context) error {
	_, resp, err := a.keys.List(ctx, &godo.ListOptions{Page: 1, PerPage: 1})
	return apiErr("list Spaces keys", resp, err)
}

// delete deletes the key; an absent key is success.
func (a *keysAPI) delete(ctx context.Context, accessKey string) error {
	resp, err := a.keys.Delete(ctx, accessKey)
	if err = apiErr("delete Spaces key", resp, err); err != nil && !isNotFound(err) {
		return err
	}
	return nil
}
