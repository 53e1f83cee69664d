package fakecloudflare

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tfstate-operator/tfstate-operator/internal/testutil/minioidentity"
)

// ---- permission groups ----

const (
	scopeAccount  = "com.cloudflare.api.account"
	scopeR2Bucket = "com.cloudflare.edge.r2.bucket"
)

type permissionGroup struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Category string   `json:"category,omitempty"`
	Scopes   []string `json:"scopes"`
}

const (
	pgItemWrite = "Workers R2 Storage Bucket Item Write"
	pgItemRead  = "Workers R2 Storage Bucket Item Read"
)

// catalogue is the fake's permission-group list. The four R2 ids are the ones the reference notes
// give (Item Read from Cloudflare's docs, the others from third-party code); the other ids are
// invented [inference], as are the categories.
var catalogue = []permissionGroup{
	{ID: "2efd5506f9c8494dacb1fa10a3e7d5b6", Name: pgItemWrite, Category: "developer_platform", Scopes: []string{scopeR2Bucket}},
	{ID: "6a018a9f2fc74eb6b293b0c548f38b39", Name: pgItemRead, Category: "developer_platform", Scopes: []string{scopeR2Bucket}},
	{ID: "bf7481a1826f439697cb59a20b22293e", Name: pgR2Write, Category: "developer_platform", Scopes: []string{scopeAccount}},
	{ID: "b4992e1108244f5d8bfbd5744320c2e1", Name: pgR2Read, Category: "developer_platform", Scopes: []string{scopeAccount}},
	{ID: "5bc3f8b21c5548329bd2f7a1e0c4d601", Name: pgTokensWrite, Category: "account_and_billing", Scopes: []string{scopeAccount}},
	{ID: "5bc3f8b21c5548329bd2f7a1e0c4d602", Name: pgTokensRead, Category: "account_and_billing", Scopes: []string{scopeAccount}},
	{ID: "7a1d2c3b4e5f46a7b8c9d0e1f2a3b401", Name: "Account Settings Read", Category: "account_and_billing", Scopes: []string{scopeAccount}},
	{ID: "7a1d2c3b4e5f46a7b8c9d0e1f2a3b402", Name: "Workers Scripts Write", Category: "developer_platform", Scopes: []string{scopeAccount}},
}

func groupByID(id string) (permissionGroup, bool) {
	for _, g := range catalogue {
		if g.ID == id {
			return g, true
		}
	}
	return permissionGroup{}, false
}

// PermissionGroupID is the id of the named permission group ("" if the fake has none), as a test
// playing the dashboard would pick it.
func PermissionGroupID(name string) string {
	g, _ := groupByName(name)
	return g.ID
}

func groupByName(name string) (permissionGroup, bool) {
	for _, g := range catalogue {
		if g.Name == name {
			return g, true
		}
	}
	return permissionGroup{}, false
}

// ---- token policies ----

// grant is one resource of a policy, parsed.
type grant struct {
	// kind: "account" (com.cloudflare.api.account.<acct>), "bucket" (one bucket) or
	// "allBuckets" (the account's com.cloudflare.edge.r2.bucket.*).
	kind         string
	jurisdiction string
	bucket       string
}

type tokenPolicy struct {
	effect string
	groups []permissionGroup
	grants []grant
}

// has reports whether the token holds one of the named account-scoped permission groups on
// account: granted by an allow policy and not taken away by a deny policy.
func (t *token) has(account string, names ...string) bool {
	for _, name := range names {
		allowed, denied := false, false
		for _, p := range t.policies {
			if !slices.ContainsFunc(p.groups, func(g permissionGroup) bool { return g.Name == name }) {
				continue
			}
			if !slices.ContainsFunc(p.grants, func(g grant) bool { return g.kind == "account" }) {
				continue
			}
			if p.effect == "deny" {
				denied = true
			} else {
				allowed = true
			}
		}
		if allowed && !denied {
			return true
		}
	}
	return false
}

func (t *token) snapshot() Token {
	out := t.Token
	out.Policies = make([]Policy, len(t.Policies))
	for i, p := range t.Policies {
		p.PermissionGroups = slices.Clone(p.PermissionGroups)
		res := make(map[string]any, len(p.Resources))
		for k, v := range p.Resources {
			if m, ok := v.(map[string]string); ok {
				m2 := make(map[string]string, len(m))
				for k2, v2 := range m {
					m2[k2] = v2
				}
				v = m2
			}
			res[k] = v
		}
		p.Resources = res
		out.Policies[i] = p
	}
	out.Condition = slices.Clone(t.Condition)
	return out
}

// validationError is a token-create refusal: 400 with code 1001 [inference].
type validationError string

func (e validationError) Error() string { return string(e) }

// parseResources validates a policy's resources against its permission groups.
func (s *Server) parseResources(groups []permissionGroup, raw map[string]json.RawMessage) (map[string]any, []grant, error) {
	if len(raw) == 0 {
		return nil, nil, validationError("Each policy needs at least one resource")
	}
	scopes := map[string]bool{}
	for _, g := range groups {
		scopes[g.Scopes[0]] = true
	}
	if len(scopes) > 1 {
		return nil, nil, validationError("Permission groups of different scopes cannot share one policy")
	}
	scope := groups[0].Scopes[0]
	acctKey := scopeAccount + "." + s.account
	resources := map[string]any{}
	var grants []grant
	for key, val := range raw {
		var star string
		var nested map[string]string
		if json.Unmarshal(val, &star) == nil {
			if star != "*" {
				return nil, nil, validationError(fmt.Sprintf("Resource %q: the value must be \"*\"", key))
			}
			resources[key] = "*"
		} else if json.Unmarshal(val, &nested) == nil {
			resources[key] = nested
		} else {
			return nil, nil, validationError(fmt.Sprintf("Resource %q: the value must be \"*\" or an object of resources", key))
		}
		switch {
		case scope == scopeAccount && nested == nil:
			if key != acctKey {
				return nil, nil, validationError(fmt.Sprintf("Resource %q is not this account (%s)", key, acctKey))
			}
			grants = append(grants, grant{kind: "account"})
		case scope == scopeR2Bucket && nested == nil:
			g, err := s.parseBucketKey(key)
			if err != nil {
				return nil, nil, err
			}
			grants = append(grants, g)
		case scope == scopeR2Bucket:
			// "com.cloudflare.api.account.<acct>": {"com.cloudflare.edge.r2.bucket.*": "*"}
			if key != acctKey {
				return nil, nil, validationError(fmt.Sprintf("Resource %q is not this account (%s)", key, acctKey))
			}
			if len(nested) == 0 {
				return nil, nil, validationError(fmt.Sprintf("Resource %q: empty nested resources", key))
			}
			for k2, v2 := range nested {
				if v2 != "*" {
					return nil, nil, validationError(fmt.Sprintf("Resource %q: the value must be \"*\"", k2))
				}
				if k2 == scopeR2Bucket+".*" {
					grants = append(grants, grant{kind: "allBuckets"})
					continue
				}
				g, err := s.parseBucketKey(k2)
				if err != nil {
					return nil, nil, err
				}
				grants = append(grants, g)
			}
		default:
			return nil, nil, validationError(fmt.Sprintf("Resource %q does not fit permission groups of scope %s", key, scope))
		}
	}
	return resources, grants, nil
}

// parseBucketKey parses com.cloudflare.edge.r2.bucket.<ACCOUNT>_<JURISDICTION>_<BUCKET>.
func (s *Server) parseBucketKey(key string) (grant, error) {
	rest, ok := strings.CutPrefix(key, scopeR2Bucket+".")
	parts := strings.Split(rest, "_")
	if !ok || len(parts) != 3 {
		return grant{}, validationError(fmt.Sprintf("Resource %q is not of the form %s.<ACCOUNT>_<JURISDICTION>_<BUCKET>", key, scopeR2Bucket))
	}
	if parts[0] != s.account {
		return grant{}, validationError(fmt.Sprintf("Resource %q is not in this account", key))
	}
	if !validJurisdiction(parts[1]) {
		return grant{}, validationError(fmt.Sprintf("Resource %q: unknown jurisdiction %q", key, parts[1]))
	}
	if !validBucketName(parts[2]) {
		return grant{}, validationError(fmt.Sprintf("Resource %q: invalid bucket name %q", key, parts[2]))
	}
	return grant{kind: "bucket", jurisdiction: parts[1], bucket: parts[2]}, nil
}

// ---- token create ----

type createTokenBody struct {
	Name      *string         `json:"name"`
	Policies  []policyBody    `json:"policies"`
	ExpiresOn *time.Time      `json:"expires_on"`
	NotBefore *time.Time      `json:"not_before"`
	Condition json.RawMessage `json:"condition"`
}

type policyBody struct {
	ID               *string `json:"id"`
	Effect           string  `json:"effect"`
	PermissionGroups []struct {
		ID string `json:"id"`
	} `json:"permission_groups"`
	Resources map[string]json.RawMessage `json:"resources"`
}

// newToken validates body and builds a token (not yet stored).
func (s *Server) newToken(body createTokenBody, now time.Time) (*token, error) {
	if body.Name == nil || *body.Name == "" {
		return nil, validationError("name is required")
	}
	if n := len([]rune(*body.Name)); n > 120 {
		return nil, validationError("name must be at most 120 characters")
	}
	if len(body.Policies) == 0 {
		return nil, validationError("At least one policy is required")
	}
	t := &token{Token: Token{ID: randomHex(16), Name: *body.Name, Status: "active", IssuedOn: now, ModifiedOn: now}}
	if body.ExpiresOn != nil {
		if !body.ExpiresOn.After(now) {
			return nil, validationError("expires_on must be in the future")
		}
		t.ExpiresOn = body.ExpiresOn.UTC()
	}
	if body.NotBefore != nil {
		t.NotBefore = body.NotBefore.UTC()
		if !t.ExpiresOn.IsZero() && !t.NotBefore.Before(t.ExpiresOn) {
			return nil, validationError("not_before must be before expires_on")
		}
	}
	if len(body.Condition) > 0 && string(body.Condition) != "null" {
		if err := validateCondition(body.Condition); err != nil {
			return nil, err
		}
		t.Condition = slices.Clone(body.Condition)
	}
	for _, pb := range body.Policies {
		if pb.ID != nil {
			// Documented refusal (cloudflare-docs PR #352).
			return nil, validationError("Reusing existing policies is not supported by token creation")
		}
		if pb.Effect != "allow" && pb.Effect != "deny" {
			return nil, validationError(fmt.Sprintf("Invalid policy effect %q: expected allow or deny", pb.Effect))
		}
		if len(pb.PermissionGroups) == 0 {
			return nil, validationError("Each policy needs at least one permission group")
		}
		tp := tokenPolicy{effect: pb.Effect}
		p := Policy{ID: randomHex(16), Effect: pb.Effect}
		for _, ref := range pb.PermissionGroups {
			g, ok := groupByID(ref.ID)
			if !ok {
				return nil, validationError(fmt.Sprintf("Permission group %q does not exist", ref.ID))
			}
			tp.groups = append(tp.groups, g)
			p.PermissionGroups = append(p.PermissionGroups, PermissionGroupRef{ID: g.ID, Name: g.Name})
		}
		res, grants, err := s.parseResources(tp.groups, pb.Resources)
		if err != nil {
			return nil, err
		}
		tp.grants, p.Resources = grants, res
		t.policies = append(t.policies, tp)
		t.Policies = append(t.Policies, p)
	}
	t.value = newTokenValue()
	t.secretKey = SecretAccessKey(t.value)
	return t, nil
}

// validateCondition accepts {"request_ip"|"request.ip": {"in":[CIDR...],"not_in":[CIDR...]}}.
// Both keys are accepted because the SDK sends request_ip and Cloudflare's how-to shows
// request.ip. The condition is not enforced.
func validateCondition(raw json.RawMessage) error {
	var cond map[string]struct {
		In    []string `json:"in"`
		NotIn []string `json:"not_in"`
	}
	if err := json.Unmarshal(raw, &cond); err != nil {
		return validationError("condition must be an object")
	}
	for key, ipc := range cond {
		if key != "request_ip" && key != "request.ip" {
			return validationError(fmt.Sprintf("Unknown condition %q", key))
		}
		for _, cidr := range append(slices.Clone(ipc.In), ipc.NotIn...) {
			if _, _, err := net.ParseCIDR(cidr); err != nil && net.ParseIP(cidr) == nil {
				return validationError(fmt.Sprintf("Invalid CIDR %q in condition", cidr))
			}
		}
	}
	return nil
}

// newTokenValue returns "cfat_" + 40 alphanumerics + an 8-hex checksum [inference: the docs give
// prefix, length and that there is a checksum, not how it is computed].
func newTokenValue() string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 40)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alnum))))
		if err != nil {
			panic(err)
		}
		b[i] = alnum[n.Int64()]
	}
	return fmt.Sprintf("cfat_%s%08x", b, crc32.ChecksumIEEE(b))
}

// store adds t, enforcing the quota. s.mu must be held.
func (s *Server) store(t *token) error {
	if len(s.tokens) >= s.cfg.TokenQuota {
		return validationError(fmt.Sprintf("Token quota exceeded: the account already has %d API tokens (quota %d)", len(s.tokens), s.cfg.TokenQuota))
	}
	s.tokens[t.ID] = t
	s.byValue[t.value] = t.ID
	s.order = append(s.order, t.ID)
	return nil
}

// unstore removes token id. s.mu must be held.
func (s *Server) unstore(id string) {
	t := s.tokens[id]
	if t == nil {
		return
	}
	delete(s.tokens, id)
	delete(s.byValue, t.value)
	delete(s.rate, id)
	s.order = slices.DeleteFunc(s.order, func(x string) bool { return x == id })
}

func (s *Server) handleCreateToken(c *call) {
	var body createTokenBody
	if !c.decodeJSON(&body) {
		return
	}
	t, err := s.newToken(body, s.cfg.Now().UTC().Truncate(time.Second))
	if err != nil {
		c.fail(http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	if err := s.store(t); err != nil {
		s.mu.Unlock()
		c.fail(http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}
	delay := s.cfg.PropagationDelay
	if delay > 0 {
		s.pending.Add(1)
		id := t.ID
		t.timer = time.AfterFunc(delay, func() {
			defer s.pending.Done()
			_ = s.propagate(id)
		})
	}
	s.mu.Unlock()
	if delay <= 0 {
		if err := s.propagate(t.ID); err != nil {
			s.mu.Lock()
			s.unstore(t.ID)
			s.mu.Unlock()
			c.fail(http.StatusInternalServerError, codeInternal, "creating the S3 identity failed: "+err.Error())
			return
		}
	}
	s.mu.Lock()
	out := tokenJSON(t, true)
	s.mu.Unlock()
	c.reply(http.StatusOK, out, nil)
}

// stopTimer cancels a pending delayed identity creation. s.mu must be held.
func (s *Server) stopTimer(t *token) {
	if t.timer != nil && t.timer.Stop() {
		s.pending.Done()
	}
	t.timer = nil
}

// propagate creates the MinIO identity of token id, if the token is still live and has R2
// permissions.
func (s *Server) propagate(id string) error {
	s.iamMu.Lock()
	defer s.iamMu.Unlock()
	s.mu.Lock()
	t := s.tokens[id]
	if t == nil || s.closed {
		s.mu.Unlock()
		return nil
	}
	t.timer = nil
	policy := s.minioPolicy(t)
	secret := t.secretKey
	s.mu.Unlock()
	if policy == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.identities.Put(ctx, id, secret, policy)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		t.S3IdentityErr = err
		return err
	}
	t.S3Identity = true
	return nil
}

// minioPolicy translates t's policies to a MinIO policy. It is nil when the token allows no R2
// permission group at all (no S3 identity: its keys are unknown to S3), and deny-all when it
// allows some but they grant nothing (e.g. a bucket key naming the wrong jurisdiction: the keys
// authenticate and get AccessDenied, as with R2). s.mu must be held (bucket jurisdictions are read).
func (s *Server) minioPolicy(t *token) []byte {
	var stmts []minioidentity.Statement
	allows := 0
	hasR2 := false
	add := func(effect string, actions []string, resources ...string) {
		stmts = append(stmts, minioidentity.Statement{Effect: effect, Action: actions, Resource: resources})
		if effect == "Allow" {
			allows++
		}
	}
	bucketActions := []string{"s3:ListBucket", "s3:GetBucketLocation"}
	for _, p := range t.policies {
		effect := "Allow"
		if p.effect == "deny" {
			effect = "Deny"
		}
		for _, g := range p.groups {
			if p.effect == "allow" && (g.Name == pgR2Write || g.Name == pgR2Read || g.Name == pgItemWrite || g.Name == pgItemRead) {
				hasR2 = true
			}
			for _, gr := range p.grants {
				switch {
				case gr.kind == "account" && g.Name == pgR2Write:
					add(effect, []string{"s3:*"}, "arn:aws:s3:::*", "arn:aws:s3:::*/*")
				case gr.kind == "account" && g.Name == pgR2Read:
					add(effect, []string{"s3:Get*", "s3:List*"}, "arn:aws:s3:::*", "arn:aws:s3:::*/*")
				case g.Name == pgItemWrite || g.Name == pgItemRead:
					bucketARN, objectARN := "arn:aws:s3:::*", "arn:aws:s3:::*/*"
					if gr.kind == "bucket" {
						// A key naming another jurisdiction than the bucket's grants nothing.
						if b := s.buckets[gr.bucket]; b != nil && b.Jurisdiction != gr.jurisdiction {
							continue
						}
						bucketARN, objectARN = "arn:aws:s3:::"+gr.bucket, "arn:aws:s3:::"+gr.bucket+"/*"
					}
					objectActions := []string{"s3:GetObject"}
					if g.Name == pgItemWrite {
						objectActions = []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}
					}
					add(effect, bucketActions, bucketARN)
					add(effect, objectActions, objectARN)
				}
			}
		}
	}
	if !hasR2 {
		return nil
	}
	if allows == 0 {
		stmts = []minioidentity.Statement{{Effect: "Deny", Action: []string{"s3:*"}, Resource: []string{"arn:aws:s3:::*"}}}
	}
	out, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": stmts})
	if err != nil {
		panic(err)
	}
	return out
}

// ---- token JSON ----

type policyJSON struct {
	ID               string         `json:"id"`
	Effect           string         `json:"effect"`
	PermissionGroups []pgRefJSON    `json:"permission_groups"`
	Resources        map[string]any `json:"resources"`
}

type pgRefJSON struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

const timeFormat = "2006-01-02T15:04:05Z"

// tokenJSON renders a token; the value only when withValue (the create answer). s.mu must be held.
func tokenJSON(t *token, withValue bool) map[string]any {
	pols := make([]policyJSON, 0, len(t.Policies))
	for _, p := range t.Policies {
		pj := policyJSON{ID: p.ID, Effect: p.Effect, Resources: p.Resources}
		for _, g := range p.PermissionGroups {
			pj.PermissionGroups = append(pj.PermissionGroups, pgRefJSON(g))
		}
		pols = append(pols, pj)
	}
	out := map[string]any{
		"id":          t.ID,
		"name":        t.Name,
		"status":      t.Status,
		"issued_on":   t.IssuedOn.Format(timeFormat),
		"modified_on": t.ModifiedOn.Format(timeFormat),
		"policies":    pols,
	}
	if !t.ExpiresOn.IsZero() {
		out["expires_on"] = t.ExpiresOn.Format(timeFormat)
	}
	if !t.NotBefore.IsZero() {
		out["not_before"] = t.NotBefore.Format(timeFormat)
	}
	if len(t.Condition) > 0 {
		out["condition"] = json.RawMessage(t.Condition)
	}
	if withValue {
		out["value"] = t.value
	}
	return out
}

// ---- other token handlers ----

func (s *Server) handleVerify(c *call) {
	out := map[string]any{"id": c.tok.ID, "status": "active"}
	if !c.tok.ExpiresOn.IsZero() {
		out["expires_on"] = c.tok.ExpiresOn.Format(timeFormat)
	}
	if !c.tok.NotBefore.IsZero() {
		out["not_before"] = c.tok.NotBefore.Format(timeFormat)
	}
	c.reply(http.StatusOK, out, nil)
}

// handleUserVerify refuses every token: all tokens of the fake are account-owned, and
// third-party reports say account tokens get 401 on the user endpoint [inference: the code].
func (s *Server) handleUserVerify(c *call) {
	c.fail(http.StatusUnauthorized, codeInvalidToken, "Invalid API Token")
}

func (s *Server) handlePermissionGroups(c *call) {
	q := c.r.URL.Query()
	name, scope := q.Get("name"), q.Get("scope")
	out := []permissionGroup{}
	for _, g := range catalogue {
		if name != "" && g.Name != name {
			continue
		}
		if scope != "" && !slices.Contains(g.Scopes, scope) {
			continue
		}
		out = append(out, g)
	}
	c.reply(http.StatusOK, out, nil)
}

func (s *Server) handleListTokens(c *call) {
	q := c.r.URL.Query()
	page, perPage := 1, 20
	var err error
	if v := q.Get("page"); v != "" {
		if page, err = strconv.Atoi(v); err != nil || page < 1 {
			c.fail(http.StatusBadRequest, codeBadRequest, "page must be an integer >= 1")
			return
		}
	}
	if v := q.Get("per_page"); v != "" {
		if perPage, err = strconv.Atoi(v); err != nil || perPage < 5 || perPage > 50 {
			c.fail(http.StatusBadRequest, codeBadRequest, "per_page must be an integer from 5 to 50")
			return
		}
	}
	dir := q.Get("direction")
	if dir != "" && dir != "asc" && dir != "desc" {
		c.fail(http.StatusBadRequest, codeBadRequest, "direction must be asc or desc")
		return
	}
	s.mu.Lock()
	ids := slices.Clone(s.order)
	if dir == "desc" {
		slices.Reverse(ids)
	}
	total := len(ids)
	items := []map[string]any{}
	for i := (page - 1) * perPage; i < total && i < page*perPage; i++ {
		items = append(items, tokenJSON(s.tokens[ids[i]], false))
	}
	s.mu.Unlock()
	c.reply(http.StatusOK, items, map[string]int{
		"page":        page,
		"per_page":    perPage,
		"count":       len(items),
		"total_count": total,
		"total_pages": (total + perPage - 1) / perPage,
	})
}

func (s *Server) handleGetToken(c *call) {
	s.mu.Lock()
	t := s.tokens[c.params["id"]]
	var out map[string]any
	if t != nil {
		out = tokenJSON(t, false)
	}
	s.mu.Unlock()
	if t == nil {
		c.fail(http.StatusNotFound, codeTokenNotFound, "Token not found")
		return
	}
	c.reply(http.StatusOK, out, nil)
}

func (s *Server) handleDeleteToken(c *call) {
	id := c.params["id"]
	if err := s.deleteToken(id); err != nil {
		if err == errNoToken {
			c.fail(http.StatusNotFound, codeTokenNotFound, "Token not found")
		} else {
			c.fail(http.StatusInternalServerError, codeInternal, "removing the S3 identity failed: "+err.Error())
		}
		return
	}
	c.reply(http.StatusOK, map[string]string{"id": id}, nil)
}

var errNoToken = validationError("no such token")

// deleteToken removes the token's MinIO identity, then the token.
func (s *Server) deleteToken(id string) error {
	s.iamMu.Lock()
	defer s.iamMu.Unlock()
	s.mu.Lock()
	t := s.tokens[id]
	if t == nil {
		s.mu.Unlock()
		return errNoToken
	}
	s.stopTimer(t)
	hadIdentity := t.S3Identity
	s.mu.Unlock()
	if hadIdentity {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.identities.Delete(ctx, id); err != nil {
			return err
		}
	}
	s.mu.Lock()
	t.S3Identity = false
	s.unstore(id)
	s.mu.Unlock()
	return nil
}

// AddToken adds an admin token holding the named account-scoped permission groups (e.g.
// "Workers R2 Storage Write", "Account API Tokens Write") on the fake's account, as a human
// would have created it beforehand. Its MinIO identity (per the translation in the package doc)
// exists when AddToken returns, whatever Config.PropagationDelay says. It counts against the
// token quota and shows up in token listings.
func (s *Server) AddToken(name string, permissionGroups ...string) (id, value string, err error) {
	if len(permissionGroups) == 0 {
		return "", "", fmt.Errorf("fakecloudflare: AddToken needs at least one permission group")
	}
	pb := policyBody{Effect: "allow", Resources: map[string]json.RawMessage{scopeAccount + "." + s.account: json.RawMessage(`"*"`)}}
	for _, n := range permissionGroups {
		g, ok := groupByName(n)
		if !ok {
			return "", "", fmt.Errorf("fakecloudflare: unknown permission group %q", n)
		}
		if g.Scopes[0] != scopeAccount {
			return "", "", fmt.Errorf("fakecloudflare: AddToken takes account-scoped permission groups; %q is %s-scoped", n, g.Scopes[0])
		}
		pb.PermissionGroups = append(pb.PermissionGroups, struct {
			ID string `json:"id"`
		}{g.ID})
	}
	t, err := s.newToken(createTokenBody{Name: &name, Policies: []policyBody{pb}}, s.cfg.Now().UTC().Truncate(time.Second))
	if err != nil {
		return "", "", fmt.Errorf("fakecloudflare: %w", err)
	}
	t.Admin = true
	s.mu.Lock()
	err = s.store(t)
	s.mu.Unlock()
	if err != nil {
		return "", "", fmt.Errorf("fakecloudflare: %w", err)
	}
	if err := s.propagate(t.ID); err != nil {
		s.mu.Lock()
		s.unstore(t.ID)
		s.mu.Unlock()
		return "", "", fmt.Errorf("fakecloudflare: creating the MinIO identity: %w", err)
	}
	return t.ID, t.value, nil
}
