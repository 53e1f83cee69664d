// Package minioadmin is a small client for the MinIO admin API calls tfstate-operator needs:
// creating, listing, reading, updating and deleting service accounts. It also has the user, group
// and canned-policy calls of test support code (iam.go), which the operator does not use. MinIO's
// own admin SDK
// (madmin-go) is AGPL-3.0 and must not be linked into the Apache-2.0 operator, so this is a
// clean-room implementation of the wire protocol: SigV4-signed HTTP requests under /minio/admin/v3
// whose sensitive bodies are encrypted with a key derived from the admin secret key (see
// encrypt.go).
package minioadmin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"
)

const apiPrefix = "/minio/admin/v3"

// Client talks to one MinIO server as one admin identity. It is safe for concurrent use.
type Client struct {
	endpoint  *url.URL
	accessKey string
	secretKey string
	region    string
	http      *http.Client
	// derivations bounds the Argon2id derivations of decrypting replies (see KeyDerivations).
	derivations *KeyDerivations
}

// New returns a client for endpoint (http(s)://host:port). It makes no network call.
func New(endpoint, accessKey, secretKey, region string, httpClient *http.Client) (*Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("minio admin endpoint must be an http(s) URL")
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	if region == "" {
		region = "us-east-1"
	}
	return &Client{endpoint: &url.URL{Scheme: u.Scheme, Host: u.Host}, accessKey: accessKey, secretKey: secretKey, region: region, http: httpClient,
		derivations: defaultKeyDerivations}, nil
}

// WithKeyDerivations makes the client's Argon2id derivations share k (nil: the package's default
// bound of one) and returns it.
func (c *Client) WithKeyDerivations(k *KeyDerivations) *Client {
	if k == nil {
		k = defaultKeyDerivations
	}
	c.derivations = k
	return c
}

// Error is an error reply of the admin API. It never contains secret material: MinIO's messages
// name access keys, not secrets.
type Error struct {
	StatusCode int
	Code       string `json:"Code"`
	Message    string `json:"Message"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("minio admin API: %d %s: %s", e.StatusCode, e.Code, e.Message)
}

// IsAuth reports whether the admin identity itself was refused (bad keys, no permission).
func (e *Error) IsAuth() bool {
	switch e.Code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "XMinioAdminInvalidAccessKey", "XMinioAdminInvalidSecretKey":
		return true
	}
	return e.StatusCode == http.StatusForbidden
}

// IsNotFound reports whether the addressed service account or user does not exist. The status
// decides: MinIO answers an absent service account with 404 and the code
// XMinioInvalidIAMCredentials, a code it also sends with 403 for refused identities.
func (e *Error) IsNotFound() bool {
	return e.StatusCode == http.StatusNotFound || strings.Contains(e.Code, "NoSuch") || e.Code == "XMinioAdminServiceAccountNotFound"
}

// AddServiceAccountRequest creates a service account of the calling admin identity. Policy, when
// set, is an inline IAM policy that narrows what the account may do.
type AddServiceAccountRequest struct {
	Policy      json.RawMessage `json:"policy,omitempty"`
	TargetUser  string          `json:"targetUser,omitempty"`
	AccessKey   string          `json:"accessKey,omitempty"`
	SecretKey   string          `json:"secretKey,omitempty"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Expiration  *time.Time      `json:"expiration,omitempty"`
}

// Credentials are a service account's keys. SecretKey is secret.
type Credentials struct {
	AccessKey    string    `json:"accessKey"`
	SecretKey    string    `json:"secretKey"`
	SessionToken string    `json:"sessionToken,omitempty"`
	Expiration   time.Time `json:"expiration,omitempty"`
}

// ServiceAccount is a listed service account: no secret material.
type ServiceAccount struct {
	ParentUser    string     `json:"parentUser"`
	AccountStatus string     `json:"accountStatus"`
	AccessKey     string     `json:"accessKey"`
	Name          string     `json:"name,omitempty"`
	Description   string     `json:"description,omitempty"`
	Expiration    *time.Time `json:"expiration,omitempty"`
}

// AddServiceAccount creates a service account and returns its keys.
func (c *Client) AddServiceAccount(ctx context.Context, req AddServiceAccountRequest) (Credentials, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Credentials{}, err
	}
	sealed, err := encrypt(c.secretKey, body)
	if err != nil {
		return Credentials{}, err
	}
	reply, err := c.do(ctx, http.MethodPut, "/add-service-account", nil, sealed)
	if err != nil {
		return Credentials{}, err
	}
	plain, err := decrypt(ctx, c.derivations, c.secretKey, reply)
	if err != nil {
		return Credentials{}, fmt.Errorf("decrypt add-service-account reply: %w", err)
	}
	var resp struct {
		Credentials Credentials `json:"credentials"`
	}
	if err := json.Unmarshal(plain, &resp); err != nil {
		return Credentials{}, fmt.Errorf("decode add-service-account reply: %w", err)
	}
	if resp.Credentials.AccessKey == "" || resp.Credentials.SecretKey == "" {
		return Credentials{}, errors.New("add-service-account reply holds no credentials")
	}
	return resp.Credentials, nil
}

// ListServiceAccounts lists the service accounts of user (the calling identity when empty).
func (c *Client) ListServiceAccounts(ctx context.Context, user string) ([]ServiceAccount, error) {
	q := url.Values{}
	if user != "" {
		q.Set("user", user)
	}
	reply, err := c.do(ctx, http.MethodGet, "/list-service-accounts", q, nil)
	if err != nil {
		return nil, err
	}
	plain, err := decrypt(ctx, c.derivations, c.secretKey, reply)
	if err != nil {
		return nil, fmt.Errorf("decrypt list-service-accounts reply: %w", err)
	}
	var resp struct {
		Accounts []ServiceAccount `json:"accounts"`
	}
	if err := json.Unmarshal(plain, &resp); err != nil {
		return nil, fmt.Errorf("decode list-service-accounts reply: %w", err)
	}
	return resp.Accounts, nil
}

// DeleteServiceAccount deletes the service account with accessKey. An absent account is success.
func (c *Client) DeleteServiceAccount(ctx context.Context, accessKey string) error {
	_, err := c.do(ctx, http.MethodDelete, "/delete-service-account", url.Values{"accessKey": {accessKey}}, nil)
	return ignoreNotFound(err)
}

// ServiceAccountInfo is what the admin API reports about one service account: no secret material.
type ServiceAccountInfo struct {
	ParentUser string `json:"parentUser"`
	// AccountStatus is "on" or "off" (not the "enabled"/"disabled" an update takes).
	AccountStatus string `json:"accountStatus"`
	// ImpliedPolicy is true when the account has no inline policy of its own and inherits its
	// parent's permissions (for the root user, everything). Policy is then the parent's.
	ImpliedPolicy bool `json:"impliedPolicy"`
	// Policy is the effective policy document as JSON text: the wire carries it as a string, not
	// as an object. MinIO re-encodes it, so its statements' actions and resources come in no
	// particular order.
	Policy      string     `json:"policy"`
	Name        string     `json:"name,omitempty"`
	Description string     `json:"description,omitempty"`
	Expiration  *time.Time `json:"expiration,omitempty"`
}

// InfoServiceAccount reports the service account with accessKey. An absent account is an *Error
// whose IsNotFound is true.
func (c *Client) InfoServiceAccount(ctx context.Context, accessKey string) (ServiceAccountInfo, error) {
	reply, err := c.do(ctx, http.MethodGet, "/info-service-account", url.Values{"accessKey": {accessKey}}, nil)
	if err != nil {
		return ServiceAccountInfo{}, err
	}
	plain, err := decrypt(ctx, c.derivations, c.secretKey, reply)
	if err != nil {
		return ServiceAccountInfo{}, fmt.Errorf("decrypt info-service-account reply: %w", err)
	}
	var info ServiceAccountInfo
	if err := json.Unmarshal(plain, &info); err != nil {
		return ServiceAccountInfo{}, fmt.Errorf("decode info-service-account reply: %w", err)
	}
	return info, nil
}

// UpdateServiceAccountRequest changes a service account in place; its keys stay the same. Empty
// optional fields leave the account's value as it is.
type UpdateServiceAccountRequest struct {
	// NewPolicy is the inline policy that replaces the account's. It is required and must hold a
	// statement: MinIO treats an update without one as "drop the inline policy", which silently
	// widens the account to all of its parent's permissions.
	NewPolicy json.RawMessage `json:"newPolicy"`
	// NewStatus enables or disables the account (the same words as a user's status).
	NewStatus      UserStatus `json:"newStatus,omitempty"`
	NewName        string     `json:"newName,omitempty"`
	NewDescription string     `json:"newDescription,omitempty"`
	NewExpiration  *time.Time `json:"newExpiration,omitempty"`
}

// ErrNoPolicy: UpdateServiceAccount was asked for an update without a policy (see
// UpdateServiceAccountRequest.NewPolicy).
var ErrNoPolicy = errors.New("a service account update needs a policy: without one MinIO drops the inline policy")

// UpdateServiceAccount changes the service account with accessKey as req says. The body is
// encrypted like the other service account calls. An absent account is an *Error whose IsNotFound
// is true.
func (c *Client) UpdateServiceAccount(ctx context.Context, accessKey string, req UpdateServiceAccountRequest) error {
	if !hasStatements(req.NewPolicy) {
		return ErrNoPolicy
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	sealed, err := encrypt(c.secretKey, body)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodPost, "/update-service-account", url.Values{"accessKey": {accessKey}}, sealed)
	return err
}

// hasStatements reports whether policy is a document with at least one statement, or malformed
// (which the server refuses by itself). MinIO drops the inline policy on an update whose policy is
// absent or has neither version nor statements, and keeps the old one on an update whose policy has
// a version but no statements: neither is what the caller asked for.
func hasStatements(policy json.RawMessage) bool {
	if len(bytes.TrimSpace(policy)) == 0 {
		return false
	}
	var doc struct {
		Statement []json.RawMessage
	}
	return json.Unmarshal(policy, &doc) != nil || len(doc.Statement) > 0
}

// do sends a signed admin request and returns the reply body of a 2xx answer.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body []byte) ([]byte, error) {
	u := *c.endpoint
	u.Path = apiPrefix + path
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	req.ContentLength = int64(len(body))
	signed := signer.SignV4(*req, c.accessKey, c.secretKey, "", c.region)
	resp, err := c.http.Do(signed)
	if err != nil {
		return nil, fmt.Errorf("minio admin %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("minio admin %s %s: read reply: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		apiErr := &Error{StatusCode: resp.StatusCode}
		if json.Unmarshal(reply, apiErr) != nil || apiErr.Code == "" {
			apiErr.Code = http.StatusText(resp.StatusCode)
		}
		return nil, apiErr
	}
	return reply, nil
}
