package treeoflife

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"
)

// Stats summarises a log. It is computed from the segment indexes, in time
// proportional to the number of segments, never by reading the records;
// Verify is the separate, explicit check of the records themselves.
type Stats struct {
	TotalEntries uint64
	Levels       map[Level]uint64 // records per level; levels with none are absent
	Bytes        int64            // on disk: segments and their indexes
	Segments     int
	Oldest       time.Time // timestamp of the oldest entry; zero for an empty log
	Newest       time.Time // timestamp of the newest entry
	Head         Head      // size, chain value and Merkle root of the records counted
}

// Stats returns the log's statistics over every record accepted so far.
func (l *ImmutableLogger) Stats(ctx context.Context) (Stats, error) {
	if !l.live() {
		return Stats{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return Stats{}, err
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return Stats{}, ErrClosed
	}
	st := summarise(l.indexes)
	l.unindexedLocked(func(r *chunkRecord) { st.add(r.level, r.t) })
	st.Head = l.headLocked()
	l.mu.Unlock()
	var err error
	st.Bytes, err = diskUsage(l.dir)
	return st, err
}

// summarise adds up segment indexes.
func summarise(indexes []*segmentIndex) Stats {
	st := Stats{Levels: map[Level]uint64{}, Segments: len(indexes)}
	var oldest, newest int64
	for _, x := range indexes {
		if x.Count == 0 {
			continue
		}
		if st.TotalEntries == 0 || x.MinTime < oldest {
			oldest = x.MinTime
		}
		if st.TotalEntries == 0 || x.MaxTime > newest {
			newest = x.MaxTime
		}
		st.TotalEntries += x.Count
		for lv, n := range x.LevelCounts {
			if n > 0 {
				st.Levels[Level(lv)] += n
			}
		}
	}
	if st.TotalEntries > 0 {
		st.Oldest, st.Newest = time.Unix(0, oldest).UTC(), time.Unix(0, newest).UTC()
	}
	return st
}

// add counts one record the indexes do not hold yet.
func (st *Stats) add(level Level, t int64) {
	tt := time.Unix(0, t).UTC()
	if st.TotalEntries == 0 || tt.Before(st.Oldest) {
		st.Oldest = tt
	}
	if st.TotalEntries == 0 || tt.After(st.Newest) {
		st.Newest = tt
	}
	st.TotalEntries++
	if level.valid() {
		st.Levels[level]++
	}
}

// diskUsage is the size of the log's segment and index files.
func diskUsage(dir string) (int64, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, de := range des {
		name := de.Name()
		if _, _, ok := parseSegmentName(name); !ok && filepath.Ext(name) != indexExt {
			continue
		}
		fi, err := de.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue // compressed or replaced meanwhile
		}
		if err != nil {
			return 0, err
		}
		total += fi.Size()
	}
	return total, nil
}
