package fakecloudflare

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/tfstate-operator/tfstate-operator/internal/minioadmin"
)

// updateTokenBody is PUT accounts/{acct}/tokens/{id}: the whole token (cloudflare-go's
// shared.TokenParam), as on create, plus its status.
type updateTokenBody struct {
	createTokenBody
	Status *string `json:"status"`
}

// handleUpdateToken replaces a token's name, policies, expiry and condition, and its status when
// sent. The value (and so its S3 keys) stays; its MinIO identity's policy follows the new
// policies at once, and a "disabled" token's identity is disabled.
func (s *Server) handleUpdateToken(c *call) {
	id := c.params["id"]
	var body updateTokenBody
	if !c.decodeJSON(&body) {
		return
	}
	// Policy ids are read-only: an update may echo them from a GET.
	for i := range body.Policies {
		body.Policies[i].ID = nil
	}
	status := ""
	if body.Status != nil {
		switch *body.Status {
		case "active", "disabled":
			status = *body.Status
		default:
			c.fail(http.StatusBadRequest, codeBadRequest, "status must be active or disabled")
			return
		}
	}
	s.mu.Lock()
	exists := s.tokens[id] != nil
	s.mu.Unlock()
	if !exists {
		c.fail(http.StatusNotFound, codeTokenNotFound, "Token not found")
		return
	}
	now := s.cfg.Now().UTC().Truncate(time.Second)
	parsed, err := s.newToken(body.createTokenBody, now)
	if err != nil {
		c.fail(http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}

	s.iamMu.Lock()
	defer s.iamMu.Unlock()
	s.mu.Lock()
	t := s.tokens[id]
	if t == nil {
		s.mu.Unlock()
		c.fail(http.StatusNotFound, codeTokenNotFound, "Token not found")
		return
	}
	t.Name, t.ExpiresOn, t.NotBefore, t.Condition = parsed.Name, parsed.ExpiresOn, parsed.NotBefore, parsed.Condition
	t.policies, t.Policies = parsed.policies, parsed.Policies
	t.ModifiedOn = now
	if status != "" {
		t.Status = status
	}
	policy := s.minioPolicy(t)
	hadIdentity, disabled := t.S3Identity, t.Status == "disabled"
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if hadIdentity {
		if policy == nil {
			// No R2 permission group left: the keys must stop working.
			err = s.identities.Delete(ctx, id)
			s.mu.Lock()
			t.S3Identity = err != nil
			s.mu.Unlock()
		} else {
			err = s.identities.SetPolicy(ctx, id, policy)
			if err == nil {
				st := minioadmin.UserEnabled
				if disabled {
					st = minioadmin.UserDisabled
				}
				err = s.identities.Admin.SetUserStatus(ctx, id, st)
			}
		}
		if err != nil {
			c.fail(http.StatusInternalServerError, codeInternal, "updating the S3 identity failed: "+err.Error())
			return
		}
	}
	s.mu.Lock()
	out := tokenJSON(t, false)
	s.mu.Unlock()
	c.reply(http.StatusOK, out, nil)
}

// UpdateTokenPolicies stands for an administrator editing a token's policies in the dashboard:
// it sends the PUT a dashboard would, authenticated with the admin token value, and reports the
// HTTP status. policies is the JSON array of the token's new policies.
func (s *Server) UpdateTokenPolicies(adminValue, id string, policies json.RawMessage) (int, error) {
	s.mu.Lock()
	t := s.tokens[id]
	var name string
	var expires time.Time
	if t != nil {
		name, expires = t.Name, t.ExpiresOn
	}
	s.mu.Unlock()
	body := map[string]any{"name": name, "policies": policies}
	if !expires.IsZero() {
		body["expires_on"] = expires.Format(timeFormat)
	}
	return s.do(http.MethodPut, "accounts/"+s.account+"/tokens/"+id, adminValue, body)
}

// do sends one JSON request to the fake itself, as a client would.
func (s *Server) do(method, rel, bearer string, body any) (int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequest(method, s.URL()+rel, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}
