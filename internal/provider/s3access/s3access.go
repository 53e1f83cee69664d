// Package s3access keeps a state bucket closed to the public: AllowsPublic tells a bucket policy
// that grants anyone something (every store with bucket policies uses it: MinIO, DigitalOcean
// Spaces, AWS S3), and RemovePublicPolicy removes such a policy over a minio-go S3 client.
// The operator never writes bucket policies, so such a policy was set outside it; a policy that
// grants only named principals, or only denies (a team's own hardening), is left alone.
package s3access

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/tfstate-operator/tfstate-operator/internal/provider/s3marker"
)

// RemovePublicPolicy deletes the bucket's policy when it allows anyone, and reports whether it did.
// An absent bucket, or a store without bucket policies (NotImplemented), is nothing to do.
func RemovePublicPolicy(ctx context.Context, c *minio.Client, bucket string, classify s3marker.Classify) (bool, error) {
	policy, err := c.GetBucketPolicy(ctx, bucket) // "" when the bucket has none
	if err != nil {
		switch minio.ToErrorResponse(err).Code {
		case "NoSuchBucket", "NotImplemented":
			return false, nil
		}
		return false, classify("get bucket policy", err)
	}
	if policy == "" || !AllowsPublic([]byte(policy)) {
		return false, nil
	}
	if err := c.SetBucketPolicy(ctx, bucket, ""); err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchBucket" {
			return false, nil
		}
		return false, classify("delete bucket policy", err)
	}
	return true, nil
}

// AllowsPublic reports whether a bucket policy grants anyone something: an Allow statement
// whose Principal is "*" or has "*" among its principals of any kind ({"AWS": "*"},
// {"AWS": ["*"]}), or an Allow statement with NotPrincipal (which grants everyone but the ones
// listed). Deny statements grant nothing, whatever their principal, and grants to named
// principals (an account, a role) are not public.
//
// Conditions are not looked at: a grant to anyone under a condition counts as public. AWS itself
// calls such a grant non-public when it is pinned to fixed values of certain keys (aws:SourceIp
// CIDRs, aws:SourceVpce, aws:SourceArn, ...), but IP ranges and VPC endpoints still let requests
// in without credentials, and telling a pinning condition from a loose one ("aws:SourceIp":
// "0.0.0.0/0") takes AWS's own analysis. The operator's buckets are reached with its scoped
// credentials only and it never writes a bucket policy, so it errs toward closing: such a policy
// is deleted. Actions are not looked at either (a grant of anything to anyone is out of place).
//
// A document that does not parse as a policy counts as public: S3 stores only JSON policies, so
// this does not happen, and unreadable is no proof of closed.
func AllowsPublic(doc []byte) bool {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		return true
	}
	raw, ok := top["Statement"]
	if !ok {
		return false // grants nothing
	}
	stmts, err := oneOrMany[map[string]json.RawMessage](raw)
	if err != nil {
		return true
	}
	for _, st := range stmts {
		var effect string
		if err := json.Unmarshal(st["Effect"], &effect); err != nil {
			return true
		}
		if !strings.EqualFold(effect, "Allow") {
			continue
		}
		if _, ok := st["NotPrincipal"]; ok {
			return true
		}
		if anyone, ok := principalIsAnyone(st["Principal"]); anyone || !ok {
			return true
		}
	}
	return false
}

// principalIsAnyone reports whether a Principal element names everyone: "*", or "*" among the
// values of any kind ("AWS", "Service", ...). ok is false when it is neither a string nor an
// object of strings or lists of strings.
func principalIsAnyone(raw json.RawMessage) (anyone, ok bool) {
	if len(raw) == 0 {
		return false, true // no Principal: S3 refuses such a bucket policy; grants no one
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == "*", true
	}
	var kinds map[string]json.RawMessage
	if json.Unmarshal(raw, &kinds) != nil {
		return false, false
	}
	for _, v := range kinds {
		names, err := oneOrMany[string](v)
		if err != nil {
			return false, false
		}
		for _, n := range names {
			if n == "*" {
				return true, true
			}
		}
	}
	return false, true
}

// oneOrMany reads a policy element written either as one value or as a list of them.
func oneOrMany[T any](raw json.RawMessage) ([]T, error) {
	var list []T
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, nil
	}
	var one T
	if err := json.Unmarshal(raw, &one); err != nil {
		return nil, err
	}
	return []T{one}, nil
}
