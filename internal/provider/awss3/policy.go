package awss3

import (
	"encoding/json"
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
