package fakecloudflare

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	cloudflare "github.com/cloudflare/cloudflare-go/v7"
	"github.com/cloudflare/cloudflare-go/v7/option"
	"github.com/cloudflare/cloudflare-go/v7/r2"
	"github.com/minio/minio-go/v7"
)

// bucketOps wraps the SDK's bucket calls with jurisdiction as a plain string ("" = no header).
type bucketOps struct {
	f   *fixture
	ctx context.Context
}

func (o bucketOps) create(name, jurisdiction, hint string, opts ...option.RequestOption) (*r2.Bucket, error) {
	p := r2.BucketNewParams{AccountID: cloudflare.F(o.f.AccountID()), Name: cloudflare.F(name)}
	if jurisdiction != "" {
		p.Jurisdiction = cloudflare.F(r2.BucketNewParamsCfR2Jurisdiction(jurisdiction))
	}
	if hint != "" {
		p.LocationHint = cloudflare.F(r2.BucketNewParamsLocationHint(hint))
	}
	return o.f.cf.R2.Buckets.New(o.ctx, p, opts...)
}

func (o bucketOps) get(name, jurisdiction string, opts ...option.RequestOption) (*r2.Bucket, error) {
	p := r2.BucketGetParams{AccountID: cloudflare.F(o.f.AccountID())}
	if jurisdiction != "" {
		p.Jurisdiction = cloudflare.F(r2.BucketGetParamsCfR2Jurisdiction(jurisdiction))
	}
	return o.f.cf.R2.Buckets.Get(o.ctx, name, p, opts...)
}

func (o bucketOps) delete(name, jurisdiction string) error {
	p := r2.BucketDeleteParams{AccountID: cloudflare.F(o.f.AccountID())}
	if jurisdiction != "" {
		p.Jurisdiction = cloudflare.F(r2.BucketDeleteParamsCfR2Jurisdiction(jurisdiction))
	}
	_, err := o.f.cf.R2.Buckets.Delete(o.ctx, name, p)
	return err
}

func TestBucketLifecycle(t *testing.T) {
	f := newFake(t, Config{})
	ctx := context.Background()
	ops := bucketOps{f, ctx}
	std, eu, fed := uniq("std"), uniq("eu"), uniq("fed")

	created := []struct {
		reason, name, jurisdiction, hint string
		wantJurisdiction, wantLocation   string
	}{
		{"no header creates a default-jurisdiction bucket", std, "", "", "default", "enam"},
		{"header eu creates an EU bucket", eu, "eu", "weur", "eu", "weur"},
		{"header fedramp with a hint", fed, "fedramp", "wnam", "fedramp", "wnam"},
	}
	for _, tc := range created {
		t.Run(tc.reason, func(t *testing.T) {
			before := time.Now().UTC().Add(-time.Second)
			b, err := ops.create(tc.name, tc.jurisdiction, tc.hint)
			if err != nil {
				t.Fatal(err)
			}
			if b.Name != tc.name || string(b.Jurisdiction) != tc.wantJurisdiction || string(b.Location) != tc.wantLocation || b.StorageClass != r2.BucketStorageClassStandard {
				t.Fatalf("bucket = %+v", b)
			}
			if ts, err := time.Parse(time.RFC3339, b.CreationDate); err != nil || ts.Before(before) {
				t.Fatalf("creation_date %q: %v", b.CreationDate, err)
			}
			if ok, err := f.s3.BucketExists(ctx, tc.name); err != nil || !ok {
				t.Fatalf("MinIO bucket %s exists = %v, %v", tc.name, ok, err)
			}
		})
	}

	errorCases := []struct {
		reason       string
		do           func() error
		status, code int
	}{
		{"creating an existing name is 409 10073",
			func() error { _, err := ops.create(std, "", ""); return err }, 409, codeBucketConflict},
		{"creating a name used in another jurisdiction is refused too (MinIO has one namespace)",
			func() error { _, err := ops.create(std, "eu", ""); return err }, 409, codeBucketConflict},
		{"an uppercase name is 400 10005",
			func() error { _, err := ops.create("Upper-"+randomHex(2), "", ""); return err }, 400, codeInvalidBucket},
		{"a 2-character name is 400 10005",
			func() error { _, err := ops.create("ab", "", ""); return err }, 400, codeInvalidBucket},
		{"a 64-character name is 400 10005",
			func() error { _, err := ops.create(strings.Repeat("a", 64), "", ""); return err }, 400, codeInvalidBucket},
		{"a name ending in a hyphen is 400 10005",
			func() error { _, err := ops.create("abc-", "", ""); return err }, 400, codeInvalidBucket},
		{"an underscore is 400 10005",
			func() error { _, err := ops.create("a_b_c", "", ""); return err }, 400, codeInvalidBucket},
		{"an unknown location hint is 400",
			func() error { _, err := ops.create(uniq("hint"), "", "mars"); return err }, 400, codeInvalidArgument},
		{"an unknown storage class is 400",
			func() error {
				_, err := f.cf.R2.Buckets.New(ctx, r2.BucketNewParams{AccountID: cloudflare.F(f.AccountID()), Name: cloudflare.F(uniq("sc")),
					StorageClass: cloudflare.F(r2.BucketNewParamsStorageClass("Glacier"))})
				return err
			}, 400, codeInvalidArgument},
		{"an unknown jurisdiction header is 400",
			func() error { _, err := ops.get(std, "", option.WithHeader("cf-r2-jurisdiction", "mars")); return err }, 400, codeInvalidArgument},
		{"the EU bucket without the header is 404 10006",
			func() error { _, err := ops.get(eu, ""); return err }, 404, codeNoSuchBucket},
		{"the EU bucket with header default is 404 10006",
			func() error { _, err := ops.get(eu, "default"); return err }, 404, codeNoSuchBucket},
		{"the default bucket with header eu is 404 10006",
			func() error { _, err := ops.get(std, "eu"); return err }, 404, codeNoSuchBucket},
		{"the fedramp bucket with header eu is 404 10006",
			func() error { _, err := ops.get(fed, "eu"); return err }, 404, codeNoSuchBucket},
		{"an absent bucket is 404 10006",
			func() error { _, err := ops.get(uniq("absent"), ""); return err }, 404, codeNoSuchBucket},
		{"an invalid name in the path is 400 10005",
			func() error { _, err := ops.get("NOPE", ""); return err }, 400, codeInvalidBucket},
		{"deleting an absent bucket is 404 10006",
			func() error { return ops.delete(uniq("absent"), "") }, 404, codeNoSuchBucket},
		{"deleting the EU bucket without the header is 404 10006",
			func() error { return ops.delete(eu, "") }, 404, codeNoSuchBucket},
	}
	for _, tc := range errorCases {
		t.Run(tc.reason, func(t *testing.T) {
			wantAPIError(t, tc.do(), tc.status, tc.code)
		})
	}

	gets := []struct{ reason, name, jurisdiction, want string }{
		{"the default bucket without the header", std, "", "default"},
		{"the default bucket with header default", std, "default", "default"},
		{"the EU bucket with header eu", eu, "eu", "eu"},
		{"the fedramp bucket with header fedramp", fed, "fedramp", "fedramp"},
	}
	for _, tc := range gets {
		t.Run("get "+tc.reason, func(t *testing.T) {
			b, err := ops.get(tc.name, tc.jurisdiction)
			if err != nil {
				t.Fatal(err)
			}
			if b.Name != tc.name || string(b.Jurisdiction) != tc.want {
				t.Fatalf("bucket = %+v", b)
			}
		})
	}

	t.Run("a bucket holding an object is 409 10008 until it is emptied, then deleted in MinIO", func(t *testing.T) {
		if _, err := f.s3.PutObject(ctx, eu, "state.tfstate", strings.NewReader("{}"), 2, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		wantAPIError(t, ops.delete(eu, "eu"), 409, codeBucketNotEmpty)
		if err := f.s3.RemoveObject(ctx, eu, "state.tfstate", minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := ops.delete(eu, "eu"); err != nil {
			t.Fatal(err)
		}
		if ok, err := f.s3.BucketExists(ctx, eu); err != nil || ok {
			t.Fatalf("MinIO bucket still exists = %v, %v", ok, err)
		}
		_, err := ops.get(eu, "eu")
		wantAPIError(t, err, 404, codeNoSuchBucket)
		// The name is free again, in any jurisdiction.
		if _, err := ops.create(eu, "", ""); err != nil {
			t.Fatal(err)
		}
		if err := ops.delete(eu, ""); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("requests record the jurisdiction header", func(t *testing.T) {
		var sawEU bool
		for _, r := range f.Requests() {
			if r.Method == "DELETE" && strings.HasSuffix(r.Path, "/r2/buckets/"+eu) && r.Jurisdiction == "eu" && r.Status == 200 {
				sawEU = true
			}
		}
		if !sawEU {
			t.Fatal("the EU delete was not recorded with its jurisdiction")
		}
	})
}

// listPage lists one page through the SDK and returns the names and the result_info cursor.
func listPage(t *testing.T, f *fixture, p r2.BucketListParams) ([]string, string, int) {
	t.Helper()
	var env struct {
		Result struct {
			Buckets []r2.Bucket `json:"buckets"`
		} `json:"result"`
		ResultInfo struct {
			Cursor  string `json:"cursor"`
			PerPage int    `json:"per_page"`
		} `json:"result_info"`
	}
	p.AccountID = cloudflare.F(f.AccountID())
	if _, err := f.cf.R2.Buckets.List(context.Background(), p, option.WithResponseBodyInto(&env)); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range env.Result.Buckets {
		names = append(names, b.Name)
	}
	return names, env.ResultInfo.Cursor, env.ResultInfo.PerPage
}

func TestBucketList(t *testing.T) {
	f := newFake(t, Config{})
	ctx := context.Background()
	ops := bucketOps{f, ctx}
	prefix := uniq("list")
	var want []string
	for i := range 5 {
		name := prefix + "-" + string(rune('a'+i))
		want = append(want, name)
		if _, err := ops.create(name, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	euName := prefix + "-eu"
	if _, err := ops.create(euName, "eu", ""); err != nil {
		t.Fatal(err)
	}

	t.Run("the SDK's List returns the default jurisdiction's buckets", func(t *testing.T) {
		res, err := f.cf.R2.Buckets.List(ctx, r2.BucketListParams{AccountID: cloudflare.F(f.AccountID()), NameContains: cloudflare.F(prefix)})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, b := range res.Buckets {
			got = append(got, b.Name)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})

	cases := []struct {
		reason string
		params r2.BucketListParams
		want   []string
	}{
		{"cursor pages of 2 walk all default buckets in name order",
			r2.BucketListParams{NameContains: cloudflare.F(prefix), PerPage: cloudflare.F(2.0)}, want},
		{"direction desc reverses the order",
			r2.BucketListParams{NameContains: cloudflare.F(prefix), PerPage: cloudflare.F(3.0), Direction: cloudflare.F(r2.BucketListParamsDirectionDesc)},
			[]string{want[4], want[3], want[2], want[1], want[0]}},
		{"start_after skips names up to it",
			r2.BucketListParams{NameContains: cloudflare.F(prefix), StartAfter: cloudflare.F(want[2])}, want[3:]},
		{"the eu header lists only EU buckets",
			r2.BucketListParams{NameContains: cloudflare.F(prefix), Jurisdiction: cloudflare.F(r2.BucketListParamsCfR2JurisdictionEu)}, []string{euName}},
		{"fedramp has none of them",
			r2.BucketListParams{NameContains: cloudflare.F(prefix), Jurisdiction: cloudflare.F(r2.BucketListParamsCfR2JurisdictionFedramp)}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			var got []string
			p := tc.params
			pages := 0
			for {
				names, cursor, perPage := listPage(t, f, p)
				if p.PerPage.Present && perPage != int(p.PerPage.Value) {
					t.Fatalf("result_info.per_page = %d", perPage)
				}
				got = append(got, names...)
				pages++
				if cursor == "" {
					break
				}
				if pages > 10 {
					t.Fatal("cursor never ends")
				}
				p.Cursor = cloudflare.F(cursor)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			if p.PerPage.Present && pages != (len(tc.want)+int(p.PerPage.Value)-1)/int(p.PerPage.Value) {
				t.Fatalf("%d pages for %d buckets of %v per page", pages, len(tc.want), p.PerPage.Value)
			}
		})
	}

	bad := []struct {
		reason string
		params r2.BucketListParams
	}{
		{"per_page 0 is out of the documented 1..1000", r2.BucketListParams{PerPage: cloudflare.F(0.0)}},
		{"per_page 1001 is out of the documented 1..1000", r2.BucketListParams{PerPage: cloudflare.F(1001.0)}},
		{"a cursor that is not one the fake issued", r2.BucketListParams{Cursor: cloudflare.F("!!!")}},
	}
	for _, tc := range bad {
		t.Run(tc.reason, func(t *testing.T) {
			p := tc.params
			p.AccountID = cloudflare.F(f.AccountID())
			_, err := f.cf.R2.Buckets.List(ctx, p)
			wantAPIError(t, err, 400, codeInvalidArgument)
		})
	}
}
