package memory_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/tfstate-operator/tfstate-operator/internal/provider/memory"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/providertest"
)

// The in-memory store stands in for real providers in the controller suite, so it must keep the
// same contracts.
func TestConformance(t *testing.T) {
	var n atomic.Int64
	providertest.Run(t, func(t *testing.T) providertest.Harness {
		s := memory.New(memory.DefaultSettings())
		return providertest.Harness{
			Client: s,
			PutObject: func(_ context.Context, bucket, key string, data []byte) error {
				return s.PutObject(bucket, key, data)
			},
			GetObject: func(_ context.Context, bucket, key string) ([]byte, error) {
				b, ok := s.Bucket(bucket)
				if !ok {
					return nil, fmt.Errorf("no bucket %q", bucket)
				}
				data, ok := b.Objects[key]
				if !ok {
					return nil, fmt.Errorf("no object %q in bucket %q", key, bucket)
				}
				return data, nil
			},
			BucketName: func(*testing.T) string { return fmt.Sprintf("conformance-%d", n.Add(1)) },
		}
	})
}
