package fakecloudflare

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cloudflare "github.com/cloudflare/cloudflare-go/v7"
	"github.com/cloudflare/cloudflare-go/v7/accounts"
	"github.com/cloudflare/cloudflare-go/v7/r2"
	"github.com/cloudflare/cloudflare-go/v7/shared"
	"github.com/minio/minio-go/v7"
)

// groupID resolves a permission group id by name through the API, as the operator does.
func groupID(t *testing.T, f *fixture, name string) string {
	t.Helper()
	page, err := f.cf.Accounts.Tokens.PermissionGroups.List(context.Background(), accounts.TokenPermissionGroupListParams{
		AccountID: cloudflare.F(f.AccountID()), Name: cloudflare.F(name)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Result) != 1 {
		t.Fatalf("permission groups named %q: %+v", name, page.Result)
	}
	return page.Result[0].ID
}

// bucketKey is R2's resource key for one bucket.
func bucketKey(account, jurisdiction, bucket string) string {
	return "com.cloudflare.edge.r2.bucket." + account + "_" + jurisdiction + "_" + bucket
}

func policy(effect shared.TokenPolicyEffect, resources shared.TokenPolicyResourcesUnionParam, groupIDs ...string) shared.TokenPolicyParam {
	var groups []shared.TokenPolicyPermissionGroupParam
	for _, id := range groupIDs {
		groups = append(groups, shared.TokenPolicyPermissionGroupParam{ID: cloudflare.F(id)})
	}
	return shared.TokenPolicyParam{
		Effect:           cloudflare.F(effect),
		PermissionGroups: cloudflare.F(groups),
		Resources:        cloudflare.F(resources),
	}
}

func allow(resource string, groupIDs ...string) shared.TokenPolicyParam {
	return policy(shared.TokenPolicyEffectAllow, shared.TokenPolicyResourcesIAMResourcesTypeObjectStringParam{resource: "*"}, groupIDs...)
}

func newToken(f *fixture, name string, policies ...shared.TokenPolicyParam) (*accounts.TokenNewResponse, error) {
	return f.cf.Accounts.Tokens.New(context.Background(), accounts.TokenNewParams{
		AccountID: cloudflare.F(f.AccountID()),
		Name:      cloudflare.F(name),
		Policies:  cloudflare.F(policies),
	})
}

func mustToken(t *testing.T, f *fixture, name string, policies ...shared.TokenPolicyParam) *accounts.TokenNewResponse {
	t.Helper()
	tok, err := newToken(f, name, policies...)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func mustBucket(t *testing.T, f *fixture, name, jurisdiction string) {
	t.Helper()
	if _, err := (bucketOps{f, context.Background()}).create(name, jurisdiction, ""); err != nil {
		t.Fatal(err)
	}
}

func TestPermissionGroups(t *testing.T) {
	f := newFake(t, Config{})
	ctx := context.Background()
	cases := []struct {
		reason      string
		name, scope string
		wantIDs     []string
	}{
		{"an exact name with spaces finds the bucket item write group", pgItemWrite, "", []string{"2efd5506f9c8494dacb1fa10a3e7d5b6"}},
		{"item read", pgItemRead, "", []string{"6a018a9f2fc74eb6b293b0c548f38b39"}},
		{"account-level R2 write", pgR2Write, "", []string{"bf7481a1826f439697cb59a20b22293e"}},
		{"account-level R2 read", pgR2Read, "", []string{"b4992e1108244f5d8bfbd5744320c2e1"}},
		{"a name is matched exactly, not as a prefix", "Workers R2 Storage", "", nil},
		{"an unknown name finds nothing", "No Such Group", "", nil},
		{"the bucket scope finds the two item groups", "", scopeR2Bucket, []string{"2efd5506f9c8494dacb1fa10a3e7d5b6", "6a018a9f2fc74eb6b293b0c548f38b39"}},
		{"name and scope must both match", pgItemWrite, scopeAccount, nil},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			p := accounts.TokenPermissionGroupListParams{AccountID: cloudflare.F(f.AccountID())}
			if tc.name != "" {
				p.Name = cloudflare.F(tc.name)
			}
			if tc.scope != "" {
				p.Scope = cloudflare.F(tc.scope)
			}
			page, err := f.cf.Accounts.Tokens.PermissionGroups.List(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, g := range page.Result {
				ids = append(ids, g.ID)
				if len(g.Scopes) == 0 || g.Name == "" {
					t.Fatalf("group without scopes or name: %+v", g)
				}
			}
			if !slices.Equal(ids, tc.wantIDs) {
				t.Fatalf("ids %v, want %v", ids, tc.wantIDs)
			}
		})
	}
	t.Run("the whole catalogue includes the token groups and unrelated ones", func(t *testing.T) {
		page, err := f.cf.Accounts.Tokens.PermissionGroups.List(ctx, accounts.TokenPermissionGroupListParams{AccountID: cloudflare.F(f.AccountID())})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, g := range page.Result {
			names = append(names, g.Name)
		}
		for _, want := range []string{pgTokensWrite, pgTokensRead, "Account Settings Read"} {
			if !slices.Contains(names, want) {
				t.Errorf("catalogue lacks %q", want)
			}
		}
	})
	t.Run("the name filter arrives URL-encoded and is matched decoded", func(t *testing.T) {
		if !slices.ContainsFunc(f.Requests(), func(r Request) bool {
			return strings.HasSuffix(r.Path, "/tokens/permission_groups") && r.Query.Get("name") == pgItemWrite && r.Status == 200
		}) {
			t.Fatal("no recorded lookup by name")
		}
	})
}

func TestBucketTokenS3Access(t *testing.T) {
	f := newFake(t, Config{})
	ctx := context.Background()
	acct := f.AccountID()
	own, other, euB := uniq("own"), uniq("other"), uniq("eubkt")
	mustBucket(t, f, own, "")
	mustBucket(t, f, other, "")
	mustBucket(t, f, euB, "eu")
	itemWrite, itemRead := groupID(t, f, pgItemWrite), groupID(t, f, pgItemRead)

	writer := mustToken(t, f, "writer", allow(bucketKey(acct, "default", own), itemWrite))
	reader := mustToken(t, f, "reader", allow(bucketKey(acct, "default", own), itemRead))
	euWriter := mustToken(t, f, "eu-writer", allow(bucketKey(acct, "eu", euB), itemWrite))
	wrongJurisdiction := mustToken(t, f, "wrong-jurisdiction", allow(bucketKey(acct, "eu", own), itemWrite))
	denied := mustToken(t, f, "allow-all-deny-own",
		policy(shared.TokenPolicyEffectAllow, shared.TokenPolicyResourcesIAMResourcesTypeObjectNestedParam{
			"com.cloudflare.api.account." + acct: {"com.cloudflare.edge.r2.bucket.*": "*"}}, itemWrite),
		policy(shared.TokenPolicyEffectDeny, shared.TokenPolicyResourcesIAMResourcesTypeObjectStringParam{bucketKey(acct, "default", other): "*"}, itemWrite))
	noR2 := mustToken(t, f, "no-r2", allow("com.cloudflare.api.account."+acct, groupID(t, f, "Account Settings Read")))

	t.Run("the create answer has the documented shape", func(t *testing.T) {
		if len(writer.ID) != 32 || strings.Trim(writer.ID, "0123456789abcdef") != "" {
			t.Fatalf("id %q is not 32 lowercase hex", writer.ID)
		}
		if !strings.HasPrefix(writer.Value, "cfat_") || len(writer.Value) != 5+40+8 {
			t.Fatalf("value %q", writer.Value)
		}
		if writer.Status != accounts.TokenNewResponseStatusActive || writer.Name != "writer" || writer.IssuedOn.IsZero() || writer.ModifiedOn.IsZero() {
			t.Fatalf("token %+v", writer)
		}
		if len(writer.Policies) != 1 || writer.Policies[0].ID == "" || writer.Policies[0].PermissionGroups[0].ID != itemWrite ||
			writer.Policies[0].PermissionGroups[0].Name != pgItemWrite {
			t.Fatalf("policies %+v", writer.Policies)
		}
	})

	type s3op struct {
		reason string
		tok    *accounts.TokenNewResponse
		do     func(c *minio.Client) error
		want   string // "" = allowed, else the S3 error code
	}
	put := func(bucket string) func(c *minio.Client) error {
		return func(c *minio.Client) error {
			_, err := c.PutObject(ctx, bucket, "env/terraform.tfstate", strings.NewReader(`{"version":4}`), -1, minio.PutObjectOptions{})
			return err
		}
	}
	get := func(bucket string) func(c *minio.Client) error {
		return func(c *minio.Client) error {
			o, err := c.GetObject(ctx, bucket, "env/terraform.tfstate", minio.GetObjectOptions{})
			if err != nil {
				return err
			}
			defer o.Close()
			_, err = o.Stat()
			return err
		}
	}
	list := func(bucket string) func(c *minio.Client) error {
		return func(c *minio.Client) error {
			for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
				if o.Err != nil {
					return o.Err
				}
			}
			return nil
		}
	}
	del := func(bucket string) func(c *minio.Client) error {
		return func(c *minio.Client) error {
			return c.RemoveObject(ctx, bucket, "env/terraform.tfstate", minio.RemoveObjectOptions{})
		}
	}
	ops := []s3op{
		{"an item-write token puts into its bucket", writer, put(own), ""},
		{"an item-write token gets from its bucket", writer, get(own), ""},
		{"an item-write token lists its bucket", writer, list(own), ""},
		{"an item-write token may not put into another bucket", writer, put(other), "AccessDenied"},
		{"an item-write token may not list another bucket", writer, list(other), "AccessDenied"},
		{"an item-read token gets", reader, get(own), ""},
		{"an item-read token lists", reader, list(own), ""},
		{"an item-read token may not put", reader, put(own), "AccessDenied"},
		{"an item-read token may not delete", reader, del(own), "AccessDenied"},
		{"an EU token puts into its EU bucket", euWriter, put(euB), ""},
		{"a key naming the wrong jurisdiction grants nothing on the bucket", wrongJurisdiction, put(own), "AccessDenied"},
		{"an all-buckets grant reaches an EU bucket", denied, get(euB), ""},
		{"a deny policy overrides the all-buckets allow", denied, put(other), "AccessDenied"},
		{"a token without R2 permissions has no S3 identity", noR2, list(own), "InvalidAccessKeyId"},
		{"an item-write token deletes in its bucket", writer, del(own), ""},
	}
	for _, op := range ops {
		t.Run(op.reason, func(t *testing.T) {
			err := op.do(s3Client(t, f.Server, op.tok.ID, op.tok.Value))
			if op.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantS3Code(t, err, op.want)
		})
	}

	t.Run("a wrong secret is refused", func(t *testing.T) {
		err := list(own)(s3Client(t, f.Server, writer.ID, writer.Value+"x"))
		wantS3Code(t, err, "SignatureDoesNotMatch")
	})

	t.Run("bucket-scoped tokens cannot use the REST API", func(t *testing.T) {
		_, err := f.client(writer.Value).R2.Buckets.List(ctx, r2.BucketListParams{AccountID: cloudflare.F(acct)})
		wantAPIError(t, err, 403, codeAuthError)
	})

	t.Run("a deleted token is refused on S3 and on the API", func(t *testing.T) {
		res, err := f.cf.Accounts.Tokens.Delete(ctx, writer.ID, accounts.TokenDeleteParams{AccountID: cloudflare.F(acct)})
		if err != nil {
			t.Fatal(err)
		}
		if res.ID != writer.ID {
			t.Fatalf("delete result %+v", res)
		}
		wantS3Code(t, put(own)(s3Client(t, f.Server, writer.ID, writer.Value)), "InvalidAccessKeyId")
		_, err = f.client(writer.Value).Accounts.Tokens.Verify(ctx, accounts.TokenVerifyParams{AccountID: cloudflare.F(acct)})
		wantAPIError(t, err, 401, codeInvalidToken)
		_, err = f.cf.Accounts.Tokens.Get(ctx, writer.ID, accounts.TokenGetParams{AccountID: cloudflare.F(acct)})
		wantAPIError(t, err, 404, codeTokenNotFound)
		_, err = f.cf.Accounts.Tokens.Delete(ctx, writer.ID, accounts.TokenDeleteParams{AccountID: cloudflare.F(acct)})
		wantAPIError(t, err, 404, codeTokenNotFound)
	})

	t.Run("Tokens() reports policies and S3 identities without values", func(t *testing.T) {
		byName := map[string]Token{}
		for _, tok := range f.Tokens() {
			byName[tok.Name] = tok
		}
		if _, ok := byName["writer"]; ok {
			t.Fatal("the deleted token is still listed")
		}
		r := byName["reader"]
		if !r.S3Identity || r.Admin || len(r.Policies) != 1 || r.Policies[0].Resources[bucketKey(acct, "default", own)] != "*" ||
			r.Policies[0].PermissionGroups[0].Name != pgItemRead {
			t.Fatalf("reader = %+v", r)
		}
		if byName["no-r2"].S3Identity {
			t.Fatal("no-r2 has an S3 identity")
		}
		if a := byName["admin"]; !a.Admin || !a.S3Identity {
			t.Fatalf("admin = %+v", a)
		}
	})
}

func TestAdminTokenS3(t *testing.T) {
	f := newFake(t, Config{PropagationDelay: time.Hour})
	ctx := context.Background()
	b := uniq("admin")
	mustBucket(t, f, b, "fedramp")
	c := s3Client(t, f.Server, f.adminID, f.adminValue)
	if _, err := c.PutObject(ctx, b, "k", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("an AddToken token with Workers R2 Storage Write works on S3 at once, whatever the delay: %v", err)
	}
	roID, roValue, err := f.AddToken("read-only", pgR2Read)
	if err != nil {
		t.Fatal(err)
	}
	ro := s3Client(t, f.Server, roID, roValue)
	if _, err := ro.StatObject(ctx, b, "k", minio.StatObjectOptions{}); err != nil {
		t.Fatalf("Workers R2 Storage Read may read: %v", err)
	}
	_, err = ro.PutObject(ctx, b, "k2", strings.NewReader("x"), 1, minio.PutObjectOptions{})
	wantS3Code(t, err, "AccessDenied")

	for _, tc := range []struct {
		reason string
		groups []string
	}{
		{"no permission group", nil},
		{"an unknown permission group name", []string{"Workers R2 Storage Admin"}},
		{"a bucket-scoped group needs a bucket resource", []string{pgItemWrite}},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			if _, _, err := f.AddToken("bad", tc.groups...); err == nil {
				t.Fatal("AddToken succeeded")
			}
		})
	}
}

func TestTokenCreateValidation(t *testing.T) {
	f := newFake(t, Config{})
	acct := f.AccountID()
	itemWrite, r2Write := groupID(t, f, pgItemWrite), groupID(t, f, pgR2Write)
	bucket := uniq("valid")
	good := allow(bucketKey(acct, "default", bucket), itemWrite)
	cases := []struct {
		reason   string
		name     string
		policies []shared.TokenPolicyParam
		params   func(*accounts.TokenNewParams)
		wantErr  bool
	}{
		{"a bucket-scoped token is accepted", "ok", []shared.TokenPolicyParam{good}, nil, false},
		{"a 120-character name is accepted", strings.Repeat("n", 120), []shared.TokenPolicyParam{good}, nil, false},
		{"the fedramp jurisdiction is accepted", "fed", []shared.TokenPolicyParam{allow(bucketKey(acct, "fedramp", bucket), itemWrite)}, nil, false},
		{"an account-scoped group on the account is accepted", "acct", []shared.TokenPolicyParam{allow("com.cloudflare.api.account."+acct, r2Write)}, nil, false},
		{"expiry, not_before and an IP condition are accepted", "cond", []shared.TokenPolicyParam{good}, func(p *accounts.TokenNewParams) {
			p.ExpiresOn = cloudflare.F(time.Now().Add(time.Hour))
			p.NotBefore = cloudflare.F(time.Now().Add(-time.Hour))
			p.Condition = cloudflare.F(accounts.TokenNewParamsCondition{RequestIP: cloudflare.F(accounts.TokenNewParamsConditionRequestIP{
				In: cloudflare.F([]shared.TokenConditionCIDRListParam{"10.0.0.0/8"})})})
		}, false},
		{"an empty name is refused", "", []shared.TokenPolicyParam{good}, nil, true},
		{"a 121-character name is refused", strings.Repeat("n", 121), []shared.TokenPolicyParam{good}, nil, true},
		{"no policies are refused", "none", []shared.TokenPolicyParam{}, nil, true},
		{"an unknown permission group id is refused", "unknown", []shared.TokenPolicyParam{allow(bucketKey(acct, "default", bucket), "00000000000000000000000000000000")}, nil, true},
		{"a policy without permission groups is refused", "nogroups", []shared.TokenPolicyParam{allow(bucketKey(acct, "default", bucket))}, nil, true},
		{"an unknown effect is refused", "effect", []shared.TokenPolicyParam{policy("maybe", shared.TokenPolicyResourcesIAMResourcesTypeObjectStringParam{bucketKey(acct, "default", bucket): "*"}, itemWrite)}, nil, true},
		{"another account's bucket is refused", "acct", []shared.TokenPolicyParam{allow(bucketKey(strings.Repeat("a", 32), "default", bucket), itemWrite)}, nil, true},
		{"another account is refused for account-scoped groups", "acct2", []shared.TokenPolicyParam{allow("com.cloudflare.api.account."+strings.Repeat("a", 32), r2Write)}, nil, true},
		{"an unknown jurisdiction is refused", "jur", []shared.TokenPolicyParam{allow(bucketKey(acct, "apac", bucket), itemWrite)}, nil, true},
		{"a malformed bucket key is refused", "key", []shared.TokenPolicyParam{allow("com.cloudflare.edge.r2.bucket."+bucket, itemWrite)}, nil, true},
		{"an invalid bucket name in the key is refused", "bname", []shared.TokenPolicyParam{allow(bucketKey(acct, "default", "Bad_Name"), itemWrite)}, nil, true},
		{"a bucket-scoped group on the account resource is refused", "scope1", []shared.TokenPolicyParam{allow("com.cloudflare.api.account."+acct, itemWrite)}, nil, true},
		{"an account-scoped group on a bucket resource is refused", "scope2", []shared.TokenPolicyParam{allow(bucketKey(acct, "default", bucket), r2Write)}, nil, true},
		{"a resource value other than * is refused", "value", []shared.TokenPolicyParam{policy(shared.TokenPolicyEffectAllow, shared.TokenPolicyResourcesIAMResourcesTypeObjectStringParam{bucketKey(acct, "default", bucket): "read"}, itemWrite)}, nil, true},
		{"an expiry in the past is refused", "past", []shared.TokenPolicyParam{good}, func(p *accounts.TokenNewParams) {
			p.ExpiresOn = cloudflare.F(time.Now().Add(-time.Hour))
		}, true},
		{"a malformed CIDR is refused", "cidr", []shared.TokenPolicyParam{good}, func(p *accounts.TokenNewParams) {
			p.Condition = cloudflare.F(accounts.TokenNewParamsCondition{RequestIP: cloudflare.F(accounts.TokenNewParamsConditionRequestIP{
				In: cloudflare.F([]shared.TokenConditionCIDRListParam{"10.0.0.0/99"})})})
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			p := accounts.TokenNewParams{AccountID: cloudflare.F(acct), Name: cloudflare.F(tc.name), Policies: cloudflare.F(tc.policies)}
			if tc.params != nil {
				tc.params(&p)
			}
			before := len(f.Tokens())
			tok, err := f.cf.Accounts.Tokens.New(context.Background(), p)
			if !tc.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				if tok.Value == "" || tok.Name != tc.name {
					t.Fatalf("token %+v", tok)
				}
				return
			}
			wantAPIError(t, err, 400, codeBadRequest)
			if len(f.Tokens()) != before {
				t.Fatal("a refused create left a token behind")
			}
		})
	}

	t.Run("a policy carrying an id is refused as Cloudflare documents", func(t *testing.T) {
		body := `{"name":"x","policies":[{"id":"` + randomHex(16) + `","effect":"allow","permission_groups":[{"id":"` + itemWrite +
			`"}],"resources":{"` + bucketKey(acct, "default", bucket) + `":"*"}}]}`
		resp, env := rawDo(t, f.Server, "POST", "accounts/"+acct+"/tokens", f.adminValue, body)
		if resp.StatusCode != 400 || !strings.Contains(env["errors"].([]any)[0].(map[string]any)["message"].(string), "Reusing existing policies") {
			t.Fatalf("%d %v", resp.StatusCode, env)
		}
	})

	t.Run("the value appears only in the create answer; get and verify agree", func(t *testing.T) {
		ctx := context.Background()
		exp := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
		created, err := f.cf.Accounts.Tokens.New(ctx, accounts.TokenNewParams{AccountID: cloudflare.F(acct), Name: cloudflare.F("exp"),
			Policies: cloudflare.F([]shared.TokenPolicyParam{good}), ExpiresOn: cloudflare.F(exp)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.cf.Accounts.Tokens.Get(ctx, created.ID, accounts.TokenGetParams{AccountID: cloudflare.F(acct)})
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != created.ID || got.Name != "exp" || !got.ExpiresOn.Equal(exp) || strings.Contains(got.JSON.RawJSON(), created.Value) ||
			strings.Contains(got.JSON.RawJSON(), `"value"`) {
			t.Fatalf("get = %s", got.JSON.RawJSON())
		}
		ver, err := f.client(created.Value).Accounts.Tokens.Verify(ctx, accounts.TokenVerifyParams{AccountID: cloudflare.F(acct)})
		if err != nil {
			t.Fatal(err)
		}
		if ver.ID != created.ID || ver.Status != accounts.TokenVerifyResponseStatusActive || !ver.ExpiresOn.Equal(exp) {
			t.Fatalf("verify = %+v", ver)
		}
	})
}

func TestTokenList(t *testing.T) {
	f := newFake(t, Config{})
	ctx := context.Background()
	acct := f.AccountID()
	good := allow(bucketKey(acct, "default", uniq("list")), groupID(t, f, pgItemRead))
	want := []string{f.adminID}
	for i := range 11 {
		want = append(want, mustToken(t, f, "tok-"+string(rune('a'+i)), good).ID)
	}

	t.Run("the auto-pager walks pages of 5 in creation order", func(t *testing.T) {
		var got []string
		pager := f.cf.Accounts.Tokens.ListAutoPaging(ctx, accounts.TokenListParams{AccountID: cloudflare.F(acct), PerPage: cloudflare.F(5.0)})
		for pager.Next() {
			got = append(got, pager.Current().ID)
		}
		if err := pager.Err(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})

	pages := []struct {
		reason                string
		page, perPage         float64
		wantIDs               []string
		wantPage, wantPerPage float64
	}{
		{"page 1 of 5", 1, 5, want[0:5], 1, 5},
		{"page 3 of 5 is the remainder", 3, 5, want[10:12], 3, 5},
		{"a page past the end is empty", 4, 5, nil, 4, 5},
		{"the default per_page is 20", 0, 0, want, 1, 20},
	}
	for _, tc := range pages {
		t.Run(tc.reason, func(t *testing.T) {
			p := accounts.TokenListParams{AccountID: cloudflare.F(acct)}
			if tc.page != 0 {
				p.Page = cloudflare.F(tc.page)
			}
			if tc.perPage != 0 {
				p.PerPage = cloudflare.F(tc.perPage)
			}
			res, err := f.cf.Accounts.Tokens.List(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, tok := range res.Result {
				ids = append(ids, tok.ID)
				if strings.Contains(tok.JSON.RawJSON(), `"value"`) {
					t.Fatal("a listed token carries its value")
				}
			}
			if !slices.Equal(ids, tc.wantIDs) {
				t.Fatalf("ids %v, want %v", ids, tc.wantIDs)
			}
			if res.ResultInfo.Page != int64(tc.wantPage) || res.ResultInfo.PerPage != int64(tc.wantPerPage) {
				t.Fatalf("result_info %+v", res.ResultInfo)
			}
			// The SDK types only page and per_page; check the rest in the raw answer.
			var raw struct {
				ResultInfo struct {
					Count      int `json:"count"`
					TotalCount int `json:"total_count"`
					TotalPages int `json:"total_pages"`
				} `json:"result_info"`
			}
			if err := json.Unmarshal([]byte(res.JSON.RawJSON()), &raw); err != nil {
				t.Fatal(err)
			}
			ri := raw.ResultInfo
			if ri.TotalCount != 12 || ri.Count != len(tc.wantIDs) || ri.TotalPages != (12+int(tc.wantPerPage)-1)/int(tc.wantPerPage) {
				t.Fatalf("result_info %s", res.JSON.RawJSON())
			}
		})
	}

	for _, tc := range []struct {
		reason        string
		page, perPage float64
	}{
		{"per_page 4 is below the documented 5", 1, 4},
		{"per_page 51 is above the documented 50", 1, 51},
		{"page 0 is refused", 0, 5},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			_, err := f.cf.Accounts.Tokens.List(ctx, accounts.TokenListParams{AccountID: cloudflare.F(acct), Page: cloudflare.F(tc.page), PerPage: cloudflare.F(tc.perPage)})
			wantAPIError(t, err, 400, codeBadRequest)
		})
	}
}

func TestTokenQuota(t *testing.T) {
	f := newFake(t, Config{TokenQuota: 3}) // the admin token is one of the 3
	acct := f.AccountID()
	good := allow(bucketKey(acct, "default", uniq("quota")), groupID(t, f, pgItemRead))
	a := mustToken(t, f, "a", good)
	mustToken(t, f, "b", good)
	_, err := newToken(f, "c", good)
	apiErr := wantAPIError(t, err, 400, codeBadRequest)
	if !strings.Contains(apiErr.Errors[0].Message, "quota") {
		t.Fatalf("message %q does not mention the quota", apiErr.Errors[0].Message)
	}
	if _, _, err := f.AddToken("admin2", pgR2Read); err == nil {
		t.Fatal("AddToken ignored the quota")
	}
	if _, err := f.cf.Accounts.Tokens.Delete(context.Background(), a.ID, accounts.TokenDeleteParams{AccountID: cloudflare.F(acct)}); err != nil {
		t.Fatal(err)
	}
	mustToken(t, f, "c", good)
}

func TestAuthorization(t *testing.T) {
	f := newFake(t, Config{})
	ctx := context.Background()
	acct := f.AccountID()
	bucket := uniq("authz")
	mustBucket(t, f, bucket, "")
	_, r2Read, _ := f.AddToken("r2-read", pgR2Read)
	_, tokRead, _ := f.AddToken("tokens-read", pgTokensRead)
	_, settings, _ := f.AddToken("settings", "Account Settings Read")
	itemTok := mustToken(t, f, "item", allow(bucketKey(acct, "default", bucket), groupID(t, f, pgItemWrite)))
	denyTok := mustToken(t, f, "allow-then-deny",
		allow("com.cloudflare.api.account."+acct, groupID(t, f, pgR2Write)),
		policy(shared.TokenPolicyEffectDeny, shared.TokenPolicyResourcesIAMResourcesTypeObjectStringParam{"com.cloudflare.api.account." + acct: "*"}, groupID(t, f, pgR2Write)))
	good := allow(bucketKey(acct, "default", bucket), groupID(t, f, pgItemRead))
	otherAcct := strings.Repeat("b", 32)

	listBuckets := func(tok, account string) error {
		_, err := f.client(tok).R2.Buckets.List(ctx, r2.BucketListParams{AccountID: cloudflare.F(account)})
		return err
	}
	createBucket := func(tok string) error {
		_, err := f.client(tok).R2.Buckets.New(ctx, r2.BucketNewParams{AccountID: cloudflare.F(acct), Name: cloudflare.F(uniq("authz"))})
		return err
	}
	deleteBucket := func(tok string) error {
		_, err := f.client(tok).R2.Buckets.Delete(ctx, bucket, r2.BucketDeleteParams{AccountID: cloudflare.F(acct)})
		return err
	}
	listTokens := func(tok string) error {
		_, err := f.client(tok).Accounts.Tokens.List(ctx, accounts.TokenListParams{AccountID: cloudflare.F(acct)})
		return err
	}
	createToken := func(tok string) error {
		_, err := f.client(tok).Accounts.Tokens.New(ctx, accounts.TokenNewParams{AccountID: cloudflare.F(acct), Name: cloudflare.F("x"),
			Policies: cloudflare.F([]shared.TokenPolicyParam{good})})
		return err
	}
	deleteToken := func(tok string) error {
		_, err := f.client(tok).Accounts.Tokens.Delete(ctx, itemTok.ID, accounts.TokenDeleteParams{AccountID: cloudflare.F(acct)})
		return err
	}
	permGroups := func(tok string) error {
		_, err := f.client(tok).Accounts.Tokens.PermissionGroups.List(ctx, accounts.TokenPermissionGroupListParams{AccountID: cloudflare.F(acct)})
		return err
	}
	verify := func(tok, account string) error {
		_, err := f.client(tok).Accounts.Tokens.Verify(ctx, accounts.TokenVerifyParams{AccountID: cloudflare.F(account)})
		return err
	}
	userVerify := func(tok string) error {
		_, err := f.client(tok).User.Tokens.Verify(ctx)
		return err
	}

	cases := []struct {
		reason       string
		do           func() error
		status, code int // 0 = success
	}{
		{"Workers R2 Storage Read may list buckets", func() error { return listBuckets(r2Read, acct) }, 0, 0},
		{"Workers R2 Storage Read may not create a bucket", func() error { return createBucket(r2Read) }, 403, codeAuthError},
		{"Workers R2 Storage Read may not delete a bucket", func() error { return deleteBucket(r2Read) }, 403, codeAuthError},
		{"a bucket-item token may not list buckets", func() error { return listBuckets(itemTok.Value, acct) }, 403, codeAuthError},
		{"a deny policy takes Workers R2 Storage Write away", func() error { return createBucket(denyTok.Value) }, 403, codeAuthError},
		{"an unrelated permission is no R2 permission", func() error { return listBuckets(settings, acct) }, 403, codeAuthError},
		{"R2 permissions do not list tokens", func() error { return listTokens(r2Read) }, 403, codeAuthError},
		{"Account API Tokens Read lists tokens", func() error { return listTokens(tokRead) }, 0, 0},
		{"Account API Tokens Read lists permission groups", func() error { return permGroups(tokRead) }, 0, 0},
		{"R2 permissions do not list permission groups", func() error { return permGroups(r2Read) }, 403, codeAuthError},
		{"Account API Tokens Read may not create tokens", func() error { return createToken(tokRead) }, 403, codeAuthError},
		{"Account API Tokens Read may not delete tokens", func() error { return deleteToken(tokRead) }, 403, codeAuthError},
		{"a token on another account's path is 403", func() error { return listBuckets(f.adminValue, otherAcct) }, 403, codeAuthError},
		{"verify on another account's path is 403", func() error { return verify(f.adminValue, otherAcct) }, 403, codeAuthError},
		{"verify needs no permission", func() error { return verify(settings, acct) }, 0, 0},
		{"an account token on user/tokens/verify is 401", func() error { return userVerify(f.adminValue) }, 401, codeInvalidToken},
		{"an unknown token is 403 code 9109", func() error { return listBuckets("cfat_"+strings.Repeat("x", 48), acct) }, 403, codeInvalidAccessToken},
		{"an unknown token on verify is 401", func() error { return verify("cfat_"+strings.Repeat("x", 48), acct) }, 401, codeInvalidToken},
		{"an empty token is a malformed header: 400 code 6003", func() error { return verify("", acct) }, 400, codeInvalidHeaders},
		{"a token of other characters is a malformed header", func() error { return listBuckets("cfat not;a token", acct) }, 400, codeInvalidHeaders},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			err := tc.do()
			if tc.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantAPIError(t, err, tc.status, tc.code)
		})
	}
}

func TestTokenNotYetValid(t *testing.T) {
	f := newFake(t, Config{})
	ctx := context.Background()
	acct := f.AccountID()
	tok, err := f.cf.Accounts.Tokens.New(ctx, accounts.TokenNewParams{AccountID: cloudflare.F(acct), Name: cloudflare.F("later"),
		Policies:  cloudflare.F([]shared.TokenPolicyParam{allow("com.cloudflare.api.account."+acct, groupID(t, f, pgR2Read))}),
		NotBefore: cloudflare.F(time.Now().Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.client(tok.Value).Accounts.Tokens.Verify(ctx, accounts.TokenVerifyParams{AccountID: cloudflare.F(acct)})
	wantAPIError(t, err, 401, codeInvalidToken)
}

// TestConcurrentTokens runs creates and deletes in parallel (meant for -race).
func TestConcurrentTokens(t *testing.T) {
	f := newFake(t, Config{})
	acct := f.AccountID()
	good := allow(bucketKey(acct, "default", uniq("conc")), groupID(t, f, pgItemRead))
	var wg sync.WaitGroup
	ids := make([]string, 12)
	errs := make([]error, 12)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := newToken(f, "c", good)
			if err != nil {
				errs[i] = err
				return
			}
			ids[i] = tok.ID
			if i%2 == 0 {
				_, errs[i] = f.cf.Accounts.Tokens.Delete(context.Background(), tok.ID, accounts.TokenDeleteParams{AccountID: cloudflare.F(acct)})
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	live := f.Tokens()
	if len(live) != 1+6 {
		t.Fatalf("%d live tokens, want 7", len(live))
	}
	for i, id := range ids {
		found := slices.ContainsFunc(live, func(tok Token) bool { return tok.ID == id })
		if found != (i%2 == 1) {
			t.Fatalf("token %d live = %v", i, found)
		}
	}
}
