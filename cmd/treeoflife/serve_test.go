package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestServe: serve listens where --addr says, serves the dashboard with
// the token from the environment, and exits 0 when interrupted.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, "", 25)
	t.Setenv("TEST_DASHBOARD_TOKEN", "tok-123")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var errOut strings.Builder
	done := make(chan int, 1)
	go func() {
		c := &cli{stdout: pw, stderr: &errOut}
		done <- c.run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--token-env", "TEST_DASHBOARD_TOKEN", dir})
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err, errOut.String())
	go io.Copy(io.Discard, pr)
	i := strings.Index(line, "http://127.0.0.1:")
	require.GreaterOrEqual(t, i, 0, line)
	url := strings.TrimSpace(line[i:])

	resp, err := http.Get(url)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer tok-123")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(b), `<dd id="size">25</dd>`)

	cancel() // as SIGINT does
	require.Equal(t, 0, <-done, errOut.String())
}

func TestServeUsage(t *testing.T) {
	for _, args := range [][]string{
		{"serve"},
		{"serve", "--token-env", "TOL_SURELY_UNSET_VARIABLE", "."},
		{"serve", "--user", "u", "."},
	} {
		var out, errOut strings.Builder
		c := &cli{stdout: &out, stderr: &errOut}
		require.Equal(t, 2, c.run(context.Background(), args), "%v", args)
		require.Contains(t, errOut.String(), "serve -h", "%v", args)
	}
}
