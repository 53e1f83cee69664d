package fakeaws

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// S3 operations the front inspects, with the IAM action AWS checks for each.
var s3OpAction = map[string]string{
	"PutPublicAccessBlock":          "s3:PutBucketPublicAccessBlock",
	"GetPublicAccessBlock":          "s3:GetBucketPublicAccessBlock",
	"DeletePublicAccessBlock":       "s3:PutBucketPublicAccessBlock",
	"PutBucketOwnershipControls":    "s3:PutBucketOwnershipControls",
	"GetBucketOwnershipControls":    "s3:GetBucketOwnershipControls",
	"DeleteBucketOwnershipControls": "s3:PutBucketOwnershipControls",
	"PutBucketEncryption":           "s3:PutEncryptionConfiguration",
	"GetBucketEncryption":           "s3:GetEncryptionConfiguration",
	"DeleteBucketEncryption":        "s3:PutEncryptionConfiguration",
	"PutBucketPolicy":               "s3:PutBucketPolicy",
	"GetBucketPolicy":               "s3:GetBucketPolicy",
	"DeleteBucketPolicy":            "s3:DeleteBucketPolicy",
}

const s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

// s3call is one S3 request the front inspects.
type s3call struct {
	w      http.ResponseWriter
	r      *http.Request
	op     string
	bucket string
	reqID  string
	caller string
	status int
	code   string
}

func (c *s3call) fail(status int, code, message string) {
	c.status, c.code = status, code
	body := struct {
		XMLName    xml.Name `xml:"Error"`
		Code       string
		Message    string
		BucketName string `xml:",omitempty"`
		RequestID  string `xml:"RequestId"`
		HostID     string `xml:"HostId"`
	}{Code: code, Message: message, BucketName: c.bucket, RequestID: c.reqID, HostID: c.reqID}
	out, _ := xml.Marshal(body)
	c.write(status, []byte(xml.Header+string(out)))
}

func (c *s3call) write(status int, body []byte) { c.writeContent(status, "application/xml", body) }

// writeContent answers status with body of contentType (no Content-Type without a body).
func (c *s3call) writeContent(status int, contentType string, body []byte) {
	c.status = status
	c.w.Header().Set("x-amz-request-id", c.reqID)
	c.w.Header().Set("x-amz-id-2", c.reqID)
	if len(body) > 0 {
		c.w.Header().Set("Content-Type", contentType)
	}
	c.w.WriteHeader(status)
	_, _ = c.w.Write(body)
}

// replyXML answers 200 with v in S3's namespace.
func (c *s3call) replyXML(v any) {
	out, err := xml.Marshal(v)
	if err != nil {
		c.fail(http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	c.write(http.StatusOK, []byte(xml.Header+string(out)))
}

func (s *Server) serveS3(w http.ResponseWriter, r *http.Request) {
	s.noteS3Use(r)
	bucket, isBucket := bucketPath(r.URL.Path)
	q := r.URL.Query()
	c := &s3call{w: w, r: r, bucket: bucket, reqID: strings.ToUpper(randomHex(8))}
	has := func(k string) bool { _, ok := q[k]; return ok }
	byMethod := func(put, get, del string) string {
		return map[string]string{http.MethodPut: put, http.MethodGet: get, http.MethodDelete: del}[r.Method]
	}
	var handle func(*s3call)
	switch {
	case !isBucket:
	case has("publicAccessBlock"):
		c.op, handle = byMethod("PutPublicAccessBlock", "GetPublicAccessBlock", "DeletePublicAccessBlock"), s.publicAccessBlock
	case has("ownershipControls"):
		c.op, handle = byMethod("PutBucketOwnershipControls", "GetBucketOwnershipControls", "DeleteBucketOwnershipControls"), s.ownershipControls
	case has("encryption"):
		c.op, handle = byMethod("PutBucketEncryption", "GetBucketEncryption", "DeleteBucketEncryption"), s.encryption
	case has("policy"):
		c.op, handle = byMethod("PutBucketPolicy", "GetBucketPolicy", "DeleteBucketPolicy"), s.bucketPolicy
	case len(q) == 0 && r.Method == http.MethodPut:
		c.op, handle = "CreateBucket", s.createBucket
	case len(q) == 0 && r.Method == http.MethodDelete:
		c.op, handle = "DeleteBucket", s.deleteBucket
	}
	defer func() {
		if c.op != "" { // set by the switch or, for a foreign bucket, by foreignBucket
			s.recordS3(c, q)
		}
	}()
	// Every bucket lives in Config.Region: AWS refuses a request signed for another region.
	// (MinIO takes any region, so the front checks it for every bucket request.)
	// (ListBuckets, on "/", is global.)
	if region := scopeRegion(r); r.URL.Path != "/" && region != "" && region != s.cfg.Region {
		c.fail(http.StatusBadRequest, "AuthorizationHeaderMalformed",
			"The authorization header is malformed; the region '"+region+"' is wrong; expecting '"+s.cfg.Region+"'")
		return
	}
	if region, ok := s.foreignRegion(bucket); ok && isBucket {
		s.foreignBucket(c, region)
		return
	}
	if c.op == "" {
		s.proxy().ServeHTTP(w, r)
		return
	}
	handle(c)
}

// scopeRegion is the region of the request's SigV4 credential scope ("" if unsigned).
func scopeRegion(r *http.Request) string {
	if sig, _, ok := parseSigV4(r); ok {
		return sig.region
	}
	if cred := strings.Split(r.URL.Query().Get("X-Amz-Credential"), "/"); len(cred) == 5 {
		return cred[2]
	}
	return ""
}

func (s *Server) deleteBucket(c *s3call) {
	if s.forward(c) == http.StatusNoContent {
		s.mu.Lock()
		delete(s.buckets, c.bucket)
		s.mu.Unlock()
	}
}

// bucketPath returns the bucket of a path-style bucket URL ("/b" or "/b/").
func bucketPath(p string) (string, bool) {
	b := strings.TrimSuffix(strings.TrimPrefix(p, "/"), "/")
	return b, b != "" && !strings.Contains(b, "/")
}

func (s *Server) recordS3(c *s3call, q url.Values) {
	params := url.Values{}
	for k, v := range q {
		params[k] = v
	}
	params.Set("Bucket", c.bucket)
	if o := c.r.Header.Get("x-amz-object-ownership"); o != "" {
		params.Set("x-amz-object-ownership", o)
	}
	if c.caller == "" {
		// Forwarded calls: the key's owner as claimed (MinIO verified the signature).
		if sig, _, ok := parseSigV4(c.r); ok {
			s.mu.Lock()
			if cl, _ := s.lookupKey(sig.keyID); cl != nil {
				c.caller = cl.name
			}
			s.mu.Unlock()
		}
	}
	s.record(Request{Service: "s3", Action: c.op, Params: params, Caller: c.caller, Status: c.status, Code: c.code})
}

// noteS3Use records the last use of an issued key on S3 (GetAccessKeyLastUsed), from the
// Authorization header or a presigned URL's X-Amz-Credential. [inference] Any request counts,
// whatever MinIO answers.
func (s *Server) noteS3Use(r *http.Request) {
	var keyID, region string
	if sig, _, ok := parseSigV4(r); ok {
		keyID, region = sig.keyID, sig.region
	} else if cred := strings.Split(r.URL.Query().Get("X-Amz-Credential"), "/"); len(cred) == 5 {
		keyID, region = cred[0], cred[2]
	}
	if keyID == "" {
		return
	}
	s.mu.Lock()
	cl, _ := s.lookupKey(keyID)
	s.mu.Unlock()
	if cl != nil {
		s.noteUse(cl, "s3", region)
	}
}

// proxy forwards to MinIO, keeping the client's Host header: it is part of the SigV4 signature
// MinIO verifies.
func (s *Server) proxy() *httputil.ReverseProxy {
	target, _ := url.Parse(s.cfg.MinIO.Endpoint)
	return &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host
	}}
}

// forward proxies c to MinIO and returns MinIO's status, noting the error code of a failure.
func (s *Server) forward(c *s3call) int {
	rec := &recorder{ResponseWriter: c.w}
	s.proxy().ServeHTTP(rec, c.r)
	c.status = rec.status
	if c.status >= 300 {
		var e struct{ Code string }
		if xml.Unmarshal(rec.body.Bytes(), &e) == nil {
			c.code = e.Code
		}
	}
	return c.status
}

// recorder captures the status, and the start of an error body, of a proxied answer.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.status >= 300 && r.body.Len() < 4096 {
		r.body.Write(b)
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// readBody reads (at most 1 MiB of) the body and puts it back for forwarding.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(b))
	return b, err
}

// admit authenticates an operation the front answers itself: only a principal allowed the
// operation's action may call it, and the bucket must exist. ok is false when it answered.
func (s *Server) admit(c *s3call, body []byte) bool {
	hash := sha256Hex(body)
	if claimed := c.r.Header.Get("X-Amz-Content-Sha256"); claimed != "" && claimed != hash {
		if claimed != "UNSIGNED-PAYLOAD" && !strings.HasPrefix(claimed, "STREAMING-") {
			c.fail(http.StatusBadRequest, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
			return false
		}
		hash = claimed // chunk signatures of STREAMING- payloads are not checked
	}
	cl, aerr := s.authenticate(c.r, hash, "s3")
	if aerr != nil {
		switch aerr.code {
		case CodeMissingAuthToken:
			c.fail(http.StatusForbidden, "AccessDenied", "Access Denied")
		case CodeInvalidClientTokenID:
			c.fail(http.StatusForbidden, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
		case CodeSignatureDoesNotMatch:
			c.fail(http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
		default:
			c.fail(http.StatusBadRequest, "AuthorizationHeaderMalformed", aerr.message)
		}
		return false
	}
	c.caller = cl.name
	if cl.principal == nil || !cl.principal.allowed(s3OpAction[c.op]) {
		c.fail(http.StatusForbidden, "AccessDenied", "Access Denied")
		return false
	}
	ctx, cancel := context.WithTimeout(c.r.Context(), 10*time.Second)
	defer cancel()
	exists, err := s.root.BucketExists(ctx, c.bucket)
	if err != nil {
		c.fail(http.StatusInternalServerError, "InternalError", "fakeaws: checking the bucket in MinIO: "+err.Error())
		return false
	}
	if !exists {
		c.fail(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
		return false
	}
	return true
}

// settings returns the record of bucket, making it. s.mu must be held.
func (s *Server) settings(bucket string) *BucketSettings {
	b := s.buckets[bucket]
	if b == nil {
		b = &BucketSettings{}
		s.buckets[bucket] = b
	}
	return b
}

func malformedXML(c *s3call) {
	c.fail(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")
}

type pabXML struct {
	XMLName               xml.Name `xml:"PublicAccessBlockConfiguration"`
	XMLNS                 string   `xml:"xmlns,attr,omitempty"`
	BlockPublicAcls       bool
	IgnorePublicAcls      bool
	BlockPublicPolicy     bool
	RestrictPublicBuckets bool
}

func (s *Server) publicAccessBlock(c *s3call) {
	body, err := readBody(c.r)
	if err != nil || !s.admit(c, body) {
		if err != nil {
			malformedXML(c)
		}
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch c.r.Method {
	case http.MethodPut:
		var in pabXML
		if xml.Unmarshal(body, &in) != nil {
			malformedXML(c)
			return
		}
		s.settings(c.bucket).PublicAccessBlock = &PublicAccessBlock{in.BlockPublicAcls, in.IgnorePublicAcls, in.BlockPublicPolicy, in.RestrictPublicBuckets}
		c.write(http.StatusOK, nil)
	case http.MethodGet:
		b := s.buckets[c.bucket]
		if b == nil || b.PublicAccessBlock == nil {
			c.fail(http.StatusNotFound, "NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found")
			return
		}
		p := b.PublicAccessBlock
		c.replyXML(pabXML{XMLNS: s3Namespace, BlockPublicAcls: p.BlockPublicAcls, IgnorePublicAcls: p.IgnorePublicAcls,
			BlockPublicPolicy: p.BlockPublicPolicy, RestrictPublicBuckets: p.RestrictPublicBuckets})
	case http.MethodDelete:
		if b := s.buckets[c.bucket]; b != nil {
			b.PublicAccessBlock = nil
		}
		c.write(http.StatusNoContent, nil)
	}
}

type ownershipXML struct {
	XMLName xml.Name `xml:"OwnershipControls"`
	XMLNS   string   `xml:"xmlns,attr,omitempty"`
	Rules   []struct {
		ObjectOwnership string
	} `xml:"Rule"`
}

var objectOwnerships = map[string]bool{"BucketOwnerPreferred": true, "ObjectWriter": true, "BucketOwnerEnforced": true}

func (s *Server) ownershipControls(c *s3call) {
	body, err := readBody(c.r)
	if err != nil || !s.admit(c, body) {
		if err != nil {
			malformedXML(c)
		}
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch c.r.Method {
	case http.MethodPut:
		var in ownershipXML
		if xml.Unmarshal(body, &in) != nil || len(in.Rules) != 1 || !objectOwnerships[in.Rules[0].ObjectOwnership] {
			malformedXML(c)
			return
		}
		s.settings(c.bucket).ObjectOwnership = in.Rules[0].ObjectOwnership
		c.write(http.StatusOK, nil)
	case http.MethodGet:
		b := s.buckets[c.bucket]
		if b == nil || b.ObjectOwnership == "" {
			c.fail(http.StatusNotFound, "OwnershipControlsNotFoundError", "The bucket ownership controls were not found")
			return
		}
		out := ownershipXML{XMLNS: s3Namespace}
		out.Rules = append(out.Rules, struct{ ObjectOwnership string }{b.ObjectOwnership})
		c.replyXML(out)
	case http.MethodDelete:
		if b := s.buckets[c.bucket]; b != nil {
			b.ObjectOwnership = ""
		}
		c.write(http.StatusNoContent, nil)
	}
}

type sseXML struct {
	XMLName xml.Name  `xml:"ServerSideEncryptionConfiguration"`
	XMLNS   string    `xml:"xmlns,attr,omitempty"`
	Rules   []sseRule `xml:"Rule"`
}

type sseRule struct {
	Default struct {
		SSEAlgorithm   string
		KMSMasterKeyID string `xml:",omitempty"`
	} `xml:"ApplyServerSideEncryptionByDefault"`
	BucketKeyEnabled *bool `xml:",omitempty"`
}

// encryption forwards PutBucketEncryption to MinIO when MinIO can take it (AES256, or aws:kms
// with MinIO's own KMS key) and answers it itself otherwise (aws:kms with an AWS key ARN or the
// AWS managed key, which MinIO refuses with kms:KeyNotFound). GetBucketEncryption is answered
// here only for such an intercepted configuration.
func (s *Server) encryption(c *s3call) {
	switch c.r.Method {
	case http.MethodPut:
		body, err := readBody(c.r)
		if err != nil {
			malformedXML(c)
			return
		}
		var in sseXML
		parsed := xml.Unmarshal(body, &in) == nil && len(in.Rules) == 1
		var enc *Encryption
		if parsed {
			rule := in.Rules[0]
			enc = &Encryption{Algorithm: rule.Default.SSEAlgorithm, KMSKeyID: rule.Default.KMSMasterKeyID,
				BucketKeyEnabled: rule.BucketKeyEnabled != nil && *rule.BucketKeyEnabled}
			enc.Intercepted = strings.HasPrefix(enc.Algorithm, "aws:kms") && enc.KMSKeyID != s.cfg.MinIO.KMSKey
		}
		if enc != nil && enc.Intercepted {
			if !s.admit(c, body) {
				return
			}
			s.mu.Lock()
			s.settings(c.bucket).Encryption = enc
			s.mu.Unlock()
			c.write(http.StatusOK, nil)
			return
		}
		if s.forward(c) == http.StatusOK && enc != nil {
			s.mu.Lock()
			s.settings(c.bucket).Encryption = enc
			s.mu.Unlock()
		}
	case http.MethodGet:
		s.mu.Lock()
		var enc *Encryption
		if b := s.buckets[c.bucket]; b != nil && b.Encryption != nil && b.Encryption.Intercepted {
			e := *b.Encryption
			enc = &e
		}
		s.mu.Unlock()
		if enc == nil {
			s.forward(c)
			return
		}
		if !s.admit(c, nil) {
			return
		}
		var rule sseRule
		rule.Default.SSEAlgorithm, rule.Default.KMSMasterKeyID = enc.Algorithm, enc.KMSKeyID
		rule.BucketKeyEnabled = &enc.BucketKeyEnabled
		c.replyXML(sseXML{XMLNS: s3Namespace, Rules: []sseRule{rule}})
	case http.MethodDelete:
		if s.forward(c) == http.StatusNoContent {
			s.mu.Lock()
			if b := s.buckets[c.bucket]; b != nil {
				b.Encryption = nil
			}
			s.mu.Unlock()
		}
	}
}

// createBucket forwards CreateBucket (MinIO ignores x-amz-object-ownership, and the header is
// signed, so it goes as it came) and records the ownership it asked for.
// createBucket forwards CreateBucket to MinIO, which authenticates it. MinIO answers 409
// BucketAlreadyOwnedByYou for a bucket the account already has, as S3 does everywhere but in
// us-east-1, where S3 answers 200 OK (S3 API reference, "Error responses",
// BucketAlreadyOwnedByYou: "in the North Virginia Region, Amazon S3 returns 200 OK and resets the
// bucket access control lists"); the fake has no ACLs to reset and keeps the bucket's settings.
func (s *Server) createBucket(c *s3call) {
	s.mu.Lock()
	_, held := s.buckets[c.bucket]
	full := !held && len(s.buckets) >= s.cfg.BucketLimit
	s.mu.Unlock()
	if full {
		c.fail(http.StatusBadRequest, "TooManyBuckets", "You have attempted to create more buckets than allowed")
		return
	}
	rec := httptest.NewRecorder()
	s.proxy().ServeHTTP(rec, c.r)
	c.status = rec.Code
	if c.status >= 300 {
		var e struct{ Code string }
		if xml.Unmarshal(rec.Body.Bytes(), &e) == nil {
			c.code = e.Code
		}
	}
	if c.code == "BucketAlreadyOwnedByYou" && s.cfg.Region == "us-east-1" {
		c.code = ""
		c.w.Header().Set("Location", "/"+c.bucket)
		c.write(http.StatusOK, nil)
		return
	}
	for k, v := range rec.Header() {
		c.w.Header()[k] = v
	}
	c.w.WriteHeader(rec.Code)
	_, _ = c.w.Write(rec.Body.Bytes())
	if c.status != http.StatusOK {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := &BucketSettings{ObjectOwnership: c.r.Header.Get("x-amz-object-ownership")}
	s.buckets[c.bucket] = b // a bucket made anew starts with no settings
}

// bucketPolicy answers PUT, GET and DELETE ?policy itself, keeping the document as sent: MinIO
// would take and enforce it (for anonymous requests), but it answers GET with its own re-encoding
// of the document, refuses condition keys it does not support, and knows nothing of the
// public-access block. BucketSettings.Policy is what GET answers; nothing enforces the policy on
// the data plane.
func (s *Server) bucketPolicy(c *s3call) {
	body, err := readBody(c.r)
	if err != nil || !s.admit(c, body) {
		if err != nil {
			c.fail(http.StatusBadRequest, "MalformedPolicy", malformedJSONPolicy)
		}
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch c.r.Method {
	case http.MethodPut:
		doc := string(body)
		if msg := validateBucketPolicy(doc, c.bucket); msg != "" {
			c.fail(http.StatusBadRequest, "MalformedPolicy", msg)
			return
		}
		if b := s.buckets[c.bucket]; b != nil && b.PublicAccessBlock != nil && b.PublicAccessBlock.BlockPublicPolicy && publicBucketPolicy(doc) {
			c.fail(http.StatusForbidden, "AccessDenied", "Access Denied")
			return
		}
		s.settings(c.bucket).Policy = doc
		c.write(http.StatusNoContent, nil)
	case http.MethodGet:
		b := s.buckets[c.bucket]
		if b == nil || b.Policy == "" {
			c.fail(http.StatusNotFound, "NoSuchBucketPolicy", "The bucket policy does not exist")
			return
		}
		// [inference] The Content-Type of AWS's answer is not documented; the body is the JSON.
		c.writeContent(http.StatusOK, "application/json", []byte(b.Policy))
	case http.MethodDelete:
		if b := s.buckets[c.bucket]; b != nil {
			b.Policy = ""
		}
		c.write(http.StatusNoContent, nil) // [inference] also when there was none
	}
}
