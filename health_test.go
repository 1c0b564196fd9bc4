package treeoflife

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var v map[string]any
	require.NoError(t, json.Unmarshal(b, &v), "%s", b)
	return resp.StatusCode, v
}

func TestHealthHandler(t *testing.T) {
	ctx := context.Background()
	// Threshold 1: whatever the test machine's disk holds, it is not over.
	l, err := Open(t.TempDir(), Options{DiskUsageThreshold: 1})
	require.NoError(t, err)
	_, err = l.Audit("login", Fields{"user": "ann"})
	require.NoError(t, err)
	require.NoError(t, verifyErr(l.Verify(ctx)))

	mux := http.NewServeMux()
	mux.Handle("/livez", HealthHandler(l))
	mux.Handle("/readyz", HealthHandler(l))
	mux.Handle("/", HealthHandler(l))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	code, v := getJSON(t, srv.URL+"/livez")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "alive", v["status"])

	code, v = getJSON(t, srv.URL+"/readyz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok", v["status"])
	assert.Equal(t, float64(1), v["records"])
	assert.Equal(t, false, v["failedClosed"])
	assert.Equal(t, true, v["lastVerify"].(map[string]any)["full"])
	assert.Nil(t, v["reasons"])

	code, _ = getJSON(t, srv.URL+"/elsewhere")
	assert.Equal(t, http.StatusNotFound, code)

	// Failed closed: not ready, with the reason; still alive.
	real := l.f
	r, w, err := os.Pipe()
	require.NoError(t, err)
	require.NoError(t, r.Close())
	l.f = w
	_, err = l.Info("lost", nil)
	require.Error(t, err)
	code, v = getJSON(t, srv.URL+"/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "failed", v["status"])
	assert.Equal(t, true, v["failedClosed"])
	require.NotEmpty(t, v["reasons"])
	assert.Contains(t, v["reasons"].([]any)[0], "failed closed")
	code, _ = getJSON(t, srv.URL+"/livez")
	assert.Equal(t, http.StatusOK, code)
	require.Error(t, l.Close())
	require.NoError(t, real.Close())

	code, v = getJSON(t, srv.URL+"/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, v["reasons"], "the logger is closed")
}

func TestHealthDegradedDisk(t *testing.T) {
	if !statDisk(t.TempDir()).OK {
		t.Skip("statfs is not available here")
	}
	l, err := Open(t.TempDir(), Options{DiskUsageThreshold: 0.0001})
	require.NoError(t, err)
	defer l.Close()
	srv := httptest.NewServer(HealthHandler(l))
	defer srv.Close()
	code, v := getJSON(t, srv.URL+"/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "degraded", v["status"])
	assert.Contains(t, v["reasons"].([]any)[0], "threshold")
	disk := v["disk"].(map[string]any)
	assert.Equal(t, true, disk["ok"])
	assert.Greater(t, disk["usedRatio"], 0.0001)
}

func TestHealthCheckpointOverdue(t *testing.T) {
	l, err := Open(t.TempDir(), Options{DiskUsageThreshold: 1, CheckpointInterval: -1})
	require.NoError(t, err)
	defer l.Close()
	_, err = l.Info("one", nil)
	require.NoError(t, err)
	// No interval: checkpoints come with sealing and Close; never overdue.
	assert.Equal(t, HealthOK, l.Health().Status)
	l.opts.CheckpointInterval = 1 // as if checkpoints were due every nanosecond
	h := l.Health()
	assert.Equal(t, HealthDegraded, h.Status)
	assert.Contains(t, h.Reasons[0], "checkpoint")
}

// TestHealthVerifyOverdue: with a VerifyInterval, Health says so when no
// verification has completed for three intervals, counted from Open until
// the first one, and stops saying so once one completes.
func TestHealthVerifyOverdue(t *testing.T) {
	ctx := context.Background()
	l, err := Open(t.TempDir(), Options{DiskUsageThreshold: 1, CheckpointInterval: -1, VerifyInterval: time.Hour})
	require.NoError(t, err)
	defer l.Close()
	_, err = l.Info("one", nil)
	require.NoError(t, err)
	h := l.Health()
	require.False(t, h.VerifyOverdue)
	require.Equal(t, HealthOK, h.Status, "%v", h.Reasons)

	l.obs.started = l.obs.started.Add(-4 * time.Hour) // as if opened four hours ago, the loop never done
	h = l.Health()
	require.True(t, h.VerifyOverdue)
	require.Equal(t, HealthDegraded, h.Status)
	require.Len(t, h.Reasons, 1)
	require.Contains(t, h.Reasons[0], "verification is overdue")
	require.Contains(t, h.Reasons[0], "no verification has completed")

	_, err = l.Verify(ctx) // a verification now: no longer overdue
	require.NoError(t, err)
	h = l.Health()
	require.False(t, h.VerifyOverdue)
	require.Equal(t, HealthOK, h.Status, "%v", h.Reasons)
}
