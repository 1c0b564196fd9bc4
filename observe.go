package treeoflife

import (
	"sync"
	"sync/atomic"
	"time"
)

// MetricsSnapshot is what a metrics collector needs of a logger, read at
// once and cheaply: counters kept with atomics by the writer, a few fields
// read under the logger's lock, and one statfs of the log's file system.
// Package metrics turns it into Prometheus metrics; the root package does
// not import Prometheus.
type MetricsSnapshot struct {
	// Records is the number of records accepted so far (Head().Size).
	Records uint64
	// Segments is the number of segment files, the active one included.
	Segments int
	// Written counts the records and frame bytes written to the segment
	// files by this logger since Open, per level, in the order of Levels
	// (every level is present). Counters: they start at zero on Open.
	Written []LevelCount
	// FsyncSeconds is the latency of the writer's fsyncs of the active
	// segment, in seconds.
	FsyncSeconds HistogramSnapshot
	// GroupCommitRecords is the number of records the writer took at once
	// (one write, and with DurabilitySync one fsync, for all of them).
	GroupCommitRecords HistogramSnapshot
	// LastCheckpoint is the time of the newest checkpoint: one written by
	// this logger, or else the one in CHECKPOINT at Open. Checkpointed is
	// the number of records it covers.
	LastCheckpoint time.Time
	Checkpointed   uint64
	// Backup is BackupStatus (Enabled is false without a backup sink).
	Backup BackupStatus
	// LastVerify is the newest verification of this logger: Verify,
	// VerifyWith or a background pass (Options.VerifyInterval).
	LastVerify VerifyStatus
	// FailedClosed is set once a write or fsync error has made the logger
	// refuse new records (Err says which); DiskFull while it waits for
	// space (ErrDiskFull).
	FailedClosed bool
	DiskFull     bool
	Err          error
	// Closed is set once Close has been called.
	Closed bool
	// Disk is the usage of the file system holding the log.
	Disk DiskUsage
	// Retention is local retention (Options.LocalRetention): where the
	// local log begins (FirstSeq), what was removed and what was held back.
	Retention RetentionStatus
}

// LevelCount is a number of records, and their frame bytes, of one level.
type LevelCount struct {
	Level   Level
	Records uint64
	Bytes   uint64
}

// HistogramSnapshot is a histogram with fixed buckets, in Prometheus'
// shape: Cumulative[i] observations were at most Bounds[i]; Count counts
// them all (the +Inf bucket) and Sum adds them up.
type HistogramSnapshot struct {
	Bounds     []float64
	Cumulative []uint64
	Count      uint64
	Sum        float64
}

// VerifyStatus is the outcome of a verification.
type VerifyStatus struct {
	Time     time.Time     // when it ended; zero if none has run since Open
	Duration time.Duration // how long it took (with pauses, for a background pass)
	Records  uint64        // the log's size it verified up to
	Full     bool          // every segment was read; false for an incremental pass
	Err      error         // nil when the log was intact; a *TamperError, or an I/O error
}

// DiskUsage describes the file system holding the log, as statfs reports
// it. OK is false where it cannot be read (an unsupported platform, or an
// error).
type DiskUsage struct {
	OK         bool    `json:"ok"`
	TotalBytes uint64  `json:"totalBytes"`
	FreeBytes  uint64  `json:"freeBytes"` // available to an unprivileged user
	UsedRatio  float64 `json:"usedRatio"` // used / (used + available), as df computes Use%
}

// Bucket bounds: fsync latency in seconds, group commits in records.
var (
	fsyncBounds = [...]float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10}
	groupBounds = [...]float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536}
)

// fixedHistogram counts observations in fixed buckets (at most 16 bounds;
// counts[len(bounds)] is +Inf) with atomics: the writer records into it
// without a lock, and a scrape reads it at any time (a snapshot may be a
// few observations apart between buckets and Count).
type fixedHistogram struct {
	counts [17]atomic.Uint64
	count  atomic.Uint64
	sum    atomic.Uint64 // in units of scale
}

func (h *fixedHistogram) observe(bounds []float64, v float64, scaled uint64) {
	i := 0
	for i < len(bounds) && v > bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(scaled)
	h.count.Add(1)
}

func (h *fixedHistogram) snapshot(bounds []float64, scale float64) HistogramSnapshot {
	s := HistogramSnapshot{Bounds: bounds, Cumulative: make([]uint64, len(bounds))}
	var n uint64
	for i := range bounds {
		n += h.counts[i].Load()
		s.Cumulative[i] = n
	}
	s.Count = n + h.counts[len(bounds)].Load()
	s.Sum = float64(h.sum.Load()) * scale
	return s
}

// observer holds the logger's metrics, health state and alerts. Its zero
// value is ready: the writer records into it from Open on.
type observer struct {
	written [LevelSystem + 1]struct{ records, bytes atomic.Uint64 }
	fsync   fixedHistogram // nanoseconds
	group   fixedHistogram // records

	verifyMu   sync.Mutex
	lastVerify VerifyStatus

	alerts    alerter
	alertQuit chan struct{} // closed at the end of Close: the dispatcher ends
	// poke asks the monitor for an immediate check (capacity 1; nil
	// without OnAlert).
	poke  chan struct{}
	loops sync.WaitGroup // the monitor and the verification loop

	// The background verification's progress (verification loop only).
	resume *verifyResume

	// started is when Open started the observer: the verification a
	// VerifyInterval promises is overdue from then on, until one completes.
	started time.Time
}

// noteWritten counts the records of chunks the writer has written.
func (o *observer) noteWritten(chunks []*chunk) {
	var recs, bytes [LevelSystem + 1]uint64
	for _, c := range chunks {
		for i := range c.recs {
			r := &c.recs[i]
			if r.level.valid() {
				recs[r.level]++
				bytes[r.level] += uint64(r.frameLen)
			}
		}
	}
	for lv := range recs {
		if recs[lv] > 0 {
			o.written[lv].records.Add(recs[lv])
			o.written[lv].bytes.Add(bytes[lv])
		}
	}
}

func (o *observer) noteFsync(d time.Duration) {
	o.fsync.observe(fsyncBounds[:], d.Seconds(), uint64(d))
}

func (o *observer) noteGroup(records int) {
	if records > 0 {
		o.group.observe(groupBounds[:], float64(records), uint64(records))
	}
}

// Metrics returns the logger's counters and state for a metrics collector.
// It takes the logger's lock once, briefly, and makes one statfs system
// call; it reads no segment. It works on a closed logger too.
func (l *ImmutableLogger) Metrics() MetricsSnapshot {
	m := MetricsSnapshot{
		FsyncSeconds:       l.obs.fsync.snapshot(fsyncBounds[:], 1e-9),
		GroupCommitRecords: l.obs.group.snapshot(groupBounds[:], 1),
		LastVerify:         l.obs.verifyStatus(),
		Written:            make([]LevelCount, 0, len(levels)),
	}
	for _, lv := range levels {
		w := &l.obs.written[lv]
		m.Written = append(m.Written, LevelCount{Level: lv, Records: w.records.Load(), Bytes: w.bytes.Load()})
	}
	l.mu.Lock()
	m.Records, m.Segments = l.size, len(l.indexes)
	m.FailedClosed, m.DiskFull, m.Closed = l.err != nil, l.diskFull != nil, l.closed
	m.Err = l.err
	if m.Err == nil {
		m.Err = l.diskFull
	}
	l.mu.Unlock()
	m.LastCheckpoint, m.Checkpointed = l.lastCheckpoint()
	if l.backups != nil {
		m.Backup = l.backups.status(m.Records)
	}
	m.Disk = statDisk(l.dir)
	m.Retention = l.RetentionStatus()
	return m
}

// lastCheckpoint returns the time and size of the newest checkpoint.
func (l *ImmutableLogger) lastCheckpoint() (time.Time, uint64) {
	l.cpMu.Lock()
	var t time.Time
	size := l.cpSize
	if l.cpLast != nil {
		t = l.cpLast.Time
	}
	l.cpMu.Unlock()
	if ns := l.cpTime.Load(); ns != 0 && (t.IsZero() || ns > t.UnixNano()) {
		t = time.Unix(0, ns)
	}
	return t, size
}

func (o *observer) verifyStatus() VerifyStatus {
	o.verifyMu.Lock()
	defer o.verifyMu.Unlock()
	return o.lastVerify
}

// noteVerify records a verification that ended now, and raises or clears
// the tamper alert. A verification cut short by its context is not one.
func (l *ImmutableLogger) noteVerify(start time.Time, records uint64, full bool, err error) {
	if isContextErr(err) {
		return
	}
	now := time.Now()
	st := VerifyStatus{Time: now, Duration: now.Sub(start), Records: records, Full: full, Err: err}
	l.obs.verifyMu.Lock()
	l.obs.lastVerify = st
	l.obs.verifyMu.Unlock()
	switch {
	case isTamper(err):
		l.alert(AlertTamper, err, "verification found the log altered")
	case err == nil:
		l.obs.alerts.clear(AlertTamper)
	}
}
