package fakedigitalocean

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tfstate-operator/tfstate-operator/internal/minioadmin"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/latency"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/minioidentity"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/miniotest"
)

// Scopes of custom-scoped tokens that gate the Spaces keys endpoints.
const (
	ScopeRead   = "spaces_key:read"
	ScopeCreate = "spaces_key:create_credentials"
	ScopeUpdate = "spaces_key:update"
	ScopeDelete = "spaces_key:delete"
)

// Permissions of a grant.
const (
	PermissionRead       = "read"
	PermissionReadWrite  = "readwrite"
	PermissionFullAccess = "fullaccess"
)

// Config configures a fake. Only MinIO is required.
type Config struct {
	// MinIO is the data plane: key identities are created there.
	MinIO *miniotest.Server
	// KeyLimit is the most keys that may exist at once. Default 200, DigitalOcean's default.
	KeyLimit int
	// BucketLimit is the most buckets that may be made through S3Endpoint. Default 100, the
	// documented per-account limit (Spaces limits page).
	BucketLimit int
	// PerMinute and PerHour are the requests allowed per token in any rolling minute and hour.
	// Default 250 and 5,000, DigitalOcean's documented limits.
	PerMinute, PerHour int
	// Now is the clock of the rate limits. Default time.Now.
	Now func() time.Time
	// Latency delays every answer (the benchmark's network); default none.
	Latency time.Duration
	// MaxPerPage is the largest page a list returns; a larger per_page is cut down to it.
	// Default 200, the documented maximum. Tests lower it to page through few keys.
	MaxPerPage int
	// OnList, when set, is called with the page number before a key listing page is read (tests
	// change the account between pages, as other clients of a real account do).
	OnList func(page int)
	// KeyPropagation delays when a new key starts working on S3 (its MinIO identity is made
	// after it); 0: at once. [inference] DigitalOcean does not document a delay; clients must
	// survive one, as on R2 and AWS.
	KeyPropagation time.Duration
}

// Grant is one grant of a key.
type Grant struct {
	Bucket     string `json:"bucket"`
	Permission string `json:"permission"`
}

// Key is a live key as the fake holds it, for assertions. It never carries the secret.
type Key struct {
	Name      string
	AccessKey string
	Grants    []Grant
	CreatedAt time.Time
}

// Request is one request the fake answered.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	// Token is the authenticated token's name ("" when authentication failed).
	Token  string
	Status int
}

// Server is a running fake. It is safe for concurrent use.
type Server struct {
	cfg        Config
	httpSrv    *httptest.Server
	s3Srv      *httptest.Server
	identities minioidentity.Identities

	// identityMu serialises the MinIO calls that make, change or remove a key's identity (create,
	// update, delete), so the policy MinIO enforces is always that of the grants last answered.
	// It is taken before mu, never while holding it.
	identityMu sync.Mutex

	mu       sync.Mutex
	closed   bool
	tokens   map[string]*token // by value
	keys     map[string]*key   // by access key
	order    []string          // access keys in creation order
	requests []Request
	throttle int

	// s3mu guards buckets: the canned ACL of every bucket made through the S3 front.
	s3mu    sync.Mutex
	buckets map[string]string
}

type token struct {
	name   string
	scopes []string // nil: every scope
	calls  []time.Time
}

type key struct {
	Key
	secret string
	// pending is true until the key's MinIO identity is made (Config.KeyPropagation).
	pending bool
}

// identityPrefix names the MinIO group and canned policy of each key's identity.
const identityPrefix = "do-key-"

// Start starts a fake on 127.0.0.1.
func Start(cfg Config) (*Server, error) {
	if cfg.MinIO == nil {
		return nil, errors.New("fakedigitalocean: Config.MinIO is required")
	}
	if cfg.KeyLimit <= 0 {
		cfg.KeyLimit = 200
	}
	if cfg.BucketLimit <= 0 {
		cfg.BucketLimit = 100
	}
	if cfg.PerMinute <= 0 {
		cfg.PerMinute = 250
	}
	if cfg.PerHour <= 0 {
		cfg.PerHour = 5000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxPerPage <= 0 {
		cfg.MaxPerPage = 200
	}
	admin, err := minioadmin.New(cfg.MinIO.Endpoint, cfg.MinIO.RootUser, cfg.MinIO.RootPassword, "", nil)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:        cfg,
		identities: minioidentity.Identities{Admin: admin, Prefix: identityPrefix},
		tokens:     map[string]*token{},
		keys:       map[string]*key{},
		buckets:    map[string]string{},
	}
	if s.httpSrv, err = serveOnLoopback(latency.Handler(cfg.Latency, http.HandlerFunc(s.serveHTTP))); err != nil {
		return nil, err
	}
	if s.s3Srv, err = serveOnLoopback(http.HandlerFunc(s.serveS3)); err != nil {
		s.httpSrv.Close()
		return nil, err
	}
	return s, nil
}

// serveOnLoopback serves h on 127.0.0.1 (httptest's own listener may be on [::1]).
func serveOnLoopback(h http.Handler) (*httptest.Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := httptest.NewUnstartedServer(h)
	_ = srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	return srv, nil
}

// URL is the API base URL, e.g. http://127.0.0.1:PORT/ (godo.SetBaseURL).
func (s *Server) URL() string { return s.httpSrv.URL + "/" }

// S3Endpoint is where keys issued here work: the fake's S3 front over MinIO (s3front.go).
func (s *Server) S3Endpoint() string { return s.s3Srv.URL }

// AddToken makes an API token holding scopes (none: a full-access token) and returns its value.
func (s *Server) AddToken(name string, scopes ...string) string {
	value := "dop_v1_" + randomHex(32)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[value] = &token{name: name, scopes: scopes}
	return value
}

// InjectThrottle makes the next n requests fail with 429, whatever their token.
func (s *Server) InjectThrottle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = n
}

// Requests returns every request answered so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Keys returns the live keys in creation order.
func (s *Server) Keys() []Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Key, 0, len(s.order))
	for _, ak := range s.order {
		k := s.keys[ak].Key
		k.Grants = slices.Clone(k.Grants)
		out = append(out, k)
	}
	return out
}

// SecretOf returns the secret of a live key ("" if none), for tests that check that no secret
// leaks into logs.
func (s *Server) SecretOf(accessKey string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.keys[accessKey]; k != nil {
		return k.secret
	}
	return ""
}

// Close stops serving and removes the MinIO identities of the live keys (a key does not outlive
// its API). MinIO buckets are left alone.
func (s *Server) Close() {
	s.httpSrv.Close()
	s.s3Srv.Close()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	live := slices.Clone(s.order)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// After a propagate in flight, which sees closed and makes no more.
	s.identityMu.Lock()
	defer s.identityMu.Unlock()
	for _, ak := range live {
		_ = s.identities.Delete(ctx, ak)
	}
}

// ---- HTTP plumbing ----

type call struct {
	w      http.ResponseWriter
	r      *http.Request
	tok    *token
	status int
	reqID  string
}

func (c *call) reply(status int, v any) {
	c.status = status
	c.w.Header().Set("x-request-id", c.reqID)
	if v == nil {
		c.w.WriteHeader(status)
		return
	}
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"id":"server_error","message":"internal error"}`)
		c.status = status
	}
	c.w.Header().Set("Content-Type", "application/json; charset=utf-8")
	c.w.WriteHeader(status)
	_, _ = c.w.Write(body)
}

func (c *call) fail(status int, id, msg string) {
	c.reply(status, map[string]string{"id": id, "message": msg, "request_id": c.reqID})
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{w: w, r: r, reqID: randomUUID()}
	defer func() {
		rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Status: c.status}
		if c.tok != nil {
			rec.Token = c.tok.name
		}
		s.mu.Lock()
		s.requests = append(s.requests, rec)
		s.mu.Unlock()
	}()
	s.serve(c)
}

func (s *Server) serve(c *call) {
	s.mu.Lock()
	if s.throttle > 0 {
		s.throttle--
		s.mu.Unlock()
		c.fail(http.StatusTooManyRequests, "too_many_requests", "API Rate limit exceeded.")
		return
	}
	s.mu.Unlock()

	// Routing. [inference] 404 not_found for unknown routes, 405 for a known path's other methods.
	rest, ok := strings.CutPrefix(c.r.URL.Path, "/v2/spaces/keys")
	var accessKey, scope string
	var handler func(*call, string)
	switch {
	case !ok || (rest != "" && rest != "/" && strings.Count(rest, "/") != 1):
		c.fail(http.StatusNotFound, "not_found", "The resource you were accessing could not be found.")
		return
	case rest == "" || rest == "/":
		switch c.r.Method {
		case http.MethodGet:
			scope, handler = ScopeRead, s.handleList
		case http.MethodPost:
			scope, handler = ScopeCreate, s.handleCreate
		}
	default:
		accessKey = strings.TrimPrefix(rest, "/")
		switch c.r.Method {
		case http.MethodGet:
			scope, handler = ScopeRead, s.handleGet
		case http.MethodPut:
			scope, handler = ScopeUpdate, s.handleUpdate
		case http.MethodDelete:
			scope, handler = ScopeDelete, s.handleDelete
		}
	}
	if handler == nil {
		c.fail(http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed")
		return
	}

	// Authentication, rate limits, scope.
	value, _ := strings.CutPrefix(c.r.Header.Get("Authorization"), "Bearer ")
	now := s.cfg.Now()
	s.mu.Lock()
	t := s.tokens[strings.TrimSpace(value)]
	if t == nil {
		s.mu.Unlock()
		c.fail(http.StatusUnauthorized, "unauthorized", "Unable to authenticate you")
		return
	}
	c.tok = t
	limited := s.count(c.w.Header(), t, now)
	allowed := t.scopes == nil || slices.Contains(t.scopes, scope)
	s.mu.Unlock()
	if limited {
		c.fail(http.StatusTooManyRequests, "too_many_requests", "API Rate limit exceeded.")
		return
	}
	if !allowed {
		c.fail(http.StatusForbidden, "forbidden", "You are not authorized to perform this operation")
		return
	}
	handler(c, accessKey)
}

// count counts a request of t at now unless it is beyond a limit, and sets the RateLimit headers.
// It reports whether the request is refused. s.mu must be held.
func (s *Server) count(h http.Header, t *token, now time.Time) bool {
	hourAgo, minuteAgo := now.Add(-time.Hour), now.Add(-time.Minute)
	t.calls = slices.DeleteFunc(t.calls, func(c time.Time) bool { return !c.After(hourAgo) })
	inMinute := 0
	for _, c := range t.calls {
		if c.After(minuteAgo) {
			inMinute++
		}
	}
	limited := len(t.calls) >= s.cfg.PerHour || inMinute >= s.cfg.PerMinute
	if !limited {
		t.calls = append(t.calls, now)
	}
	reset := now
	if len(t.calls) > 0 {
		reset = t.calls[0].Add(time.Hour)
		if inMinute >= s.cfg.PerMinute {
			// The minute's oldest request expires first.
			reset = t.calls[len(t.calls)-inMinute].Add(time.Minute)
		}
	}
	h.Set("RateLimit-Limit", strconv.Itoa(s.cfg.PerHour))
	h.Set("RateLimit-Remaining", strconv.Itoa(max(s.cfg.PerHour-len(t.calls), 0)))
	h.Set("RateLimit-Reset", strconv.FormatInt(reset.Unix()+1, 10))
	return limited
}

// ---- keys ----

const timeFormat = "2006-01-02T15:04:05Z"

func keyJSON(k *key, withSecret bool) map[string]any {
	grants := k.Grants
	if grants == nil {
		grants = []Grant{}
	}
	out := map[string]any{"name": k.Name, "access_key": k.AccessKey, "grants": grants, "created_at": k.CreatedAt.Format(timeFormat)}
	if withSecret {
		out["secret_key"] = k.secret
	}
	return out
}

// keyBody is the body of a key create or update.
type keyBody struct {
	Name   *string  `json:"name"`
	Grants *[]Grant `json:"grants"`
}

// decodeKeyBody reads and validates a key create or update body, answering the refusal itself.
// [inference] validation failures are 422.
func decodeKeyBody(c *call) (keyBody, bool) {
	var body keyBody
	if err := json.NewDecoder(http.MaxBytesReader(c.w, c.r.Body, 1<<20)).Decode(&body); err != nil {
		c.fail(http.StatusBadRequest, "bad_request", "unable to parse the request body")
		return body, false
	}
	if body.Name == nil || strings.TrimSpace(*body.Name) == "" {
		c.fail(http.StatusUnprocessableEntity, "unprocessable_entity", "name is required")
		return body, false
	}
	if msg := invalidGrants(body.Grants); msg != "" {
		c.fail(http.StatusUnprocessableEntity, "unprocessable_entity", msg)
		return body, false
	}
	return body, true
}

func (s *Server) handleCreate(c *call, _ string) {
	body, ok := decodeKeyBody(c)
	if !ok {
		return
	}
	k := &key{Key: Key{Name: *body.Name, AccessKey: newAccessKey(), Grants: *body.Grants, CreatedAt: s.cfg.Now().UTC()}, secret: newSecret()}

	s.identityMu.Lock()
	defer s.identityMu.Unlock()
	s.mu.Lock()
	if len(s.keys) >= s.cfg.KeyLimit {
		s.mu.Unlock()
		c.fail(http.StatusUnprocessableEntity, "unprocessable_entity",
			fmt.Sprintf("You have reached the limit of %d Spaces access keys for this account.", s.cfg.KeyLimit))
		return
	}
	s.keys[k.AccessKey] = k // reserved before the MinIO calls, so the limit holds under concurrency
	s.order = append(s.order, k.AccessKey)
	s.mu.Unlock()

	if s.cfg.KeyPropagation > 0 {
		k.pending = true
		time.AfterFunc(s.cfg.KeyPropagation, func() { s.propagate(k) })
	} else if err := s.identities.Put(c.r.Context(), k.AccessKey, k.secret, policy(k.Grants)); err != nil {
		s.forget(k.AccessKey)
		c.fail(http.StatusInternalServerError, "server_error", "could not create the key")
		return
	}
	c.reply(http.StatusCreated, map[string]any{"key": keyJSON(k, true)})
}

// propagate makes the MinIO identity of a key created Config.KeyPropagation ago, with its grants
// as they are now, unless it was deleted meanwhile or the fake closed.
func (s *Server) propagate(k *key) {
	s.identityMu.Lock()
	defer s.identityMu.Unlock()
	s.mu.Lock()
	live := !s.closed && s.keys[k.AccessKey] == k && k.pending
	grants := slices.Clone(k.Grants)
	s.mu.Unlock()
	if !live {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.identities.Put(ctx, k.AccessKey, k.secret, policy(grants)); err != nil {
		return // the key stays refused on S3, as a key that never propagates would be
	}
	s.mu.Lock()
	k.pending = false
	s.mu.Unlock()
}

func (s *Server) forget(accessKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, accessKey)
	s.order = slices.DeleteFunc(s.order, func(a string) bool { return a == accessKey })
}

func (s *Server) handleList(c *call, _ string) {
	q := c.r.URL.Query()
	page, perPage := 1, min(20, s.cfg.MaxPerPage)
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			c.fail(http.StatusBadRequest, "bad_request", "page must be a positive integer")
			return
		}
		page = n
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			c.fail(http.StatusBadRequest, "bad_request", "per_page must be between 1 and 200")
			return
		}
		perPage = min(n, s.cfg.MaxPerPage)
	}
	// The documented defaults are sort=created_at and sort_direction=desc: newest first
	// (digitalocean/openapi, spaces/parameters.yml). Only created_at is sorted on.
	newestFirst := true
	switch q.Get("sort_direction") {
	case "", "desc":
	case "asc":
		newestFirst = false
	default:
		c.fail(http.StatusBadRequest, "bad_request", "sort_direction must be asc or desc")
		return
	}
	if s.cfg.OnList != nil {
		s.cfg.OnList(page)
	}
	s.mu.Lock()
	total := len(s.order)
	var keys []map[string]any
	for i := (page - 1) * perPage; i < min(page*perPage, total); i++ {
		at := i
		if newestFirst {
			at = total - 1 - i
		}
		keys = append(keys, keyJSON(s.keys[s.order[at]], false))
	}
	s.mu.Unlock()
	if keys == nil {
		keys = []map[string]any{}
	}
	last := max((total+perPage-1)/perPage, 1)
	link := func(p int) string {
		return fmt.Sprintf("%sv2/spaces/keys?page=%d&per_page=%d", s.URL(), p, perPage)
	}
	pages := map[string]string{}
	if page > 1 {
		pages["first"], pages["prev"] = link(1), link(page-1)
	}
	if page < last {
		pages["next"], pages["last"] = link(page+1), link(last)
	}
	c.reply(http.StatusOK, map[string]any{"keys": keys, "links": map[string]any{"pages": pages}, "meta": map[string]int{"total": total}})
}

func (s *Server) handleGet(c *call, accessKey string) {
	s.mu.Lock()
	k := s.keys[accessKey]
	var out map[string]any
	if k != nil {
		out = keyJSON(k, false)
	}
	s.mu.Unlock()
	if k == nil {
		c.fail(http.StatusNotFound, "not_found", "The resource you were accessing could not be found.")
		return
	}
	c.reply(http.StatusOK, map[string]any{"key": out})
}

func (s *Server) handleDelete(c *call, accessKey string) {
	s.identityMu.Lock()
	defer s.identityMu.Unlock()
	s.mu.Lock()
	k, ok := s.keys[accessKey]
	pending := ok && k.pending
	s.mu.Unlock()
	if !ok {
		c.fail(http.StatusNotFound, "not_found", "The resource you were accessing could not be found.")
		return
	}
	// The identity goes first: once the delete answers, the keys are refused. A pending key has
	// none yet, and propagate makes none for a forgotten key.
	if !pending {
		if err := s.identities.Delete(c.r.Context(), accessKey); err != nil {
			c.fail(http.StatusInternalServerError, "server_error", "could not delete the key")
			return
		}
	}
	s.forget(accessKey)
	c.reply(http.StatusNoContent, nil)
}

// handleUpdate replaces a key's name and grants (PUT: both are sent whole). The policy of its MinIO
// identity is replaced first, so once the reply is sent S3 enforces the new grants for the same
// keys, which keep working throughout.
func (s *Server) handleUpdate(c *call, accessKey string) {
	s.identityMu.Lock()
	defer s.identityMu.Unlock()
	s.mu.Lock()
	k := s.keys[accessKey]
	var before []Grant
	if k != nil {
		before = slices.Clone(k.Grants)
	}
	s.mu.Unlock()
	// [inference] An unknown key is 404 whatever the body says.
	if k == nil {
		c.fail(http.StatusNotFound, "not_found", "The resource you were accessing could not be found.")
		return
	}
	// [inference] As on create: a PUT replaces the whole key, so both fields are required (doctl
	// requires both; partial updates are PATCH's).
	body, ok := decodeKeyBody(c)
	if !ok {
		return
	}
	// The API reference (spacesKey_update): "you cannot convert a fullaccess key to a scoped key or
	// vice versa". [inference] Refused with 400, the one client error the operation documents.
	if fullAccess(before) != fullAccess(*body.Grants) {
		c.fail(http.StatusBadRequest, "bad_request", "a fullaccess key cannot be converted to a scoped key or back")
		return
	}
	s.mu.Lock()
	pending := k.pending
	s.mu.Unlock()
	// A pending key's identity is made later, with the grants of this update (propagate).
	if !pending {
		if err := s.identities.SetPolicy(c.r.Context(), accessKey, policy(*body.Grants)); err != nil {
			c.fail(http.StatusInternalServerError, "server_error", "could not update the key")
			return
		}
	}
	s.mu.Lock()
	k.Name, k.Grants = *body.Name, *body.Grants
	out := keyJSON(k, false)
	s.mu.Unlock()
	c.reply(http.StatusOK, map[string]any{"key": out})
}

// invalidGrants says what is wrong with the grants of a create or update body ("" when nothing).
// [inference] The checks and the wording: see the package doc.
func invalidGrants(grants *[]Grant) string {
	if grants == nil {
		return "grants is required"
	}
	for _, g := range *grants {
		switch g.Permission {
		case PermissionFullAccess:
		case PermissionRead, PermissionReadWrite:
			if g.Bucket == "" {
				return fmt.Sprintf("a %s grant needs a bucket", g.Permission)
			}
		default:
			return fmt.Sprintf("invalid permission %q: must be one of read, readwrite, fullaccess", g.Permission)
		}
	}
	return ""
}

// fullAccess reports whether grants make a fullaccess key: one fullaccess grant is enough, since
// it wins over scoped grants in the same key.
func fullAccess(grants []Grant) bool {
	return slices.ContainsFunc(grants, func(g Grant) bool { return g.Permission == PermissionFullAccess })
}

// policy translates grants to a MinIO policy (see the package doc).
func policy(grants []Grant) []byte {
	var stmts []minioidentity.Statement
	for _, g := range grants {
		if g.Permission == PermissionFullAccess {
			stmts = []minioidentity.Statement{{Effect: "Allow", Action: []string{"s3:*"}, Resource: []string{"arn:aws:s3:::*", "arn:aws:s3:::*/*"}}}
			break
		}
		objectActions := []string{"s3:GetObject"}
		if g.Permission == PermissionReadWrite {
			objectActions = append(objectActions, "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")
		}
		stmts = append(stmts,
			minioidentity.Statement{Effect: "Allow", Action: []string{"s3:ListBucket", "s3:GetBucketLocation"}, Resource: []string{"arn:aws:s3:::" + g.Bucket}},
			minioidentity.Statement{Effect: "Allow", Action: objectActions, Resource: []string{"arn:aws:s3:::" + g.Bucket + "/*"}})
	}
	if len(stmts) == 0 {
		stmts = []minioidentity.Statement{{Effect: "Deny", Action: []string{"s3:*"}, Resource: []string{"arn:aws:s3:::*"}}}
	}
	out, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": stmts})
	if err != nil {
		panic(err)
	}
	return out
}

// ---- ids ----

const accessKeyChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

// newAccessKey is "DO" and 18 characters of [0-9A-Z]. [inference] The format of real keys.
func newAccessKey() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = accessKeyChars[int(b[i])%len(accessKeyChars)]
	}
	return "DO" + string(b)
}

func newSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawStdEncoding.EncodeToString(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func randomUUID() string {
	h := randomHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
