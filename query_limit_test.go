package treeoflife

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestQueryAndSearchAreBounded: a Search or Query without a limit returns
// at most DefaultQueryLimit entries and says that more match, instead of
// growing without bound or cutting silently; with a limit, or through
// Entries, every match is read.
func TestQueryAndSearchAreBounded(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openT(t, dir, Options{Durability: DurabilityBuffered})
	const n = DefaultQueryLimit + 7
	for i := 0; i < n; i++ {
		_, err := l.Audit("login", Fields{"i": i})
		require.NoError(t, err)
	}
	require.NoError(t, l.Sync(ctx))
	r, err := OpenReader(dir)
	require.NoError(t, err)
	defer r.Close()
	q := Query{"level": "AUDIT"}
	for name, src := range map[string]interface {
		Query(context.Context, Query, Filter) ([]Entry, error)
		Search(context.Context, string, Filter) ([]Entry, error)
	}{"logger": l, "reader": r} {
		es, err := src.Query(ctx, q, Filter{})
		require.ErrorIs(t, err, ErrTooManyEntries, name)
		require.Len(t, es, DefaultQueryLimit, name)
		require.Equal(t, uint64(DefaultQueryLimit-1), es[len(es)-1].Seq, name)
		es, err = src.Search(ctx, "login", Filter{})
		require.ErrorIs(t, err, ErrTooManyEntries, name)
		require.Len(t, es, DefaultQueryLimit, name)

		es, err = src.Query(ctx, q, Filter{Limit: n + 1})
		require.NoError(t, err, name)
		require.Len(t, es, n, name)
		es, err = src.Search(ctx, "login", Filter{Limit: 3, Reverse: true})
		require.NoError(t, err, name)
		require.Equal(t, []uint64{n - 1, n - 2, n - 3}, []uint64{es[0].Seq, es[1].Seq, es[2].Seq}, name)
		es, err = src.Query(ctx, q, Filter{FromSeq: n - 5})
		require.NoError(t, err, name, "exactly as many as match, under the default limit")
		require.Len(t, es, 5, name)
	}
	count := 0
	for _, err := range l.Entries(ctx, Filter{Query: q}) {
		require.NoError(t, err)
		count++
	}
	require.Equal(t, n, count)
}
