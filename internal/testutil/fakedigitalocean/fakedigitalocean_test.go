package fakedigitalocean

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digitalocean/godo"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tfstate-operator/tfstate-operator/internal/testutil/miniotest"
)

var srv *miniotest.Server

func TestMain(m *testing.M) { os.Exit(miniotest.RunTests(m, &srv)) }

// newFake starts a fake on the shared MinIO and returns it with a full-access token.
func newFake(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	cfg.MinIO = srv
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, s.AddToken("admin")
}

var bucketCounter atomic.Int64

// uniq returns a bucket name no other test uses (all tests share one MinIO).
func uniq() string { return fmt.Sprintf("fdo-%d-%d", time.Now().UnixNano()%1e6, bucketCounter.Add(1)) }

type reply struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any // nil when the body is not a JSON object
}

// raw sends a request to the fake; rel is relative to URL(). token goes in Authorization as a
// bearer token unless it names its own scheme; "" sends none.
func raw(t *testing.T, s *Server, method, rel, token, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+rel, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" && !strings.Contains(token, " ") {
		token = "Bearer " + token
	}
	req.Header.Set("Authorization", token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := reply{status: resp.StatusCode, header: resp.Header}
	r.raw, _ = io.ReadAll(resp.Body)
	_ = json.Unmarshal(r.raw, &r.body)
	return r
}

// wantError asserts the documented error shape: exactly {"id","message","request_id"}, the
// request id echoed in x-request-id.
func wantError(t *testing.T, r reply, status int, id string) {
	t.Helper()
	if r.status != status || r.body["id"] != id {
		t.Fatalf("got %d %s, want %d id %q", r.status, r.raw, status, id)
	}
	msg, _ := r.body["message"].(string)
	rid, _ := r.body["request_id"].(string)
	if len(r.body) != 3 || msg == "" || rid == "" || r.header.Get("x-request-id") != rid {
		t.Fatalf("error body %s with x-request-id %q", r.raw, r.header.Get("x-request-id"))
	}
}

// wantStatus asserts a success status, or an error reply when id is set.
func wantStatus(t *testing.T, r reply, status int, id string) {
	t.Helper()
	if id != "" {
		wantError(t, r, status, id)
	} else if r.status != status {
		t.Fatalf("got %d %s, want %d", r.status, r.raw, status)
	}
}

// createKey creates a key through the raw API and returns its access and secret keys.
func createKey(t *testing.T, s *Server, token, name, grants string) (string, string) {
	t.Helper()
	r := raw(t, s, http.MethodPost, "v2/spaces/keys", token, `{"name":"`+name+`","grants":`+grants+`}`)
	k, _ := r.body["key"].(map[string]any)
	ak, _ := k["access_key"].(string)
	sk, _ := k["secret_key"].(string)
	if r.status != http.StatusCreated || ak == "" || sk == "" {
		t.Fatalf("create %s: %d %s", name, r.status, r.raw)
	}
	return ak, sk
}

func s3(t *testing.T, accessKey, secretKey string) *minio.Client {
	t.Helper()
	c, err := minio.New(srv.Host, &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantS3Code(t *testing.T, err error, code string) {
	t.Helper()
	if got := minio.ToErrorResponse(err).Code; err == nil || got != code {
		t.Fatalf("S3 error %q (%v), want %s", got, err, code)
	}
}

func get(c *minio.Client, bucket, object string) ([]byte, error) {
	o, err := c.GetObject(context.Background(), bucket, object, minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	defer o.Close()
	return io.ReadAll(o)
}

func put(c *minio.Client, bucket, object, data string) error {
	_, err := c.PutObject(context.Background(), bucket, object, strings.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	return err
}

func list(c *minio.Client, bucket string) error {
	for o := range c.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{}) {
		if o.Err != nil {
			return o.Err
		}
	}
	return nil
}

func TestGodo(t *testing.T) {
	s, tok := newFake(t, Config{})
	ctx := context.Background()
	c, err := godo.New(&http.Client{Timeout: 30 * time.Second}, godo.SetBaseURL(s.URL()),
		godo.SetRequestHeaders(map[string]string{"Authorization": "Bearer " + tok}))
	if err != nil {
		t.Fatal(err)
	}
	grants := []*godo.Grant{{Bucket: "b1", Permission: godo.SpacesKeyRead}, {Bucket: "b2", Permission: godo.SpacesKeyReadWrite}}

	created, resp, err := c.SpacesKeys.Create(ctx, &godo.SpacesKeyCreateRequest{Name: "k1", Grants: grants})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated || resp.Rate.Limit != 5000 || resp.Rate.Remaining != 4999 {
		t.Fatalf("create: status %d rate %+v", resp.StatusCode, resp.Rate)
	}
	_, tErr := time.Parse(time.RFC3339, created.CreatedAt)
	if created.Name != "k1" || len(created.AccessKey) != 20 || !strings.HasPrefix(created.AccessKey, "DO") ||
		created.SecretKey == "" || !reflect.DeepEqual(created.Grants, grants) || tErr != nil {
		t.Fatalf("created %+v, grants %+v", created, created.Grants)
	}

	t.Run("Get and List return the key without its secret", func(t *testing.T) {
		want := *created
		want.SecretKey = ""
		got, _, err := c.SpacesKeys.Get(ctx, created.AccessKey)
		if err != nil || !reflect.DeepEqual(*got, want) {
			t.Fatalf("Get: %+v, %v; want %+v", got, err, want)
		}
		keys, resp, err := c.SpacesKeys.List(ctx, &godo.ListOptions{})
		if err != nil || len(keys) != 1 || !reflect.DeepEqual(*keys[0], want) || resp.Meta.Total != 1 {
			t.Fatalf("List: %+v, %v", keys, err)
		}
	})
	t.Run("Update replaces name and grants, answers the key as stored, and Get agrees", func(t *testing.T) {
		newGrants := []*godo.Grant{{Bucket: "b3", Permission: godo.SpacesKeyRead}}
		updated, resp, err := c.SpacesKeys.Update(ctx, created.AccessKey, &godo.SpacesKeyUpdateRequest{Name: "k1-renamed", Grants: newGrants})
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("update: %v", err)
		}
		want := godo.SpacesKey{Name: "k1-renamed", AccessKey: created.AccessKey, Grants: newGrants, CreatedAt: created.CreatedAt}
		if !reflect.DeepEqual(*updated, want) {
			t.Fatalf("update reply %+v, want %+v (no secret)", updated, want)
		}
		if got, _, err := c.SpacesKeys.Get(ctx, created.AccessKey); err != nil || !reflect.DeepEqual(*got, want) {
			t.Fatalf("Get after update: %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("Delete, then Get is a 404 ErrorResponse", func(t *testing.T) {
		resp, err := c.SpacesKeys.Delete(ctx, created.AccessKey)
		if err != nil || resp.StatusCode != http.StatusNoContent {
			t.Fatalf("delete: %v", err)
		}
		_, _, err = c.SpacesKeys.Get(ctx, created.AccessKey)
		var e *godo.ErrorResponse
		if !errors.As(err, &e) || e.Response.StatusCode != http.StatusNotFound || e.RequestID == "" {
			t.Fatalf("err = %v (%T), want a 404 *godo.ErrorResponse with a request id", err, err)
		}
		if _, err := c.SpacesKeys.Delete(ctx, created.AccessKey); !errors.As(err, &e) || e.Response.StatusCode != http.StatusNotFound {
			t.Fatalf("second delete: %v", err)
		}
		_, _, err = c.SpacesKeys.Update(ctx, created.AccessKey, &godo.SpacesKeyUpdateRequest{Name: "k1", Grants: grants})
		if !errors.As(err, &e) || e.Response.StatusCode != http.StatusNotFound {
			t.Fatalf("update of the deleted key: err = %v, want a 404 *godo.ErrorResponse", err)
		}
	})
}

func TestWireShapes(t *testing.T) {
	s, tok := newFake(t, Config{})
	r := raw(t, s, http.MethodPost, "v2/spaces/keys", tok, `{"name":"w","grants":[{"bucket":"","permission":"fullaccess"}]}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	k, _ := r.body["key"].(map[string]any)
	for _, f := range []string{"name", "access_key", "secret_key", "grants", "created_at"} {
		if _, ok := k[f]; !ok || len(r.body) != 1 {
			t.Fatalf("create reply %s lacks key.%s or has extra fields", r.raw, f)
		}
	}
	ak := k["access_key"].(string)

	cases := []struct {
		reason      string
		method, rel string
		token       string
		status      int
		id          string // "" = success
	}{
		{"Get answers {\"key\":...} without a secret", http.MethodGet, "v2/spaces/keys/" + ak, tok, 200, ""},
		{"an unknown route is 404 not_found", http.MethodGet, "v2/droplets", tok, 404, "not_found"},
		{"a deeper path under a key is 404", http.MethodGet, "v2/spaces/keys/" + ak + "/x", tok, 404, "not_found"},
		{"DELETE on the collection is 405", http.MethodDelete, "v2/spaces/keys", tok, 405, "method_not_allowed"},
		{"POST on a key is 405", http.MethodPost, "v2/spaces/keys/" + ak, tok, 405, "method_not_allowed"},
		{"PUT on the collection is 405", http.MethodPut, "v2/spaces/keys", tok, 405, "method_not_allowed"},
		{"PATCH on a key is 405 (godo has no Patch)", http.MethodPatch, "v2/spaces/keys/" + ak, tok, 405, "method_not_allowed"},
		{"no token is 401", http.MethodGet, "v2/spaces/keys", "", 401, "unauthorized"},
		{"an unknown token is 401", http.MethodGet, "v2/spaces/keys", "dop_v1_nope", 401, "unauthorized"},
		{"a token in another scheme is 401", http.MethodGet, "v2/spaces/keys", "Basic " + tok, 401, "unauthorized"},
		{"an unknown key is 404", http.MethodGet, "v2/spaces/keys/DONOSUCHKEY", tok, 404, "not_found"},
		{"DELETE answers 204 with an empty body", http.MethodDelete, "v2/spaces/keys/" + ak, tok, 204, ""},
		{"the deleted key is gone", http.MethodGet, "v2/spaces/keys/" + ak, tok, 404, "not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			r := raw(t, s, tc.method, tc.rel, tc.token, "")
			if wantStatus(t, r, tc.status, tc.id); tc.id != "" {
				return
			}
			if tc.status == http.StatusNoContent && len(r.raw) != 0 {
				t.Fatalf("body %q, want empty", r.raw)
			}
			got, _ := r.body["key"].(map[string]any)
			if _, hasSecret := got["secret_key"]; tc.status == http.StatusOK && (got["access_key"] != ak || hasSecret) {
				t.Fatalf("body %s", r.raw)
			}
		})
	}
}

func TestPagination(t *testing.T) {
	s, tok := newFake(t, Config{MaxPerPage: 2})
	var made []string
	for i := range 5 {
		ak, _ := createKey(t, s, tok, fmt.Sprintf("p%d", i), `[]`)
		made = append(made, ak)
	}
	type listReply struct { // the exact list shape: no secret_key (DisallowUnknownFields)
		Keys []struct {
			Name      string  `json:"name"`
			AccessKey string  `json:"access_key"`
			Grants    []Grant `json:"grants"`
			CreatedAt string  `json:"created_at"`
		} `json:"keys"`
		Links struct{ Pages map[string]string } `json:"links"`
		Meta  struct{ Total int }               `json:"meta"`
	}
	newest := slices.Clone(made)
	slices.Reverse(newest)
	link := func(p int) string { return fmt.Sprintf("%sv2/spaces/keys?page=%d&per_page=2", s.URL(), p) }
	cases := []struct {
		reason    string
		query     string
		wantKeys  []string
		wantPages map[string]string
	}{
		{"page 1, newest first (the documented default sort), per_page cut to MaxPerPage: next and last, no prev", "page=1&per_page=20", newest[0:2], map[string]string{"next": link(2), "last": link(3)}},
		{"no per_page: the default of 20 is cut to MaxPerPage too", "", newest[0:2], map[string]string{"next": link(2), "last": link(3)}},
		{"a middle page links every way", "page=2&per_page=2", newest[2:4], map[string]string{"first": link(1), "prev": link(1), "next": link(3), "last": link(3)}},
		{"the last page: first and prev, no next", "page=3&per_page=2", newest[4:], map[string]string{"first": link(1), "prev": link(2)}},
		{"sort_direction=desc is the default said out loud", "page=1&per_page=2&sort_direction=desc", newest[0:2], map[string]string{"next": link(2), "last": link(3)}},
		{"sort_direction=asc lists oldest first", "page=1&per_page=2&sort_direction=asc", made[0:2], map[string]string{"next": link(2), "last": link(3)}},
		{"past the end: no keys (an empty array)", "page=4&per_page=2", nil, map[string]string{"first": link(1), "prev": link(3)}},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			r := raw(t, s, http.MethodGet, "v2/spaces/keys?"+tc.query, tok, "")
			var lr listReply
			dec := json.NewDecoder(bytes.NewReader(r.raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&lr); err != nil || r.status != 200 {
				t.Fatalf("%d %s: %v", r.status, r.raw, err)
			}
			var got []string
			for _, k := range lr.Keys {
				got = append(got, k.AccessKey)
			}
			if lr.Keys == nil || !slices.Equal(got, tc.wantKeys) || !reflect.DeepEqual(lr.Links.Pages, tc.wantPages) || lr.Meta.Total != 5 {
				t.Fatalf("keys %v pages %v total %d; want %v %v 5 (%s)", got, lr.Links.Pages, lr.Meta.Total, tc.wantKeys, tc.wantPages, r.raw)
			}
		})
	}
	for _, q := range []string{"per_page=0", "per_page=201", "per_page=x", "page=0", "sort_direction=up"} {
		t.Run(q+" is 400", func(t *testing.T) {
			wantError(t, raw(t, s, http.MethodGet, "v2/spaces/keys?"+q, tok, ""), 400, "bad_request")
		})
	}
}

func TestScopes(t *testing.T) {
	s, admin := newFake(t, Config{})
	ak, _ := createKey(t, s, admin, "scoped", `[]`)
	reader := s.AddToken("reader", ScopeRead)
	creator := s.AddToken("creator", ScopeCreate)
	updater := s.AddToken("updater", ScopeUpdate)
	deleter := s.AddToken("deleter", ScopeDelete)
	rename := `{"name":"renamed","grants":[]}`
	cases := []struct {
		reason      string
		token       string
		method, rel string
		body        string
		status      int
		id          string
	}{
		{"read may list", reader, http.MethodGet, "v2/spaces/keys", "", 200, ""},
		{"read may get", reader, http.MethodGet, "v2/spaces/keys/" + ak, "", 200, ""},
		{"read may not create", reader, http.MethodPost, "v2/spaces/keys", `{"name":"n","grants":[]}`, 403, "forbidden"},
		{"read may not delete", reader, http.MethodDelete, "v2/spaces/keys/" + ak, "", 403, "forbidden"},
		{"create_credentials may not list", creator, http.MethodGet, "v2/spaces/keys", "", 403, "forbidden"},
		{"delete may not get", deleter, http.MethodGet, "v2/spaces/keys/" + ak, "", 403, "forbidden"},
		{"read may not update", reader, http.MethodPut, "v2/spaces/keys/" + ak, rename, 403, "forbidden"},
		{"create_credentials may not update", creator, http.MethodPut, "v2/spaces/keys/" + ak, rename, 403, "forbidden"},
		{"update may update", updater, http.MethodPut, "v2/spaces/keys/" + ak, rename, 200, ""},
		{"update may not delete", updater, http.MethodDelete, "v2/spaces/keys/" + ak, "", 403, "forbidden"},
		{"delete may delete", deleter, http.MethodDelete, "v2/spaces/keys/" + ak, "", 204, ""},
		{"create_credentials may create", creator, http.MethodPost, "v2/spaces/keys", `{"name":"n","grants":[]}`, 201, ""},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			before := len(s.Keys())
			wantStatus(t, raw(t, s, tc.method, tc.rel, tc.token, tc.body), tc.status, tc.id)
			if tc.id != "" && len(s.Keys()) != before {
				t.Fatalf("a forbidden call changed the keys")
			}
		})
	}
}

func TestValidation(t *testing.T) {
	s, tok := newFake(t, Config{})
	cases := []struct {
		reason string
		body   string
		status int
		id     string // "" = created
	}{
		{"a missing name", `{"grants":[]}`, 422, "unprocessable_entity"},
		{"a blank name", `{"name":"  ","grants":[]}`, 422, "unprocessable_entity"},
		{"an unknown permission", `{"name":"v","grants":[{"bucket":"b","permission":"admin"}]}`, 422, "unprocessable_entity"},
		{"read without a bucket", `{"name":"v","grants":[{"permission":"read"}]}`, 422, "unprocessable_entity"},
		{"readwrite without a bucket", `{"name":"v","grants":[{"bucket":"","permission":"readwrite"}]}`, 422, "unprocessable_entity"},
		{"a body that is not JSON", `{"name":`, 400, "bad_request"},
		{"fullaccess needs no bucket", `{"name":"v","grants":[{"bucket":"","permission":"fullaccess"}]}`, 201, ""},
		{"a grant on a bucket that does not exist is accepted", `{"name":"v","grants":[{"bucket":"` + uniq() + `","permission":"read"}]}`, 201, ""},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			before := len(s.Keys())
			wantStatus(t, raw(t, s, http.MethodPost, "v2/spaces/keys", tok, tc.body), tc.status, tc.id)
			want := 1
			if tc.id != "" {
				want = 0
			}
			if made := len(s.Keys()) - before; made != want {
				t.Fatalf("%d keys made, want %d", made, want)
			}
		})
	}
}

// TestUpdateValidation: an update is checked as a create is, plus the documented refusal to turn a
// fullaccess key into a scoped one or back; a refused update changes nothing.
func TestUpdateValidation(t *testing.T) {
	s, tok := newFake(t, Config{})
	scoped, _ := createKey(t, s, tok, "scoped", `[{"bucket":"b1","permission":"read"}]`)
	full, _ := createKey(t, s, tok, "full", `[{"bucket":"","permission":"fullaccess"}]`)
	cases := []struct {
		reason     string
		accessKey  string
		body       string
		status     int
		id         string  // "" = updated
		wantName   string  // on success
		wantGrants []Grant // on success
	}{
		{"an unknown key is 404 whatever the body", "DONOSUCHKEY", `{"name":"x","grants":[]}`, 404, "not_found", "", nil},
		{"a body that is not JSON", scoped, `{"name":`, 400, "bad_request", "", nil},
		{"a missing name", scoped, `{"grants":[]}`, 422, "unprocessable_entity", "", nil},
		{"a blank name", scoped, `{"name":" ","grants":[]}`, 422, "unprocessable_entity", "", nil},
		{"missing grants (a PUT replaces the whole key)", scoped, `{"name":"x"}`, 422, "unprocessable_entity", "", nil},
		{"an unknown permission", scoped, `{"name":"x","grants":[{"bucket":"b1","permission":"admin"}]}`, 422, "unprocessable_entity", "", nil},
		{"readwrite without a bucket", scoped, `{"name":"x","grants":[{"bucket":"","permission":"readwrite"}]}`, 422, "unprocessable_entity", "", nil},
		{"a scoped key cannot become fullaccess", scoped, `{"name":"x","grants":[{"bucket":"","permission":"fullaccess"}]}`, 400, "bad_request", "", nil},
		{"a scoped key cannot gain fullaccess beside its scoped grants", scoped,
			`{"name":"x","grants":[{"bucket":"b1","permission":"read"},{"bucket":"","permission":"fullaccess"}]}`, 400, "bad_request", "", nil},
		{"a fullaccess key cannot become scoped", full, `{"name":"x","grants":[{"bucket":"b1","permission":"readwrite"}]}`, 400, "bad_request", "", nil},
		{"a fullaccess key cannot drop every grant", full, `{"name":"x","grants":[]}`, 400, "bad_request", "", nil},
		{"a scoped key moves to other buckets and permissions, in the order sent", scoped,
			`{"name":"scoped-2","grants":[{"bucket":"b2","permission":"readwrite"},{"bucket":"b1","permission":"read"}]}`, 200, "",
			"scoped-2", []Grant{{"b2", PermissionReadWrite}, {"b1", PermissionRead}}},
		{"a scoped key may drop every grant", scoped, `{"name":"scoped-3","grants":[]}`, 200, "", "scoped-3", []Grant{}},
		{"a fullaccess key may be renamed", full, `{"name":"full-2","grants":[{"bucket":"","permission":"fullaccess"}]}`, 200, "",
			"full-2", []Grant{{"", PermissionFullAccess}}},
	}
	find := func(accessKey string) *Key {
		for _, k := range s.Keys() {
			if k.AccessKey == accessKey {
				return &k
			}
		}
		return nil
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			before := s.Keys()
			r := raw(t, s, http.MethodPut, "v2/spaces/keys/"+tc.accessKey, tok, tc.body)
			if wantStatus(t, r, tc.status, tc.id); tc.id != "" {
				if after := s.Keys(); !reflect.DeepEqual(after, before) {
					t.Fatalf("a refused update changed the keys: %+v, was %+v", after, before)
				}
				return
			}
			got := find(tc.accessKey)
			if got == nil || got.Name != tc.wantName || !reflect.DeepEqual(got.Grants, tc.wantGrants) {
				t.Fatalf("after the update the fake holds %+v, want name %q grants %+v", got, tc.wantName, tc.wantGrants)
			}
			k, _ := r.body["key"].(map[string]any)
			_, hasSecret := k["secret_key"]
			if len(r.body) != 1 || k["access_key"] != tc.accessKey || k["name"] != tc.wantName || hasSecret || k["created_at"] == nil {
				t.Fatalf("update reply %s, want {\"key\":{...}} as stored, without a secret", r.raw)
			}
		})
	}
}

// TestUpdateMovesEnforcement: after an update answers, S3 enforces the new grants for the same
// keys, which never stop authenticating.
func TestUpdateMovesEnforcement(t *testing.T) {
	ctx := context.Background()
	s, tok := newFake(t, Config{})
	root := s3(t, srv.RootUser, srv.RootPassword)
	a, b := uniq(), uniq()
	for _, bk := range []string{a, b} {
		if err := root.MakeBucket(ctx, bk, minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := put(root, bk, "seed", "seed-"+bk); err != nil {
			t.Fatal(err)
		}
	}
	ak, sk := createKey(t, s, tok, "moving", `[{"bucket":"`+a+`","permission":"read"}]`)
	c := s3(t, ak, sk)
	update := func(grants string) {
		t.Helper()
		if r := raw(t, s, http.MethodPut, "v2/spaces/keys/"+ak, tok, `{"name":"moving","grants":`+grants+`}`); r.status != http.StatusOK {
			t.Fatalf("update: %d %s", r.status, r.raw)
		}
	}

	update(`[{"bucket":"` + a + `","permission":"readwrite"},{"bucket":"` + b + `","permission":"readwrite"}]`)
	t.Run("widened: writes both buckets", func(t *testing.T) {
		for _, bk := range []string{a, b} {
			if err := put(c, bk, "w", "x"); err != nil {
				t.Fatalf("put to %s: %v", bk, err)
			}
		}
	})

	update(`[{"bucket":"` + b + `","permission":"read"}]`)
	t.Run("narrowed to reading the other bucket: reads it, writes nothing, the first bucket is gone", func(t *testing.T) {
		if got, err := get(c, b, "seed"); err != nil || string(got) != "seed-"+b || list(c, b) != nil {
			t.Fatalf("get: %q %v; list: %v", got, err, list(c, b))
		}
		wantS3Code(t, put(c, b, "w2", "x"), "AccessDenied")
		wantS3Code(t, put(c, a, "w2", "x"), "AccessDenied")
		_, err := get(c, a, "seed")
		wantS3Code(t, err, "AccessDenied")
	})

	update(`[]`)
	t.Run("no grants: still authenticates, denied everywhere", func(t *testing.T) {
		_, err := get(c, b, "seed")
		wantS3Code(t, err, "AccessDenied")
		_, err = c.ListBuckets(ctx)
		wantS3Code(t, err, "AccessDenied")
	})
}

func TestKeyLimit(t *testing.T) {
	s, tok := newFake(t, Config{KeyLimit: 2})
	first, _ := createKey(t, s, tok, "l1", `[]`)
	createKey(t, s, tok, "l2", `[]`)
	r := raw(t, s, http.MethodPost, "v2/spaces/keys", tok, `{"name":"l3","grants":[]}`)
	wantError(t, r, 422, "unprocessable_entity")
	if msg := r.body["message"].(string); !strings.Contains(msg, "limit") {
		t.Fatalf("message %q does not name the limit", msg)
	}
	if n := len(s.Keys()); n != 2 {
		t.Fatalf("%d keys after a refused create", n)
	}
	if r := raw(t, s, http.MethodDelete, "v2/spaces/keys/"+first, tok, ""); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	createKey(t, s, tok, "l3", `[]`)
}

// clock is an injectable Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

type rateStep struct {
	reason        string
	advance       time.Duration
	token         string
	wantStatus    int
	wantLimit     int
	wantRemaining int
	wantReset     time.Time // RateLimit-Reset is this instant rounded up to a second
}

func runRateSteps(t *testing.T, s *Server, clk *clock, steps []rateStep) {
	t.Helper()
	for _, st := range steps {
		t.Run(st.reason, func(t *testing.T) {
			clk.Advance(st.advance)
			r := raw(t, s, http.MethodGet, "v2/spaces/keys", st.token, "")
			id := ""
			if st.wantStatus == http.StatusTooManyRequests {
				id = "too_many_requests"
			}
			wantStatus(t, r, st.wantStatus, id)
			limit, _ := strconv.Atoi(r.header.Get("RateLimit-Limit"))
			remaining, _ := strconv.Atoi(r.header.Get("RateLimit-Remaining"))
			reset, _ := strconv.ParseInt(r.header.Get("RateLimit-Reset"), 10, 64)
			wantReset := st.wantReset.Add(time.Second - 1).Unix()
			if limit != st.wantLimit || remaining != st.wantRemaining || reset != wantReset {
				t.Fatalf("RateLimit-Limit/Remaining/Reset %d %d %d, want %d %d %d",
					limit, remaining, reset, st.wantLimit, st.wantRemaining, wantReset)
			}
		})
	}
}

func TestRateLimitPerMinute(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 5e8, time.UTC) // mid-second: Reset rounds up
	clk := &clock{now: t0}
	s, tok := newFake(t, Config{PerMinute: 3, Now: clk.Now})
	other := s.AddToken("other")
	hour := t0.Add(time.Hour)
	runRateSteps(t, s, clk, []rateStep{
		{"request 1 of 3", 0, tok, 200, 5000, 4999, hour},
		{"request 2 of 3", time.Second, tok, 200, 5000, 4998, hour},
		{"request 3 of 3", time.Second, tok, 200, 5000, 4997, hour},
		{"request 4 is refused and not counted; reset is when the minute's oldest expires", time.Second, tok, 429, 5000, 4997, t0.Add(time.Minute)},
		{"another token has its own count", 0, other, 200, 5000, 4999, t0.Add(3 * time.Second).Add(time.Hour)},
		{"a minute after the first request, one passes again", time.Minute - 3*time.Second, tok, 200, 5000, 4996, hour},
		{"and the minute is full again", 0, tok, 429, 5000, 4996, t0.Add(time.Second + time.Minute)},
	})
}

func TestRateLimitPerHour(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 5e8, time.UTC) // mid-second: Reset rounds up
	clk := &clock{now: t0}
	s, tok := newFake(t, Config{PerHour: 2, Now: clk.Now})
	runRateSteps(t, s, clk, []rateStep{
		{"request 1 of 2", 0, tok, 200, 2, 1, t0.Add(time.Hour)},
		{"request 2 of 2", 10 * time.Minute, tok, 200, 2, 0, t0.Add(time.Hour)},
		{"request 3 is refused", 10 * time.Minute, tok, 429, 2, 0, t0.Add(time.Hour)},
		{"still refused within the hour", 39 * time.Minute, tok, 429, 2, 0, t0.Add(time.Hour)},
		{"an hour after the first, one passes", time.Minute, tok, 200, 2, 0, t0.Add(70 * time.Minute)},
	})
}

func TestInjectThrottle(t *testing.T) {
	s, tok := newFake(t, Config{})
	s.InjectThrottle(2)
	wantError(t, raw(t, s, http.MethodGet, "v2/spaces/keys", tok, ""), 429, "too_many_requests")
	wantError(t, raw(t, s, http.MethodGet, "v2/spaces/keys", "", ""), 429, "too_many_requests")
	if r := raw(t, s, http.MethodGet, "v2/spaces/keys", tok, ""); r.status != 200 {
		t.Fatalf("after the injected 429s: %d %s", r.status, r.raw)
	}
}

func TestDataPlane(t *testing.T) {
	ctx := context.Background()
	s, tok := newFake(t, Config{})
	root := s3(t, srv.RootUser, srv.RootPassword)
	a, b := uniq(), uniq()
	for _, bk := range []string{a, b} {
		if err := root.MakeBucket(ctx, bk, minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := put(root, bk, "seed", "seed-"+bk); err != nil {
			t.Fatal(err)
		}
	}
	grant := func(bucket, perm string) string {
		return `[{"bucket":"` + bucket + `","permission":"` + perm + `"}]`
	}
	readAK, readSK := createKey(t, s, tok, "read", grant(a, PermissionRead))
	rwAK, rwSK := createKey(t, s, tok, "readwrite", grant(a, PermissionReadWrite))
	fullAK, fullSK := createKey(t, s, tok, "full", grant("", PermissionFullAccess))
	noneAK, noneSK := createKey(t, s, tok, "none", `[]`)
	rd, rw, full, none := s3(t, readAK, readSK), s3(t, rwAK, rwSK), s3(t, fullAK, fullSK), s3(t, noneAK, noneSK)

	t.Run("read lists and gets its bucket, may not put there or read another", func(t *testing.T) {
		if got, err := get(rd, a, "seed"); err != nil || string(got) != "seed-"+a || list(rd, a) != nil {
			t.Fatalf("get: %q %v; list: %v", got, err, list(rd, a))
		}
		wantS3Code(t, put(rd, a, "x", "x"), "AccessDenied")
		_, err := get(rd, b, "seed")
		wantS3Code(t, err, "AccessDenied")
		wantS3Code(t, list(rd, b), "AccessDenied")
	})
	t.Run("readwrite puts, gets and deletes in its bucket, nothing elsewhere", func(t *testing.T) {
		if err := put(rw, a, "rw", "data"); err != nil {
			t.Fatal(err)
		}
		if got, err := get(rw, a, "rw"); err != nil || string(got) != "data" {
			t.Fatalf("get: %q %v", got, err)
		}
		if err := rw.RemoveObject(ctx, a, "rw", minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := root.StatObject(ctx, a, "rw", minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
			t.Fatalf("object survived the delete: %v", err)
		}
		wantS3Code(t, put(rw, b, "x", "x"), "AccessDenied")
		wantS3Code(t, rw.MakeBucket(ctx, uniq(), minio.MakeBucketOptions{}), "AccessDenied")
	})
	t.Run("fullaccess makes buckets and writes anywhere", func(t *testing.T) {
		if err := full.MakeBucket(ctx, uniq(), minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := put(full, b, "full", "x"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no grants: authenticates and is denied", func(t *testing.T) {
		_, err := get(none, a, "seed")
		wantS3Code(t, err, "AccessDenied")
		_, err = none.ListBuckets(ctx)
		wantS3Code(t, err, "AccessDenied")
	})
	t.Run("Keys reflects the creates, in order, with their grants", func(t *testing.T) {
		want := []Key{
			{Name: "read", AccessKey: readAK, Grants: []Grant{{a, PermissionRead}}},
			{Name: "readwrite", AccessKey: rwAK, Grants: []Grant{{a, PermissionReadWrite}}},
			{Name: "full", AccessKey: fullAK, Grants: []Grant{{"", PermissionFullAccess}}},
			{Name: "none", AccessKey: noneAK, Grants: []Grant{}},
		}
		got := s.Keys()
		for i := range got {
			got[i].CreatedAt = time.Time{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Keys() = %+v, want %+v", got, want)
		}
	})
	t.Run("a deleted key is refused by S3 and leaves Keys", func(t *testing.T) {
		if r := raw(t, s, http.MethodDelete, "v2/spaces/keys/"+readAK, tok, ""); r.status != 204 {
			t.Fatalf("delete: %d %s", r.status, r.raw)
		}
		_, err := get(rd, a, "seed")
		wantS3Code(t, err, "InvalidAccessKeyId")
		for _, k := range s.Keys() {
			if k.AccessKey == readAK {
				t.Fatal("Keys() still lists the deleted key")
			}
		}
	})
}

func TestCloseRemovesIdentities(t *testing.T) {
	s, tok := newFake(t, Config{})
	ak, sk := createKey(t, s, tok, "closing", `[{"bucket":"","permission":"fullaccess"}]`)
	c := s3(t, ak, sk)
	if _, err := c.ListBuckets(context.Background()); err != nil {
		t.Fatalf("before Close: %v", err)
	}
	s.Close()
	_, err := c.ListBuckets(context.Background())
	wantS3Code(t, err, "InvalidAccessKeyId")
}

// TestKeyPropagation: with Config.KeyPropagation a new key is refused on S3 until the delay has
// passed, then works with the grants it has by then; a key deleted before it propagates never
// works.
func TestKeyPropagation(t *testing.T) {
	s, tok := newFake(t, Config{KeyPropagation: 2 * time.Second})
	bucket := uniq()
	if err := s3(t, srv.RootUser, srv.RootPassword).MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	ak, sk := createKey(t, s, tok, "slow", `[{"bucket":"`+bucket+`","permission":"readwrite"}]`)
	gone, goneSecret := createKey(t, s, tok, "gone", `[{"bucket":"`+bucket+`","permission":"readwrite"}]`)
	wantS3Code(t, put(s3(t, ak, sk), bucket, "early", "{}"), "InvalidAccessKeyId")
	if r := raw(t, s, http.MethodDelete, "v2/spaces/keys/"+gone, tok, ""); r.status != http.StatusNoContent {
		t.Fatalf("delete a pending key: %d %s", r.status, r.raw)
	}
	deadline := time.Now().Add(20 * time.Second)
	for put(s3(t, ak, sk), bucket, "late", "{}") != nil {
		if time.Now().After(deadline) {
			t.Fatal("the key never started working")
		}
		time.Sleep(200 * time.Millisecond)
	}
	wantS3Code(t, put(s3(t, gone, goneSecret), bucket, "x", "{}"), "InvalidAccessKeyId")
}

// TestRepliesHaveGodosShapes: every reply the operator reads decodes into godo's own types
// (DigitalOcean's client, written by DigitalOcean) with no field godo does not know, and the error
// reply into godo.ErrorResponse's fields.
func TestRepliesHaveGodosShapes(t *testing.T) {
	s, tok := newFake(t, Config{})
	strict := func(what string, r reply, v any) {
		t.Helper()
		dec := json.NewDecoder(bytes.NewReader(r.raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Errorf("%s: %d %s does not decode into godo's type: %v", what, r.status, r.raw, err)
		}
	}
	type keyRoot struct {
		Key *godo.SpacesKey `json:"key"`
	}
	create := raw(t, s, http.MethodPost, "v2/spaces/keys", tok, `{"name":"shape","grants":[{"bucket":"b","permission":"read"}]}`)
	var created keyRoot
	strict("create", create, &created)
	if created.Key == nil || created.Key.SecretKey == "" {
		t.Fatalf("create: %s", create.raw)
	}
	ak := created.Key.AccessKey
	strict("get", raw(t, s, http.MethodGet, "v2/spaces/keys/"+ak, tok, ""), &keyRoot{})
	strict("update", raw(t, s, http.MethodPut, "v2/spaces/keys/"+ak, tok, `{"name":"shape","grants":[{"bucket":"b","permission":"readwrite"}]}`), &keyRoot{})
	strict("list", raw(t, s, http.MethodGet, "v2/spaces/keys?page=1&per_page=1", tok, ""), &struct {
		Keys  []*godo.SpacesKey `json:"keys"`
		Links *godo.Links       `json:"links"`
		Meta  *godo.Meta        `json:"meta"`
	}{})
	// godo.ErrorResponse decodes "message" and "request_id"; "id" is the documented error id.
	strict("an error", raw(t, s, http.MethodGet, "v2/spaces/keys/DONOSUCHKEY0000000000", tok, ""), &struct {
		ID        string `json:"id"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	}{})
}
