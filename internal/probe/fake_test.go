package probe

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// fakeS3 is a minimal path-style S3 endpoint (ListObjectsV2, PutObject, GetObject, DeleteObject on
// one bucket) that checks no signature. It stands in for stores MinIO cannot imitate: one that
// ignores If-None-Match, one that rejects it, one that rejects a key for a while.
type fakeS3 struct {
	bucket string
	// ifNoneMatch is how PutObject treats If-None-Match: "ignore" (overwrite anyway), "reject"
	// (501 NotImplemented) or "honour" (412 when the key exists).
	ifNoneMatch string
	// denyCode, when set, answers the first denyCount requests with 403 and this code
	// (every request when denyCount < 0), with denyMessage as the message.
	denyCode    string
	denyMessage string
	denyCount   int

	mu       sync.Mutex
	objects  map[string][]byte
	requests []fakeRequest
}

type fakeRequest struct {
	Method, Path, IfNoneMatch, SecurityToken string
}

func newFakeS3(bucket, ifNoneMatch string) *fakeS3 {
	return &fakeS3{bucket: bucket, ifNoneMatch: ifNoneMatch, objects: map[string][]byte{}}
}

func (f *fakeS3) keys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ks []string
	for k := range f.objects {
		ks = append(ks, k)
	}
	return ks
}

func (f *fakeS3) seen() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.requests...)
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, fakeRequest{r.Method, r.URL.Path, r.Header.Get("If-None-Match"), r.Header.Get("X-Amz-Security-Token")})
	body, _ := io.ReadAll(r.Body)

	if f.denyCode != "" && f.denyCount != 0 {
		if f.denyCount > 0 {
			f.denyCount--
		}
		s3Error(w, http.StatusForbidden, f.denyCode, f.denyMessage)
		return
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if bucket != f.bucket {
		s3Error(w, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
		return
	}
	switch {
	case key == "" && r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2":
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+
			`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>%s</Name><Prefix>%s</Prefix>`+
			`<KeyCount>0</KeyCount><MaxKeys>1</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`,
			xmlText(bucket), xmlText(r.URL.Query().Get("prefix")))
	case key != "" && r.Method == http.MethodPut:
		if r.Header.Get("If-None-Match") != "" {
			switch f.ifNoneMatch {
			case "reject":
				s3Error(w, http.StatusNotImplemented, "NotImplemented", "A header you provided implies functionality that is not implemented")
				return
			case "honour":
				if _, ok := f.objects[key]; ok {
					s3Error(w, http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
					return
				}
			}
		}
		f.objects[key] = body
		w.Header().Set("ETag", `"fake"`)
	case key != "" && r.Method == http.MethodGet:
		b, ok := f.objects[key]
		if !ok {
			s3Error(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		_, _ = w.Write(b)
	case key != "" && r.Method == http.MethodDelete:
		delete(f.objects, key)
		w.WriteHeader(http.StatusNoContent)
	default:
		s3Error(w, http.StatusNotImplemented, "NotImplemented", "not implemented by the fake")
	}
}

func s3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>fake</RequestId></Error>`,
		xmlText(code), xmlText(msg))
}

func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
