package r2_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	cf "github.com/cloudflare/cloudflare-go/v7"
	"github.com/cloudflare/cloudflare-go/v7/accounts"
	"github.com/cloudflare/cloudflare-go/v7/option"
	cfr2 "github.com/cloudflare/cloudflare-go/v7/r2"
	"github.com/cloudflare/cloudflare-go/v7/shared"

	"github.com/tfstate-operator/tfstate-operator/internal/provider/r2"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/fakecloudflare"
)

// lastBody keeps the body of the last answer the SDK read.
type lastBody struct {
	mu   sync.Mutex
	body []byte
}

func (l *lastBody) middleware(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	resp, err := next(req)
	if err != nil || resp == nil || resp.Body == nil {
		return resp, err
	}
	b, rerr := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	l.mu.Lock()
	l.body = b
	l.mu.Unlock()
	return resp, rerr
}

func (l *lastBody) get() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.body
}

// shapeProblems walks a value decoded by cloudflare-go (generated from Cloudflare's OpenAPI
// spec) and lists what the spec does not allow: fields the type does not declare (its JSON
// metadata's ExtraFields), declared fields whose value has the wrong type (invalid), and fields
// the spec marks required (api:"required") that the answer lacks.
func shapeProblems(path string, v reflect.Value) []string {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	var out []string
	switch v.Kind() {
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			out = append(out, shapeProblems(path+"[]", v.Index(i))...)
		}
	case reflect.Struct:
		t := v.Type()
		meta := v.FieldByName("JSON")
		if meta.IsValid() && meta.Kind() == reflect.Struct {
			if extra := meta.FieldByName("ExtraFields"); extra.IsValid() && extra.Kind() == reflect.Map {
				for _, k := range extra.MapKeys() {
					out = append(out, path+"."+k.String()+": not in the SDK's type")
				}
			}
		}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || f.Name == "JSON" {
				continue
			}
			name := strings.Split(f.Tag.Get("json"), ",")[0]
			if meta.IsValid() && meta.Kind() == reflect.Struct {
				if m := meta.FieldByName(f.Name); m.IsValid() {
					if call(m, "IsInvalid") {
						out = append(out, path+"."+name+": a value of the wrong type")
					}
					if f.Tag.Get("api") == "required" && call(m, "IsMissing") {
						out = append(out, path+"."+name+": required, missing")
					}
				}
			}
			out = append(out, shapeProblems(path+"."+name, v.Field(i))...)
		}
	}
	return out
}

func call(v reflect.Value, method string) bool {
	m := v.MethodByName(method)
	if !m.IsValid() {
		return false
	}
	return m.Call(nil)[0].Bool()
}

// TestFakeRepliesHaveTheSDKsShapes: every answer of the fake Cloudflare API to a call the
// operator makes, envelope and all, decodes into cloudflare-go's own types (generated from
// Cloudflare's OpenAPI spec, a description of the API we did not write) with no field the spec
// lacks, none of the wrong type and none it requires missing. Errors too: a refused call's
// envelope is checked against the same type.
func TestFakeRepliesHaveTheSDKsShapes(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakecloudflare.Config{})
	acct := e.fake.AccountID()
	var last lastBody
	opts := []option.RequestOption{option.WithBaseURL(e.fake.URL()), option.WithAPIToken(e.adminToken), option.WithMaxRetries(0), option.WithMiddleware(last.middleware)}
	buckets, tokens, temps := cfr2.NewBucketService(opts...), accounts.NewTokenService(opts...), cfr2.NewTemporaryCredentialService(opts...)

	check := func(call string, err error, envelope any) {
		t.Helper()
		body := last.get()
		if err := json.Unmarshal(body, envelope); err != nil {
			t.Errorf("%s: the answer does not decode into %T: %v (%s)", call, envelope, err, body)
			return
		}
		checked := reflect.ValueOf(envelope)
		if refused := strings.Contains(call, "refused"); refused {
			// A refusal's result is null (as Cloudflare answers); its errors are what count.
			if err == nil {
				t.Errorf("%s: the fake did not refuse", call)
			}
			checked = checked.Elem().FieldByName("Errors")
		} else if err != nil {
			t.Errorf("%s: %v", call, err)
		}
		for _, p := range shapeProblems(call, checked) {
			t.Errorf("%s: %s (%s)", call, p, body)
		}
	}

	bucket := freshBucket(t)
	_, err := buckets.New(ctx, cfr2.BucketNewParams{AccountID: cf.F(acct), Name: cf.F(bucket)})
	check("create bucket", err, &cfr2.BucketNewResponseEnvelope{})
	_, err = buckets.New(ctx, cfr2.BucketNewParams{AccountID: cf.F(acct), Name: cf.F(bucket)})
	check("create bucket (refused: exists)", err, &cfr2.BucketNewResponseEnvelope{})
	_, err = buckets.Get(ctx, bucket, cfr2.BucketGetParams{AccountID: cf.F(acct)})
	check("get bucket", err, &cfr2.BucketGetResponseEnvelope{})
	_, err = buckets.Get(ctx, freshBucket(t), cfr2.BucketGetParams{AccountID: cf.F(acct)})
	check("get bucket (refused: absent)", err, &cfr2.BucketGetResponseEnvelope{})
	_, err = buckets.List(ctx, cfr2.BucketListParams{AccountID: cf.F(acct), PerPage: cf.F(1.0)})
	check("list buckets", err, &cfr2.BucketListResponseEnvelope{})
	_, err = buckets.Domains.Managed.List(ctx, bucket, cfr2.BucketDomainManagedListParams{AccountID: cf.F(acct)})
	check("get r2.dev domain", err, &cfr2.BucketDomainManagedListResponseEnvelope{})
	_, err = buckets.Domains.Managed.Update(ctx, bucket, cfr2.BucketDomainManagedUpdateParams{AccountID: cf.F(acct), Enabled: cf.F(false)})
	check("disable r2.dev domain", err, &cfr2.BucketDomainManagedUpdateResponseEnvelope{})

	groups, err := tokens.PermissionGroups.List(ctx, accounts.TokenPermissionGroupListParams{AccountID: cf.F(acct)})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range shapeProblems("list permission groups", reflect.ValueOf(groups.Result)) {
		t.Error(p)
	}
	var writeGroup string
	for _, g := range groups.Result {
		if g.Name == r2.PermissionGroupWrite {
			writeGroup = g.ID
		}
	}
	policy := []shared.TokenPolicyParam{{
		Effect:           cf.F(shared.TokenPolicyEffectAllow),
		PermissionGroups: cf.F([]shared.TokenPolicyPermissionGroupParam{{ID: cf.F(writeGroup)}}),
		Resources:        cf.F(shared.TokenPolicyResourcesUnionParam(shared.TokenPolicyResourcesIAMResourcesTypeObjectStringParam{r2.BucketResource(acct, "default", bucket): "*"})),
	}}
	tok, err := tokens.New(ctx, accounts.TokenNewParams{AccountID: cf.F(acct), Name: cf.F("tfso-shapes"), Policies: cf.F(policy), ExpiresOn: cf.F(time.Now().Add(time.Hour).UTC().Truncate(time.Second))})
	check("create token", err, &accounts.TokenNewResponseEnvelope{})
	if tok == nil {
		t.Fatal("no token")
	}
	page, err := tokens.List(ctx, accounts.TokenListParams{AccountID: cf.F(acct), PerPage: cf.F(50.0), Page: cf.F(1.0)})
	if err != nil {
		t.Fatal(err)
	}
	// Only the items: the SDK's pager (packages/pagination) is one hand-written type for every
	// list and declares page and per_page only, where the token list's schema has count,
	// total_count and total_pages as well.
	for _, p := range shapeProblems("list tokens", reflect.ValueOf(page.Result)) {
		t.Error(p)
	}
	_, err = tokens.Get(ctx, tok.ID, accounts.TokenGetParams{AccountID: cf.F(acct)})
	check("get token", err, &accounts.TokenGetResponseEnvelope{})
	_, err = tokens.Update(ctx, tok.ID, accounts.TokenUpdateParams{AccountID: cf.F(acct), Token: shared.TokenParam{Name: cf.F("tfso-shapes"), Policies: cf.F(policy)}})
	check("update token", err, &accounts.TokenUpdateResponseEnvelope{})
	_, err = tokens.Verify(ctx, accounts.TokenVerifyParams{AccountID: cf.F(acct)})
	check("verify token", err, &accounts.TokenVerifyResponseEnvelope{})
	_, err = temps.New(ctx, cfr2.TemporaryCredentialNewParams{AccountID: cf.F(acct), TemporaryCredential: cfr2.TemporaryCredentialParam{
		Bucket: cf.F(bucket), ParentAccessKeyID: cf.F(tok.ID), Permission: cf.F(cfr2.TemporaryCredentialPermissionObjectReadOnly), TTLSeconds: cf.F(900.0)}})
	check("create temporary credentials", err, &cfr2.TemporaryCredentialNewResponseEnvelope{})
	_, err = tokens.Delete(ctx, tok.ID, accounts.TokenDeleteParams{AccountID: cf.F(acct)})
	check("delete token", err, &accounts.TokenDeleteResponseEnvelope{})
	_, err = tokens.Delete(ctx, tok.ID, accounts.TokenDeleteParams{AccountID: cf.F(acct)})
	check("delete token (refused: absent)", err, &accounts.TokenDeleteResponseEnvelope{})
	_, err = buckets.Delete(ctx, bucket, cfr2.BucketDeleteParams{AccountID: cf.F(acct)})
	check("delete bucket", err, &cfr2.BucketDeleteResponseEnvelope{})
}
