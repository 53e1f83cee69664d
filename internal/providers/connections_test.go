package providers

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/fakedigitalocean"
)

// countingProxy forwards TCP connections to target and counts those open.
type countingProxy struct {
	l    net.Listener
	open atomic.Int64
	wg   sync.WaitGroup
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{l: l}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				continue
			}
			p.open.Add(1)
			var once sync.Once
			done := func() {
				once.Do(func() {
					_ = in.Close()
					_ = out.Close()
					p.open.Add(-1)
				})
			}
			go func() { _, _ = io.Copy(out, in); done() }()
			go func() { _, _ = io.Copy(in, out); done() }()
		}
	}()
	return p
}

func (p *countingProxy) endpoint() string { return "http://" + p.l.Addr().String() }

// TestClientsBuiltPerReconcileShareConnections: the controllers build a provider client for every
// reconcile, so a client that brought its own HTTP transport left its connections idle in it
// (90 s) after the reconcile ended: hundreds of open connections, and their buffers, at a few
// hundred reconciles a minute. Clients of one factory share their transports: 40 clients used one
// after the other leave about one connection open, not 40.
func TestClientsBuiltPerReconcileShareConnections(t *testing.T) {
	minioSource := func(t *testing.T) (Source, *countingProxy) {
		proxy := newCountingProxy(t, minioSrv.Host)
		return Source{UID: "minio-uid",
			Spec:        &v1alpha1.StorageProviderSpec{MinIO: &v1alpha1.MinIOProvider{Endpoint: proxy.endpoint()}},
			Credentials: map[string][]byte{MinIOAccessKeyID: []byte(minioSrv.RootUser), MinIOSecretAccessKey: []byte(minioSrv.RootPassword)}}, proxy
	}
	spacesSource := func(t *testing.T) (Source, *countingProxy) {
		do, err := fakedigitalocean.Start(fakedigitalocean.Config{MinIO: minioSrv})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(do.Close)
		proxy := newCountingProxy(t, strings.TrimPrefix(do.S3Endpoint(), "http://"))
		return Source{UID: "spaces-uid",
			Spec:        &v1alpha1.StorageProviderSpec{DigitalOceanSpaces: &v1alpha1.DigitalOceanSpacesProvider{Region: "fra1", APIBaseURL: do.URL(), S3Endpoint: proxy.endpoint()}},
			Credentials: map[string][]byte{DigitalOceanToken: []byte(do.AddToken("operator"))}}, proxy
	}
	for _, tc := range []struct {
		reason string
		source func(t *testing.T) (Source, *countingProxy)
	}{
		{"MinIO builds a transport of its own for its CA bundle", minioSource},
		{"Spaces hands minio-go its HTTP client's transport, none by default", spacesSource},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			src, proxy := tc.source(t)
			factory := NewFactory()
			ctx := context.Background()
			for i := range 40 {
				c, err := factory.New(ctx, src, provider.Placement{})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.ObserveBucket(ctx, "tfso-connections-absent"); err != nil {
					t.Fatalf("client %d: %v", i, err)
				}
			}
			time.Sleep(100 * time.Millisecond) // let closes reach the proxy
			if open := proxy.open.Load(); open > 4 {
				t.Fatalf("%d connections open after 40 clients made one call each, want at most 4 (the clients share a transport)", open)
			}
		})
	}
}
