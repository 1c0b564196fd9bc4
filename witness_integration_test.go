package treeoflife_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/witness"
)

// witnessCLI builds cmd/treeoflife once per test.
func witnessCLI(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("TOL_REQUIRE_INTEGRATION") == "1" {
			t.Fatalf("TOL_REQUIRE_INTEGRATION=1 but the go command is not found: %v", err)
		}
		t.Skip("skipping: the go command is not in PATH, and this test builds cmd/treeoflife to run witnesses (set TOL_REQUIRE_INTEGRATION=1 to fail instead)")
	}
	bin := filepath.Join(t.TempDir(), "treeoflife")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	out, err := exec.Command(goBin, "build", "-o", bin, "github.com/treeoflife/treeoflife/cmd/treeoflife").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// startWitness starts "treeoflife witness serve" for every treeoflife log
// signed by logVkey and returns a client for it.
func startWitness(t *testing.T, bin, name, logVkey string) (*witness.Client, string) {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "key")
	out, err := exec.Command(bin, "witness", "keygen", "--out", keyFile, name).Output()
	require.NoError(t, err)
	vkey := strings.TrimSpace(string(out))
	cmd := exec.Command(bin, "witness", "serve", "--state", t.TempDir(), "--addr", "127.0.0.1:0",
		"--key-file", keyFile, "--log", "treeoflife/*="+logVkey)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	require.True(t, ok, "first line %q", line)
	c, err := witness.NewClient(url, vkey, nil)
	require.NoError(t, err)
	return c, vkey
}

// TestWitnessedLog: a logger whose checkpoints two witness processes
// cosign; they refuse a rolled-back copy and a fork, and serve as anchors.
func TestWitnessedLog(t *testing.T) {
	ctx := context.Background()
	bin := witnessCLI(t)
	skey, vkey, err := treeoflife.GenerateSigningKey("witnessed-log")
	require.NoError(t, err)
	signer, err := note.NewSigner(skey)
	require.NoError(t, err)
	w1, w1key := startWitness(t, bin, "witness-one", vkey)
	w2, _ := startWitness(t, bin, "witness-two", vkey)
	opts := treeoflife.Options{Signer: signer, Witnesses: []treeoflife.Witness{w1, w2}, CheckpointInterval: -1, SegmentSize: 8 << 10}

	dir := t.TempDir()
	l, err := treeoflife.Open(dir, opts)
	require.NoError(t, err)
	logSome := func(l *treeoflife.ImmutableLogger, n int, msg string) {
		for i := 0; i < n; i++ {
			_, err := l.Audit(msg, treeoflife.Fields{"i": i, "pad": strings.Repeat("x", 100)})
			require.NoError(t, err)
		}
	}
	logSome(l, 30, "first")
	_, err = l.Checkpoint(ctx)
	require.NoError(t, err)
	logSome(l, 40, "second") // crosses segments: the witnesses check a consistency proof
	cp, err := l.Checkpoint(ctx)
	require.NoError(t, err)
	require.NoError(t, l.Close())

	v1, err := witness.NewCosignatureVerifier(w1key)
	require.NoError(t, err)
	logV, err := note.NewVerifier(vkey)
	require.NoError(t, err)
	c, n, err := treeoflife.OpenCheckpoint(cp, note.VerifierList(logV, v1))
	require.NoError(t, err)
	require.Equal(t, uint64(70), c.Size)
	require.Len(t, n.Sigs, 2, "the log's signature and witness-one's cosignature verify")
	require.Len(t, n.UnverifiedSigs, 1, "witness-two's cosignature is there too")

	// The witnesses are anchors.
	vs, err := treeoflife.NewVerifiers(vkey)
	require.NoError(t, err)
	rep, err := treeoflife.VerifyDirWith(ctx, dir, treeoflife.VerifyOptions{Verifiers: vs, Anchors: []treeoflife.Anchor{w1, w2}, RequireSigned: true})
	require.NoError(t, err)
	require.Equal(t, uint64(70), rep.Anchored)

	// A rolled-back copy: behind the witnesses, which refuse it and show it.
	old := t.TempDir()
	copyLogDir(t, dir, old)
	l, err = treeoflife.Open(dir, opts)
	require.NoError(t, err)
	logSome(l, 10, "third")
	_, err = l.Checkpoint(ctx)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	_, err = treeoflife.VerifyDirWith(ctx, old, treeoflife.VerifyOptions{Verifiers: vs, Anchors: []treeoflife.Anchor{w1}})
	require.ErrorIs(t, err, treeoflife.ErrTampered)
	require.Contains(t, err.Error(), "rolled back")

	// A fork: the old copy, written on, with the same origin and key.
	l, err = treeoflife.Open(old, opts)
	require.NoError(t, err)
	logSome(l, 20, "forked")
	_, err = l.Checkpoint(ctx)
	require.ErrorIs(t, err, treeoflife.ErrWitness, "both witnesses refuse the fork")
	require.NoError(t, l.Close(), "the log itself is intact; only its history conflicts")
	_, err = treeoflife.VerifyDirWith(ctx, old, treeoflife.VerifyOptions{Verifiers: vs, Anchors: []treeoflife.Anchor{w1, w2}})
	require.ErrorIs(t, err, treeoflife.ErrTampered)
}

func copyLogDir(t *testing.T, from, to string) {
	t.Helper()
	des, err := os.ReadDir(from)
	require.NoError(t, err)
	for _, de := range des {
		if !de.Type().IsRegular() || de.Name() == "LOCK" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, de.Name()))
		require.NoError(t, err)
		fi, err := de.Info()
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(to, de.Name()), b, fi.Mode().Perm()))
	}
}
