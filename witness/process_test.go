package witness

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
)

// syncBuffer is a bytes.Buffer safe for a process writing while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// witnessProc is a "treeoflife witness serve" process.
type witnessProc struct {
	cmd    *exec.Cmd
	url    string
	stderr *syncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // from Wait, once done is closed
}

// wait waits for the process to exit and returns the error of Wait.
func (p *witnessProc) wait() error {
	<-p.done
	return p.err
}

// buildCLI builds the treeoflife command into a temporary directory.
func buildCLI(t *testing.T) string {
	goBin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("TOL_REQUIRE_INTEGRATION") == "1" {
			t.Fatalf("TOL_REQUIRE_INTEGRATION=1 but the go command is not found: %v", err)
		}
		t.Skip("skipping: the go command is not in PATH, and this test builds cmd/treeoflife (set TOL_REQUIRE_INTEGRATION=1 to fail instead)")
	}
	bin := filepath.Join(t.TempDir(), "treeoflife")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	out, err := exec.Command(goBin, "build", "-o", bin, "github.com/treeoflife/treeoflife/cmd/treeoflife").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// keygen runs "witness keygen" and returns the key file and the vkey.
func keygen(t *testing.T, bin, name string) (string, string) {
	keyFile := filepath.Join(t.TempDir(), "key")
	out, err := exec.Command(bin, "witness", "keygen", "--out", keyFile, name).Output()
	require.NoError(t, err)
	return keyFile, strings.TrimSpace(string(out))
}

// startProc starts a witness process and waits for its "listening on" line.
func startProc(t *testing.T, bin, stateDir, keyFile string, l *testLog) *witnessProc {
	cmd := exec.Command(bin, "witness", "serve", "--state", stateDir, "--addr", "127.0.0.1:0",
		"--key-file", keyFile, "--log", l.origin+"="+l.vkey)
	p := &witnessProc{cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill() // fails harmlessly when the process has exited
		p.wait()
	})
	require.NoError(t, err, "stderr: %s", p.stderr)
	var ok bool
	p.url, ok = strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	require.True(t, ok, "first line %q", line)
	return p
}

func TestProcesses(t *testing.T) {
	bin := buildCLI(t)
	ctx := context.Background()
	l := newTestLog(t, "example.com/proc").grow(50)
	fork := newTestLogWithKey(t, l.origin, l.skey, l.vkey).grow(20).append("not in the log").grow(30)

	type node struct {
		name, key, vkey, dir string
		proc                 *witnessProc
		client               *Client
	}
	nodes := []*node{{name: "w1.example"}, {name: "w2.example"}}
	for _, n := range nodes {
		n.key, n.vkey = keygen(t, bin, n.name)
		n.dir = t.TempDir()
		n.proc = startProc(t, bin, n.dir, n.key, l)
		var err error
		n.client, err = NewClient(n.proc.url, n.vkey, nil)
		require.NoError(t, err)
	}
	var calls [][2]uint64
	for _, size := range []int64{1, 5, 20, 40} {
		for _, n := range nodes {
			sigs, err := n.client.Cosign(ctx, l.checkpoint(size), prover(l, &calls))
			require.NoError(t, err, "%s at %d: %s", n.name, size, n.proc.stderr)
			require.Len(t, sigs, 1)
			require.Equal(t, n.name, sigs[0].Name)
		}
	}
	stateAt40 := make(map[string][]byte)
	for _, n := range nodes {
		b, err := os.ReadFile(stateFile(n.dir, l.origin))
		require.NoError(t, err)
		stateAt40[n.name] = b
	}

	// Both refuse a rolled-back checkpoint and both forks, and keep their state.
	for _, n := range nodes {
		fresh, err := NewClient(n.proc.url, n.vkey, nil)
		require.NoError(t, err)
		for _, c := range []*Client{n.client, fresh} {
			_, err = c.Cosign(ctx, l.checkpoint(20), prover(l, &calls))
			require.ErrorIs(t, err, ErrRollback, n.name)
			_, err = c.Cosign(ctx, fork.checkpoint(40), prover(fork, &calls))
			require.ErrorIs(t, err, ErrFork, n.name)
			_, err = c.Cosign(ctx, fork.checkpoint(50), prover(fork, &calls))
			require.ErrorIs(t, err, ErrFork, n.name)
		}
		b, err := os.ReadFile(stateFile(n.dir, l.origin))
		require.NoError(t, err)
		require.Equal(t, stateAt40[n.name], b)
	}

	// kill -9 the first witness and restart it on the same state directory.
	w1 := nodes[0]
	require.NoError(t, w1.proc.cmd.Process.Kill())
	require.Error(t, w1.proc.wait())
	w1.proc = startProc(t, bin, w1.dir, w1.key, l)
	c, err := NewClient(w1.proc.url, w1.vkey, nil)
	require.NoError(t, err)
	latest, err := c.Latest(ctx, l.origin)
	require.NoError(t, err)
	n, err := note.Open(latest, note.VerifierList(mustVerifier(t, l.vkey), mustCosignatureVerifier(t, w1.vkey)))
	require.NoError(t, err)
	require.Equal(t, l.text(40), n.Text)
	_, err = c.Cosign(ctx, l.checkpoint(20), prover(l, &calls))
	require.ErrorIs(t, err, ErrRollback)
	var ce *ConflictError
	require.ErrorAs(t, err, &ce)
	require.EqualValues(t, 40, ce.Size)
	_, err = c.Cosign(ctx, fork.checkpoint(40), prover(fork, &calls))
	require.ErrorIs(t, err, ErrFork)
	_, err = c.Cosign(ctx, l.checkpoint(50), prover(l, &calls))
	require.NoError(t, err)

	// SIGTERM shuts a witness down cleanly.
	if runtime.GOOS != "windows" {
		w2 := nodes[1]
		require.NoError(t, w2.proc.cmd.Process.Signal(syscall.SIGTERM))
		require.NoError(t, w2.proc.wait(), "stderr: %s", w2.proc.stderr)
	}
}

func mustVerifier(t *testing.T, vkey string) note.Verifier {
	v, err := note.NewVerifier(vkey)
	require.NoError(t, err)
	return v
}

func mustCosignatureVerifier(t *testing.T, vkey string) note.Verifier {
	v, err := NewCosignatureVerifier(vkey)
	require.NoError(t, err)
	return v
}
