package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestProgressOnTerminal: on a terminal, verify and export draw a progress
// line on stderr, and erase it, leaving stdout to the results; otherwise
// stderr stays empty.
func TestProgressOnTerminal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	writeLog(t, dir, "", 30)
	for _, tc := range []struct {
		label string
		args  []string
		out   string
	}{
		{"verifying", []string{"verify", dir}, "OK, 30 records"},
		{"exporting", []string{"export", "--format", "jsonl", "--out", "OUT", dir}, `"seq":29`},
	} {
		for _, terminal := range []bool{true, false} {
			var out, errOut bytes.Buffer
			c := &cli{stdout: &out, stderr: &errOut, progress: terminal}
			args := slices.Clone(tc.args)
			outFile := filepath.Join(t.TempDir(), "export.jsonl")
			if i := slices.Index(args, "OUT"); i >= 0 {
				args[i] = outFile
			}
			require.Equal(t, 0, c.run(context.Background(), args), "%s: %s", tc.args[0], errOut.String())
			if slices.Contains(tc.args, "OUT") {
				b, err := os.ReadFile(outFile)
				require.NoError(t, err)
				require.Contains(t, string(b), tc.out)
			} else {
				require.Contains(t, out.String(), tc.out)
			}
			require.NotContains(t, out.String(), "\r", "no progress on stdout")
			if !terminal {
				require.Empty(t, errOut.String(), "%s: plain output only when not on a terminal", tc.args[0])
				continue
			}
			e := errOut.String()
			require.True(t, strings.HasPrefix(e, "\r\033[K"+tc.label+" ["), "%s: stderr %q starts with the bar", tc.args[0], e)
			require.True(t, strings.HasSuffix(e, "\r\033[K"), "%s: stderr %q ends erasing the line", tc.args[0], e)
		}
	}
}

// TestProgressDraw: the bar is filled in proportion to the count, and a
// count without a total is shown as a number.
func TestProgressDraw(t *testing.T) {
	var b bytes.Buffer
	p := &progress{w: &b, start: time.Now(), label: "exporting", n: 15, max: 30}
	p.draw()
	require.Equal(t, "\r\033[Kexporting [###############...............] 15/30 0s", b.String())
	b.Reset()
	p.set("restoring (bytes written)", 4096)
	p.max = 0
	p.draw()
	require.Equal(t, "\r\033[Krestoring (bytes written) 4096 0s", b.String())
	b.Reset()
	p.set("exporting", 99) // more than the total: a full bar, never past it
	p.max = 30
	p.draw()
	require.Contains(t, b.String(), "[##############################] 99/30")
	var nilp *progress
	nilp.set("nothing", 1) // a nil progress draws nothing
	nilp.end()
}
