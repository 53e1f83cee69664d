// Package miniotest starts a real MinIO server on 127.0.0.1 for tests and the demo.
package miniotest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"
)

// Server is a running MinIO server.
type Server struct {
	// Endpoint is the S3 API URL, e.g. http://127.0.0.1:41234.
	Endpoint string
	// Host is host:port of the S3 API.
	Host string
	// RootUser and RootPassword are the admin credentials.
	RootUser, RootPassword string
	// DataDir holds the server's data.
	DataDir string
	// KMSKey is the name of the key of MinIO's built-in KMS (MINIO_KMS_SECRET_KEY, random per
	// server). With a KMS, SSE-S3 works (PutObject with x-amz-server-side-encryption: AES256, as
	// Terraform's S3 backend sends with encrypt = true, and PutBucketEncryption with AES256), and
	// SSE-KMS works with this key name as the key id.
	KMSKey string

	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
	log  *os.File
}

// Binary returns the MinIO server binary: $MINIO_BIN, else minio in the tools cache
// (hack/tools.sh), else minio on PATH.
func Binary() (string, error) {
	candidates := []string{os.Getenv("MINIO_BIN")}
	if dir := os.Getenv("TFSTATE_TOOLS_DIR"); dir != "" {
		candidates = append(candidates, filepath.Join(dir, "minio"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		candidates = append(candidates, filepath.Join(home, ".cache", "tfstate-operator", "tools", "minio"))
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c, nil
		}
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	return "", errors.New("no minio binary: run `hack/tools.sh minio` (or `make tools`), or set MINIO_BIN")
}

// Start starts MinIO with a fresh data directory under dir and waits until it serves requests.
// The caller must Stop it.
func Start(ctx context.Context, dir string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	consolePort, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{
		Host:         net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		RootUser:     "admin" + randomHex(4),
		RootPassword: randomHex(16),
		DataDir:      filepath.Join(dir, "minio-data"),
		KMSKey:       "tfstate-test-key",
		done:         make(chan struct{}),
	}
	s.Endpoint = "http://" + s.Host
	if err := os.MkdirAll(s.DataDir, 0o700); err != nil {
		return nil, err
	}
	s.log, err = os.Create(filepath.Join(dir, "minio.log"))
	if err != nil {
		return nil, err
	}
	kmsKey := make([]byte, 32)
	if _, err := rand.Read(kmsKey); err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin, "server", "--quiet", "--address", s.Host,
		"--console-address", net.JoinHostPort("127.0.0.1", strconv.Itoa(consolePort)), s.DataDir)
	s.cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.RootUser,
		"MINIO_ROOT_PASSWORD="+s.RootPassword,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=1",
		"MINIO_KMS_SECRET_KEY="+s.KMSKey+":"+base64.StdEncoding.EncodeToString(kmsKey),
	)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start minio: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	if err := s.waitReady(ctx, 60*time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			logs, _ := os.ReadFile(s.log.Name())
			return fmt.Errorf("minio exited before it was ready:\n%s", logs)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := http.Get(s.Endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			// Health says ready before the IAM subsystem is: admin calls answer 503
			// XMinioServerNotInitialized for a few seconds more. Wait for those too.
			if resp.StatusCode == http.StatusOK && s.iamReady(ctx) {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("minio at %s not ready after %s", s.Endpoint, timeout)
}

// iamReady reports whether the admin API answers a read of the root's service accounts (a plain
// signed request: internal/minioadmin's own tests use this package).
func (s *Server) iamReady(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+"/minio/admin/v3/list-service-accounts", nil)
	if err != nil {
		return false
	}
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	resp, err := http.DefaultClient.Do(signer.SignV4(*req, s.RootUser, s.RootPassword, "", "us-east-1"))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// emptySHA256 is the SHA-256 of an empty body.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// Stop stops the server. Safe to call more than once.
func (s *Server) Stop() {
	s.once.Do(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			_ = s.cmd.Process.Signal(os.Interrupt)
			select {
			case <-s.done:
			case <-time.After(10 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.done
			}
		}
		if s.log != nil {
			_ = s.log.Close()
		}
	})
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// RunTests is a TestMain body for packages that share one MinIO server: it starts the server into
// *srv, runs the tests and stops it, and returns the exit code.
func RunTests(m interface{ Run() int }, srv **Server) int {
	dir, err := os.MkdirTemp("", "miniotest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *srv, err = Start(context.Background(), dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer (*srv).Stop()
	return m.Run()
}
