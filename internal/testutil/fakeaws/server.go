package fakeaws

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tfstate-operator/tfstate-operator/internal/minioadmin"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/latency"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/minioidentity"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/miniotest"
)

// Config configures a fake. Only MinIO is required.
type Config struct {
	// MinIO is the data plane: access keys become MinIO identities there, and the S3 front
	// forwards to it.
	MinIO *miniotest.Server
	// AccountID is the AWS account of every ARN. Default "123456789012".
	AccountID string
	// Region is the region the S3 front stands for. Default "us-east-1".
	Region string
	// Now is the clock of creation dates and last-used dates. Default time.Now.
	Now func() time.Time
	// KeyPropagation delays when a new access key starts working (on S3, IAM and STS): real new
	// keys fail with InvalidAccessKeyId for about 10 s. 0 makes them work when CreateAccessKey
	// answers.
	KeyPropagation time.Duration
	// Latency delays every answer of IAM, STS and S3 (the benchmark's network); default none.
	Latency time.Duration
	// MaxItems is the largest page ListUsers, ListAccessKeys, ListUserPolicies and
	// ListAttachedUserPolicies return; a larger MaxItems is cut down to it. Default 100, AWS's
	// default page.
	MaxItems int
	// BucketLimit is the most buckets the account may hold. Default 10,000, S3's default quota
	// (S3 user guide, "General purpose bucket quotas"); beyond it CreateBucket answers 400
	// TooManyBuckets (S3 error codes).
	BucketLimit int
	// UserLimit is the most IAM users the account may hold. Default 5,000 (IAM quotas, "Users per
	// AWS account"); beyond it CreateUser answers 409 LimitExceeded (CreateUser API reference).
	UserLimit int
}

// Tag is a tag of a user.
type Tag struct{ Key, Value string }

// AccessKey is an access key of a user, without its secret (see SecretOf).
type AccessKey struct {
	ID      string
	Status  string // always "Active": the fake has no UpdateAccessKey
	Created time.Time
	// Propagated reports whether the key works yet (see Config.KeyPropagation).
	Propagated bool
}

// User is a snapshot of an IAM user made through the API.
type User struct {
	Name, Path, UserID, ARN string
	Created                 time.Time
	PermissionsBoundary     string // the ARN given to CreateUser, recorded and not enforced
	Tags                    []Tag
	Policies                map[string]string // inline policies by name: the documents as sent
	AttachedPolicies        []string          // ARNs of the attached managed policies, in ARN order
	AccessKeys              []AccessKey       // in creation order
}

// Request is one call the fake answered: every IAM and STS call, and the S3 calls the front
// inspects (see the package doc).
type Request struct {
	Service string // "iam", "sts" or "s3"
	Action  string // the Query API Action, or the S3 operation name (e.g. "PutPublicAccessBlock")
	// Params are the Query API parameters (form and URL query together); for S3, the URL query
	// plus "Bucket", and "x-amz-object-ownership" when CreateBucket carries it.
	Params url.Values
	// Caller is the name of the authenticated principal or user, "" when authentication failed.
	Caller string
	Status int
	Code   string // the error code, "" on success
}

// PublicAccessBlock is a bucket's public access block configuration.
type PublicAccessBlock struct {
	BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets bool
}

// Encryption is a bucket's default encryption.
type Encryption struct {
	Algorithm        string // "AES256" or "aws:kms"
	KMSKeyID         string // KMSMasterKeyID as sent ("" for AES256 or the AWS managed key)
	BucketKeyEnabled bool
	// Intercepted is true when the front answered the configuration itself because MinIO cannot
	// take it (aws:kms with an AWS key); MinIO then holds no default encryption for the bucket.
	Intercepted bool
}

// BucketSettings is what the S3 front recorded for a bucket.
type BucketSettings struct {
	PublicAccessBlock *PublicAccessBlock // nil if never set (or deleted)
	ObjectOwnership   string             // from PutBucketOwnershipControls or CreateBucket's x-amz-object-ownership
	Encryption        *Encryption        // nil if never set (or deleted) through the front
	Policy            string             // the bucket policy as PUT, "" if none (or deleted)
}

// Server is a running fake. It is safe for concurrent use.
type Server struct {
	cfg        Config
	iamSrv     *httptest.Server
	stsSrv     *httptest.Server
	s3Srv      *httptest.Server
	admin      *minioadmin.Client
	root       *minio.Client // MinIO's root, for bucket existence checks
	identities minioidentity.Identities

	// opMu serialises every change that touches MinIO identities, so an identity's policy is
	// always that of the user's current inline and attached policies.
	opMu    sync.Mutex
	pending sync.WaitGroup // delayed key propagations scheduled or running

	mu         sync.Mutex
	closed     bool
	users      map[string]*user          // by lower-case name: IAM user names are unique ignoring case
	keys       map[string]*accessKey     // issued keys by id
	principals map[string]*principal     // by access key id
	managed    map[string]*managedPolicy // customer managed policies by ARN
	buckets    map[string]*BucketSettings
	foreign    map[string]string // foreign buckets' regions by name (AddForeignBucket)
	requests   []Request
	throttle   int
}

type user struct {
	name, path, id string
	created        time.Time
	boundary       string
	tags           []Tag
	policies       map[string]string
	attached       []string // managed policy ARNs, sorted
	keys           []*accessKey
}

func (u *user) arn(account string) string {
	return "arn:aws:iam::" + account + ":user" + u.path + u.name
}

type accessKey struct {
	id, secret string
	user       *user
	created    time.Time
	propagated bool // its MinIO identity exists: the key works
	timer      *time.Timer
	lastUsed   *lastUse
}

type lastUse struct {
	at              time.Time
	service, region string
}

type principal struct {
	name, id, keyID, secret string
	created                 time.Time
	actions                 []string // nil: every action
	lastUsed                *lastUse
}

func (p *principal) arn(account string) string { return "arn:aws:iam::" + account + ":user/" + p.name }

// identityPrefix names the MinIO group and canned policy of each key's identity.
const identityPrefix = "aws-key-"

// New starts a fake on 127.0.0.1: one listener for IAM, one for STS and one for the S3 front.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.MinIO == nil {
		return nil, errors.New("fakeaws: Config.MinIO is required")
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "123456789012"
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxItems <= 0 {
		cfg.MaxItems = 100
	}
	if cfg.BucketLimit <= 0 {
		cfg.BucketLimit = 10_000
	}
	if cfg.UserLimit <= 0 {
		cfg.UserLimit = 5_000
	}
	admin, err := minioadmin.New(cfg.MinIO.Endpoint, cfg.MinIO.RootUser, cfg.MinIO.RootPassword, "", nil)
	if err != nil {
		return nil, err
	}
	root, err := minio.New(cfg.MinIO.Host, &minio.Options{Creds: miniocreds.NewStaticV4(cfg.MinIO.RootUser, cfg.MinIO.RootPassword, ""), Region: "us-east-1"})
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:        cfg,
		admin:      admin,
		root:       root,
		identities: minioidentity.Identities{Admin: admin, Prefix: identityPrefix},
		users:      map[string]*user{},
		keys:       map[string]*accessKey{},
		principals: map[string]*principal{},
		managed:    map[string]*managedPolicy{},
		buckets:    map[string]*BucketSettings{},
		foreign:    map[string]string{},
	}
	for _, srv := range []struct {
		dst *(*httptest.Server)
		h   http.HandlerFunc
	}{{&s.iamSrv, s.serveIAM}, {&s.stsSrv, s.serveSTS}, {&s.s3Srv, s.serveS3}} {
		if *srv.dst, err = listen(latency.Handler(cfg.Latency, srv.h)); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

func listen(h http.Handler) (*httptest.Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := httptest.NewUnstartedServer(h)
	_ = srv.Listener.Close() // httptest's own listener may be on [::1]; use 127.0.0.1 only
	srv.Listener = l
	srv.Start()
	return srv, nil
}

// IAMEndpoint is the IAM Query API base URL (iam.Options.BaseEndpoint).
func (s *Server) IAMEndpoint() string { return s.iamSrv.URL }

// STSEndpoint is the STS Query API base URL (sts.Options.BaseEndpoint).
func (s *Server) STSEndpoint() string { return s.stsSrv.URL }

// S3Endpoint is the S3 front's base URL (s3.Options.BaseEndpoint, with UsePathStyle).
func (s *Server) S3Endpoint() string { return s.s3Srv.URL }

// AccountID is the account of every ARN.
func (s *Server) AccountID() string { return s.cfg.AccountID }

// AddPrincipal makes credentials of a pre-existing IAM user of the account (e.g. the operator's
// admin user), distinct from the users the API manages. With no actions it may call every IAM and
// STS action, and its keys are a MinIO identity with s3:* on everything. With actions (IAM
// action patterns such as "iam:CreateUser" or "iam:List*", and S3 ones such as "s3:*"), any IAM
// action not matched answers 403 AccessDenied, and its MinIO identity allows only the listed s3:
// actions (the front checks the ones it implements itself); with no s3: action it is a deny-all
// identity. Its keys work at once, whatever Config.KeyPropagation says.
func (s *Server) AddPrincipal(name string, actions ...string) (accessKeyID, secretAccessKey string, err error) {
	if !userNameRE.MatchString(name) || len(name) > 64 {
		return "", "", fmt.Errorf("fakeaws: invalid principal name %q", name)
	}
	p := &principal{name: name, id: newID("AIDA"), keyID: newAccessKeyID(), secret: newSecret(), created: s.cfg.Now().UTC().Truncate(time.Second)}
	if len(actions) > 0 {
		p.actions = slices.Clone(actions)
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.identities.Put(ctx, p.keyID, p.secret, principalPolicy(p.actions)); err != nil {
		return "", "", fmt.Errorf("fakeaws: creating the MinIO identity of %s: %w", name, err)
	}
	s.mu.Lock()
	s.principals[p.keyID] = p
	s.mu.Unlock()
	return p.keyID, p.secret, nil
}

// InjectThrottle makes the next n IAM calls answer HTTP 400 Throttling "Rate exceeded".
func (s *Server) InjectThrottle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = n
}

// Requests returns every call answered so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Users returns the IAM users made through the API, sorted by name.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		su := User{Name: u.name, Path: u.path, UserID: u.id, ARN: u.arn(s.cfg.AccountID), Created: u.created,
			PermissionsBoundary: u.boundary, Tags: slices.Clone(u.tags), Policies: map[string]string{}}
		for n, d := range u.policies {
			su.Policies[n] = d
		}
		su.AttachedPolicies = slices.Clone(u.attached)
		for _, k := range u.keys {
			su.AccessKeys = append(su.AccessKeys, AccessKey{ID: k.id, Status: statusActive, Created: k.created, Propagated: k.propagated})
		}
		out = append(out, su)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SecretOf returns the secret of a live key issued by CreateAccessKey or AddPrincipal ("" if
// none), for tests that check that no secret leaks.
func (s *Server) SecretOf(accessKeyID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.keys[accessKeyID]; k != nil {
		return k.secret
	}
	if p := s.principals[accessKeyID]; p != nil {
		return p.secret
	}
	return ""
}

// Bucket returns what the S3 front recorded for bucket name (zero if nothing).
func (s *Server) Bucket(name string) BucketSettings {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[name]
	if b == nil {
		return BucketSettings{}
	}
	out := *b
	if b.PublicAccessBlock != nil {
		pab := *b.PublicAccessBlock
		out.PublicAccessBlock = &pab
	}
	if b.Encryption != nil {
		enc := *b.Encryption
		out.Encryption = &enc
	}
	return out
}

// Close stops the listeners, cancels pending key propagations and removes every MinIO identity
// the fake made (a key does not outlive its API). MinIO buckets are left alone.
func (s *Server) Close() {
	for _, srv := range []*httptest.Server{s.iamSrv, s.stsSrv, s.s3Srv} {
		if srv != nil {
			srv.Close() // waits for requests in flight
		}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for _, k := range s.keys {
		s.stopTimer(k)
	}
	s.mu.Unlock()
	s.pending.Wait()
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	var ids []string
	for id, k := range s.keys {
		if k.propagated {
			ids = append(ids, id)
		}
	}
	for id := range s.principals {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, id := range ids {
		_ = s.identities.Delete(ctx, id)
	}
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
}

// ---- keys and their MinIO identities ----

// stopTimer cancels a pending propagation. s.mu must be held.
func (s *Server) stopTimer(k *accessKey) {
	if k.timer != nil && k.timer.Stop() {
		s.pending.Done()
	}
	k.timer = nil
}

// propagate creates the MinIO identity of key id, if it is still live. s.opMu must be held.
func (s *Server) propagate(ctx context.Context, id string) error {
	s.mu.Lock()
	k := s.keys[id]
	if k == nil || s.closed || k.propagated {
		s.mu.Unlock()
		return nil
	}
	k.timer = nil
	policy := s.minioPolicyOf(k.user.policies, k.user.attached)
	secret := k.secret
	s.mu.Unlock()
	if err := s.identities.Put(ctx, id, secret, policy); err != nil {
		return err
	}
	s.mu.Lock()
	k.propagated = true
	s.mu.Unlock()
	return nil
}

// schedule makes key id work after Config.KeyPropagation (at once when 0). s.opMu must be held.
func (s *Server) schedule(ctx context.Context, k *accessKey) error {
	delay := s.cfg.KeyPropagation
	if delay <= 0 {
		return s.propagate(ctx, k.id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending.Add(1)
	id := k.id
	k.timer = time.AfterFunc(delay, func() {
		defer s.pending.Done()
		s.opMu.Lock()
		defer s.opMu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.propagate(ctx, id)
	})
	return nil
}

// ---- ids ----

// base32 without padding is exactly the [A-Z2-7] alphabet of AWS ids.
var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID is prefix and 16 characters of [A-Z2-7] ("AKIA" for access keys, as AWS's long-term
// keys; "AIDA" plus 17 for user ids, "ANPA" plus 17 for managed policy ids).
func newID(prefix string) string {
	n := 16
	if prefix == "AIDA" || prefix == "ANPA" {
		n = 17 // user and policy ids are 21 characters
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + idEncoding.EncodeToString(b)[:n]
}

func newAccessKeyID() string { return newID("AKIA") }

// newSecret is 40 characters of base64, the length and alphabet of AWS secret keys.
func newSecret() string {
	b := make([]byte, 30)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func newRequestID() string {
	h := randomHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// globMatch matches an IAM action pattern (* and ?) against action, ignoring case as IAM does.
func globMatch(pattern, action string) bool {
	p, a := strings.ToLower(pattern), strings.ToLower(action)
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for i := len(a); i >= 0; i-- {
				if globMatch(p[1:], a[i:]) {
					return true
				}
			}
			return false
		case '?':
			if a == "" {
				return false
			}
		default:
			if a == "" || a[0] != p[0] {
				return false
			}
		}
		p, a = p[1:], a[1:]
	}
	return a == ""
}

// allowed reports whether principal p may perform action (e.g. "iam:CreateUser").
func (p *principal) allowed(action string) bool {
	if p.actions == nil {
		return true
	}
	for _, pat := range p.actions {
		if globMatch(pat, action) {
			return true
		}
	}
	return false
}
