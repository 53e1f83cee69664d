package fakecloudflare

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/minio/minio-go/v7"
)

// managedDomain is the result of GET and PUT accounts/{acct}/r2/buckets/{name}/domains/managed.
type managedDomain struct {
	BucketID string `json:"bucketId"`
	Domain   string `json:"domain"`
	Enabled  bool   `json:"enabled"`
}

// managedDomainOf is the bucket's r2.dev domain. [inference] "pub-<bucketId>.r2.dev": the API
// reference's example answer shows that shape (bucketId 0113a9e4…, domain pub-0113a9e4….r2.dev).
func managedDomainOf(b bucket) managedDomain {
	return managedDomain{BucketID: b.ID, Domain: "pub-" + b.ID + ".r2.dev", Enabled: b.Public}
}

// publicReadPolicy is the MinIO bucket policy that stands for an enabled r2.dev domain: anyone
// may GET any object by key (r2.dev serves objects, not listings).
func publicReadPolicy(bucket string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%s/*"]}]}`, bucket)
}

func (s *Server) handleGetManagedDomain(c *call) {
	if b, ok := s.lookupBucket(c); ok {
		c.reply(http.StatusOK, managedDomainOf(b), nil)
	}
}

// handleUpdateManagedDomain turns the bucket's r2.dev domain on or off. The data-plane effect
// happens before the answer: an anonymous read-only bucket policy on MinIO while enabled, none
// once disabled.
func (s *Server) handleUpdateManagedDomain(c *call) {
	var body map[string]json.RawMessage
	if !c.decodeJSON(&body) {
		return
	}
	var enabled bool
	raw, ok := body["enabled"]
	if !ok || string(raw) == "null" || json.Unmarshal(raw, &enabled) != nil {
		// [inference] 400 10040 like the other R2 argument errors.
		c.fail(http.StatusBadRequest, codeInvalidArgument, "enabled is required and must be a boolean")
		return
	}

	s.bucketMu.Lock() // no delete of the bucket in between
	defer s.bucketMu.Unlock()
	b, ok := s.lookupBucket(c)
	if !ok {
		return
	}
	policy := ""
	if enabled {
		policy = publicReadPolicy(b.Name)
	}
	ctx, cancel := context.WithTimeout(c.r.Context(), 30*time.Second)
	defer cancel()
	if err := s.s3.SetBucketPolicy(ctx, b.Name, policy); err != nil {
		switch minio.ToErrorResponse(err).Code {
		case "NoSuchBucketPolicy": // already none: disabled all the same
		case "NoSuchBucket": // removed behind the fake's back
			c.fail(http.StatusNotFound, codeNoSuchBucket, msgNoSuchBucket)
			return
		default:
			c.fail(http.StatusInternalServerError, codeInternal, "setting the MinIO bucket policy failed: "+err.Error())
			return
		}
	}
	s.mu.Lock()
	if cur := s.buckets[b.Name]; cur != nil {
		cur.Public = enabled
		b = *cur
	}
	s.mu.Unlock()
	c.reply(http.StatusOK, managedDomainOf(b), nil)
}

// ManagedDomain reports a bucket's r2.dev domain and whether it is enabled; ok is false when the
// fake has no such bucket.
func (s *Server) ManagedDomain(bucket string) (domain string, enabled, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucket]
	if b == nil {
		return "", false, false
	}
	d := managedDomainOf(*b)
	return d.Domain, d.Enabled, true
}
