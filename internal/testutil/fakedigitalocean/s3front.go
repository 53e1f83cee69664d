package fakedigitalocean

// This file owns the fake's S3 endpoint: a front over MinIO that adds what Spaces has and MinIO
// has not (the account's bucket limit, bucket ACLs) and passes every other request through
// untouched. MinIO still authenticates and authorises every request: the front keeps the Host
// header, so the caller's SigV4 signature stays valid, and it decides only after MinIO answered.

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// bucketOf is the bucket a path-style request names when it names a bucket and nothing below it.
func bucketOf(path string) (string, bool) {
	b := strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/")
	return b, b != "" && !strings.Contains(b, "/")
}

func (s *Server) serveS3(w http.ResponseWriter, r *http.Request) {
	bucket, isBucket := bucketOf(r.URL.Path)
	q := r.URL.Query()
	_, acl := q["acl"]
	switch {
	case isBucket && len(q) == 0 && r.Method == http.MethodPut:
		s.createBucket(w, r, bucket)
	case isBucket && len(q) == 0 && r.Method == http.MethodDelete:
		if rec := s.forward(w, r); rec.status == http.StatusNoContent {
			s.s3mu.Lock()
			delete(s.buckets, bucket)
			s.s3mu.Unlock()
		}
	case isBucket && acl && r.Method == http.MethodGet:
		s.getBucketACL(w, r, bucket)
	case isBucket && acl && r.Method == http.MethodPut:
		s.putBucketACL(w, r, bucket)
	default:
		s.proxy().ServeHTTP(w, r)
	}
}

// createBucket refuses a bucket beyond Config.BucketLimit with the S3 code for it, 400
// TooManyBuckets (AWS's S3 error-code list; [inference] that Spaces, an S3 API, answers the same:
// DigitalOcean does not document the reply at its 100-bucket limit). A bucket made with
// "x-amz-acl: public-read" starts public, as on Spaces.
func (s *Server) createBucket(w http.ResponseWriter, r *http.Request, bucket string) {
	// Held across MinIO's answer, so two creates cannot both take the last place.
	s.s3mu.Lock()
	defer s.s3mu.Unlock()
	if _, ok := s.buckets[bucket]; !ok && len(s.buckets) >= s.cfg.BucketLimit {
		writeS3Error(w, http.StatusBadRequest, "TooManyBuckets", "You have attempted to create more buckets than allowed", bucket)
		return
	}
	if rec := s.forward(w, r); rec.status == http.StatusOK {
		acl := ACLPrivate
		if r.Header.Get("x-amz-acl") == ACLPublicRead {
			acl = ACLPublicRead
		}
		if _, ok := s.buckets[bucket]; !ok {
			s.buckets[bucket] = acl
		}
	}
}

func writeS3Error(w http.ResponseWriter, status int, code, message, bucket string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "%s<Error><Code>%s</Code><Message>%s</Message><BucketName>%s</BucketName><RequestId>%s</RequestId></Error>",
		xml.Header, code, message, bucket, randomHex(8))
}

func (s *Server) proxy() *httputil.ReverseProxy {
	target, _ := url.Parse(s.cfg.MinIO.Endpoint)
	return &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host // the signature covers Host
	}}
}

// forward proxies r to MinIO, writing MinIO's answer to w, and returns what it answered.
func (s *Server) forward(w http.ResponseWriter, r *http.Request) *recorder {
	rec := &recorder{header: http.Header{}}
	s.proxy().ServeHTTP(rec, r)
	rec.replay(w)
	return rec
}

// recorder holds a proxied answer so the front can decide before the caller sees it.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	code   string
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.body.Write(b)
	if r.status >= 300 {
		var e struct{ Code string }
		if xml.Unmarshal(r.body.Bytes(), &e) == nil {
			r.code = e.Code
		}
	}
	return n, err
}

func (r *recorder) replay(w http.ResponseWriter) {
	for k, v := range r.header {
		w.Header()[k] = v
	}
	if r.status == 0 {
		r.status = http.StatusOK
	}
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body.Bytes())
}
