package awss3

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

// PolicyRequest is what an issued credential's inline policy grants.
type PolicyRequest struct {
	// Partition is the ARN partition: aws, aws-us-gov or aws-cn (see Partition).
	Partition string
	// Bucket is the only bucket the policy reaches.
	Bucket string
	// Access is ReadWrite or ReadOnly.
	Access provider.Access
	// KeyPrefix, when set, confines every grant to the objects under "<KeyPrefix>/".
	KeyPrefix string
	// KMSKeyARN, when set, is the SSE-KMS key of the bucket: the policy grants what Terraform's
	// backend needs on it (kms:Encrypt, kms:Decrypt, kms:GenerateDataKey; ReadOnly: kms:Decrypt).
	KMSKeyARN string
}

// PolicyName is the name of the one inline policy of every IAM user the operator creates.
const PolicyName = "tfstate-backend"

type statement struct {
	Sid       string                         `json:"Sid"`
	Effect    string                         `json:"Effect"`
	Action    []string                       `json:"Action"`
	Resource  []string                       `json:"Resource"`
	Condition map[string]map[string][]string `json:"Condition,omitempty"`
}

type policyDocument struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

// Policy is the inline policy of a credential, as Terraform's S3 backend documents it ("Permissions
// Required" and "Protecting Access to Workspace State" in the s3 backend docs):
//
//   - s3:ListBucket on the bucket; with a KeyPrefix only for listings under "<prefix>/" (the
//     s3:prefix condition), which is what `terraform workspace list` and Terraform's workspace
//     lookup ask for when workspace_key_prefix lies under the prefix;
//   - s3:GetObject on the state objects (the whole bucket, or "<prefix>/*");
//   - ReadWrite only: s3:PutObject on the same objects, and s3:DeleteObject on "*.tflock" there
//     (use_lockfile releases a lock by deleting it; state objects are never deleted);
//   - the KMS actions Terraform needs on the bucket's key, when one is set.
//
// Beyond Terraform's list, the operator's credential probe (internal/probe) needs the reserved
// probe area: listing ".tfstate-operator/", and for ReadWrite put, get and delete of
// ".tfstate-operator/probe/*" (a probe object, deleted at once). Nothing else under the reserved
// prefix is reachable. The document is deterministic: the same request gives the same bytes.
func Policy(req PolicyRequest) []byte {
	partition := req.Partition
	if partition == "" {
		partition = "aws"
	}
	bucketARN := "arn:" + partition + ":s3:::" + req.Bucket
	objects := bucketARN + "/*"
	if req.KeyPrefix != "" {
		objects = bucketARN + "/" + req.KeyPrefix + "/*"
	}
	probeObjects := bucketARN + "/" + provider.ReservedPrefix + "probe/*"
	readWrite := req.Access == provider.ReadWrite

	list := statement{Sid: "ListState", Effect: "Allow", Action: []string{"s3:ListBucket"}, Resource: []string{bucketARN}}
	if req.KeyPrefix != "" {
		list.Condition = map[string]map[string][]string{
			"StringLike": {"s3:prefix": {req.KeyPrefix + "/*", provider.ReservedPrefix + "*"}},
		}
	}
	stmts := []statement{list}
	if readWrite {
		stmts = append(stmts,
			statement{Sid: "ReadWriteState", Effect: "Allow", Action: []string{"s3:GetObject", "s3:PutObject"}, Resource: []string{objects}},
			statement{Sid: "ReleaseLocks", Effect: "Allow", Action: []string{"s3:DeleteObject"}, Resource: []string{strings.TrimSuffix(objects, "*") + "*.tflock"}},
			statement{Sid: "OperatorProbe", Effect: "Allow", Action: []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, Resource: []string{probeObjects}},
		)
	} else {
		stmts = append(stmts, statement{Sid: "ReadState", Effect: "Allow", Action: []string{"s3:GetObject"}, Resource: []string{objects}})
	}
	if req.KMSKeyARN != "" {
		actions := []string{"kms:Decrypt"}
		if readWrite {
			actions = []string{"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"}
		}
		stmts = append(stmts, statement{Sid: "StateKey", Effect: "Allow", Action: actions, Resource: []string{req.KMSKeyARN}})
	}
	out, err := json.Marshal(policyDocument{Version: "2012-10-17", Statement: stmts})
	if err != nil {
		panic(err) // plain strings and slices always marshal
	}
	return out
}

// Partition is the ARN partition of an AWS region.
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-iso-"):
		return "aws-iso"
	case strings.HasPrefix(region, "us-isob-"):
		return "aws-iso-b"
	default:
		return "aws"
	}
}

// iamSigningRegion is the region IAM (a global service) signs and resolves in, per partition.
func iamSigningRegion(region string) string {
	switch Partition(region) {
	case "aws-us-gov":
		return "us-gov-west-1"
	case "aws-cn":
		return "cn-north-1"
	case "aws-iso":
		return "us-iso-east-1"
	case "aws-iso-b":
		return "us-isob-east-1"
	default:
		return "us-east-1"
	}
}

// EquivalentPolicies reports whether two identity policy documents grant the same thing as far as
// their text can tell: the same Version and the same set of statements, where a statement is its
// Effect, Action or NotAction (names ignoring case, as IAM reads them), Resource or NotResource,
// and Condition (operator, key ignoring case, values), each list compared as a set whatever its
// order and whether it was written "x" or ["x"]. A Sid and the policy's Id name things and grant
// nothing, so they are not compared. Statements split or merged differently are not recognised
// as equivalent, nor is a document that is not a policy: the caller then writes its own again,
// which costs one PutUserPolicy.
func EquivalentPolicies(a, b []byte) bool {
	ca, errA := canonicalPolicy(a)
	cb, errB := canonicalPolicy(b)
	return errA == nil && errB == nil && ca == cb
}

// canonicalPolicy is a policy document as one comparable string (see EquivalentPolicies).
func canonicalPolicy(doc []byte) (string, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		return "", err
	}
	version := "2008-10-17" // IAM's reading of a policy without Version
	var stmts []json.RawMessage
	for k, v := range top {
		switch k {
		case "Version":
			if err := json.Unmarshal(v, &version); err != nil {
				return "", err
			}
		case "Id":
		case "Statement":
			one, err := oneOrMany[json.RawMessage](v)
			if err != nil {
				return "", err
			}
			stmts = one
		default:
			return "", fmt.Errorf("unknown policy element %q", k)
		}
	}
	var canon []string
	for _, raw := range stmts {
		s, err := canonicalStatement(raw)
		if err != nil {
			return "", err
		}
		canon = append(canon, s)
	}
	slices.Sort(canon)
	canon = slices.Compact(canon)
	out, err := json.Marshal(struct {
		Version   string
		Statement []string
	}{version, canon})
	return string(out), err
}

// canonicalStatement is one statement as a comparable string: every list sorted and without
// duplicates, action names and condition keys in lower case.
func canonicalStatement(raw json.RawMessage) (string, error) {
	var st map[string]json.RawMessage
	if err := json.Unmarshal(raw, &st); err != nil {
		return "", err
	}
	canon := map[string]any{}
	for k, v := range st {
		switch k {
		case "Sid":
		case "Effect":
			var effect string
			if err := json.Unmarshal(v, &effect); err != nil {
				return "", err
			}
			canon[k] = effect
		case "Action", "NotAction", "Resource", "NotResource":
			list, err := oneOrMany[string](v)
			if err != nil {
				return "", err
			}
			if k == "Action" || k == "NotAction" {
				for i := range list {
					list[i] = strings.ToLower(list[i])
				}
			}
			canon[k] = set(list)
		case "Condition":
			var ops map[string]map[string]json.RawMessage
			if err := json.Unmarshal(v, &ops); err != nil {
				return "", err
			}
			cond := map[string]map[string][]string{}
			for op, keys := range ops {
				cond[op] = map[string][]string{}
				for key, values := range keys {
					list, err := oneOrMany[any](values)
					if err != nil {
						return "", err
					}
					// Values keep their JSON type: "true" and true stay apart (a rewrite at worst).
					texts := make([]string, len(list))
					for i, value := range list {
						b, err := json.Marshal(value)
						if err != nil {
							return "", err
						}
						texts[i] = string(b)
					}
					lower := strings.ToLower(key)
					cond[op][lower] = set(append(cond[op][lower], texts...))
				}
			}
			canon[k] = cond
		default:
			// Principal and the like have no place in an identity policy: never equivalent.
			return "", fmt.Errorf("unexpected statement element %q", k)
		}
	}
	out, err := json.Marshal(canon) // map keys marshal sorted
	return string(out), err
}

// oneOrMany reads a JSON value that policies write either alone or in a list.
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

// set is list sorted without duplicates.
func set(list []string) []string {
	out := slices.Clone(list)
	slices.Sort(out)
	return slices.Compact(out)
}
