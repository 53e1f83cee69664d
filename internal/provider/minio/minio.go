// Package minio is the provider for a self-hosted MinIO server: buckets through minio-go (S3 API),
// credentials as MinIO service accounts of the admin identity, each narrowed by an inline policy to
// one bucket (internal/minioadmin). Service accounts, unlike STS session credentials, can be revoked
// the moment a StateBackend is deleted.
package minio

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/tags"

	"github.com/tfstate-operator/tfstate-operator/internal/egress"
	"github.com/tfstate-operator/tfstate-operator/internal/minioadmin"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/s3access"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/s3marker"
)

// Bucket tags that mark a bucket as owned by a StateBackend.
const (
	TagOwnerNamespace = "tfstate.dev/owner-namespace"
	TagOwnerName      = "tfstate.dev/owner-name"
	TagOwnerUID       = "tfstate.dev/owner-uid"
	// TagOwnerCluster and TagOwnerSeal carry Owner.Cluster (at most 63 characters, see
	// internal/clusterid) and Owner.Seal (43 base64url characters): both fit a tag value's 256
	// characters and its character set. A marker of the previous release has neither.
	TagOwnerCluster = "tfstate.dev/owner-cluster"
	TagOwnerSeal    = "tfstate.dev/owner-seal"
)

// DefaultRegion is the region of a MinIO server whose provider names none.
const DefaultRegion = "us-east-1"

// Config is a MinIO provider's settings and admin credentials.
type Config struct {
	// Endpoint is http(s)://host:port; the scheme decides TLS.
	Endpoint string
	// Region defaults to DefaultRegion.
	Region string
	// CABundle is a PEM bundle for servers with a private CA.
	CABundle        string
	AccessKeyID     string
	SecretAccessKey string
	// RefuseLocalEndpoints makes the client's transport refuse loopback and link-local addresses
	// (egress.Guard): set for a tenant's StorageProvider.
	RefuseLocalEndpoints bool
	// KeyDerivations bounds the admin API's Argon2id derivations across every client of the
	// process (minioadmin.KeyDerivations); nil: the admin client's default bound of one.
	KeyDerivations *minioadmin.KeyDerivations
	// Transport, when set, is used as is (NewTransport of the same CABundle and
	// RefuseLocalEndpoints, shared by the clients of one provider); nil: one of the client's own.
	Transport *http.Transport
}

// Client implements provider.Client for MinIO.
type Client struct {
	cfg   Config
	s3    *minio.Client
	admin *minioadmin.Client
}

var (
	_ provider.Client  = (*Client)(nil)
	_ provider.Checker = (*Client)(nil)
)

// NewTransport is the HTTP transport of MinIO clients trusting caBundle (PEM; empty: the system's
// roots), refusing loopback and link-local addresses when refuseLocal is set (internal/egress).
// Clients built per reconcile should share one (Config.Transport): a transport keeps its idle
// connections for 90 s after the client that used it is gone. A bundle with no certificate wraps
// provider.ErrInvalidConfig.
func NewTransport(caBundle string, refuseLocal bool) (*http.Transport, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if caBundle != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM([]byte(caBundle)) {
			return nil, fmt.Errorf("%w: caBundle holds no PEM certificate", provider.ErrInvalidConfig)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if refuseLocal {
		egress.Guard(transport)
	}
	return transport, nil
}

// New builds a client. It makes no network call. A malformed endpoint or CA bundle wraps
// provider.ErrInvalidConfig.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("%w: minio endpoint %q must be http(s)://host[:port]", provider.ErrInvalidConfig, cfg.Endpoint)
	}
	cfg.Endpoint = u.Scheme + "://" + u.Host
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	transport := cfg.Transport
	if transport == nil {
		if transport, err = NewTransport(cfg.CABundle, cfg.RefuseLocalEndpoints); err != nil {
			return nil, err
		}
	}
	s3, err := minio.New(u.Host, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		Secure:    u.Scheme == "https",
		Region:    cfg.Region,
		Transport: transport,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", provider.ErrInvalidConfig, err)
	}
	admin, err := minioadmin.New(cfg.Endpoint, cfg.AccessKeyID, cfg.SecretAccessKey, cfg.Region, &http.Client{Transport: transport, Timeout: 30 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", provider.ErrInvalidConfig, err)
	}
	return &Client{cfg: cfg, s3: s3, admin: admin.WithKeyDerivations(cfg.KeyDerivations)}, nil
}

// Settings implements provider.Client.
func (c *Client) Settings() provider.BackendSettings {
	return provider.BackendSettings{
		Region:       c.cfg.Region,
		EndpointURL:  c.cfg.Endpoint,
		UsePathStyle: true,
		S3Compatible: true,
		CABundle:     c.cfg.CABundle,
		Versioning:   true,
		Expiry:       true,
	}
}

// ObserveBucket implements provider.Client.
func (c *Client) ObserveBucket(ctx context.Context, bucket string) (provider.BucketObservation, error) {
	exists, err := c.s3.BucketExists(ctx, bucket)
	if err != nil {
		return provider.BucketObservation{}, classify("observe bucket", err)
	}
	if !exists {
		return provider.BucketObservation{}, nil
	}
	obs := provider.BucketObservation{Exists: true}
	t, err := c.s3.GetBucketTagging(ctx, bucket)
	switch {
	case err == nil:
		m := t.ToMap()
		if m[TagOwnerUID] != "" {
			obs.Owner = &provider.Owner{Namespace: m[TagOwnerNamespace], Name: m[TagOwnerName], UID: m[TagOwnerUID],
				Cluster: m[TagOwnerCluster], Seal: m[TagOwnerSeal]}
		}
	case minio.ToErrorResponse(err).Code == "NoSuchTagSet":
	default:
		return provider.BucketObservation{}, classify("read bucket tags", err)
	}
	v, err := c.s3.GetBucketVersioning(ctx, bucket)
	if err != nil {
		return provider.BucketObservation{}, classify("read bucket versioning", err)
	}
	obs.Versioning = v.Enabled()
	return obs, nil
}

// CreateBucket implements provider.Client.
func (c *Client) CreateBucket(ctx context.Context, req provider.BucketRequest) error {
	err := c.s3.MakeBucket(ctx, req.Name, minio.MakeBucketOptions{Region: c.cfg.Region})
	if err != nil {
		switch minio.ToErrorResponse(err).Code {
		case "BucketAlreadyOwnedByYou", "BucketAlreadyExists":
			return fmt.Errorf("create bucket %q: %w", req.Name, provider.ErrBucketNameTaken)
		}
		return classify("create bucket", err)
	}
	return c.MarkBucket(ctx, req.Name, req.Owner)
}

// MarkBucket implements provider.Client: the owner tags replace earlier ones, other tags are kept.
func (c *Client) MarkBucket(ctx context.Context, bucket string, owner provider.Owner) error {
	m := map[string]string{}
	t, err := c.s3.GetBucketTagging(ctx, bucket)
	switch {
	case err == nil:
		m = t.ToMap()
	case minio.ToErrorResponse(err).Code == "NoSuchTagSet":
	default:
		return classify("read bucket tags", err)
	}
	m[TagOwnerNamespace], m[TagOwnerName], m[TagOwnerUID] = owner.Namespace, owner.Name, owner.UID
	// An empty cluster or seal removes the tag: a stale seal must not outlive the marker it sealed.
	for k, v := range map[string]string{TagOwnerCluster: owner.Cluster, TagOwnerSeal: owner.Seal} {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	nt, err := tags.NewTags(m, false)
	if err != nil {
		return fmt.Errorf("bucket tags: %w", err)
	}
	if err := c.s3.SetBucketTagging(ctx, bucket, nt); err != nil {
		return classify("tag bucket", err)
	}
	return nil
}

// EnableVersioning implements provider.Client.
func (c *Client) EnableVersioning(ctx context.Context, bucket string) error {
	if err := c.s3.EnableVersioning(ctx, bucket); err != nil {
		return classify("enable versioning", err)
	}
	return nil
}

// DeleteBucket implements provider.Client. Every object version and delete marker counts, except
// the operator's own (provider.IsOperatorObject), which are removed last.
func (c *Client) DeleteBucket(ctx context.Context, bucket string) error {
	exists, err := c.s3.BucketExists(ctx, bucket)
	if err != nil {
		return classify("observe bucket", err)
	}
	if !exists {
		return nil
	}
	if err := s3marker.ClearReserved(ctx, c.s3, bucket, true, classify); err != nil {
		return err
	}
	if err := c.s3.RemoveBucket(ctx, bucket); err != nil {
		switch minio.ToErrorResponse(err).Code {
		case "BucketNotEmpty":
			// Written to between the listing and the delete: still never emptied by us.
			return fmt.Errorf("bucket %q: %w", bucket, provider.ErrBucketNotEmpty)
		case "NoSuchBucket":
			return nil
		}
		return classify("delete bucket", err)
	}
	return nil
}

// RepairBucketAccess implements provider.Client: a bucket policy that allows anyone (what
// `mc anonymous set` writes) is removed.
func (c *Client) RepairBucketAccess(ctx context.Context, bucket string) (bool, error) {
	return s3access.RemovePublicPolicy(ctx, c.s3, bucket, classify)
}

// Policy is the inline policy of a credential: the bucket and its objects, nothing else.
// ReadWrite may list, get, put and delete objects (state and lock files); ReadOnly may list and get.
func Policy(bucket string, access provider.Access) []byte {
	objectActions := []string{"s3:GetObject"}
	if access == provider.ReadWrite {
		objectActions = append(objectActions, "s3:PutObject", "s3:DeleteObject")
	}
	type statement struct {
		Effect   string   `json:"Effect"`
		Action   []string `json:"Action"`
		Resource []string `json:"Resource"`
	}
	doc := struct {
		Version   string      `json:"Version"`
		Statement []statement `json:"Statement"`
	}{
		Version: "2012-10-17",
		Statement: []statement{
			{Effect: "Allow", Action: []string{"s3:ListBucket", "s3:GetBucketLocation"}, Resource: []string{"arn:aws:s3:::" + bucket}},
			{Effect: "Allow", Action: objectActions, Resource: []string{"arn:aws:s3:::" + bucket + "/*"}},
		},
	}
	b, _ := json.Marshal(doc) // a struct of strings always marshals
	return b
}

// maxDescription is MinIO's limit on a service account's description.
const maxDescription = 256

// IssueCredential implements provider.Client with a service account of the admin identity.
func (c *Client) IssueCredential(ctx context.Context, req provider.CredentialRequest) (provider.Credential, error) {
	desc := req.Description
	if len(desc) > maxDescription {
		desc = desc[:maxDescription]
	}
	creds, err := c.admin.AddServiceAccount(ctx, minioadmin.AddServiceAccountRequest{
		Policy:      Policy(req.Bucket, req.Access),
		Name:        req.Name,
		Description: desc,
		Expiration:  optionalTime(req.ExpiresAt),
	})
	if err != nil {
		return provider.Credential{}, classifyAdmin("add service account", err)
	}
	return provider.Credential{
		ID:              creds.AccessKey,
		Name:            req.Name,
		AccessKeyID:     creds.AccessKey,
		SecretAccessKey: creds.SecretKey,
		ExpiresAt:       expiration(&creds.Expiration),
	}, nil
}

// expiration is a service account's expiry, or zero for one that does not expire: MinIO reports
// those as the Unix epoch (or a far-future date), not as absent.
func expiration(t *time.Time) time.Time {
	if t == nil || t.IsZero() || t.Unix() <= 0 || t.Year() >= 9999 {
		return time.Time{}
	}
	return *t
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// ListCredentials implements provider.Client.
func (c *Client) ListCredentials(ctx context.Context, namePrefix string) ([]provider.CredentialInfo, error) {
	accounts, err := c.admin.ListServiceAccounts(ctx, c.cfg.AccessKeyID)
	if err != nil {
		return nil, classifyAdmin("list service accounts", err)
	}
	var out []provider.CredentialInfo
	for _, a := range accounts {
		if namePrefix != "" && !strings.HasPrefix(a.Name, namePrefix) {
			continue
		}
		out = append(out, provider.CredentialInfo{ID: a.AccessKey, Name: a.Name, AccessKeyID: a.AccessKey, ExpiresAt: expiration(a.Expiration)})
	}
	return out, nil
}

// RevokeCredential implements provider.Client.
func (c *Client) RevokeCredential(ctx context.Context, id string) error {
	if err := c.admin.DeleteServiceAccount(ctx, id); err != nil {
		return classifyAdmin("delete service account", err)
	}
	return nil
}

// RepairGrant implements provider.Client. An administrator can edit a service account's inline
// policy in the MinIO console or with mc, and an account whose inline policy is removed inherits
// everything its parent, the admin identity, may do; so the policy is read back and, if it is not
// the one IssueCredential writes, replaced in place (the keys stay). MinIO re-encodes the stored
// policy with its actions and resources in no fixed order, so it is compared by meaning
// (samePolicy), not byte for byte. req.KeyPrefix is ignored: Settings().PrefixScoping is false.
func (c *Client) RepairGrant(ctx context.Context, id string, req provider.CredentialRequest) (bool, error) {
	want := Policy(req.Bucket, req.Access)
	info, err := c.admin.InfoServiceAccount(ctx, id)
	if err != nil {
		return false, classifyAdminCredential("read service account", id, err)
	}
	// An implied policy is the parent's, whatever it says today: drift even if it happens to match.
	if !info.ImpliedPolicy && samePolicy(want, []byte(info.Policy)) {
		return false, nil
	}
	if err := c.admin.UpdateServiceAccount(ctx, id, minioadmin.UpdateServiceAccountRequest{NewPolicy: want}); err != nil {
		return false, classifyAdminCredential("update service account policy", id, err)
	}
	return true, nil
}

// samePolicy reports whether two IAM policy documents grant the same thing: the statements as a
// set, each statement's actions and resources as sets ("x" is ["x"]), Sid and the document's Id
// ignored. Anything else (effect, conditions, unknown keys) must be equal as JSON. A document that
// does not parse matches nothing, so RepairGrant reads it as drift and rewrites it.
func samePolicy(a, b []byte) bool {
	ca, errA := canonicalPolicy(a)
	cb, errB := canonicalPolicy(b)
	return errA == nil && errB == nil && ca == cb
}

// canonicalPolicy encodes doc so that documents that grant the same thing encode the same.
func canonicalPolicy(doc []byte) (string, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		return "", err
	}
	delete(top, "Id")
	delete(top, "ID") // MinIO's spelling when it echoes a policy
	out := make(map[string]any, len(top))
	for k, v := range top {
		if k == "Statement" {
			continue
		}
		cv, err := canonicalValue(v)
		if err != nil {
			return "", err
		}
		out[k] = cv
	}
	var statements []json.RawMessage
	if raw, ok := top["Statement"]; ok {
		if err := json.Unmarshal(raw, &statements); err != nil {
			// IAM also allows a single statement object in place of the array.
			statements = []json.RawMessage{raw}
		}
	}
	set := make([]string, 0, len(statements))
	for _, raw := range statements {
		st, err := canonicalStatement(raw)
		if err != nil {
			return "", err
		}
		set = append(set, st)
	}
	slices.Sort(set)
	out["Statement"] = slices.Compact(set) // a statement said twice grants it once
	b, err := json.Marshal(out)            // maps marshal with sorted keys
	return string(b), err
}

// setKeys are the statement keys whose value is a string or a list of strings meaning a set.
var setKeys = []string{"Action", "NotAction", "Resource", "NotResource"}

func canonicalStatement(raw json.RawMessage) (string, error) {
	var st map[string]json.RawMessage
	if err := json.Unmarshal(raw, &st); err != nil {
		return "", err
	}
	delete(st, "Sid")
	out := make(map[string]any, len(st))
	for k, v := range st {
		if slices.Contains(setKeys, k) {
			set, err := stringSet(v)
			if err != nil {
				return "", fmt.Errorf("%s: %w", k, err)
			}
			if len(set) > 0 { // an empty list is the same as none
				out[k] = set
			}
			continue
		}
		cv, err := canonicalValue(v)
		if err != nil {
			return "", err
		}
		out[k] = cv
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// stringSet decodes "x", ["x", ...] or null into a sorted list without duplicates.
func stringSet(raw json.RawMessage) ([]string, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	var set []string
	switch v := v.(type) {
	case nil:
	case string:
		set = []string{v}
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%v is not a string", e)
			}
			set = append(set, s)
		}
	default:
		return nil, fmt.Errorf("%v is neither a string nor a list", v)
	}
	slices.Sort(set)
	return slices.Compact(set), nil
}

// canonicalValue decodes raw so that re-encoding it sorts object keys and drops whitespace.
func canonicalValue(raw json.RawMessage) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// Check implements provider.Checker: the admin keys may list buckets (S3) and their own service
// accounts (admin API), both read-only.
func (c *Client) Check(ctx context.Context) error {
	if _, err := c.s3.ListBuckets(ctx); err != nil {
		return classify("list buckets", err)
	}
	if _, err := c.admin.ListServiceAccounts(ctx, c.cfg.AccessKeyID); err != nil {
		return classifyAdmin("list service accounts", err)
	}
	return nil
}

// classify maps an S3 error: refused admin keys are a configuration problem (terminal); anything
// else (network, 5xx) stays retryable. The text names the status and code, never the reply's
// message: minio-go puts the body of a reply that is not XML there.
func classify(op string, err error) error {
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied":
		return fmt.Errorf("%s: %w: the admin credentials were refused (%s)", op, provider.ErrInvalidConfig, resp.Code)
	}
	return fmt.Errorf("%s: %w", op, provider.Redact(err, resp.StatusCode, resp.Code))
}

// classifyAdminCredential is classifyAdmin for a call on one service account: an absent account
// is provider.ErrCredentialNotFound.
func classifyAdminCredential(op, id string, err error) error {
	var apiErr *minioadmin.Error
	if errors.As(err, &apiErr) && apiErr.IsNotFound() {
		return fmt.Errorf("%s %s: %w: %w", op, id, provider.ErrCredentialNotFound, redactAdmin(err))
	}
	return classifyAdmin(op+" "+id, err)
}

func classifyAdmin(op string, err error) error {
	var apiErr *minioadmin.Error
	if errors.As(err, &apiErr) && apiErr.IsAuth() {
		return fmt.Errorf("%s: %w: %w", op, provider.ErrInvalidConfig, redactAdmin(err))
	}
	return fmt.Errorf("%s: %w", op, redactAdmin(err))
}

// redactAdmin describes an admin API error by its status and code, never the reply's message.
func redactAdmin(err error) error {
	var apiErr *minioadmin.Error
	if errors.As(err, &apiErr) {
		return provider.Redact(err, apiErr.StatusCode, apiErr.Code)
	}
	return provider.Redact(err, 0, "")
}
