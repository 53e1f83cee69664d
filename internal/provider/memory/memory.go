// Package memory is an in-memory object store that implements provider.Client and provider.Prober,
// with fault injection. The controller's envtest suite uses it to crash a reconcile after any provider
// call and check that the next reconcile converges: one bucket, exactly one live credential.
package memory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

// Op names a provider call, for fault injection and call counting.
type Op string

// The calls of provider.Client and provider.Prober.
const (
	OpObserveBucket    Op = "ObserveBucket"
	OpCreateBucket     Op = "CreateBucket"
	OpMarkBucket       Op = "MarkBucket"
	OpEnableVersioning Op = "EnableVersioning"
	OpDeleteBucket     Op = "DeleteBucket"
	OpIssueCredential  Op = "IssueCredential"
	OpListCredentials  Op = "ListCredentials"
	OpRevokeCredential Op = "RevokeCredential"
	OpRepairGrant      Op = "RepairGrant"
	OpRepairBucket     Op = "RepairBucketAccess"
	OpProbe            Op = "Probe"
)

// AllOps lists every Op.
var AllOps = []Op{OpObserveBucket, OpCreateBucket, OpMarkBucket, OpEnableVersioning, OpDeleteBucket,
	OpIssueCredential, OpListCredentials, OpRevokeCredential, OpRepairGrant, OpRepairBucket, OpProbe}

// Bucket is a bucket's state.
type Bucket struct {
	Owner      *provider.Owner
	Versioning bool
	// Objects maps key to content; the store keeps no versions, so a deleted object is gone.
	Objects map[string][]byte
	// Public is true while anyone may read the bucket (opened out of band).
	Public bool
}

type credential struct {
	info   provider.CredentialInfo
	secret string
	bucket string
	access provider.Access
	prefix string
	probes int
}

type fault struct {
	op    Op
	after bool // the call takes effect, then the error is returned (a lost reply / crash after the call)
	err   error
}

// Store is the in-memory provider. The zero value is not usable; call New.
type Store struct {
	mu       sync.Mutex
	settings provider.BackendSettings
	buckets  map[string]*Bucket
	creds    map[string]*credential
	revoked  map[string]bool
	faults   []fault
	calls    map[Op]int

	// ConditionalWrites is what Probe reports for ReadWrite credentials.
	ConditionalWrites bool
	// PropagationProbes is how many probes of a new credential fail with ErrCredentialNotYetValid
	// before it is accepted, like a cloud that takes a while to propagate new keys.
	PropagationProbes int
	// CrashMidCreate makes the next CreateBucket create the bucket without its ownership marker and
	// fail, like a crash between the create call and the marker write.
	CrashMidCreate bool
	// TooBroad makes Probe report that ReadOnly credentials can write.
	TooBroad bool
	// CheckError is what Check returns (provider health).
	CheckError error
}

// New returns an empty store whose Settings are settings.
func New(settings provider.BackendSettings) *Store {
	return &Store{
		settings:          settings,
		buckets:           map[string]*Bucket{},
		creds:             map[string]*credential{},
		revoked:           map[string]bool{},
		calls:             map[Op]int{},
		ConditionalWrites: true,
	}
}

// DefaultSettings are settings of an S3-compatible store with versioning.
func DefaultSettings() provider.BackendSettings {
	return provider.BackendSettings{Region: "us-east-1", EndpointURL: "http://127.0.0.1:9", UsePathStyle: true, S3Compatible: true, Versioning: true}
}

// FailAfter makes the next call of op take effect and then return err, as when the reply is lost or
// the operator crashes right after the call.
func (s *Store) FailAfter(op Op, err error) { s.addFault(fault{op: op, after: true, err: err}) }

// FailBefore makes the next call of op return err without taking effect.
func (s *Store) FailBefore(op Op, err error) { s.addFault(fault{op: op, err: err}) }

func (s *Store) addFault(f fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// begin counts the call and takes the first pending fault for op. Called with s.mu held.
func (s *Store) begin(op Op) (before, after error) {
	s.calls[op]++
	for i, f := range s.faults {
		if f.op == op {
			s.faults = slices.Delete(s.faults, i, i+1)
			if f.after {
				return nil, f.err
			}
			return f.err, nil
		}
	}
	return nil, nil
}

// Calls returns how often op was called.
func (s *Store) Calls(op Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// PendingFaults is the number of injected faults not yet triggered.
func (s *Store) PendingFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.faults)
}

// LiveCredentials returns every credential not revoked, sorted by name.
func (s *Store) LiveCredentials() []provider.CredentialInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]provider.CredentialInfo, 0, len(s.creds))
	for _, c := range s.creds {
		out = append(out, c.info)
	}
	slices.SortFunc(out, func(a, b provider.CredentialInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// CredentialScope returns the bucket and access a live credential was issued for.
func (s *Store) CredentialScope(accessKeyID string) (bucket string, access provider.Access, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.creds {
		if c.info.AccessKeyID == accessKeyID {
			return c.bucket, c.access, true
		}
	}
	return "", "", false
}

// CredentialKeyPrefix returns the key prefix a live credential was confined to ("" for the whole
// bucket).
func (s *Store) CredentialKeyPrefix(accessKeyID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.creds {
		if c.info.AccessKeyID == accessKeyID {
			return c.prefix
		}
	}
	return ""
}

// Bucket returns a copy of the named bucket.
func (s *Store) Bucket(name string) (Bucket, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[name]
	if !ok {
		return Bucket{}, false
	}
	cp := Bucket{Versioning: b.Versioning, Objects: maps.Clone(b.Objects), Public: b.Public}
	if b.Owner != nil {
		o := *b.Owner
		cp.Owner = &o
	}
	return cp, true
}

// BucketNames returns every bucket name, sorted.
func (s *Store) BucketNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.buckets))
}

// PutBucket creates a bucket directly, as somebody outside the operator would (owner may be nil).
func (s *Store) PutBucket(name string, owner *provider.Owner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buckets[name] = &Bucket{Owner: owner, Objects: map[string][]byte{}}
}

// PutObject writes an object directly, as a runner would.
func (s *Store) PutObject(bucket, key string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[bucket]
	if !ok {
		return fmt.Errorf("no bucket %q", bucket)
	}
	b.Objects[key] = data
	return nil
}

// DeleteObject removes an object directly.
func (s *Store) DeleteObject(bucket, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.buckets[bucket]; ok {
		delete(b.Objects, key)
	}
}

// RevokeOutOfBand revokes a credential behind the operator's back.
func (s *Store) RevokeOutOfBand(accessKeyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, c := range s.creds {
		if c.info.AccessKeyID == accessKeyID {
			delete(s.creds, id)
			s.revoked[id] = true
		}
	}
}

// SetGrantOutOfBand changes what a live credential may do behind the operator's back.
func (s *Store) SetGrantOutOfBand(accessKeyID, bucket string, access provider.Access) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.creds[accessKeyID]; ok {
		c.bucket, c.access = bucket, access
	}
}

// ExposeOutOfBand opens a bucket to the public behind the operator's back (a public bucket policy).
func (s *Store) ExposeOutOfBand(bucket string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.buckets[bucket]; ok {
		b.Public = true
	}
}

// Settings implements provider.Client.
func (s *Store) Settings() provider.BackendSettings { return s.settings }

// Check implements provider.Checker: it returns CheckError.
func (s *Store) Check(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.CheckError
}

// ObserveBucket implements provider.Client.
func (s *Store) ObserveBucket(_ context.Context, name string) (provider.BucketObservation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	before, after := s.begin(OpObserveBucket)
	if before != nil {
		return provider.BucketObservation{}, before
	}
	obs := provider.BucketObservation{}
	if b, ok := s.buckets[name]; ok {
		obs.Exists, obs.Versioning = true, b.Versioning
		if b.Owner != nil {
			o := *b.Owner
			obs.Owner = &o
		}
	}
	return obs, after
}

// CreateBucket implements provider.Client.
func (s *Store) CreateBucket(_ context.Context, req provider.BucketRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	before, after := s.begin(OpCreateBucket)
	if before != nil {
		return before
	}
	if _, ok := s.buckets[req.Name]; ok {
		return fmt.Errorf("create %q: %w", req.Name, provider.ErrBucketNameTaken)
	}
	if s.CrashMidCreate {
		s.CrashMidCreate = false
		s.buckets[req.Name] = &Bucket{Objects: map[string][]byte{}}
		return fmt.Errorf("create %q: connection reset after the bucket was made, before it was marked", req.Name)
	}
	o := req.Owner
	s.buckets[req.Name] = &Bucket{Owner: &o, Objects: map[string][]byte{}}
	return after
}

// MarkBucket implements provider.Client.
func (s *Store) MarkBucket(_ context.Context, name string, owner provider.Owner) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	before, after := s.begin(OpMarkBucket)
	if before != nil {
		return before
	}
	b, ok := s.buckets[name]
	if !ok {
		return fmt.Errorf("mark %q: no such bucket", name)
	}
	b.Owner = &owner
	return after
}

// EnableVersioning implements provider.Client.
func (s *Store) EnableVersioning(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	before, after := s.begin(OpEnableVersioning)
	if before != nil {
		return before
	}
	if !s.settings.Versioning {
		return fmt.Errorf("versioning on %q: %w", name, provider.ErrNotSupported)
	}
	b, ok := s.buckets[name]
	if !ok {
		return fmt.Errorf("versioning on %q: no such bucket", name)
	}
	b.Versioning = true
	return after
}

// DeleteBucket implements provider.Client.
func (s *Store) DeleteBucket(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	before, after := s.begin(OpDeleteBucket)
	if before != nil {
		return before
	}
	b, ok := s.buckets[name]
	if !ok {
		return after
	}
	for key := range b.Objects {
		if !provider.IsOperatorObject(key) {
			return fmt.Errorf("delete %q holding %q: %w", name, key, provider.ErrBucketNotEmpty)
		}
	}
	delete(s.buckets, name)
	return after
}

// IssueCredential implements provider.Client.
func (s *Store) IssueCredential(_ context.Context, req provider.CredentialRequest) (provider.Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	before, after := s.begin(OpIssueCredential)
	if before != nil {
		return provider.Credential{}, before
	}
	if _, ok := s.buckets[req.Bucket]; !ok {
		return provider.Credential{}, fmt.Errorf("issue %q: no bucket %q", req.Name, req.Bucket)
	}
	if !req.ExpiresAt.IsZero() && !s.settings.Expiry {
		return provider.Credential{}, fmt.Errorf("issue %q: %w: this store cannot make a credential expire", req.Name, provider.ErrInvalidConfig)
	}
	if req.KeyPrefix != "" && !s.settings.PrefixScoping {
		return provider.Credential{}, fmt.Errorf("issue %q: %w: this store cannot confine a credential to a key prefix", req.Name, provider.ErrInvalidConfig)
	}
	id := "MEM" + strings.ToUpper(randomHex(8))
	c := &credential{
		info:   provider.CredentialInfo{ID: id, Name: req.Name, AccessKeyID: id, ExpiresAt: req.ExpiresAt},
		secret: randomHex(20),
		bucket: req.Bucket,
		access: req.Access,
		prefix: req.KeyPrefix,
	}
	s.creds[id] = c
	cred := provider.Credential{ID: id, Name: req.Name, AccessKeyID: id, SecretAccessKey: c.secret, ExpiresAt: req.ExpiresAt}
	if after != nil {
		return provider.Credential{}, after
	}
	return cred, nil
}

// ListCredentials implements provider.Client.
func (s *Store) ListCredentials(_ context.Context, prefix string) ([]provider.CredentialInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	before, after := s.begin(OpListCredentials)
	if before != nil {
		return nil, before
	}
	var out []provider.CredentialInfo
	for _, c := range s.creds {
		if strings.HasPrefix(c.info.Name, prefix) {
			out = append(out, c.info)
		}
	}
	slices.SortFunc(out, func(a, b provider.CredentialInfo) int { return strings.Compare(a.Name, b.Name) })
	if after != nil {
		return nil, after
	}
	return out, nil
}

// RevokeCredential implements provider.Client.
func (s *Store) RevokeCredential(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	before, after := s.begin(OpRevokeCredential)
	if before != nil {
		return before
	}
	if _, ok := s.creds[id]; ok {
		delete(s.creds, id)
		s.revoked[id] = true
	}
	return after
}

// RepairBucketAccess implements provider.Client.
func (s *Store) RepairBucketAccess(_ context.Context, name string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	before, after := s.begin(OpRepairBucket)
	if before != nil {
		return false, before
	}
	b, ok := s.buckets[name]
	repaired := ok && b.Public
	if ok {
		b.Public = false
	}
	if after != nil {
		return false, after
	}
	return repaired, nil
}

// RepairGrant implements provider.Client.
func (s *Store) RepairGrant(_ context.Context, id string, req provider.CredentialRequest) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	before, after := s.begin(OpRepairGrant)
	if before != nil {
		return false, before
	}
	c, ok := s.creds[id]
	if !ok {
		return false, fmt.Errorf("repair grant of %s: %w", id, provider.ErrCredentialNotFound)
	}
	repaired := c.bucket != req.Bucket || c.access != req.Access || c.prefix != req.KeyPrefix
	c.bucket, c.access, c.prefix = req.Bucket, req.Access, req.KeyPrefix
	if after != nil {
		return false, after
	}
	return repaired, nil
}

// Probe implements provider.Prober: the credential must be live, hold the right secret and be
// scoped to the bucket.
func (s *Store) Probe(_ context.Context, _ provider.BackendSettings, bucket string, cred provider.Credential, access provider.Access) (provider.ProbeResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	before, after := s.begin(OpProbe)
	if before != nil {
		return provider.ProbeResult{}, before
	}
	c, ok := s.creds[cred.AccessKeyID]
	if !ok || c.secret != cred.SecretAccessKey {
		return provider.ProbeResult{}, fmt.Errorf("probe: access key %s: %w", cred.AccessKeyID, provider.ErrCredentialNotYetValid)
	}
	if c.probes < s.PropagationProbes {
		c.probes++
		return provider.ProbeResult{}, fmt.Errorf("probe: access key %s: %w", cred.AccessKeyID, provider.ErrCredentialNotYetValid)
	}
	if c.bucket != bucket || c.access != access {
		return provider.ProbeResult{}, fmt.Errorf("probe: credential is scoped to %s on %q, want %s on %q", c.access, c.bucket, access, bucket)
	}
	if access == provider.ReadOnly && s.TooBroad {
		return provider.ProbeResult{}, fmt.Errorf("probe: a ReadOnly credential could write: %w", provider.ErrCredentialTooBroad)
	}
	res := provider.ProbeResult{ConditionalWrites: access == provider.ReadWrite && s.ConditionalWrites}
	if after != nil {
		return provider.ProbeResult{}, after
	}
	return res, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Compile-time checks.
var (
	_ provider.Client = (*Store)(nil)
	_ provider.Prober = (*Store)(nil)
)
