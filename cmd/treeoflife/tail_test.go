package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTailFollowInterrupted: tail -f prints the newest record, follows,
// and exits 0 when interrupted (main turns SIGINT into the end of ctx).
func TestTailFollowInterrupted(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, "", 50)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var errOut strings.Builder
	done := make(chan int, 1)
	go func() {
		c := &cli{stdout: pw, stderr: &errOut}
		done <- c.run(ctx, []string{"tail", "-f", "-n", "1", dir})
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, line, `"seq":49,`, "the newest record first")
	cancel() // as SIGINT does
	go io.Copy(io.Discard, pr)
	require.Equal(t, 0, <-done, errOut.String())
	require.Empty(t, errOut.String())
}
