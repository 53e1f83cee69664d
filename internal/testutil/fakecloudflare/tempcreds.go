package fakecloudflare

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tfstate-operator/tfstate-operator/internal/testutil/minioidentity"
)

// TemporaryCredential is a temporary credential the fake issued, for assertions. It never
// carries the secret or the session token.
type TemporaryCredential struct {
	AccessKeyID string
	// Parent is the id of the token it derives from (parentAccessKeyId).
	Parent     string
	Bucket     string
	Permission string
	TTL        time.Duration
	Prefixes   []string
	IssuedAt   time.Time
}

// TemporaryCredentials returns the temporary credentials issued so far, oldest first.
func (s *Server) TemporaryCredentials() []TemporaryCredential {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.temps)
}

type tempCredBody struct {
	Bucket            *string  `json:"bucket"`
	ParentAccessKeyID *string  `json:"parentAccessKeyId"`
	Permission        *string  `json:"permission"`
	TTLSeconds        *float64 `json:"ttlSeconds"`
	Prefixes          []string `json:"prefixes"`
	Objects           []string `json:"objects"`
}

// maxTempTTL is the documented maximum ttlSeconds (7 days).
const maxTempTTL = 604800

// minioMinSTSDuration is the shortest session MinIO's STS grants (900 s): shorter TTLs are
// granted that long on the data plane, a limit of the fake.
const minioMinSTSDuration = 900

// handleTempCredentials is POST accounts/{acct}/r2/temp-access-credentials. The credential is a
// real MinIO STS session of the parent token's identity with a session policy for the bucket and
// permission, so S3 requires its session token, refuses it beyond its parent's grant, and stops
// accepting it when the parent is deleted or expires (MinIO drops a user's sessions with it).
func (s *Server) handleTempCredentials(c *call) {
	var body tempCredBody
	if !c.decodeJSON(&body) {
		return
	}
	switch {
	case body.Bucket == nil || *body.Bucket == "", body.ParentAccessKeyID == nil || *body.ParentAccessKeyID == "",
		body.Permission == nil, body.TTLSeconds == nil:
		c.fail(http.StatusBadRequest, codeInvalidArgument, "bucket, parentAccessKeyId, permission and ttlSeconds are required")
		return
	case *body.TTLSeconds <= 0 || *body.TTLSeconds > maxTempTTL || *body.TTLSeconds != math.Trunc(*body.TTLSeconds):
		c.fail(http.StatusBadRequest, codeInvalidArgument, fmt.Sprintf("ttlSeconds must be a whole number from 1 to %d", maxTempTTL))
		return
	}
	write, admin := false, false
	switch *body.Permission {
	case "object-read-write":
		write = true
	case "object-read-only":
	case "admin-read-write":
		write, admin = true, true
	case "admin-read-only":
		admin = true
	default:
		c.fail(http.StatusBadRequest, codeInvalidArgument, "permission must be admin-read-write, admin-read-only, object-read-write or object-read-only")
		return
	}
	name := *body.Bucket
	s.mu.Lock()
	b := s.buckets[name]
	parent := s.tokens[*body.ParentAccessKeyID]
	var allowed, usable bool
	var parentSecret string
	if parent != nil {
		allowed = parent.allowsBucket(s.account, name, c.jurisdiction, write, admin)
		usable = parent.Status == "active" && parent.S3Identity
		parentSecret = parent.secretKey
	}
	s.mu.Unlock()
	switch {
	case b == nil || b.Jurisdiction != c.jurisdiction:
		c.fail(http.StatusNotFound, codeNoSuchBucket, "The specified bucket does not exist.")
		return
	case parent == nil || !usable:
		// [inference] the code and message: the parent key is unknown, expired or not yet usable.
		c.fail(http.StatusBadRequest, codeInvalidArgument, "parentAccessKeyId is not a valid access key of this account")
		return
	case !allowed:
		// Documented: a temporary credential cannot exceed its parent's permissions. [inference] 403/10000.
		c.fail(http.StatusForbidden, codeAuthError, "The parent access key does not hold that permission on this bucket")
		return
	}

	ttl := int(*body.TTLSeconds)
	policy, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": sessionStatements(name, write, admin, body.Prefixes, body.Objects)})
	if err != nil {
		c.fail(http.StatusInternalServerError, codeInternal, err.Error())
		return
	}
	sts, err := credentials.NewSTSAssumeRole(s.cfg.MinIO.Endpoint, credentials.STSAssumeRoleOptions{
		AccessKey:       parent.ID,
		SecretKey:       parentSecret,
		Policy:          string(policy),
		Location:        "us-east-1",
		DurationSeconds: max(ttl, minioMinSTSDuration),
	})
	if err != nil {
		c.fail(http.StatusInternalServerError, codeInternal, err.Error())
		return
	}
	v, err := sts.GetWithContext(nil)
	if err != nil {
		c.fail(http.StatusInternalServerError, codeInternal, "minting the S3 session failed: "+err.Error())
		return
	}
	s.mu.Lock()
	s.temps = append(s.temps, TemporaryCredential{AccessKeyID: v.AccessKeyID, Parent: parent.ID, Bucket: name,
		Permission: *body.Permission, TTL: time.Duration(ttl) * time.Second, Prefixes: slices.Clone(body.Prefixes), IssuedAt: s.cfg.Now()})
	s.mu.Unlock()
	c.reply(http.StatusOK, map[string]string{"accessKeyId": v.AccessKeyID, "secretAccessKey": v.SecretAccessKey, "sessionToken": v.SessionToken}, nil)
}

// sessionStatements is the MinIO session policy of a temporary credential on bucket.
func sessionStatements(bucket string, write, admin bool, prefixes, objects []string) []minioidentity.Statement {
	bucketARN := "arn:aws:s3:::" + bucket
	if admin {
		actions := []string{"s3:Get*", "s3:List*"}
		if write {
			actions = []string{"s3:*"}
		}
		return []minioidentity.Statement{{Effect: "Allow", Action: actions, Resource: []string{bucketARN, bucketARN + "/*"}}}
	}
	var objectARNs []string
	for _, p := range prefixes {
		objectARNs = append(objectARNs, bucketARN+"/"+p+"*")
	}
	for _, o := range objects {
		objectARNs = append(objectARNs, bucketARN+"/"+o)
	}
	if len(objectARNs) == 0 {
		objectARNs = []string{bucketARN + "/*"}
	}
	objectActions := []string{"s3:GetObject"}
	if write {
		objectActions = []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}
	}
	return []minioidentity.Statement{
		{Effect: "Allow", Action: []string{"s3:ListBucket", "s3:GetBucketLocation"}, Resource: []string{bucketARN}},
		{Effect: "Allow", Action: objectActions, Resource: objectARNs},
	}
}

// allowsBucket reports whether the token's policies let it read (or write) the objects of bucket
// in jurisdiction, or with admin the bucket itself: an allow that covers it and no deny that does.
func (t *token) allowsBucket(account, bucket, jurisdiction string, write, admin bool) bool {
	covers := func(p tokenPolicy) bool {
		for _, g := range p.groups {
			groupOK := false
			switch g.Name {
			case pgR2Write:
				groupOK = true
			case pgR2Read:
				groupOK = !write
			case pgItemWrite:
				groupOK = !admin
			case pgItemRead:
				groupOK = !admin && !write
			}
			if !groupOK {
				continue
			}
			for _, gr := range p.grants {
				switch {
				case gr.kind == "account" && (g.Name == pgR2Write || g.Name == pgR2Read):
					return true
				case gr.kind == "allBuckets" && (g.Name == pgItemWrite || g.Name == pgItemRead):
					return true
				case gr.kind == "bucket" && gr.bucket == bucket && gr.jurisdiction == jurisdiction:
					return true
				}
			}
		}
		return false
	}
	allowed := false
	for _, p := range t.policies {
		if !covers(p) {
			continue
		}
		if p.effect == "deny" {
			return false
		}
		allowed = true
	}
	return allowed
}
