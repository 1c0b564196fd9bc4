package treeoflife

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReaderWithKey: a Reader given the key of an encrypted log reads what
// the writer reads, from sealed segments and from the one being written,
// follows the writer's new data keys, and counts every level in Stats; one
// without a key, or with a wrong one, says why it cannot.
func TestReaderWithKey(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		log  Options
		read ReaderOptions
	}{
		{"key", Options{EncryptionKey: testKey(3)}, ReaderOptions{EncryptionKey: testKey(3)}},
		{"passphrase", Options{Passphrase: "correct horse"}, ReaderOptions{Passphrase: "correct horse"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := tc.log
			opts.SegmentSize = MinSegmentSize
			l := openT(t, dir, opts)
			defer l.Close()
			for i := 0; i < 400; i++ {
				_, err := l.Log(ctx, Levels()[i%len(Levels())], "payment", Fields{"i": i, "pad": string(make([]byte, 200))})
				require.NoError(t, err)
			}
			require.NoError(t, l.Sync(ctx))
			st, err := l.Stats(ctx)
			require.NoError(t, err)
			require.Greater(t, st.Segments, 1, "sealed segments and an active one")

			r, err := OpenReaderWith(dir, tc.read)
			require.NoError(t, err)
			defer r.Close()
			require.True(t, r.Encrypted())
			want, err := l.Read(ctx, Filter{Limit: 1000})
			require.NoError(t, err)
			got, err := r.Read(ctx, Filter{Limit: 1000})
			require.NoError(t, err)
			require.Equal(t, want, got)
			hits, err := r.Search(ctx, "payment", Filter{Levels: []Level{LevelAudit}})
			require.NoError(t, err)
			require.Len(t, hits, 50)
			rst, err := r.Stats(ctx)
			require.NoError(t, err)
			require.Zero(t, rst.Unknown, "with the key every record's level and time are known")
			require.Equal(t, st.Levels, rst.Levels)

			// A new data key after the Reader read HEADER.
			require.NoError(t, l.RotateDataKey(ctx))
			rec, err := l.Security("after rotation", nil)
			require.NoError(t, err)
			require.NoError(t, l.Sync(ctx))
			es, err := r.Query(ctx, Query{"message": "after rotation"}, Filter{})
			require.NoError(t, err)
			require.Len(t, es, 1)
			require.Equal(t, rec.Seq, es[0].Seq)

			// Without the key: sizes yes, entries no.
			bare, err := OpenReader(dir)
			require.NoError(t, err)
			defer bare.Close()
			_, err = bare.Read(ctx, Filter{})
			require.ErrorIs(t, err, ErrKeyRequired)
			require.ErrorContains(t, err, "OpenReaderWith")
			_, err = bare.Verify(ctx)
			require.NoError(t, err)
		})
	}

	t.Run("wrong key", func(t *testing.T) {
		dir := t.TempDir()
		l := openT(t, dir, Options{EncryptionKey: testKey(4)})
		_, err := l.Info("x", nil)
		require.NoError(t, err)
		require.NoError(t, l.Close())
		_, err = OpenReaderWith(dir, ReaderOptions{EncryptionKey: testKey(5)})
		require.ErrorIs(t, err, ErrWrongKey)
		_, err = OpenReaderWith(dir, ReaderOptions{EncryptionKey: testKey(4), Passphrase: "two"})
		require.ErrorIs(t, err, ErrInvalidOptions)
	})

	t.Run("key for a plain log", func(t *testing.T) {
		dir := t.TempDir()
		l := openT(t, dir, Options{})
		require.NoError(t, l.Close())
		_, err := OpenReaderWith(dir, ReaderOptions{EncryptionKey: testKey(4)})
		require.ErrorIs(t, err, ErrInvalidOptions)
	})
}
