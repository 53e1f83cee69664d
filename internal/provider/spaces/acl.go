package spaces

// This file owns the bucket ACL calls (GET and PUT /{bucket}?acl), which minio-go does not have:
// Spaces opens a bucket's file listing to anyone with a "public-read" ACL as well as with a bucket
// policy (Spaces API reference, docs.digitalocean.com/reference/api/spaces: bucket ACLs take the
// canned "private" and "public-read"; the control panel's "File Listing: Enabled" is the latter).

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/signer"
)

// emptySHA256 is the SigV4 payload hash of an empty body.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// publicGroups are the S3 ACL grantees that mean "not only the owner": anyone, and anyone with
// any key of any account.
var publicGroups = map[string]bool{
	"http://acs.amazonaws.com/groups/global/AllUsers":           true,
	"http://acs.amazonaws.com/groups/global/AuthenticatedUsers": true,
}

// bucketACL is the part of an S3 AccessControlPolicy the operator reads.
type bucketACL struct {
	Grants []struct {
		Grantee struct {
			URI string `xml:"URI"`
		} `xml:"Grantee"`
		Permission string `xml:"Permission"`
	} `xml:"AccessControlList>Grant"`
}

// public reports whether the ACL grants a public group anything.
func (a bucketACL) public() bool {
	for _, g := range a.Grants {
		if publicGroups[g.Grantee.URI] {
			return true
		}
	}
	return false
}

// bucketACLIsPublic reads the bucket's ACL. An absent bucket is not public.
func (c *Client) bucketACLIsPublic(ctx context.Context, bucket string) (bool, error) {
	body, err := c.aclRequest(ctx, http.MethodGet, bucket, "")
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchBucket" {
			return false, nil
		}
		return false, c.classifyS3("get bucket ACL", err)
	}
	var acl bucketACL
	if err := xml.Unmarshal(body, &acl); err != nil {
		return false, fmt.Errorf("get bucket ACL: the reply is not an AccessControlPolicy: %w", err)
	}
	return acl.public(), nil
}

// makeBucketACLPrivate sets the canned "private" ACL (owner full control only).
func (c *Client) makeBucketACLPrivate(ctx context.Context, bucket string) error {
	if _, err := c.aclRequest(ctx, http.MethodPut, bucket, "private"); err != nil {
		return c.classifyS3("set bucket ACL private", err)
	}
	return nil
}

// aclRequest sends a path-style ?acl request signed with the full-access key and returns the body
// of a 200 answer; another answer is a minio.ErrorResponse, so classifyS3 reads it as it reads
// minio-go's own errors.
func (c *Client) aclRequest(ctx context.Context, method, bucket, cannedACL string) ([]byte, error) {
	ak, sk, err := c.adminKey(ctx)
	if err != nil {
		return nil, err
	}
	u := *c.s3Endpoint
	u.Path = "/" + bucket
	u.RawPath = "/" + url.PathEscape(bucket)
	u.RawQuery = "acl="
	req, err := http.NewRequestWithContext(ctx, method, u.String(), http.NoBody)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	if cannedACL != "" {
		req.Header.Set("X-Amz-Acl", cannedACL)
	}
	resp, err := c.httpClient.Do(signer.SignV4(*req, ak, sk, "", Region))
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		return body, nil
	}
	e := minio.ErrorResponse{StatusCode: resp.StatusCode, BucketName: bucket}
	if xml.NewDecoder(bytes.NewReader(body)).Decode(&e) != nil || e.Code == "" {
		e.Code = http.StatusText(resp.StatusCode)
	}
	return nil, e
}
