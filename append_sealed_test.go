package treeoflife

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSealedAppendsInParallel: an encrypted log's records are sealed by
// their callers in parallel after taking their seq, and linked in seq order
// afterwards. With many callers, small segments (so that segments rotate
// while records before the cut are still being sealed) and Head read all
// the while, every Record returned carries the chain value stored for its
// seq, every Head seen is the head of a prefix of the log, and the log
// verifies and decrypts.
func TestSealedAppendsInParallel(t *testing.T) {
	for _, d := range []Durability{DurabilityBuffered, DurabilitySync} {
		t.Run(d.String(), func(t *testing.T) {
			dir := t.TempDir()
			l := openT(t, dir, Options{EncryptionKey: testKey(1), Durability: d, SegmentSize: 16 << 10})
			const writers = 8
			each := 300
			if d == DurabilitySync {
				each = 60 // an fsync per group: keep the test short
			}
			recs := make([][]Record, writers)
			var heads []Head
			stop := make(chan struct{})
			headsDone := make(chan struct{})
			go func() {
				defer close(headsDone)
				for {
					select {
					case <-stop:
						return
					default:
						heads = append(heads, l.Head())
					}
				}
			}()
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						r, err := l.Log(context.Background(), LevelAudit, "sealed", Fields{"w": w, "i": i})
						if err != nil {
							t.Error(err)
							return
						}
						recs[w] = append(recs[w], r)
					}
				}()
			}
			wg.Wait()
			close(stop)
			<-headsDone
			require.NoError(t, l.Close())

			frames := storedFrames(t, dir)
			require.Len(t, frames, writers*each)
			chains := make([]Hash, len(frames))
			roots := make([]Hash, len(frames)+1)
			chain, f := genesisChain(l.logID), frontier{}
			roots[0] = f.root()
			for i, fr := range frames {
				require.Equal(t, uint64(i), fr.Seq)
				leaf := leafHash(fr.Payload)
				chain = chainHash(&chain, &leaf)
				f.append(leaf)
				chains[i], roots[i+1] = chain, f.root()
			}
			for w := range recs {
				for _, r := range recs[w] {
					require.Equal(t, chains[r.Seq], r.Hash, "record %d", r.Seq)
				}
			}
			require.NotEmpty(t, heads)
			for _, h := range heads {
				require.LessOrEqual(t, h.Size, uint64(len(frames)))
				if h.Size > 0 {
					require.Equal(t, chains[h.Size-1], h.Chain, "head of %d records", h.Size)
				}
				require.Equal(t, roots[h.Size], h.Root, "head of %d records", h.Size)
			}

			l = openT(t, dir, Options{EncryptionKey: testKey(1)})
			defer l.Close()
			rep, err := l.Verify(context.Background())
			require.NoError(t, err)
			require.Equal(t, Head{Size: uint64(len(frames)), Chain: chains[len(frames)-1], Root: roots[len(frames)]}, rep.Head)
			require.Len(t, openedEntries(t, l), len(frames))
		})
	}
}
