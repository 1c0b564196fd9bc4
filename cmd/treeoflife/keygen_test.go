package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/treeoflife/treeoflife"
)

func TestKeygen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.key")
	code, out, errOut := runCLI(t, "keygen", "--name", "example.com/audit", "--out", path)
	require.Equal(t, 0, code, errOut)
	vkey := strings.TrimSpace(out)
	require.True(t, strings.HasPrefix(vkey, "example.com/audit+"), "stdout is the public key: %q", out)
	_, err := treeoflife.NewVerifiers(vkey)
	require.NoError(t, err)

	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(b), "PRIVATE+KEY+example.com/audit+"))
	require.NotContains(t, out, "PRIVATE")
	require.NotContains(t, errOut, "PRIVATE")
	_, err = treeoflife.LoadSigningKey(path)
	require.NoError(t, err)

	// Never over an existing file.
	code, out, errOut = runCLI(t, "keygen", "--name", "example.com/audit", "--out", path)
	require.Equal(t, 2, code)
	require.Empty(t, out)
	require.Contains(t, errOut, "refusing to overwrite")
	b2, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, b, b2)

	for _, args := range [][]string{
		{"keygen"},
		{"keygen", "--name", "x"},
		{"keygen", "--out", filepath.Join(t.TempDir(), "k")},
		{"keygen", "--name", "bad name", "--out", filepath.Join(t.TempDir(), "k")},
		{"keygen", "--name", "x", "--out", filepath.Join(t.TempDir(), "k"), "extra"},
	} {
		code, _, errOut := runCLI(t, args...)
		require.Equal(t, 2, code, "%v", args)
		require.Contains(t, errOut, " -h)", "%v", args)
	}
}
