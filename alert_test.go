package treeoflife

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// alertSink collects alerts in a channel for a test to wait on.
func alertSink(t *testing.T) (func(Alert), <-chan Alert) {
	ch := make(chan Alert, 64)
	return func(a Alert) {
		select {
		case ch <- a:
		default:
			t.Errorf("alert channel full, dropped %v", a)
		}
	}, ch
}

// waitAlert waits for the next alert of kind, skipping others; the timeout
// only turns a missing alert into a failure.
func waitAlert(t *testing.T, ch <-chan Alert, kind AlertKind) Alert {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case a := <-ch:
			if a.Kind == kind {
				return a
			}
		case <-timeout:
			t.Fatalf("no %v alert", kind)
		}
	}
}

func TestAlertDedup(t *testing.T) {
	var a alerter
	var got []Alert
	stop := make(chan struct{})
	a.raise(Alert{Kind: AlertDisk, Detail: "first"})
	a.raise(Alert{Kind: AlertDisk, Detail: "again, while it lasts"})
	a.raise(Alert{Kind: AlertBackup, Detail: "another kind"})
	a.clear(AlertDisk)
	a.raise(Alert{Kind: AlertDisk, Detail: "after clearing"})
	a.start(func(al Alert) { got = append(got, al) }, stop)
	close(stop)
	a.wait()
	var details []string
	for _, al := range got {
		details = append(details, al.Detail)
	}
	assert.Equal(t, []string{"first", "another kind", "after clearing"}, details)
}

func TestAlertKindString(t *testing.T) {
	assert.Equal(t, "tamper", AlertTamper.String())
	assert.Equal(t, "failed_closed", AlertFailedClosed.String())
	assert.Equal(t, "AlertKind(9)", AlertKind(9).String())
	b, err := AlertFailedClosed.MarshalText()
	require.NoError(t, err)
	assert.Equal(t, "failed_closed", string(b))
}

// TestAlertTamperBackground edits a sealed segment under a running logger
// whose background verification then finds it.
func TestAlertTamperBackground(t *testing.T) {
	ctx := context.Background()
	onAlert, alerts := alertSink(t)
	dir := t.TempDir()
	l, err := Open(dir, Options{SegmentSize: MinSegmentSize, VerifyInterval: 5 * time.Millisecond, FullVerifyEvery: 1, OnAlert: onAlert})
	require.NoError(t, err)
	defer l.Close()
	for i := range 100 {
		_, err := l.Info(fmt.Sprintf("record %d", i), Fields{"i": i})
		require.NoError(t, err)
	}
	require.NoError(t, l.Sync(ctx))
	segs, err := listSegments(dir)
	require.NoError(t, err)
	require.Greater(t, len(segs), 1, "the first segment is sealed")
	flipByte(t, filepath.Join(dir, segs[0].Name), 300)

	a := waitAlert(t, alerts, AlertTamper)
	require.ErrorIs(t, a.Err, ErrTampered)
	var te *TamperError
	require.ErrorAs(t, a.Err, &te)
	assert.Equal(t, segs[0].Name, te.Segment)
	h := l.Health()
	assert.Equal(t, HealthFailed, h.Status)
	require.NotNil(t, h.LastVerify)
	assert.True(t, h.LastVerify.Tampered)
}

// TestAlertTamperExplicitVerify: Verify raises the alert too, once while
// the log stays altered.
func TestAlertTamperExplicitVerify(t *testing.T) {
	ctx := context.Background()
	onAlert, alerts := alertSink(t)
	dir := t.TempDir()
	l, err := Open(dir, Options{SegmentSize: MinSegmentSize, OnAlert: onAlert})
	require.NoError(t, err)
	defer l.Close()
	for i := range 100 {
		_, err := l.Info(fmt.Sprintf("record %d", i), nil)
		require.NoError(t, err)
	}
	require.NoError(t, verifyErr(l.Verify(ctx)))
	st := l.Metrics().LastVerify
	require.NoError(t, st.Err)
	assert.True(t, st.Full)
	assert.Equal(t, uint64(100), st.Records)

	segs, err := listSegments(dir)
	require.NoError(t, err)
	flipByte(t, filepath.Join(dir, segs[0].Name), 300)
	require.ErrorIs(t, verifyErr(l.Verify(ctx)), ErrTampered)
	require.ErrorIs(t, verifyErr(l.Verify(ctx)), ErrTampered)
	a := waitAlert(t, alerts, AlertTamper)
	require.ErrorIs(t, a.Err, ErrTampered)
	require.ErrorIs(t, l.Metrics().LastVerify.Err, ErrTampered)
	require.NoError(t, l.Close())
	for a := range drain(alerts) {
		assert.NotEqual(t, AlertTamper, a.Kind, "an ongoing condition alerts once")
	}
}

func drain(ch <-chan Alert) <-chan Alert {
	out := make(chan Alert, cap(ch))
	for {
		select {
		case a := <-ch:
			out <- a
		default:
			close(out)
			return out
		}
	}
}

// flipByte changes one byte of a sealed (read-only) file.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	require.NoError(t, os.Chmod(path, 0o644))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= 0x20
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// TestAlertFailedClosed: a write failure (the segment file swapped for a
// broken pipe, as in TestRecoverWriteFailure) alerts and fails the health
// check.
func TestAlertFailedClosed(t *testing.T) {
	ctx := context.Background()
	onAlert, alerts := alertSink(t)
	l, err := Open(t.TempDir(), Options{OnAlert: onAlert})
	require.NoError(t, err)
	_, err = l.Info("kept", nil)
	require.NoError(t, err)
	require.NoError(t, l.Sync(ctx))
	real := l.f
	r, w, err := os.Pipe()
	require.NoError(t, err)
	require.NoError(t, r.Close())
	l.f = w
	_, err = l.Info("lost", nil)
	require.Error(t, err)

	a := waitAlert(t, alerts, AlertFailedClosed)
	require.Error(t, a.Err)
	assert.Contains(t, a.Err.Error(), "write")
	h := l.Health()
	assert.Equal(t, HealthFailed, h.Status)
	assert.True(t, h.FailedClosed)
	require.NotEmpty(t, h.Reasons)
	assert.Contains(t, h.Reasons[0], "failed closed")
	m := l.Metrics()
	assert.True(t, m.FailedClosed)
	require.Error(t, l.Close())
	require.NoError(t, real.Close())
}

// TestAlertDisk: a threshold below the file system's use alerts at once.
func TestAlertDisk(t *testing.T) {
	if !statDisk(t.TempDir()).OK {
		t.Skip("statfs is not available here")
	}
	onAlert, alerts := alertSink(t)
	l, err := Open(t.TempDir(), Options{OnAlert: onAlert, DiskUsageThreshold: 0.0001})
	require.NoError(t, err)
	defer l.Close()
	a := waitAlert(t, alerts, AlertDisk)
	assert.Contains(t, a.Detail, "threshold")
	h := l.Health()
	assert.Equal(t, HealthDegraded, h.Status)
	assert.Contains(t, h.Reasons[0], "disk")
}

// TestAlertBackupFailing: a store that refuses every batch alerts.
func TestAlertBackupFailing(t *testing.T) {
	ctx := context.Background()
	onAlert, alerts := alertSink(t)
	sink := &faultySink{Sink: newFileSink(t), failFrom: 0}
	sink.failPuts.Store(1 << 40)
	l, err := Open(t.TempDir(), Options{OnAlert: onAlert, Backup: sink, BackupBatchSize: 10,
		BackupInterval: 5 * time.Millisecond, BackupCloseTimeout: 100 * time.Millisecond})
	require.NoError(t, err)
	for i := range 20 {
		_, err := l.Info(fmt.Sprintf("record %d", i), nil)
		require.NoError(t, err)
	}
	a := waitAlert(t, alerts, AlertBackup)
	require.ErrorIs(t, a.Err, errInjected)
	h := l.Health()
	assert.Equal(t, HealthDegraded, h.Status)
	require.NotNil(t, h.Backup)
	assert.Contains(t, h.Backup.Error, "injected")
	sink.failPuts.Store(0)
	require.NoError(t, l.SyncBackup(ctx))
	l.Close()
}

func TestAlertOptionsInvalid(t *testing.T) {
	for _, o := range []Options{{DiskUsageThreshold: 1.5}, {DiskUsageThreshold: -1}, {VerifyInterval: -1}, {FullVerifyEvery: -1}, {HealthBackupLag: -1}} {
		_, err := Open(t.TempDir(), o)
		require.True(t, errors.Is(err, ErrInvalidOptions), "%+v: %v", o, err)
	}
}
