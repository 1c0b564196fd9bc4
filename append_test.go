package treeoflife

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSealedAppendsInParallel: an encrypted log's records are sealed by
// their callers in parallel after taking their seq, and linked in seq order
// afterwards. With many callers, small segments (so that segments rotate
// while records before the cut are still being sealed) and Head read all
// the while, every Record returned carries the chain value stored for its
// seq, every Head seen is the head of a prefix of the log, and the log
// verifies and decrypts, with data keys rotated while records are sealed.
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
			rotations := 0
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						// New data keys while the other writers' records
						// are being sealed; writer 0's next records use them.
						if w == 0 && i%(each/6) == each/12 {
							if err := l.RotateDataKey(context.Background()); err != nil {
								t.Error(err)
								return
							}
							rotations++
						}
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
			require.Equal(t, 6, rotations)

			frames := storedFrames(t, dir)
			require.Len(t, frames, writers*each)
			chains := make([]Hash, len(frames))
			roots := make([]Hash, len(frames)+1)
			chain, f := genesisChain(l.logID), frontier{}
			roots[0] = f.root()
			keys := map[uint32]bool{}
			for i, fr := range frames {
				require.Equal(t, uint64(i), fr.Seq)
				keys[binary.BigEndian.Uint32(fr.Payload[1:envelopeHeaderSize])] = true
				leaf := leafHash(fr.Payload)
				chain = chainHash(&chain, &leaf)
				f.append(leaf)
				chains[i], roots[i+1] = chain, f.root()
			}
			require.Len(t, keys, rotations+1, "records sealed with each data key started while logging")
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

// TestAppendTimestamp: the hot path's timestamp, which formats each second
// once, is what time.Time.AppendFormat writes in timestampLayout, for times
// in any zone, in the same second and across seconds, before 1970 and
// outside years 0 to 9999.
func TestAppendTimestamp(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	zone := time.FixedZone("UTC+1", 3600)
	times := []time.Time{time.Unix(0, 0), time.Unix(-1, 999_999_999), time.Date(10000, 1, 1, 0, 0, 0, 5, time.UTC), time.Date(-1, 12, 31, 23, 59, 59, 0, time.UTC)}
	for range 20_000 {
		tm := time.Unix(r.Int64N(5e9)-1e9, r.Int64N(1e9))
		times = append(times, tm, tm.Add(time.Duration(r.Int64N(1e9))), tm.In(zone))
	}
	for _, tm := range times {
		require.Equal(t, tm.UTC().AppendFormat(nil, timestampLayout), appendTimestamp(nil, tm), "%v", tm)
	}
}

// TestAppendEntryID: IDs are UUIDs of version 7 and variant 10 whose first
// 48 bits are the Unix milliseconds.
func TestAppendEntryID(t *testing.T) {
	tm := time.UnixMilli(0x0123_4567_89ab)
	seen := map[string]bool{}
	for range 1000 {
		id := string(appendEntryID(nil, tm))
		require.Regexp(t, `^01234567-89ab-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, id)
		require.False(t, seen[id], "repeated id %s", id)
		seen[id] = true
	}
}
