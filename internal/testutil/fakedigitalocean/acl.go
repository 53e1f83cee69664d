package fakedigitalocean

// This file owns the fake's bucket ACLs. Spaces takes the canned "private" (the default) and
// "public-read" (the control panel's "File Listing: Enabled") on GET and PUT /{bucket}?acl (Spaces
// API reference); MinIO has no ACLs (it answers GetBucketAcl with a fixed owner grant and refuses
// any PutBucketAcl but "private" with 501), so the front keeps them.

import (
	"bytes"
	"encoding/xml"
	"net/http"
)

// Canned bucket ACLs Spaces takes (x-amz-acl): "private" (file listing restricted, the default)
// and "public-read" (file listing enabled).
const (
	ACLPrivate    = "private"
	ACLPublicRead = "public-read"
)

// allUsers is the grantee URI of a public grant in an S3 ACL.
const allUsers = "http://acs.amazonaws.com/groups/global/AllUsers"

// BucketACL returns the canned ACL of a bucket made through S3Endpoint ("" if the front has not
// seen it made).
func (s *Server) BucketACL(bucket string) string {
	s.s3mu.Lock()
	defer s.s3mu.Unlock()
	return s.buckets[bucket]
}

// putBucketACL takes a canned ACL ("x-amz-acl") or an AccessControlPolicy body. MinIO answers
// first: it authenticates the caller, checks its right (MinIO asks for s3:PutBucketPolicy) and
// that the bucket exists, then accepts only "private" and answers 501 NotImplemented to anything
// else; either of those two answers means the request was allowed, and the front records the ACL.
func (s *Server) putBucketACL(w http.ResponseWriter, r *http.Request, bucket string) {
	acl, ok := cannedACL(r)
	if !ok {
		writeS3Error(w, http.StatusBadRequest, "InvalidArgument", "The ACL you provided is not supported", bucket)
		return
	}
	rec := &recorder{header: http.Header{}}
	s.proxy().ServeHTTP(rec, r)
	allowed := rec.status == http.StatusOK || (rec.status == http.StatusNotImplemented && rec.code == "NotImplemented")
	if !allowed {
		rec.replay(w)
		return
	}
	s.s3mu.Lock()
	s.buckets[bucket] = acl
	s.s3mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// cannedACL is the ACL a PutBucketAcl request sets: its x-amz-acl, or its AccessControlPolicy
// read as Spaces' two settings (a READ grant to AllUsers is public-read).
func cannedACL(r *http.Request) (string, bool) {
	if h := r.Header.Get("x-amz-acl"); h != "" {
		return h, h == ACLPrivate || h == ACLPublicRead
	}
	body, err := readBody(r)
	if err != nil {
		return "", false
	}
	var p accessControlPolicy
	if xml.Unmarshal(body, &p) != nil {
		return "", false
	}
	for _, g := range p.Grants {
		if g.Grantee.URI == allUsers && g.Permission == "READ" {
			return ACLPublicRead, true
		}
	}
	return ACLPrivate, true
}

// readBody reads r's body and puts it back for the proxy.
func readBody(r *http.Request) ([]byte, error) {
	var b bytes.Buffer
	if r.Body != nil {
		if _, err := b.ReadFrom(r.Body); err != nil {
			return nil, err
		}
	}
	r.Body = readCloser{bytes.NewReader(b.Bytes())}
	return b.Bytes(), nil
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// getBucketACL answers the bucket's ACL in the S3 shape (an owner FULL_CONTROL grant, and a READ
// grant to AllUsers when public-read), after MinIO allowed the request.
func (s *Server) getBucketACL(w http.ResponseWriter, r *http.Request, bucket string) {
	rec := &recorder{header: http.Header{}}
	s.proxy().ServeHTTP(rec, r)
	if rec.status != http.StatusOK {
		rec.replay(w)
		return
	}
	s.s3mu.Lock()
	acl := s.buckets[bucket]
	s.s3mu.Unlock()
	owner := owner{ID: "fake-spaces-owner", DisplayName: "fake-spaces-owner"}
	p := accessControlPolicy{Xmlns: "http://s3.amazonaws.com/doc/2006-03-01/", Owner: owner,
		Grants: []grant{{Grantee: grantee{XMLNSXSI: "http://www.w3.org/2001/XMLSchema-instance", Type: "CanonicalUser", ID: owner.ID}, Permission: "FULL_CONTROL"}}}
	if acl == ACLPublicRead {
		p.Grants = append(p.Grants, grant{Grantee: grantee{XMLNSXSI: "http://www.w3.org/2001/XMLSchema-instance", Type: "Group", URI: allUsers}, Permission: "READ"})
	}
	body, _ := xml.Marshal(p)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append([]byte(xml.Header), body...))
}

// accessControlPolicy is the S3 GetBucketAcl/PutBucketAcl document.
type accessControlPolicy struct {
	XMLName xml.Name `xml:"AccessControlPolicy"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Owner   owner    `xml:"Owner"`
	Grants  []grant  `xml:"AccessControlList>Grant"`
}

type owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName,omitempty"`
}

type grant struct {
	Grantee    grantee `xml:"Grantee"`
	Permission string  `xml:"Permission"`
}

type grantee struct {
	XMLNSXSI string `xml:"xmlns:xsi,attr,omitempty"`
	Type     string `xml:"xsi:type,attr,omitempty"`
	ID       string `xml:"ID,omitempty"`
	URI      string `xml:"URI,omitempty"`
}

// SetBucketACLInConsole sets a bucket's canned ACL the way the control panel's "File Listing"
// setting does, behind any client's back.
func (s *Server) SetBucketACLInConsole(bucket, acl string) {
	s.s3mu.Lock()
	defer s.s3mu.Unlock()
	s.buckets[bucket] = acl
}
