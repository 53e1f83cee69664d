package fakecloudflare

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tfstate-operator/tfstate-operator/internal/minioadmin"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/latency"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/minioidentity"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/miniotest"
)

// Config configures a fake. Only MinIO is required.
type Config struct {
	// MinIO is the data plane: buckets and token identities are created there.
	MinIO *miniotest.Server
	// AccountID is the one account the fake serves. Default: 32 random hex characters.
	AccountID string
	// TokenQuota is the most account tokens that may exist at once. Default 500, Cloudflare's
	// documented account API token quota.
	TokenQuota int
	// BucketLimit is the most buckets the account may hold. Default 1,000,000, R2's documented
	// default (R2 error codes: 10009 TooManyBuckets, 400).
	BucketLimit int
	// RateLimit requests per RateWindow are allowed per API token. Default 1200 per 5 minutes,
	// Cloudflare's documented global API rate limit.
	RateLimit  int
	RateWindow time.Duration
	// PropagationDelay delays the creation of a new token's MinIO identity (R2 documents up to a
	// minute before a new token works). Default 0: the identity exists when the create answers.
	PropagationDelay time.Duration
	// Now is the fake's clock, for expires_on and not_before; default time.Now. Tests that move
	// an operator's clock share it here, so a token expires when the operator thinks it does.
	Now func() time.Time
	// Latency delays every answer (the benchmark's network); default none.
	Latency time.Duration
}

// Token is a live token as the fake holds it, for assertions. It never carries the value.
type Token struct {
	ID     string
	Name   string
	Status string
	// Admin is true for tokens made with Server.AddToken.
	Admin                bool
	IssuedOn, ModifiedOn time.Time
	// ExpiresOn and NotBefore are zero when not set.
	ExpiresOn, NotBefore time.Time
	Policies             []Policy
	// Condition is the raw "condition" object of the create request, if any.
	Condition json.RawMessage
	// S3Identity reports whether the MinIO identity (ID, SecretAccessKey(value)) exists now.
	S3Identity bool
	// S3IdentityErr is the error of a failed delayed identity creation.
	S3IdentityErr error
}

// OnlyAllows reports whether the token's whole policy is one allow of the one permission group
// (by name) on the one resource: what a least-privilege bucket token looks like.
func (t Token) OnlyAllows(group, resource string) bool {
	if len(t.Policies) != 1 {
		return false
	}
	p := t.Policies[0]
	return p.Effect == "allow" && len(p.PermissionGroups) == 1 && p.PermissionGroups[0].Name == group &&
		len(p.Resources) == 1 && p.Resources[resource] == "*"
}

// Policy is one policy of a token.
type Policy struct {
	ID               string
	Effect           string // "allow" or "deny"
	PermissionGroups []PermissionGroupRef
	// Resources is as sent: each value is "*" or a map[string]string of nested resources.
	Resources map[string]any
}

// PermissionGroupRef names a permission group in a policy.
type PermissionGroupRef struct {
	ID   string
	Name string
}

// Request is one request the fake answered.
type Request struct {
	Method string
	// Path is the URL path as received, e.g. /client/v4/accounts/<acct>/r2/buckets.
	Path  string
	Query url.Values
	// Jurisdiction is the cf-r2-jurisdiction header as sent ("" when absent).
	Jurisdiction string
	// TokenID is the id of the authenticated token ("" when authentication failed).
	TokenID string
	Status  int
}

// Server is a running fake. It is safe for concurrent use.
type Server struct {
	cfg        Config
	account    string
	httpSrv    *httptest.Server
	s3         *minio.Client            // root credentials
	identities minioidentity.Identities // root credentials

	// iamMu serialises MinIO identity changes so that a delete never races a delayed create.
	// Lock order: iamMu before mu; mu is never held across network calls.
	iamMu sync.Mutex
	// bucketMu serialises bucket create/delete (check + MinIO call).
	bucketMu sync.Mutex

	mu       sync.Mutex
	closed   bool
	tokens   map[string]*token // by id
	order    []string          // token ids in creation order
	byValue  map[string]string // token value -> id
	buckets  map[string]*bucket
	requests []Request
	rate     map[string]*rateState // by token id
	throttle struct {
		n          int
		retryAfter time.Duration
	}
	pending sync.WaitGroup // delayed identity creations scheduled or running
	temps   []TemporaryCredential
	stop    chan struct{} // closed by Close: ends the expiry sweeper
	swept   sync.WaitGroup
}

type token struct {
	Token
	value     string
	secretKey string
	timer     *time.Timer
	policies  []tokenPolicy
}

type rateState struct {
	windowStart  time.Time
	count        int
	blockedUntil time.Time
}

// identityPrefix names the MinIO group and canned policy of each token's identity.
const identityPrefix = "cf-token-"

// Start starts a fake on 127.0.0.1.
func Start(cfg Config) (*Server, error) {
	if cfg.MinIO == nil {
		return nil, errors.New("fakecloudflare: Config.MinIO is required")
	}
	if cfg.AccountID == "" {
		cfg.AccountID = randomHex(16)
	}
	if cfg.TokenQuota <= 0 {
		cfg.TokenQuota = 500
	}
	if cfg.BucketLimit <= 0 {
		cfg.BucketLimit = 1_000_000
	}
	if cfg.RateLimit <= 0 {
		cfg.RateLimit = 1200
	}
	if cfg.RateWindow <= 0 {
		cfg.RateWindow = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s3, err := minio.New(cfg.MinIO.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.MinIO.RootUser, cfg.MinIO.RootPassword, ""),
		Region: "us-east-1",
	})
	if err != nil {
		return nil, err
	}
	iam, err := minioadmin.New(cfg.MinIO.Endpoint, cfg.MinIO.RootUser, cfg.MinIO.RootPassword, "", nil)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:        cfg,
		account:    cfg.AccountID,
		s3:         s3,
		identities: minioidentity.Identities{Admin: iam, Prefix: identityPrefix},
		tokens:     map[string]*token{},
		byValue:    map[string]string{},
		buckets:    map[string]*bucket{},
		rate:       map[string]*rateState{},
		stop:       make(chan struct{}),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.httpSrv = httptest.NewUnstartedServer(latency.Handler(cfg.Latency, http.HandlerFunc(s.serveHTTP)))
	_ = s.httpSrv.Listener.Close() // httptest's own listener may be on [::1]; use 127.0.0.1 only
	s.httpSrv.Listener = l
	s.httpSrv.Start()
	s.swept.Add(1)
	go s.sweepExpired()
	return s, nil
}

// sweepInterval is how often tokens past their expires_on lose their S3 identity.
const sweepInterval = 250 * time.Millisecond

func (s *Server) sweepExpired() {
	defer s.swept.Done()
	tick := time.NewTicker(sweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			_ = s.ExpireDue()
		}
	}
}

// ExpireDue expires every token whose expires_on has passed on the fake's clock: its status
// becomes "expired" (it stays listed, as on Cloudflare) and its MinIO identity is removed, so its
// S3 keys and the temporary credentials derived from it are refused. The fake runs it every
// 250 ms; a test that moved Config.Now calls it to have it happen at once.
func (s *Server) ExpireDue() error {
	s.iamMu.Lock()
	defer s.iamMu.Unlock()
	now := s.cfg.Now()
	var due []*token
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	for _, id := range s.order {
		t := s.tokens[id]
		if !t.ExpiresOn.IsZero() && !now.Before(t.ExpiresOn) && t.Status != "expired" {
			t.Status = "expired"
			s.stopTimer(t)
			due = append(due, t)
		}
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, t := range due {
		if err := s.identities.Delete(ctx, t.ID); err != nil {
			return err
		}
		s.mu.Lock()
		t.S3Identity = false
		s.mu.Unlock()
	}
	return nil
}

// URL is the API base URL, e.g. http://127.0.0.1:PORT/client/v4/ (for option.WithBaseURL).
func (s *Server) URL() string { return s.httpSrv.URL + basePath }

// AccountID is the account the fake serves.
func (s *Server) AccountID() string { return s.account }

// S3Endpoint is the MinIO endpoint that stands in for https://<account>.r2.cloudflarestorage.com
// (and its eu/fedramp variants).
func (s *Server) S3Endpoint() string { return s.cfg.MinIO.Endpoint }

// SecretAccessKey is R2's S3 secret access key for a token value: hex(SHA-256(value)).
func SecretAccessKey(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])
}

// InjectThrottle makes the next n requests (whatever their token) answer 429 with a
// Retry-After of retryAfter, rounded up to whole seconds.
func (s *Server) InjectThrottle(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle.n, s.throttle.retryAfter = n, retryAfter
}

// Requests returns the requests answered so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		r.Query = cloneValues(r.Query)
		out[i] = r
	}
	return out
}

// Tokens returns the live tokens in creation order.
func (s *Server) Tokens() []Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Token, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.tokens[id].snapshot())
	}
	return out
}

// Close stops the fake: it cancels delayed identity creations, removes the MinIO identities of
// its tokens (a token does not outlive its API) and stops serving. MinIO buckets are left alone.
func (s *Server) Close() {
	s.httpSrv.Close() // waits for requests in flight
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.stop)
	for _, t := range s.tokens {
		s.stopTimer(t)
	}
	s.mu.Unlock()
	s.pending.Wait()
	s.swept.Wait()
	s.iamMu.Lock()
	defer s.iamMu.Unlock()
	s.mu.Lock()
	var ids []string
	for _, id := range s.order {
		if s.tokens[id].S3Identity {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, id := range ids {
		_ = s.identities.Delete(ctx, id)
	}
}

// ---- HTTP plumbing ----

const basePath = "/client/v4/"

// Error codes. See the package doc for which are [inference].
const (
	codeInvalidToken       = 1000  // [inference] 401 "Invalid API Token" (verify endpoints)
	codeInvalidHeaders     = 6003  // 400 "Invalid request headers" (users' reports)
	codeInvalidAuthHeader  = 6111  // its error_chain: "Invalid format for Authorization header"
	codeMissingAuth        = 9106  // [inference] 400 no credentials at all
	codeInvalidAccessToken = 9109  // 403 "Invalid access token" (ddns-go #890)
	codeBadRequest         = 1001  // [inference] 400 token-service validation
	codeTokenNotFound      = 1003  // [inference] 404 unknown token id
	codeMalformedJSON      = 6007  // [inference] 400
	codeNoRoute            = 7000  // [inference] 404
	codeMethodNotAllow     = 7001  // [inference] 405
	codeRateLimited        = 971   // [inference] 429
	codeAuthError          = 10000 // 403 "Authentication error"
	codeInternal           = 10001 // R2 InternalError, 500
	codeInvalidBucket      = 10005 // R2 InvalidBucketName, 400
	codeNoSuchBucket       = 10006 // R2 NoSuchBucket, 404
	codeBucketNotEmpty     = 10008 // R2 BucketNotEmpty, 409
	codeTooManyBuckets     = 10009 // R2 TooManyBuckets, 400: "Account bucket limit exceeded"
	codeInvalidArgument    = 10040 // [inference] 400 bad R2 argument
	codeBucketConflict     = 10073 // R2 BucketConflict, 409
)

type apiError struct {
	Code       int        `json:"code"`
	Message    string     `json:"message"`
	ErrorChain []apiError `json:"error_chain,omitempty"`
}

type refusal struct {
	status int
	err    apiError
}

// tokenChars is what an API token value is made of (Cloudflare's are base64url-like: letters,
// digits, '-' and '_').
var tokenChars = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// refuseHeader answers an Authorization header Cloudflare refuses before looking the token up:
//   - none: 400 code 9106 "Missing X-Auth-Key, X-Auth-Email or Authorization headers"
//     [inference: the code and wording users report for a request without credentials];
//   - not "Bearer <token>", or a token of other characters: 400 code 6003 "Invalid request
//     headers" with 6111 "Invalid format for Authorization header" in its error_chain
//     (../shared/reference/provider-truth-2.md: users' reports of malformed tokens).
//
// A well-formed token Cloudflare does not know, or one revoked, expired or not yet valid, is
// then 403 code 9109 "Invalid access token" (ddns-go #890), except on the verify endpoints.
func refuseHeader(header, value string, bearer bool) *refusal {
	switch {
	case header == "":
		return &refusal{http.StatusBadRequest, apiError{Code: codeMissingAuth, Message: "Missing X-Auth-Key, X-Auth-Email or Authorization headers"}}
	case !bearer || !tokenChars.MatchString(value):
		return &refusal{http.StatusBadRequest, apiError{Code: codeInvalidHeaders, Message: "Invalid request headers",
			ErrorChain: []apiError{{Code: codeInvalidAuthHeader, Message: "Invalid format for Authorization header"}}}}
	}
	return nil
}

type envelope struct {
	Success    bool       `json:"success"`
	Errors     []apiError `json:"errors"`
	Messages   []any      `json:"messages"`
	Result     any        `json:"result"`
	ResultInfo any        `json:"result_info,omitempty"`
}

// call is one request being served.
type call struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	params map[string]string
	tok    *token
	status int
	// jurisdiction is the validated cf-r2-jurisdiction ("default" when absent).
	jurisdiction string
}

func (c *call) reply(status int, result, resultInfo any) {
	c.write(status, envelope{Success: true, Errors: []apiError{}, Messages: []any{}, Result: result, ResultInfo: resultInfo})
}

func (c *call) fail(status, code int, msg string) {
	c.write(status, envelope{Success: false, Errors: []apiError{{Code: code, Message: msg}}, Messages: []any{}})
}

func (c *call) write(status int, env envelope) {
	body, err := json.Marshal(env)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"success":false,"errors":[{"code":10001,"message":"internal error"}],"messages":[],"result":null}`)
	}
	c.status = status
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(status)
	_, _ = c.w.Write(body)
}

// decodeJSON decodes the request body into v, answering 400 itself when it cannot.
func (c *call) decodeJSON(v any) bool {
	err := json.NewDecoder(http.MaxBytesReader(c.w, c.r.Body, 1<<20)).Decode(v)
	if err == nil {
		return true
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		c.fail(http.StatusBadRequest, codeBadRequest, fmt.Sprintf("Invalid type for field %q", typeErr.Field))
	} else {
		c.fail(http.StatusBadRequest, codeMalformedJSON, "Malformed JSON in request body")
	}
	return false
}

// Permission group names that gate endpoints.
const (
	pgR2Write     = "Workers R2 Storage Write"
	pgR2Read      = "Workers R2 Storage Read"
	pgTokensWrite = "Account API Tokens Write"
	pgTokensRead  = "Account API Tokens Read"
)

type route struct {
	method  string
	pattern []string // literal segments, or "{name}" wildcards
	// perms: any one of these permission groups on the account is needed; nil = valid token only.
	perms   []string
	handler func(*call)
}

func (s *Server) routes() []route {
	seg := func(p string) []string { return strings.Split(p, "/") }
	return []route{
		{http.MethodGet, seg("user/tokens/verify"), nil, s.handleUserVerify},
		{http.MethodGet, seg("accounts/{acct}/tokens/verify"), nil, s.handleVerify},
		{http.MethodGet, seg("accounts/{acct}/tokens/permission_groups"), []string{pgTokensRead, pgTokensWrite}, s.handlePermissionGroups},
		{http.MethodGet, seg("accounts/{acct}/tokens"), []string{pgTokensRead, pgTokensWrite}, s.handleListTokens},
		{http.MethodPost, seg("accounts/{acct}/tokens"), []string{pgTokensWrite}, s.handleCreateToken},
		{http.MethodGet, seg("accounts/{acct}/tokens/{id}"), []string{pgTokensRead, pgTokensWrite}, s.handleGetToken},
		{http.MethodPut, seg("accounts/{acct}/tokens/{id}"), []string{pgTokensWrite}, s.handleUpdateToken},
		{http.MethodPost, seg("accounts/{acct}/r2/temp-access-credentials"), []string{pgR2Write}, s.handleTempCredentials},
		{http.MethodDelete, seg("accounts/{acct}/tokens/{id}"), []string{pgTokensWrite}, s.handleDeleteToken},
		{http.MethodGet, seg("accounts/{acct}/r2/buckets"), []string{pgR2Read, pgR2Write}, s.handleListBuckets},
		{http.MethodPost, seg("accounts/{acct}/r2/buckets"), []string{pgR2Write}, s.handleCreateBucket},
		{http.MethodGet, seg("accounts/{acct}/r2/buckets/{name}"), []string{pgR2Read, pgR2Write}, s.handleGetBucket},
		{http.MethodDelete, seg("accounts/{acct}/r2/buckets/{name}"), []string{pgR2Write}, s.handleDeleteBucket},
		{http.MethodGet, seg("accounts/{acct}/r2/buckets/{name}/domains/managed"), []string{pgR2Read, pgR2Write}, s.handleGetManagedDomain},
		{http.MethodPut, seg("accounts/{acct}/r2/buckets/{name}/domains/managed"), []string{pgR2Write}, s.handleUpdateManagedDomain},
	}
}

// match finds the route for method and the path below basePath. It reports whether some route
// matches the path with another method (for 405).
func (s *Server) match(method, rel string) (*route, map[string]string, bool) {
	segs := strings.Split(strings.TrimSuffix(rel, "/"), "/")
	pathMatched := false
	for _, rt := range s.routes() {
		if len(rt.pattern) != len(segs) {
			continue
		}
		params := map[string]string{}
		ok := true
		for i, p := range rt.pattern {
			if strings.HasPrefix(p, "{") {
				if segs[i] == "" {
					ok = false
					break
				}
				params[strings.Trim(p, "{}")] = segs[i]
			} else if p != segs[i] {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if rt.method == method {
			return &rt, params, true
		}
		pathMatched = true
	}
	return nil, nil, pathMatched
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{s: s, w: w, r: r}
	defer func() {
		rec := Request{Method: r.Method, Path: r.URL.Path, Query: cloneValues(r.URL.Query()),
			Jurisdiction: r.Header.Get("cf-r2-jurisdiction"), Status: c.status}
		if c.tok != nil {
			rec.TokenID = c.tok.ID
		}
		s.mu.Lock()
		s.requests = append(s.requests, rec)
		s.mu.Unlock()
	}()
	s.serve(c)
}

func (s *Server) serve(c *call) {
	// Injected throttling applies before anything else.
	s.mu.Lock()
	if s.throttle.n > 0 {
		s.throttle.n--
		retry := s.throttle.retryAfter
		s.mu.Unlock()
		c.w.Header().Set("Retry-After", strconv.Itoa(ceilSeconds(retry)))
		c.fail(http.StatusTooManyRequests, codeRateLimited, "Please wait and consider throttling your request speed")
		return
	}
	s.mu.Unlock()

	rel, ok := strings.CutPrefix(c.r.URL.Path, basePath)
	if !ok {
		c.fail(http.StatusNotFound, codeNoRoute, "No route for that URI")
		return
	}
	rt, params, pathMatched := s.match(c.r.Method, rel)
	if rt == nil {
		if pathMatched {
			c.fail(http.StatusMethodNotAllowed, codeMethodNotAllow, "Method not allowed")
		} else {
			c.fail(http.StatusNotFound, codeNoRoute, "No route for that URI")
		}
		return
	}
	c.params = params

	// Authentication (see refuseToken).
	header := c.r.Header.Get("Authorization")
	value, bearer := strings.CutPrefix(header, "Bearer ")
	if refused := refuseHeader(header, value, bearer); refused != nil {
		c.write(refused.status, envelope{Success: false, Errors: []apiError{refused.err}, Messages: []any{}})
		return
	}
	now := s.cfg.Now()
	s.mu.Lock()
	t := s.tokens[s.byValue[value]]
	if t == nil || t.Status != "active" || (!t.ExpiresOn.IsZero() && !now.Before(t.ExpiresOn)) || (!t.NotBefore.IsZero() && now.Before(t.NotBefore)) {
		s.mu.Unlock()
		if strings.HasSuffix(rel, "user/tokens/verify") || strings.HasSuffix(rel, "/tokens/verify") {
			// [inference] The verify endpoints answer 401/1000 (third-party reports).
			c.fail(http.StatusUnauthorized, codeInvalidToken, "Invalid API Token")
			return
		}
		c.fail(http.StatusForbidden, codeInvalidAccessToken, "Invalid access token")
		return
	}
	c.tok = t
	// Rate limit, per token.
	retry, limited := s.countRequest(c.w.Header(), t.ID, now)
	allowed := rt.perms == nil || t.has(s.account, rt.perms...)
	s.mu.Unlock()
	if limited {
		c.w.Header().Set("Retry-After", strconv.Itoa(ceilSeconds(retry)))
		c.fail(http.StatusTooManyRequests, codeRateLimited, "Please wait and consider throttling your request speed")
		return
	}
	// Account tokens work on their own account only. [inference] 403/10000 for another account.
	if acct, ok := params["acct"]; ok && acct != s.account {
		c.fail(http.StatusForbidden, codeAuthError, "Authentication error")
		return
	}
	if !allowed {
		c.fail(http.StatusForbidden, codeAuthError, "Authentication error")
		return
	}
	if strings.Contains(rel, "/r2/") {
		switch j := c.r.Header.Get("cf-r2-jurisdiction"); j {
		case "":
			c.jurisdiction = "default"
		case "default", "eu", "fedramp":
			c.jurisdiction = j
		default:
			c.fail(http.StatusBadRequest, codeInvalidArgument, fmt.Sprintf("Invalid jurisdiction %q: expected default, eu or fedramp", j))
			return
		}
	}
	rt.handler(c)
}

// countRequest counts a request of token id at now and sets the Ratelimit headers. It reports
// whether the token is limited and for how long. s.mu must be held.
func (s *Server) countRequest(h http.Header, id string, now time.Time) (time.Duration, bool) {
	st := s.rate[id]
	if st == nil {
		st = &rateState{windowStart: now}
		s.rate[id] = st
	}
	window := s.cfg.RateWindow
	h.Set("Ratelimit-Policy", fmt.Sprintf(`"default";q=%d;w=%d`, s.cfg.RateLimit, ceilSeconds(window)))
	if now.Before(st.blockedUntil) {
		h.Set("Ratelimit", fmt.Sprintf(`"default";r=0;t=%d`, ceilSeconds(st.blockedUntil.Sub(now))))
		return st.blockedUntil.Sub(now), true
	}
	if !now.Before(st.windowStart.Add(window)) {
		st.windowStart, st.count = now, 0
	}
	st.count++
	if st.count > s.cfg.RateLimit {
		// Cloudflare: "all API calls for the next five minutes will be blocked".
		st.blockedUntil = now.Add(window)
		h.Set("Ratelimit", fmt.Sprintf(`"default";r=0;t=%d`, ceilSeconds(window)))
		return window, true
	}
	h.Set("Ratelimit", fmt.Sprintf(`"default";r=%d;t=%d`, s.cfg.RateLimit-st.count, ceilSeconds(st.windowStart.Add(window).Sub(now))))
	return 0, false
}

func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
