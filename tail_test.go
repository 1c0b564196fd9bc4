package treeoflife

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestReaderTail follows, through a Reader, records that a logger writes
// after the Tail started, across rotations and compression.
func TestReaderTail(t *testing.T) {
	defer func(d time.Duration) { readerTailPoll = d }(readerTailPoll)
	readerTailPoll = 5 * time.Millisecond
	l, recs := openTestLog(t, 300)
	r, err := OpenReader(l.Dir())
	require.NoError(t, err)
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	type got struct {
		e   Entry
		err error
	}
	follow := func(ctx context.Context, f Filter) (<-chan got, <-chan struct{}) {
		ch := make(chan got)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for e, err := range r.Tail(ctx, f) {
				ch <- got{e, err}
			}
		}()
		return ch, done
	}
	next := func(ch <-chan got) Entry {
		t.Helper()
		select {
		case g := <-ch:
			require.NoError(t, g.err)
			return g.e
		case <-time.After(10 * time.Second):
			t.Fatal("Tail yielded nothing for 10 s")
			return Entry{}
		}
	}

	all, allDone := follow(ctx, Filter{})
	errs, errsDone := follow(ctx, Filter{Levels: []Level{LevelError}, Limit: 3})
	for i := 0; i < 300; i++ {
		require.Equal(t, uint64(i), next(all).Seq)
	}
	for _, want := range modelRead(recs, Filter{Levels: []Level{LevelError}, Limit: 3}, nil) {
		require.Equal(t, want, next(errs).Seq)
	}
	more := writeTestLog(t, l, 300, 400)
	recs = append(recs, more...)
	for i := 300; i < 700; i++ {
		e := next(all)
		require.Equal(t, uint64(i), e.Seq)
		requireEntry(t, recs, genesisChain(l.logID), e)
	}
	for _, want := range model(recs, Filter{Levels: []Level{LevelError}, FromSeq: 300}, nil) {
		require.Equal(t, want, next(errs).Seq)
	}
	// Ending the context ends the iteration quietly.
	cancel()
	<-allDone
	<-errsDone

	// ToSeq ends a Tail once the records before it are written.
	ch, done := follow(context.Background(), Filter{FromSeq: 695, ToSeq: 705})
	for i := 695; i < 700; i++ {
		require.Equal(t, uint64(i), next(ch).Seq)
	}
	writeTestLog(t, l, 700, 10)
	for i := 700; i < 705; i++ {
		require.Equal(t, uint64(i), next(ch).Seq)
	}
	<-done

	// Closing the Reader ends a Tail quietly too.
	ch, done = follow(context.Background(), Filter{FromSeq: 710})
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, r.Close())
	select {
	case g := <-ch:
		t.Fatalf("yielded %+v after Close", g)
	case <-done:
	}
}

func TestReaderTailInvalid(t *testing.T) {
	l, _ := openTestLog(t, 3)
	r, err := OpenReader(l.Dir())
	require.NoError(t, err)
	defer r.Close()
	for _, f := range []Filter{{Reverse: true}, {Limit: -1}, {Query: Query{"nope": 1}}} {
		n := 0
		for _, err := range r.Tail(context.Background(), f) {
			n++
			require.True(t, errors.Is(err, ErrInvalidFilter) || errors.Is(err, ErrInvalidQuery), "%v", err)
		}
		require.Equal(t, 1, n)
	}
}
