package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/treeoflife/treeoflife/witness"
)

func TestWitnessKeygen(t *testing.T) {
	out := filepath.Join(t.TempDir(), "w.key")
	code, stdout, stderr := runCLI(t, "witness", "keygen", "witness.example/w1", "--out", out)
	require.Equal(t, 0, code, stderr)
	vkey := strings.TrimSpace(stdout)
	require.True(t, strings.HasPrefix(vkey, "witness.example/w1+"), stdout)
	require.NotContains(t, stdout, "PRIVATE")

	fi, err := os.Stat(out)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	skey, err := os.ReadFile(out)
	require.NoError(t, err)
	s, err := witness.NewCosigner(strings.TrimSpace(string(skey)))
	require.NoError(t, err)
	v, err := witness.NewCosignatureVerifier(vkey)
	require.NoError(t, err)
	require.Equal(t, v.KeyHash(), s.KeyHash())

	// An existing file is never overwritten.
	code, _, stderr = runCLI(t, "witness", "keygen", "--out", out, "other")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "exists")
	after, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, skey, after)

	for _, args := range [][]string{
		{"witness"},
		{"witness", "nope"},
		{"witness", "keygen", "--out", filepath.Join(t.TempDir(), "k")},
		{"witness", "keygen", "name"},
		{"witness", "serve", "--key-file", out, "--log", "o=" + vkey},
		{"witness", "serve", "--state", t.TempDir(), "--log", "o=" + vkey},
		{"witness", "serve", "--state", t.TempDir(), "--key-file", out},
		{"witness", "serve", "--state", t.TempDir(), "--key-file", out, "--log", "novkey"},
	} {
		code, _, stderr := runCLI(t, args...)
		require.Equal(t, 2, code, "%v: %s", args, stderr)
		require.Contains(t, stderr, " -h)", "%v", args)
	}
}

func TestWitnessServe(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "w.key")
	code, stdout, stderr := runCLI(t, "witness", "keygen", "--out", keyFile, "w")
	require.Equal(t, 0, code, stderr)
	wvkey := strings.TrimSpace(stdout)
	lskey, lvkey, err := note.GenerateKey(rand.Reader, "log")
	require.NoError(t, err)
	logSigner, err := note.NewSigner(lskey)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		c := &cli{stdout: pw, stderr: io.Discard}
		done <- c.run(ctx, []string{"witness", "serve", "--state", filepath.Join(dir, "state"), "--addr", "127.0.0.1:0",
			"--key-file", keyFile, "--log", "example.com/log=" + lvkey})
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err)
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	require.True(t, ok, line)
	go io.Copy(io.Discard, pr)

	// A size-1 tree: its root is the record hash.
	root := tlog.RecordHash([]byte("one"))
	signed, err := note.Sign(&note.Note{Text: fmt.Sprintf("example.com/log\n1\n%s\n", root)}, logSigner)
	require.NoError(t, err)
	c, err := witness.NewClient(url, wvkey, nil)
	require.NoError(t, err)
	sigs, err := c.Cosign(ctx, signed, nil)
	require.NoError(t, err)
	require.Len(t, sigs, 1)

	cancel()
	require.Equal(t, 0, <-done)
}
