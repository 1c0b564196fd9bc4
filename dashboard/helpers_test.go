package dashboard_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/treeoflife/treeoflife"
)

// signedLogger opens a new log with a signing key and small segments.
func signedLogger(t testing.TB, dir string) (*treeoflife.ImmutableLogger, note.Verifiers) {
	t.Helper()
	skey, vkey, err := treeoflife.GenerateSigningKey("dashboard-test")
	require.NoError(t, err)
	s, err := note.NewSigner(skey)
	require.NoError(t, err)
	vs, err := treeoflife.NewVerifiers(vkey)
	require.NoError(t, err)
	l, err := treeoflife.Open(dir, treeoflife.Options{Signer: s, SegmentSize: 8 << 10})
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l, vs
}

// fill logs n records: every fifth an ERROR, the rest INFO, and returns
// the count per level.
func fill(t testing.TB, l *treeoflife.ImmutableLogger, n int) map[treeoflife.Level]int {
	t.Helper()
	counts := map[treeoflife.Level]int{}
	for i := 0; i < n; i++ {
		lv := treeoflife.LevelInfo
		if i%5 == 0 {
			lv = treeoflife.LevelError
		}
		_, err := l.Log(t.Context(), lv, fmt.Sprintf("payment %d received", i), treeoflife.Fields{"user": fmt.Sprintf("u_%d", i%7), "amount": 1000 + i, "pad": strings.Repeat(".", 60)})
		require.NoError(t, err)
		counts[lv]++
	}
	return counts
}

// flipSealed flips one byte in the middle of the first sealed segment and
// returns the segment's name.
func flipSealed(t testing.TB, dir string) string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "*.seg*"))
	require.NoError(t, err)
	sort.Strings(segs)
	require.GreaterOrEqual(t, len(segs), 2, "the log must have a sealed segment")
	b, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	b[len(b)/2] ^= 0x20
	require.NoError(t, os.WriteFile(segs[0], b, 0o644))
	return filepath.Base(segs[0])
}
