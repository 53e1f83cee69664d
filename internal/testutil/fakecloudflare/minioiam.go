package fakecloudflare

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"
	"github.com/secure-io/sio-go"
	"golang.org/x/crypto/argon2"
)

// iamClient is the slice of MinIO's admin API (/minio/admin/v3) the fake needs to turn a token
// into a MinIO user: canned policies and users. internal/minioadmin only covers service accounts,
// which cannot hold R2-shaped keys (see the package doc), and keeps its body encryption private.
type iamClient struct {
	endpoint             url.URL
	accessKey, secretKey string
	http                 *http.Client
}

func newIAMClient(endpoint, accessKey, secretKey string) (*iamClient, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("bad MinIO endpoint %q", endpoint)
	}
	return &iamClient{
		endpoint:  url.URL{Scheme: u.Scheme, Host: u.Host},
		accessKey: accessKey,
		secretKey: secretKey,
		http:      &http.Client{Timeout: 30 * time.Second},
	}, nil
}

// iamError is an error reply of the admin API.
type iamError struct {
	Status  int
	Code    string `json:"Code"`
	Message string `json:"Message"`
}

func (e *iamError) Error() string {
	return fmt.Sprintf("minio admin: %d %s: %s", e.Status, e.Code, e.Message)
}

func isNoSuch(err error) bool {
	e, ok := err.(*iamError)
	return ok && (e.Status == http.StatusNotFound || strings.Contains(e.Code, "NoSuch"))
}

// policyName names the canned policy and the group of a token's user.
func policyName(accessKey string) string { return "cf-token-" + accessKey }

// putIdentity creates user accessKey with secretKey, restricted to policy.
//
// The user must never authenticate without its policy (it would answer AccessDenied where the
// fake promises InvalidAccessKeyId until the identity is complete), so it is created disabled (a
// disabled key answers InvalidAccessKeyId like an absent one) and enabled last. MinIO refuses to
// attach a policy to a disabled user, but not to a group holding one, so the policy is attached
// to a group of its own.
func (c *iamClient) putIdentity(ctx context.Context, accessKey, secretKey string, policy []byte) error {
	name := policyName(accessKey)
	if err := c.do(ctx, http.MethodPut, "/add-canned-policy", url.Values{"name": {name}}, policy); err != nil {
		return err
	}
	body, err := json.Marshal(map[string]string{"secretKey": secretKey, "status": "disabled"})
	if err != nil {
		return err
	}
	sealed, err := sealAdminPayload(c.secretKey, body)
	if err != nil {
		return err
	}
	if err := c.do(ctx, http.MethodPut, "/add-user", url.Values{"accessKey": {accessKey}}, sealed); err != nil {
		return err
	}
	group, err := json.Marshal(map[string]any{"group": name, "members": []string{accessKey}, "isRemove": false})
	if err != nil {
		return err
	}
	if err := c.do(ctx, http.MethodPut, "/update-group-members", nil, group); err != nil {
		return err
	}
	if err := c.do(ctx, http.MethodPut, "/set-user-or-group-policy",
		url.Values{"policyName": {name}, "userOrGroup": {name}, "isGroup": {"true"}}, nil); err != nil {
		return err
	}
	return c.do(ctx, http.MethodPut, "/set-user-status", url.Values{"accessKey": {accessKey}, "status": {"enabled"}}, nil)
}

// deleteIdentity removes user accessKey, its group and its canned policy. Absent ones are fine.
func (c *iamClient) deleteIdentity(ctx context.Context, accessKey string) error {
	name := policyName(accessKey)
	if err := c.do(ctx, http.MethodDelete, "/remove-user", url.Values{"accessKey": {accessKey}}, nil); err != nil && !isNoSuch(err) {
		return err
	}
	// Removing the (now empty) group also removes its policy mapping.
	group, err := json.Marshal(map[string]any{"group": name, "members": []string{}, "isRemove": true})
	if err != nil {
		return err
	}
	if err := c.do(ctx, http.MethodPut, "/update-group-members", nil, group); err != nil && !isNoSuch(err) {
		return err
	}
	if err := c.do(ctx, http.MethodDelete, "/remove-canned-policy", url.Values{"name": {name}}, nil); err != nil && !isNoSuch(err) {
		return err
	}
	return nil
}

// do sends a SigV4-signed admin request and returns an *iamError for a non-2xx answer.
func (c *iamClient) do(ctx context.Context, method, path string, query url.Values, body []byte) error {
	u := c.endpoint
	u.Path = "/minio/admin/v3" + path
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	req.ContentLength = int64(len(body))
	resp, err := c.http.Do(signer.SignV4(*req, c.accessKey, c.secretKey, "", "us-east-1"))
	if err != nil {
		return fmt.Errorf("minio admin %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		e := &iamError{Status: resp.StatusCode}
		if json.Unmarshal(reply, e) != nil || e.Code == "" {
			e.Code = http.StatusText(resp.StatusCode)
		}
		return e
	}
	return nil
}

// sealAdminPayload encrypts data as MinIO's admin API expects for secret-bearing bodies:
// salt (32) | algorithm id (1) | nonce (8) | sio stream, here with id 0x00 = Argon2id key
// derivation from the admin secret key and AES-256-GCM (the same format internal/minioadmin
// writes).
func sealAdminPayload(password string, data []byte) ([]byte, error) {
	var salt [32]byte
	var nonce [8]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return nil, err
	}
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	stream, err := sio.AES_256_GCM.Stream(argon2.IDKey([]byte(password), salt[:], 1, 64*1024, 4, 32))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Write(salt[:])
	out.WriteByte(0x00)
	out.Write(nonce[:])
	w := stream.EncryptWriter(&out, nonce[:], nil)
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
