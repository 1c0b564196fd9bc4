package treeoflife

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// A nil or zero logger, Tenants, TenantLogger or Reader is closed: its
// methods return ErrClosed instead of panicking.
func TestZeroValuesAreClosed(t *testing.T) {
	ctx := context.Background()
	firstErr := func(seq func(func(Entry, error) bool)) error {
		var got error
		seq(func(_ Entry, err error) bool { got = err; return false })
		return got
	}
	for name, l := range map[string]*ImmutableLogger{"nil": nil, "zero": {}} {
		t.Run("logger/"+name, func(t *testing.T) {
			_, err := l.Info("x", nil)
			require.ErrorIs(t, err, ErrClosed)
			_, err = l.Log(ctx, LevelAudit, "x", nil)
			require.ErrorIs(t, err, ErrClosed)
			require.ErrorIs(t, l.Sync(ctx), ErrClosed)
			require.ErrorIs(t, verifyErr(l.Verify(ctx)), ErrClosed)
			_, err = l.Read(ctx, Filter{})
			require.ErrorIs(t, err, ErrClosed)
			_, err = l.Search(ctx, "x", Filter{})
			require.ErrorIs(t, err, ErrClosed)
			_, err = l.Query(ctx, Query{}, Filter{})
			require.ErrorIs(t, err, ErrClosed)
			require.ErrorIs(t, firstErr(l.Entries(ctx, Filter{})), ErrClosed)
			require.ErrorIs(t, firstErr(l.Tail(ctx, Filter{})), ErrClosed)
			_, err = l.Stats(ctx)
			require.ErrorIs(t, err, ErrClosed)
			_, err = l.Checkpoint(ctx)
			require.ErrorIs(t, err, ErrClosed)
			require.ErrorIs(t, l.RotateKey(ctx, make([]byte, KeySize)), ErrClosed)
			require.ErrorIs(t, l.RotateDataKey(ctx), ErrClosed)
			_, err = l.ProveConsistency(ctx, 0, 1)
			require.ErrorIs(t, err, ErrClosed)
			_, err = l.ProveInclusion(ctx, 0, 1)
			require.ErrorIs(t, err, ErrClosed)
			_, err = l.Receipt(ctx, 0)
			require.ErrorIs(t, err, ErrClosed)
			_, err = l.VerifyBackup(ctx)
			require.ErrorIs(t, err, ErrClosed)
			require.ErrorIs(t, l.SyncBackup(ctx), ErrClosed)
			require.Equal(t, BackupStatus{}, l.BackupStatus())
			require.Equal(t, Head{}, l.Head())
			require.Empty(t, l.LogID())
			require.Empty(t, l.Dir())
			require.Empty(t, l.Tenant())
			require.False(t, l.Encrypted())
			require.ErrorIs(t, l.Close(), ErrClosed)
		})
	}
	for name, tt := range map[string]*Tenants{"nil": nil, "zero": {}} {
		t.Run("tenants/"+name, func(t *testing.T) {
			_, err := tt.Dir("acme")
			require.ErrorIs(t, err, ErrClosed)
			require.Nil(t, tt.System())
			_, err = tt.Get(ctx, "acme")
			require.ErrorIs(t, err, ErrClosed)
			_, err = tt.Log(ctx, "acme", LevelAudit, "x", nil)
			require.ErrorIs(t, err, ErrClosed)
			_, err = tt.List()
			require.ErrorIs(t, err, ErrClosed)
			require.ErrorIs(t, tt.Erase(ctx, "acme"), ErrClosed)
			require.ErrorIs(t, tt.Close(), ErrClosed)
		})
	}
	var tl *TenantLogger
	require.ErrorIs(t, tl.Close(), ErrClosed)
	require.ErrorIs(t, (&TenantLogger{}).Close(), ErrClosed)
	var r *Reader
	require.ErrorIs(t, r.Close(), ErrClosed)
	require.ErrorIs(t, (&Reader{}).Close(), ErrClosed)
}
