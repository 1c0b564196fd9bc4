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
//
// A Reader without the key (OpenReader, not OpenReaderWith) cannot see,
// on an encrypted log, the level and time of records that no index file
// covers yet (those of the segment being written, or of a sealed segment
// whose index file is missing): it counts them in TotalEntries and
// Unknown, and leaves them out of Levels, Oldest and Newest. Oldest and Newest are then those of the other records, and
// zero when every record is unknown.
type Stats struct {
	TotalEntries uint64
	Levels       map[Level]uint64 // records per level; levels with none are absent
	Unknown      uint64           // records whose level and time could not be read (see above)
	Bytes        int64            // on disk: segments and their indexes
	Segments     int
	Oldest       time.Time // timestamp of the oldest entry whose time is known; zero if none
	Newest       time.Time // timestamp of the newest entry whose time is known; zero if none
	Head         Head      // size, chain value and Merkle root of the records counted
	// FirstSeq is the first record the local log holds: 0, or, after local
	// retention (Options.LocalRetention) removed the oldest segments,
	// where the log now begins. The records before it are in the backup
	// only; TotalEntries, Levels, Oldest and Bytes count the local ones,
	// Head all of them.
	FirstSeq uint64
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

// summarise adds up segment indexes. An index rebuilt without the key holds
// its encrypted records with level 0 and time 0: they are counted as
// Unknown, and a time of 0 is taken for "unknown", never for 1970.
func summarise(indexes []*segmentIndex) Stats {
	st := Stats{Levels: map[Level]uint64{}, Segments: len(indexes)}
	if len(indexes) > 0 {
		st.FirstSeq = indexes[0].FirstSeq
	}
	var oldest, newest int64 // 0 until a time is known
	see := func(lo, hi int64) {
		if lo == 0 {
			lo = hi // a block mixing unknown and known records
		}
		if lo != 0 && (oldest == 0 || lo < oldest) {
			oldest = lo
		}
		if hi != 0 && (newest == 0 || hi > newest) {
			newest = hi
		}
	}
	for _, x := range indexes {
		if x.Count == 0 {
			continue
		}
		st.TotalEntries += x.Count
		var counted uint64
		for lv, n := range x.LevelCounts {
			if n > 0 {
				st.Levels[Level(lv)] += n
				counted += n
			}
		}
		if counted == x.Count {
			see(x.MinTime, x.MaxTime)
			continue
		}
		st.Unknown += x.Count - counted
		lo, hi := x.oldest, x.newest // a summary's blockTimes
		if x.src == nil {
			lo, hi = blockTimes(x.Blocks)
		}
		see(lo, hi)
	}
	if oldest != 0 {
		st.Oldest, st.Newest = time.Unix(0, oldest).UTC(), time.Unix(0, newest).UTC()
	}
	return st
}

// add counts one record the indexes do not hold yet.
func (st *Stats) add(level Level, t int64) {
	tt := time.Unix(0, t).UTC()
	if st.Oldest.IsZero() || tt.Before(st.Oldest) {
		st.Oldest = tt
	}
	if st.Newest.IsZero() || tt.After(st.Newest) {
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
