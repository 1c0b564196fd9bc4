package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/backup/file"
	"github.com/treeoflife/treeoflife/witness"
)

// signedLog writes n entries to the log in dir, signing its checkpoints
// with skey.
func signedLog(t *testing.T, dir, skey string, n int) {
	t.Helper()
	signer, err := note.NewSigner(skey)
	require.NoError(t, err)
	l, err := treeoflife.Open(dir, treeoflife.Options{Signer: signer, CheckpointInterval: -1})
	require.NoError(t, err)
	for i := 0; i < n; i++ {
		_, err := l.Audit("event "+strconv.Itoa(i), nil)
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
}

func TestVerifyWithKeyAndAnchor(t *testing.T) {
	skey, vkey, err := treeoflife.GenerateSigningKey("cli-test")
	require.NoError(t, err)
	keyFile := filepath.Join(t.TempDir(), "key.pub")
	require.NoError(t, os.WriteFile(keyFile, []byte(vkey+"\n"), 0o644))
	skeyFile := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(skeyFile, []byte(skey+"\n"), 0o600))
	dir := t.TempDir()
	signedLog(t, dir, skey, 20)

	// The auditor keeps the checkpoint.
	code, cp, stderr := runCLI(t, "checkpoint", dir)
	require.Equal(t, 0, code, stderr)
	anchor := filepath.Join(t.TempDir(), "anchor")
	require.NoError(t, os.WriteFile(anchor, []byte(cp), 0o644))
	_, _, err = treeoflife.OpenCheckpoint([]byte(cp), mustVerifiers(t, vkey))
	require.NoError(t, err)

	code, out, stderr := runCLI(t, "verify", "--key", keyFile, "--anchor", anchor, "--require-signed", dir)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "OK, 20 records")
	require.Contains(t, out, "signed by cli-test")
	require.Contains(t, out, "anchored: every record")

	// A rolled-back copy passes alone, and fails against the anchor.
	old := t.TempDir()
	copyTree(t, dir, old)
	code, out, stderr = runCLI(t, "checkpoint", "--key-file", skeyFile, dir)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "\n\n\u2014 cli-test ", "a signed checkpoint")
	signedLog(t, dir, skey, 5)
	code, cp, _ = runCLI(t, "checkpoint", dir)
	require.Equal(t, 0, code)
	require.NoError(t, os.WriteFile(anchor, []byte(cp), 0o644))
	code, _, stderr = runCLI(t, "verify", "--key", vkey, old)
	require.Equal(t, 0, code, stderr)
	code, out, stderr = runCLI(t, "verify", "--key", vkey, "--anchor", anchor, old)
	require.Equal(t, 1, code, out)
	require.Contains(t, stderr, "TAMPERED")
	require.Contains(t, stderr, "rolled back")

	// Records a key-less writer appended are an unanchored tail.
	l, err := treeoflife.Open(dir, treeoflife.Options{})
	require.NoError(t, err)
	_, err = l.Info("forged", nil)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	code, out, _ = runCLI(t, "verify", "--key", vkey, "--anchor", anchor, dir)
	require.Equal(t, 0, code)
	require.Contains(t, out, "unanchored: records 25 to 25")
	code, _, _ = runCLI(t, "verify", "--key", vkey, "--anchor", anchor, "--require-signed", dir)
	require.Equal(t, 2, code)

	code, _, stderr = runCLI(t, "verify", "--anchor", anchor, dir)
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "need --key")
}

func mustVerifiers(t *testing.T, vkeys ...string) note.Verifiers {
	t.Helper()
	vs, err := treeoflife.NewVerifiers(vkeys...)
	require.NoError(t, err)
	return vs
}

// copyTree copies the regular files of the directory from into to.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	des, err := os.ReadDir(from)
	require.NoError(t, err)
	for _, de := range des {
		if !de.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, de.Name()))
		require.NoError(t, err)
		fi, err := de.Info()
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(to, de.Name()), b, fi.Mode().Perm()))
	}
}

// TestVerifyAnchors: the backup (file://) and a witness (http://) as
// anchors on the command line.
func TestVerifyAnchors(t *testing.T) {
	ctx := t.Context()
	skey, vkey, err := treeoflife.GenerateSigningKey("cli-anchors")
	require.NoError(t, err)
	signer, err := note.NewSigner(skey)
	require.NoError(t, err)
	wskey, wvkey, err := witness.GenerateKey("cli-witness")
	require.NoError(t, err)
	cosigner, err := witness.NewCosigner(wskey)
	require.NoError(t, err)
	w, err := witness.New(witness.Config{StateDir: t.TempDir(), Signer: cosigner, Logs: []witness.Log{{Origin: "treeoflife/*", Keys: []string{vkey}}}})
	require.NoError(t, err)
	t.Cleanup(func() { w.Close() })
	srv := httptest.NewServer(witness.NewHandler(w))
	t.Cleanup(srv.Close)
	wc, err := witness.NewClient(srv.URL, wvkey, nil)
	require.NoError(t, err)

	bdir := t.TempDir()
	sink, err := file.New(ctx, file.Config{Dir: bdir})
	require.NoError(t, err)
	dir := t.TempDir()
	opts := treeoflife.Options{Signer: signer, Witnesses: []treeoflife.Witness{wc}, Backup: sink, BackupBatchSize: 10, CheckpointInterval: -1}
	l, err := treeoflife.Open(dir, opts)
	require.NoError(t, err)
	for i := 0; i < 25; i++ {
		_, err := l.Audit("event "+strconv.Itoa(i), nil)
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	old := t.TempDir()
	copyTree(t, dir, old)
	l, err = treeoflife.Open(dir, opts)
	require.NoError(t, err)
	_, err = l.Audit("one more", nil)
	require.NoError(t, err)
	require.NoError(t, l.Close())

	args := []string{"verify", "--key", vkey, "--anchor", "file://" + bdir, "--anchor", srv.URL, "--witness-key", wvkey, "--require-signed"}
	code, out, stderr := runCLI(t, append(args, dir)...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "OK, 26 records")
	require.Contains(t, out, "backup: 26 records, signed by cli-anchors")
	require.Contains(t, out, "witness "+srv.URL+": 26 records, signed by cli-anchors")
	code, _, stderr = runCLI(t, append(args, old)...)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "rolled back")

	code, _, stderr = runCLI(t, "verify", "--key", vkey, "--anchor", srv.URL, dir)
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "--witness-key")
}
