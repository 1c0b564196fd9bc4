package tolbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/treeoflife/treeoflife/backup/s3"
)

// Credentials of the throwaway MinIO the S3 rows start; not secrets.
const (
	minioUser     = "tolbench"
	minioPassword = "tolbench-secret"
	minioBucket   = "tolbench"
	minioRegion   = "us-east-1"
)

// How to get a MinIO when Config.MinIOBin is empty: printed when the S3 rows
// are skipped.
const minioHint = "pass -minio PATH or set TOL_MINIO_BIN to a minio server binary; `make bench` builds the pinned one (scripts/tools.sh minio)"

// A minioServer is a MinIO process the benchmark started on a free
// loopback port, with its data in a directory of its own.
type minioServer struct {
	bin      string
	dataDir  string
	addr     string // 127.0.0.1:PORT
	cmd      *exec.Cmd
	exited   chan struct{} // closed when cmd.Wait has returned
	endpoint string        // http://127.0.0.1:PORT
	logPath  string
}

// startMinIO starts bin serving dataDir on a free 127.0.0.1 port and waits
// until its readiness endpoint answers. Another process can take the port
// between our check and MinIO's bind, so a start that fails is retried on a
// new port, as scripts/test.sh does.
func startMinIO(ctx context.Context, bin, dataDir string) (*minioServer, error) {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(filepath.Dir(dataDir), "minio.log")
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		srv, err := startMinIOOnce(ctx, bin, dataDir, logPath, fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			return srv, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	tail, _ := os.ReadFile(logPath)
	if len(tail) > 4096 {
		tail = tail[len(tail)-4096:]
	}
	return nil, fmt.Errorf("starting MinIO (%s): %w; its log ends:\n%s", bin, lastErr, bytes.TrimSpace(tail))
}

func startMinIOOnce(ctx context.Context, bin, dataDir, logPath, addr string) (*minioServer, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy
	cmd := exec.Command(bin, "server", "--quiet", "--address", addr, "--console-address", "127.0.0.1:0", dataDir)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+minioUser, "MINIO_ROOT_PASSWORD="+minioPassword,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	cmd.Stdout, cmd.Stderr = logf, logf
	setChildDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	srv := &minioServer{
		bin: bin, dataDir: dataDir, addr: addr,
		cmd: cmd, exited: make(chan struct{}), endpoint: "http://" + addr, logPath: logPath,
	}
	go func() {
		cmd.Wait()
		close(srv.exited)
	}()
	if err := srv.waitReady(ctx, 60*time.Second); err != nil {
		srv.stop()
		return nil, err
	}
	return srv, nil
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls MinIO's readiness endpoint until it answers 200 OK, the
// process exits, ctx ends or timeout passes.
func (m *minioServer) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	url := m.endpoint + "/minio/health/ready"
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-m.exited:
			return fmt.Errorf("minio exited before it was ready (%v)", m.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("minio not ready at %s: %w", url, ctx.Err())
		case <-tick.C:
		}
	}
}

// stop ends the server: SIGTERM, up to 10 s to exit, then SIGKILL. It is
// safe to call more than once.
func (m *minioServer) stop() {
	select {
	case <-m.exited:
		return
	default:
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-m.exited:
	case <-t.C:
		m.cmd.Process.Kill()
		<-m.exited
	}
}

// kill ends the server at once with SIGKILL, as a crash or the OOM killer
// would: no shutdown, requests in flight are cut off. It waits until the
// process has exited.
func (m *minioServer) kill() {
	select {
	case <-m.exited:
		return
	default:
	}
	m.cmd.Process.Kill()
	<-m.exited
}

// restart starts the server again, after it exited, on the same address
// and data directory, so that clients holding its endpoint (a sink) reach
// it again, and waits until it is ready. Another process can take the port
// while the server is down, or the kernel may not have released it yet; a
// start that fails is retried a few times, half a second apart. It must
// not be called while another goroutine uses m.
func (m *minioServer) restart(ctx context.Context) error {
	var lastErr error
	for attempt := 1; attempt <= 5; attempt++ {
		srv, err := startMinIOOnce(ctx, m.bin, m.dataDir, m.logPath, m.addr)
		if err == nil {
			m.cmd, m.exited = srv.cmd, srv.exited
			return nil
		}
		lastErr = err
		t := time.NewTimer(500 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("restarting MinIO on %s: %w (last attempt: %v)", m.addr, ctx.Err(), lastErr)
		case <-t.C:
		}
	}
	return fmt.Errorf("restarting MinIO on %s: %w", m.addr, lastErr)
}

// sink returns an S3 sink on the server's bucket with keys under prefix
// (which ends in '/', or is empty), creating the bucket if it is not there.
func (m *minioServer) sink(ctx context.Context, prefix string) (*s3.Sink, error) {
	var sink *s3.Sink
	err := withAWSEnv(func() error {
		var err error
		sink, err = s3.New(ctx, s3.Config{
			Bucket: minioBucket, Region: minioRegion, Endpoint: m.endpoint,
			UsePathStyle: true, Prefix: prefix,
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	_, err = sink.Client().CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(minioBucket)})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return nil, fmt.Errorf("creating bucket %s: %w", minioBucket, err)
	}
	return sink, nil
}

// withAWSEnv runs f with the AWS SDK's environment pointed at the
// benchmark's MinIO, and restores the environment afterwards. s3.New takes
// its credentials from the SDK's default chain, which reads the environment
// once, when the sink is made; the developer's own AWS configuration
// (profiles, session tokens, credential files) must not take part.
func withAWSEnv(f func() error) error {
	set := map[string]string{
		"AWS_ACCESS_KEY_ID":           minioUser,
		"AWS_SECRET_ACCESS_KEY":       minioPassword,
		"AWS_REGION":                  minioRegion,
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
	}
	unset := []string{"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"}
	type saved struct {
		v  string
		ok bool
	}
	old := map[string]saved{}
	for k := range set {
		v, ok := os.LookupEnv(k)
		old[k] = saved{v, ok}
	}
	for _, k := range unset {
		v, ok := os.LookupEnv(k)
		old[k] = saved{v, ok}
	}
	defer func() {
		for k, s := range old {
			if s.ok {
				os.Setenv(k, s.v)
			} else {
				os.Unsetenv(k)
			}
		}
	}()
	for k, v := range set {
		os.Setenv(k, v)
	}
	for _, k := range unset {
		os.Unsetenv(k)
	}
	return f()
}
