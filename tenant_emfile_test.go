//go:build linux

package treeoflife

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// Out of file descriptors, Get closes idle tenant loggers to open another
// rather than return EMFILE.
func TestTenantEMFILEClosesIdleLoggers(t *testing.T) {
	ctx := context.Background()
	ts, err := OpenTenants(t.TempDir(), Options{MaxOpenTenants: 1000})
	require.NoError(t, err)
	defer ts.Close()
	for i := range 30 {
		tl, err := ts.Get(ctx, fmt.Sprintf("idle-%d", i))
		require.NoError(t, err)
		require.NoError(t, tl.Close())
	}
	var old syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old))
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	low := old
	low.Cur = uint64(len(fds) + 4) // less than one more logger needs
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low))
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
	for i := range 10 {
		tl, err := ts.Get(ctx, fmt.Sprintf("new-%d", i))
		require.NoError(t, err, "tenant %d", i)
		_, err = tl.Info("hello", nil)
		require.NoError(t, err)
		require.NoError(t, tl.Close())
	}
	require.Less(t, ts.openCount(), 31, "idle loggers were closed to make room")
}
