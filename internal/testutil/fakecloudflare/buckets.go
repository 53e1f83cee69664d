package fakecloudflare

import (
	"context"
	"encoding/base64"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// bucket is an R2 bucket's REST metadata. The objects live in the MinIO bucket of the same name.
type bucket struct {
	Name         string `json:"name"`
	CreationDate string `json:"creation_date"`
	Location     string `json:"location"`
	Jurisdiction string `json:"jurisdiction"`
	StorageClass string `json:"storage_class"`

	// ID is the bucket id the r2.dev domain endpoints report (bucketId) [inference: 32 hex].
	ID string `json:"-"`
	// Public is true while the r2.dev domain is enabled: MinIO then lets anyone read objects.
	Public bool `json:"-"`
}

var bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)

// validBucketName applies R2's documented rule: 3-63 characters, lowercase letters, digits and
// hyphens, starting and ending with a letter or digit.
func validBucketName(name string) bool { return bucketNameRE.MatchString(name) }

func validJurisdiction(j string) bool { return j == "default" || j == "eu" || j == "fedramp" }

var locationHints = []string{"apac", "eeur", "enam", "weur", "wnam", "oc"}

const msgNoSuchBucket = "The specified bucket does not exist."

func (s *Server) handleCreateBucket(c *call) {
	var body struct {
		Name         string `json:"name"`
		LocationHint string `json:"locationHint"`
		StorageClass string `json:"storageClass"`
	}
	if !c.decodeJSON(&body) {
		return
	}
	if !validBucketName(body.Name) {
		c.fail(http.StatusBadRequest, codeInvalidBucket, "The specified bucket name is not valid.")
		return
	}
	if body.LocationHint != "" && !slices.Contains(locationHints, body.LocationHint) {
		c.fail(http.StatusBadRequest, codeInvalidArgument, "Invalid locationHint: expected one of "+strings.Join(locationHints, ", "))
		return
	}
	switch body.StorageClass {
	case "":
		body.StorageClass = "Standard"
	case "Standard", "InfrequentAccess":
	default:
		c.fail(http.StatusBadRequest, codeInvalidArgument, "Invalid storageClass: expected Standard or InfrequentAccess")
		return
	}
	// [inference] location: the hint, else enam; EU buckets report weur.
	location := body.LocationHint
	if location == "" {
		location = "enam"
	}
	if c.jurisdiction == "eu" {
		location = "weur"
	}
	b := &bucket{
		Name:         body.Name,
		CreationDate: time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		Location:     location,
		Jurisdiction: c.jurisdiction,
		StorageClass: body.StorageClass,
		ID:           randomHex(16),
	}

	s.bucketMu.Lock()
	defer s.bucketMu.Unlock()
	s.mu.Lock()
	_, exists := s.buckets[b.Name]
	held := len(s.buckets)
	s.mu.Unlock()
	// MinIO has one namespace: a name taken in any jurisdiction is refused (a limit of the fake).
	if exists {
		c.fail(http.StatusConflict, codeBucketConflict, "The bucket you tried to create already exists, and you own it.")
		return
	}
	if held >= s.cfg.BucketLimit {
		// The code and status are R2's (error codes page); the message is its "Details" column.
		c.fail(http.StatusBadRequest, codeTooManyBuckets, "Account bucket limit exceeded.")
		return
	}
	ctx, cancel := context.WithTimeout(c.r.Context(), 30*time.Second)
	defer cancel()
	if err := s.s3.MakeBucket(ctx, b.Name, minio.MakeBucketOptions{}); err != nil {
		switch minio.ToErrorResponse(err).Code {
		case "BucketAlreadyOwnedByYou", "BucketAlreadyExists":
			c.fail(http.StatusConflict, codeBucketConflict, "The bucket you tried to create already exists, and you own it.")
		default:
			c.fail(http.StatusInternalServerError, codeInternal, "creating the MinIO bucket failed: "+err.Error())
		}
		return
	}
	s.mu.Lock()
	s.buckets[b.Name] = b
	out := *b
	s.mu.Unlock()
	c.reply(http.StatusOK, out, nil)
}

// lookupBucket finds the path's bucket in the request's jurisdiction, answering the error itself.
func (s *Server) lookupBucket(c *call) (bucket, bool) {
	name := c.params["name"]
	if !validBucketName(name) {
		c.fail(http.StatusBadRequest, codeInvalidBucket, "The specified bucket name is not valid.")
		return bucket{}, false
	}
	s.mu.Lock()
	b := s.buckets[name]
	s.mu.Unlock()
	if b == nil || b.Jurisdiction != c.jurisdiction {
		c.fail(http.StatusNotFound, codeNoSuchBucket, msgNoSuchBucket)
		return bucket{}, false
	}
	return *b, true
}

func (s *Server) handleGetBucket(c *call) {
	if b, ok := s.lookupBucket(c); ok {
		c.reply(http.StatusOK, b, nil)
	}
}

func (s *Server) handleDeleteBucket(c *call) {
	s.bucketMu.Lock()
	defer s.bucketMu.Unlock()
	b, ok := s.lookupBucket(c)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(c.r.Context(), 30*time.Second)
	defer cancel()
	if err := s.s3.RemoveBucket(ctx, b.Name); err != nil {
		switch minio.ToErrorResponse(err).Code {
		case "BucketNotEmpty":
			c.fail(http.StatusConflict, codeBucketNotEmpty, "The bucket you tried to delete is not empty.")
			return
		case "NoSuchBucket": // removed behind the fake's back: gone all the same
		default:
			c.fail(http.StatusInternalServerError, codeInternal, "deleting the MinIO bucket failed: "+err.Error())
			return
		}
	}
	s.mu.Lock()
	delete(s.buckets, b.Name)
	s.mu.Unlock()
	c.reply(http.StatusOK, map[string]any{}, nil)
}

// handleListBuckets lists the jurisdiction's buckets with cursor pagination. The cursor is the
// base64url of the last name returned [inference: Cloudflare's cursor is opaque].
func (s *Server) handleListBuckets(c *call) {
	q := c.r.URL.Query()
	perPage := 20 // [inference] default; documented range 1..1000
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			c.fail(http.StatusBadRequest, codeInvalidArgument, "per_page must be an integer from 1 to 1000")
			return
		}
		perPage = n
	}
	desc := false
	switch q.Get("direction") {
	case "", "asc":
	case "desc":
		desc = true
	default:
		c.fail(http.StatusBadRequest, codeInvalidArgument, "direction must be asc or desc")
		return
	}
	if o := q.Get("order"); o != "" && o != "name" {
		c.fail(http.StatusBadRequest, codeInvalidArgument, "order must be name")
		return
	}
	after := q.Get("start_after")
	if cur := q.Get("cursor"); cur != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cur)
		if err != nil || len(raw) == 0 {
			c.fail(http.StatusBadRequest, codeInvalidArgument, "Invalid cursor")
			return
		}
		after = string(raw)
	}
	contains := q.Get("name_contains")

	s.mu.Lock()
	var all []bucket
	for _, b := range s.buckets {
		if b.Jurisdiction == c.jurisdiction && strings.Contains(b.Name, contains) {
			all = append(all, *b)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(all, func(a, b bucket) int { return strings.Compare(a.Name, b.Name) })
	if desc {
		slices.Reverse(all)
	}
	page := []bucket{}
	more := false
	for _, b := range all {
		if after != "" && ((!desc && b.Name <= after) || (desc && b.Name >= after)) {
			continue
		}
		if len(page) == perPage {
			more = true
			break
		}
		page = append(page, b)
	}
	cursor := ""
	if more {
		cursor = base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1].Name))
	}
	c.reply(http.StatusOK, map[string]any{"buckets": page}, map[string]any{"cursor": cursor, "per_page": perPage})
}
