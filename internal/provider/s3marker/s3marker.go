// Package s3marker holds what the S3-based providers share about the operator's own objects in a
// bucket: the ownership marker object of stores without bucket tags (Cloudflare R2, DigitalOcean
// Spaces), and the check-and-clear of the operator's own objects that precedes every bucket delete.
package s3marker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

// Key is the ownership marker object in every bucket the operator owns on a store without tags.
const Key = provider.OwnerMarkerKey

// Classify turns an S3 error of operation op into the provider's error (ErrInvalidConfig for
// refused admin keys, and so on). Each provider passes its own.
type Classify func(op string, err error) error

// marker is the ownership marker's content.
type marker struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	// Cluster and Seal are absent from markers of the previous release.
	Cluster string `json:"cluster,omitempty"`
	Seal    string `json:"seal,omitempty"`
}

// Write writes (or overwrites) the ownership marker of bucket.
func Write(ctx context.Context, s3 *minio.Client, bucket string, owner provider.Owner, classify Classify) error {
	body, _ := json.Marshal(marker{Namespace: owner.Namespace, Name: owner.Name, UID: owner.UID, Cluster: owner.Cluster, Seal: owner.Seal}) // strings always marshal
	if _, err := s3.PutObject(ctx, bucket, Key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{ContentType: "application/json"}); err != nil {
		return classify("write ownership marker", err)
	}
	return nil
}

// Read returns the owner the marker of bucket names, or nil when there is no marker or it is not
// ours (whoever wrote it, it does not name a StateBackend).
func Read(ctx context.Context, s3 *minio.Client, bucket string, classify Classify) (*provider.Owner, error) {
	obj, err := s3.GetObject(ctx, bucket, Key, minio.GetObjectOptions{})
	if err != nil {
		return nil, classify("read ownership marker", err)
	}
	defer obj.Close()
	b, err := io.ReadAll(io.LimitReader(obj, 64<<10))
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil, nil
		}
		return nil, classify("read ownership marker", err)
	}
	var m marker
	if err := json.Unmarshal(b, &m); err != nil || m.UID == "" {
		return nil, nil
	}
	return &provider.Owner{Namespace: m.Namespace, Name: m.Name, UID: m.UID, Cluster: m.Cluster, Seal: m.Seal}, nil
}

// ClearReserved prepares bucket for deletion without ever emptying it: any object (with versions:
// any object version or delete marker) that is not one the operator writes
// (provider.IsOperatorObject), state under provider.ReservedPrefix included, makes it return an
// error wrapping provider.ErrBucketNotEmpty, having removed nothing; otherwise the operator's own
// objects (every version of them) are removed, so that the bucket delete that follows finds it
// empty.
func ClearReserved(ctx context.Context, s3 *minio.Client, bucket string, versions bool, classify Classify) error {
	var reserved []minio.ObjectInfo
	for o := range s3.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: versions}) {
		if o.Err != nil {
			return classify("list objects", o.Err)
		}
		if !provider.IsOperatorObject(o.Key) {
			return fmt.Errorf("bucket %q holds %q: %w", bucket, o.Key, provider.ErrBucketNotEmpty)
		}
		reserved = append(reserved, o)
	}
	for _, o := range reserved {
		if err := s3.RemoveObject(ctx, bucket, o.Key, minio.RemoveObjectOptions{VersionID: o.VersionID}); err != nil {
			return classify("remove operator object", err)
		}
	}
	return nil
}
