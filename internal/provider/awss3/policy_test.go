package awss3

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

// grants flattens a policy into "action resource [condition]" lines, the form the table states.
func grants(t *testing.T, doc []byte) map[string][]string {
	t.Helper()
	var p policyDocument
	if err := json.Unmarshal(doc, &p); err != nil {
		t.Fatalf("policy is not JSON: %v\n%s", err, doc)
	}
	if p.Version != "2012-10-17" {
		t.Fatalf("policy version %q, want 2012-10-17", p.Version)
	}
	out := map[string][]string{}
	for _, s := range p.Statement {
		if s.Effect != "Allow" {
			t.Fatalf("statement %s has effect %q; the policy only allows", s.Sid, s.Effect)
		}
		for _, a := range s.Action {
			for _, r := range s.Resource {
				g := r
				if c := s.Condition["StringLike"]["s3:prefix"]; c != nil {
					b, _ := json.Marshal(c)
					g += " if s3:prefix like " + string(b)
				}
				out[a] = append(out[a], g)
			}
		}
	}
	return out
}

func TestPolicy(t *testing.T) {
	const b = "arn:aws:s3:::state"
	const kms = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	listPrefixed := b + ` if s3:prefix like ["network/*",".tfstate-operator/*"]`
	cases := []struct {
		reason string
		req    PolicyRequest
		want   map[string][]string
	}{
		{
			reason: "ReadWrite on the whole bucket: list, get/put every object, delete only lock files, and the probe area",
			req:    PolicyRequest{Bucket: "state", Access: provider.ReadWrite},
			want: map[string][]string{
				"s3:ListBucket":   {b},
				"s3:GetObject":    {b + "/*", b + "/.tfstate-operator/probe/*"},
				"s3:PutObject":    {b + "/*", b + "/.tfstate-operator/probe/*"},
				"s3:DeleteObject": {b + "/*.tflock", b + "/.tfstate-operator/probe/*"},
			},
		},
		{
			reason: "ReadOnly drops every write, the probe's included",
			req:    PolicyRequest{Bucket: "state", Access: provider.ReadOnly},
			want: map[string][]string{
				"s3:ListBucket": {b},
				"s3:GetObject":  {b + "/*"},
			},
		},
		{
			reason: "a prefix confines listing (s3:prefix), objects and lock deletes to <prefix>/",
			req:    PolicyRequest{Bucket: "state", Access: provider.ReadWrite, KeyPrefix: "network"},
			want: map[string][]string{
				"s3:ListBucket":   {listPrefixed},
				"s3:GetObject":    {b + "/network/*", b + "/.tfstate-operator/probe/*"},
				"s3:PutObject":    {b + "/network/*", b + "/.tfstate-operator/probe/*"},
				"s3:DeleteObject": {b + "/network/*.tflock", b + "/.tfstate-operator/probe/*"},
			},
		},
		{
			reason: "a ReadOnly prefix: list and get under it only",
			req:    PolicyRequest{Bucket: "state", Access: provider.ReadOnly, KeyPrefix: "network"},
			want: map[string][]string{
				"s3:ListBucket": {listPrefixed},
				"s3:GetObject":  {b + "/network/*"},
			},
		},
		{
			reason: "SSE-KMS: ReadWrite encrypts, decrypts and generates data keys with exactly that key",
			req:    PolicyRequest{Bucket: "state", Access: provider.ReadWrite, KMSKeyARN: kms},
			want: map[string][]string{
				"s3:ListBucket":       {b},
				"s3:GetObject":        {b + "/*", b + "/.tfstate-operator/probe/*"},
				"s3:PutObject":        {b + "/*", b + "/.tfstate-operator/probe/*"},
				"s3:DeleteObject":     {b + "/*.tflock", b + "/.tfstate-operator/probe/*"},
				"kms:Encrypt":         {kms},
				"kms:Decrypt":         {kms},
				"kms:GenerateDataKey": {kms},
			},
		},
		{
			reason: "SSE-KMS ReadOnly only decrypts",
			req:    PolicyRequest{Bucket: "state", Access: provider.ReadOnly, KMSKeyARN: kms},
			want: map[string][]string{
				"s3:ListBucket": {b},
				"s3:GetObject":  {b + "/*"},
				"kms:Decrypt":   {kms},
			},
		},
		{
			reason: "GovCloud buckets are in the aws-us-gov partition",
			req:    PolicyRequest{Partition: Partition("us-gov-west-1"), Bucket: "state", Access: provider.ReadOnly},
			want: map[string][]string{
				"s3:ListBucket": {"arn:aws-us-gov:s3:::state"},
				"s3:GetObject":  {"arn:aws-us-gov:s3:::state/*"},
			},
		},
	}
	t.Run("the longest request admission lets through stays within IAM's 2,048 characters", func(t *testing.T) {
		doc := Policy(PolicyRequest{
			Partition: "aws-us-gov", Bucket: strings.Repeat("b", 63), Access: provider.ReadWrite,
			KeyPrefix: strings.Repeat("p", 128),                                                        // spec.keyPrefix's MaxLength
			KMSKeyARN: "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/" + strings.Repeat("k", 109), // kmsKeyID's MaxLength: 160
		})
		if len(doc) > 2048 {
			t.Fatalf("policy of %d characters exceeds IAM's 2,048 for inline user policies", len(doc))
		}
	})
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			doc := Policy(tc.req)
			if got := grants(t, doc); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("grants:\n%v\nwant\n%v\npolicy: %s", got, tc.want, doc)
			}
			if again := Policy(tc.req); string(again) != string(doc) {
				t.Fatal("the same request gave a different document")
			}
			// IAM's limit for a user's inline policies is 2,048 characters (whitespace excluded).
			if len(doc) > 2048 {
				t.Fatalf("policy of %d characters exceeds IAM's 2,048 for inline user policies", len(doc))
			}
		})
	}
}

func TestPartitionAndIAMSigningRegion(t *testing.T) {
	cases := []struct{ region, partition, iamRegion string }{
		{"eu-west-1", "aws", "us-east-1"},
		{"us-east-1", "aws", "us-east-1"},
		{"us-gov-east-1", "aws-us-gov", "us-gov-west-1"},
		{"cn-northwest-1", "aws-cn", "cn-north-1"},
	}
	for _, tc := range cases {
		if p, r := Partition(tc.region), iamSigningRegion(tc.region); p != tc.partition || r != tc.iamRegion {
			t.Errorf("%s: partition %s, IAM region %s; want %s, %s", tc.region, p, r, tc.partition, tc.iamRegion)
		}
	}
}
