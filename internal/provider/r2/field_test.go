package r2

import (
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	cf "github.com/cloudflare/cloudflare-go/v7"
	"github.com/cloudflare/cloudflare-go/v7/accounts"
	cfr2 "github.com/cloudflare/cloudflare-go/v7/r2"
	"github.com/cloudflare/cloudflare-go/v7/shared"
)

// TestSetIsCloudflareF checks that set leaves a field exactly as the SDK's own helper would, so the
// requests serialise the same.
func TestSetIsCloudflareF(t *testing.T) {
	at := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	var union shared.TokenPolicyResourcesUnionParam = shared.TokenPolicyResourcesIAMResourcesTypeObjectStringParam{"r": "*"}
	cases := []struct {
		reason    string
		got, want func() any
	}{
		{"a string field", func() any { var p accounts.TokenGetParams; set(&p.AccountID, "acc"); return p },
			func() any { return accounts.TokenGetParams{AccountID: cf.F("acc")} }},
		{"a named string type", func() any {
			var p cfr2.BucketGetParams
			set(&p.Jurisdiction, cfr2.BucketGetParamsCfR2Jurisdiction("eu"))
			return p
		}, func() any {
			return cfr2.BucketGetParams{Jurisdiction: cf.F(cfr2.BucketGetParamsCfR2Jurisdiction("eu"))}
		}},
		{"a time", func() any {
			var p accounts.TokenNewParams
			set(&p.ExpiresOn, at)
			return p
		}, func() any { return accounts.TokenNewParams{ExpiresOn: cf.F(at)} }},
		{"an interface held as its union type", func() any { var p shared.TokenPolicyParam; set(&p.Resources, union); return p },
			func() any { return shared.TokenPolicyParam{Resources: cf.F(union)} }},
		{"a nested field", func() any {
			var p cfr2.TemporaryCredentialNewParams
			set(&p.TemporaryCredential.TTLSeconds, 900.0)
			return p
		}, func() any {
			return cfr2.TemporaryCredentialNewParams{TemporaryCredential: cfr2.TemporaryCredentialParam{TTLSeconds: cf.F(900.0)}}
		}},
	}
	for _, c := range cases {
		if got, want := c.got(), c.want(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: set gave %#v, cloudflare.F %#v", c.reason, got, want)
		}
	}
}

func TestSetRefusesWhatIsNotAField(t *testing.T) {
	cases := []struct {
		reason string
		call   func()
	}{
		{"a struct without Value and Present", func() { var s struct{ A string }; set(&s, "x") }},
		{"a value of another type", func() { var p accounts.TokenGetParams; set(&p.AccountID, 1) }},
	}
	for _, c := range cases {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: set did not panic", c.reason)
				}
			}()
			c.call()
		}()
	}
}

// TestTheOperatorLinksOnlyTheServicesItCalls keeps cloudflare-go's root package (and with it every
// service package of the SDK) out of the operator's binary; see field.go.
func TestTheOperatorLinksOnlyTheServicesItCalls(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/tfstate-operator/tfstate-operator").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	var linked []string
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/cloudflare/cloudflare-go/") || pkg == "github.com/cloudflare/cloudflare-go/v7" {
			linked = append(linked, pkg)
		}
	}
	if slices.Contains(linked, "github.com/cloudflare/cloudflare-go/v7") || len(linked) > 20 {
		t.Errorf("the operator links %d cloudflare-go packages, the SDK's root among them: %v", len(linked), linked)
	}
}
