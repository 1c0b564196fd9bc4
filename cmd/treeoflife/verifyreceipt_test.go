package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVerifyReceipt(t *testing.T) {
	dir := t.TempDir()
	vkey, _ := writeSignedLog(t, dir, 20)
	receipt := proveToFile(t, dir, 9)

	code, out, errOut := runCLI(t, "verify-receipt", "--key", vkey, receipt)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "OK, record 9 is in the log")
	require.Contains(t, out, "tree size   20")
	require.Contains(t, out, "signed by   example.com/audit")
	require.Contains(t, out, "treeoflife/")

	// The key from a file, after the receipt; with a second, unrelated key.
	keyFile := filepath.Join(t.TempDir(), "log.pub")
	require.NoError(t, os.WriteFile(keyFile, []byte(vkey+"\n"), 0o644))
	otherKey := filepath.Join(t.TempDir(), "other.key")
	code, other, _ := runCLI(t, "keygen", "--name", "example.org/other", "--out", otherKey)
	require.Equal(t, 0, code)
	code, _, errOut = runCLI(t, "verify-receipt", receipt, "--key", keyFile, "--key", strings.TrimSpace(other))
	require.Equal(t, 0, code, errOut)

	// Only an unrelated key: not verified.
	code, _, errOut = runCLI(t, "verify-receipt", "--key", strings.TrimSpace(other), receipt)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "NOT VERIFIED")

	// Modified receipts.
	b, err := os.ReadFile(receipt)
	require.NoError(t, err)
	for name, doc := range map[string]string{
		"seq":       strings.Replace(string(b), `"seq": 9`, `"seq": 8`, 1),
		"malformed": string(b[:len(b)/2]),
		"unknown":   strings.Replace(string(b), `"seq"`, `"extra": 1, "seq"`, 1),
		"size":      strings.Replace(string(b), `\n20\n`, `\n21\n`, 1),
	} {
		require.NotEqual(t, string(b), doc, name)
		path := filepath.Join(t.TempDir(), "bad.json")
		require.NoError(t, os.WriteFile(path, []byte(doc), 0o644))
		code, _, errOut := runCLI(t, "verify-receipt", "--key", vkey, path)
		require.Equal(t, 1, code, name)
		require.Contains(t, errOut, "NOT VERIFIED", name)
	}

	// Usage and I/O errors.
	for _, args := range [][]string{
		{"verify-receipt", receipt},
		{"verify-receipt", "--key", vkey},
		{"verify-receipt", "--key", "not-a-key", receipt},
		{"verify-receipt", "--key", vkey, filepath.Join(dir, "missing.json")},
	} {
		code, _, errOut := runCLI(t, args...)
		require.Equal(t, 2, code, "%v: %s", args, errOut)
	}
}
