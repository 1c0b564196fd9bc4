package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/treeoflife/treeoflife"
)

// writeSignedLog writes n entries to a new log in dir, its checkpoints
// signed with a new key, and returns the public key and the key's file.
func writeSignedLog(t *testing.T, dir string, n int) (vkey, keyFile string) {
	t.Helper()
	keyFile = filepath.Join(t.TempDir(), "log.key")
	code, out, errOut := runCLI(t, "keygen", "--name", "example.com/audit", "--out", keyFile)
	require.Equal(t, 0, code, errOut)
	signer, err := treeoflife.LoadSigningKey(keyFile)
	require.NoError(t, err)
	l, err := treeoflife.Open(dir, treeoflife.Options{Signer: signer, SegmentSize: treeoflife.MinSegmentSize})
	require.NoError(t, err)
	for i := 0; i < n; i++ {
		_, err := l.Revenue("payment "+strconv.Itoa(i), treeoflife.Fields{"customer": "cus_" + strconv.Itoa(i%5), "pad": strings.Repeat("p", 400)})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	return strings.TrimSpace(out), keyFile
}

func TestProve(t *testing.T) {
	dir := t.TempDir()
	vkey, _ := writeSignedLog(t, dir, 30)

	code, out, errOut := runCLI(t, "prove", dir, "17")
	require.Equal(t, 0, code, errOut)
	rc, err := treeoflife.ParseReceipt([]byte(out))
	require.NoError(t, err)
	require.EqualValues(t, 17, rc.Seq)
	require.Contains(t, string(rc.Record), "payment 17")
	known, err := treeoflife.NewVerifiers(vkey)
	require.NoError(t, err)
	cp, err := rc.Verify(known)
	require.NoError(t, err)
	require.EqualValues(t, 30, cp.Size)

	// --out, after the arguments or before them.
	path := filepath.Join(t.TempDir(), "r.json")
	code, out, errOut = runCLI(t, "prove", dir, "0", "--out", path)
	require.Equal(t, 0, code, errOut)
	require.Empty(t, out)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	require.Equal(t, []string{"checkpoint", "leafHash", "proof", "record", "seq"}, sortedKeys(m))
	code, _, errOut = runCLI(t, "prove", "--out", filepath.Join(t.TempDir(), "r.json"), dir, "29")
	require.Equal(t, 0, code, errOut)

	// Not covered, not a number, not a log.
	code, _, errOut = runCLI(t, "prove", dir, "30")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "not in CHECKPOINT")
	code, _, errOut = runCLI(t, "prove", dir, "x")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "is not a sequence number")
	code, _, _ = runCLI(t, "prove", dir)
	require.Equal(t, 2, code)
	code, _, _ = runCLI(t, "prove", filepath.Join(dir, "missing"), "0")
	require.Equal(t, 2, code)

	// An unsigned log has no receipts.
	unsigned := t.TempDir()
	writeLog(t, unsigned, "", 5)
	code, _, errOut = runCLI(t, "prove", unsigned, "1")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "not signed")
}

func sortedKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

// proveToFile writes the receipt of seq to a file and returns its path.
func proveToFile(t *testing.T, dir string, seq int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "receipt.json")
	code, _, errOut := runCLI(t, "prove", "--out", path, dir, strconv.Itoa(seq))
	require.Equal(t, 0, code, errOut)
	return path
}
