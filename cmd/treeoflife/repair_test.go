package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/treeoflife/treeoflife"
)

// damagedLog writes 20 records in two sessions and leaves the CHECKPOINT of
// the first (as a crash before the second Close would), then flips a byte
// of record 18's payload: Open refuses the log, records 0…17 are intact. It
// returns the directory and the CHECKPOINT of all 20 records.
func damagedLog(t *testing.T) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	write := func(from int) {
		l, err := treeoflife.Open(dir, treeoflife.Options{})
		require.NoError(t, err)
		for i := from; i < from+10; i++ {
			_, err := l.Info("record "+strconv.Itoa(i), treeoflife.Fields{"pad": strings.Repeat("p", 400)})
			require.NoError(t, err)
		}
		require.NoError(t, l.Close())
	}
	write(0)
	cp, err := os.ReadFile(filepath.Join(dir, "CHECKPOINT"))
	require.NoError(t, err)
	write(10)
	full, err := os.ReadFile(filepath.Join(dir, "CHECKPOINT"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "CHECKPOINT"), cp, 0o644))
	seg := filepath.Join(dir, "00000000000000000000.seg")
	b, err := os.ReadFile(seg)
	require.NoError(t, err)
	i := strings.Index(string(b), `"record 18"`)
	require.Positive(t, i)
	b[i+200] ^= 1 // in the pad
	require.NoError(t, os.WriteFile(seg, b, 0o644))
	_, err = treeoflife.Open(dir, treeoflife.Options{})
	require.ErrorIs(t, err, treeoflife.ErrTampered)
	return dir, full
}

func TestRepairCommand(t *testing.T) {
	dir, _ := damagedLog(t)
	code, out, errOut := runCLI(t, "repair", dir)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "cut 00000000000000000000.seg at offset ")
	assert.Contains(t, out, "records cut: 2 (seq 18 to 19)")
	assert.Contains(t, out, "recorded as SYSTEM entry 18")
	des, err := os.ReadDir(filepath.Join(dir, "repair"))
	require.NoError(t, err)
	require.Len(t, des, 1)
	assert.True(t, strings.HasSuffix(des[0].Name(), ".cut"))

	code, out, errOut = runCLI(t, "verify", dir)
	require.Equal(t, 0, code, out+errOut)
	code, out, errOut = runCLI(t, "repair", dir)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "nothing to repair")
}

func TestRepairCommandRefuses(t *testing.T) {
	dir, full := damagedLog(t)
	// The CHECKPOINT of all 20 records: the damaged one was anchored, and
	// only a backup can give it back.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "CHECKPOINT"), full, 0o644))
	code, _, errOut := runCLI(t, "repair", dir)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "repair refused")
	assert.Contains(t, errOut, "covered by CHECKPOINT")
	_, err := os.Stat(filepath.Join(dir, "repair"))
	assert.ErrorIs(t, err, os.ErrNotExist, "a refused repair changes nothing")

	code, out, _ := runCLI(t, "repair", "-h")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "not implemented")
	code, _, _ = runCLI(t, "repair")
	assert.Equal(t, 2, code)
}
