package witness

import (
	"context"
	"errors"
	"net/http"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// prover returns a prove function over l that records its calls.
func prover(l *testLog, calls *[][2]uint64) func(context.Context, uint64, uint64) (tlog.TreeProof, error) {
	return func(_ context.Context, old, size uint64) (tlog.TreeProof, error) {
		*calls = append(*calls, [2]uint64{old, size})
		return tlog.ProveTree(int64(size), int64(old), l.reader())
	}
}

func TestClientCosign(t *testing.T) {
	ctx := context.Background()
	l := newTestLog(t, "example.com/log1").grow(30)
	tw := newTestWitness(t, l)
	c, err := NewClient(tw.srv.URL+"/", tw.vkey, nil)
	require.NoError(t, err)
	require.Equal(t, "witness.example/w1", c.Name())

	var calls [][2]uint64
	prove := prover(l, &calls)
	sigs, err := c.Cosign(ctx, l.checkpoint(4), prove)
	require.NoError(t, err)
	require.Len(t, sigs, 1)
	require.Equal(t, "witness.example/w1", sigs[0].Name)
	require.Empty(t, calls, "no proof from size 0")
	_, err = c.Cosign(ctx, l.checkpoint(10), prove)
	require.NoError(t, err)
	require.Equal(t, [][2]uint64{{4, 10}}, calls)

	// A second client starts from 0, learns 10 from the 409 and retries.
	c2, err := NewClient(tw.srv.URL, tw.vkey, http.DefaultClient)
	require.NoError(t, err)
	calls = nil
	_, err = c2.Cosign(ctx, l.checkpoint(20), prove)
	require.NoError(t, err)
	require.Equal(t, [][2]uint64{{10, 20}}, calls)

	// c remembers 10; the witness holds 20: one retry.
	calls = nil
	_, err = c.Cosign(ctx, l.checkpoint(30), prove)
	require.NoError(t, err)
	require.Equal(t, [][2]uint64{{10, 30}, {20, 30}}, calls)

	// Rollback, seen from a client that remembers 30 and from a new one.
	for _, cl := range []*Client{c, mustClient(t, tw)} {
		_, err = cl.Cosign(ctx, l.checkpoint(25), prove)
		require.ErrorIs(t, err, ErrRollback)
		var ce *ConflictError
		require.ErrorAs(t, err, &ce)
		require.EqualValues(t, 30, ce.Size)
	}

	// Fork: same origin and key, other records.
	fork := newTestLogWithKey(t, l.origin, l.skey, l.vkey).grow(1).append("other").grow(40)
	_, err = c.Cosign(ctx, fork.checkpoint(30), prover(fork, &calls))
	require.ErrorIs(t, err, ErrFork)
	_, err = c.Cosign(ctx, fork.checkpoint(40), prover(fork, &calls))
	require.ErrorIs(t, err, ErrFork)
	var se *StatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, http.StatusUnprocessableEntity, se.StatusCode)

	// Latest carries the checkpoint at 30, with both signatures.
	b, err := c.Latest(ctx, l.origin)
	require.NoError(t, err)
	logV, err := note.NewVerifier(l.vkey)
	require.NoError(t, err)
	n, err := note.Open(b, note.VerifierList(logV, tw.verifier()))
	require.NoError(t, err)
	require.Equal(t, l.text(30), n.Text)
	require.Len(t, n.Sigs, 2)

	// Unknown origin and key.
	_, err = c.Latest(ctx, "example.com/none")
	require.ErrorIs(t, err, os.ErrNotExist)
	stranger := newTestLog(t, "example.com/stranger").grow(1)
	_, err = c.Cosign(ctx, stranger.checkpoint(1), prove)
	require.ErrorIs(t, err, ErrUnknownLog)
	impostor := newTestLog(t, l.origin).grow(31)
	_, err = mustClient(t, tw).Cosign(ctx, impostor.checkpoint(31), prover(impostor, &calls))
	require.ErrorIs(t, err, ErrForbidden)
}

func mustClient(t *testing.T, tw *testWitness) *Client {
	c, err := NewClient(tw.srv.URL, tw.vkey, nil)
	require.NoError(t, err)
	return c
}

func TestClientConflictTwice(t *testing.T) {
	// A witness that always answers 409 with a growing size.
	l := newTestLog(t, "example.com/log1").grow(10)
	size := 0
	srv := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		size++
		w.Header().Set("Content-Type", "text/x.tlog.size")
		w.WriteHeader(http.StatusConflict)
		w.Write([]byte{byte('0' + size), '\n'})
	}))
	_, vkey := newTestCosigner(t, "w")
	c, err := NewClient(srv, vkey, nil)
	require.NoError(t, err)
	var calls [][2]uint64
	_, err = c.Cosign(context.Background(), l.checkpoint(10), prover(l, &calls))
	require.ErrorIs(t, err, ErrConflict)
	var ce *ConflictError
	require.ErrorAs(t, err, &ce)
	require.EqualValues(t, 2, ce.Size)
	require.False(t, errors.Is(err, ErrRollback))
	require.Equal(t, [][2]uint64{{1, 10}}, calls)
}

func TestClientRejectsForeignCosignature(t *testing.T) {
	l := newTestLog(t, "example.com/log1").grow(3)
	tw := newTestWitness(t, l)
	_, otherVkey := newTestCosigner(t, "witness.example/w1") // same name, other key
	c, err := NewClient(tw.srv.URL, otherVkey, nil)
	require.NoError(t, err)
	var calls [][2]uint64
	_, err = c.Cosign(context.Background(), l.checkpoint(3), prover(l, &calls))
	require.ErrorContains(t, err, "cosignature does not verify")
	_, err = c.Latest(context.Background(), l.origin)
	require.ErrorContains(t, err, "cosignature does not verify")

	_, err = NewClient("ftp://x", tw.vkey, nil)
	require.Error(t, err)
	_, err = NewClient(tw.srv.URL, "junk", nil)
	require.Error(t, err)
}
