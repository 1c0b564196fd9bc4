package treeoflife

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/treeoflife/treeoflife/backup"
	"github.com/treeoflife/treeoflife/internal/fileutil"
)

// Several backup destinations (Options.Backups): each sink has a shipper
// of its own, with its own lease, cursor, batches, status and retries, and
// nothing is shared between them but the local log they read. A sink that
// is slow, failing or hung delays only its own shipper: the writer never
// waits for a shipper, and Close gives them all the same
// BackupCloseTimeout, at once.

// backupSinks returns the sinks of o: Backup first, then Backups.
func (o *Options) backupSinks() []backup.Sink {
	var sinks []backup.Sink
	if o.Backup != nil {
		sinks = append(sinks, o.Backup)
	}
	return append(sinks, o.Backups...)
}

// SinkName is the name a backup sink goes by in BackupStatus.Sinks,
// VerifyReport.Backups, Health, alerts and metrics (the "sink" label): its
// String method when it has one (the sinks in backup/s3, backup/gcs,
// backup/azblob and backup/file do: "s3://bucket/prefix" and so on), else
// "backup-N" for the N-th sink of the list (from 1). It also identifies the
// sink in the local BACKUP cursor, so a name should not change between
// runs, and two sinks of one logger must not share one.
func SinkName(i int, sink backup.Sink) string {
	if s, ok := sink.(fmt.Stringer); ok {
		if n := s.String(); n != "" {
			return n
		}
	}
	return "backup-" + strconv.Itoa(i+1)
}

// checkBackupSinks checks the sinks of o once, in Open: no nil sink, and
// no two with the same name.
func checkBackupSinks(o *Options) error {
	seen := map[string]int{}
	for i, s := range o.backupSinks() {
		if s == nil {
			return fmt.Errorf("%w: Backups[%d] is nil", ErrInvalidOptions, i-btoi(o.Backup != nil))
		}
		n := SinkName(i, s)
		if j, ok := seen[n]; ok {
			return fmt.Errorf("%w: backup sinks %d and %d (Backup first, then Backups) are both named %q: a name identifies a sink's cursor (see SinkName)", ErrInvalidOptions, j+1, i+1, n)
		}
		seen[n] = i
	}
	return nil
}

// SinkStatus is one backup sink's part of BackupStatus.
type SinkStatus struct {
	Name            string        // see SinkName
	Shipped         uint64        // records confirmed in this sink (seq < Shipped)
	LagRecords      uint64        // records committed locally but not yet confirmed in it
	Lag             time.Duration // how long it has not held everything (0 when it does)
	LastError       error         // its last failed attempt, nil after a success
	LastErrorTime   time.Time
	Errors          int64 // failed attempts by this process
	UploadedBytes   int64 // by this process: batches, checkpoints, HEADER revisions and the lease
	UploadedObjects int64 // objects created by this process
	LastUpload      time.Time
	Connected       bool // holds the lease and has reconciled, so it ships
}

// backupSet is the shippers of one logger, one per sink, and the BACKUP
// cursor file they share.
type backupSet struct {
	l     *ImmutableLogger
	sinks []*shipper

	cursorMu sync.Mutex // serialises writes of BACKUP
	cursors  map[string]backupCursor

	batches batchCache
}

// batchCache shares the batches one shipper prepared (read from the
// segments, framed, hashed into the Merkle frontier) with the others: the
// sinks usually ship the same ranges, a little apart in time, and
// preparing a batch costs about as much CPU as the writer spent on it. A
// batch is kept until every other sink has taken it, or until
// maxCachedBatches newer ones push it out (a sink that is down or far
// behind prepares its own). Bodies are shared read-only: Sink.Put neither
// modifies nor retains them.
type batchCache struct {
	mu     sync.Mutex
	m      map[batchRange]*preparedBatch
	order  []batchRange // oldest first
	shared int64        // batches taken from the cache (for tests)
}

// maxCachedBatches bounds batchCache: a few MiB each, at most
// Options.BackupBatchBytes.
const maxCachedBatches = 2 * shipParallel

// preparedBatch is one batch ready to put: its body and its SHA-256, the
// chain value of its last record, and the Merkle frontier after it.
type preparedBatch struct {
	body  []byte
	sum   [32]byte // SHA-256 of body
	last  Hash
	front frontier
	to    uint64 // the seq after its last record
	full  bool   // cut at Options.BackupBatchBytes
	left  int    // sinks that have not taken it yet
}

// take returns the batch r if another sink prepared it or, unless exact,
// the batch another sink prepared from r.from that it cut at
// Options.BackupBatchBytes before r.to.
func (c *batchCache) take(r batchRange, exact bool) (*preparedBatch, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[r]
	if !ok && !exact {
		for _, o := range c.order {
			if o.from == r.from && o.to < r.to && c.m[o].full {
				r, p, ok = o, c.m[o], true
				break
			}
		}
	}
	if !ok {
		return nil, false
	}
	if p.left--; p.left <= 0 {
		c.drop(r)
	}
	c.shared++
	return p, true
}

// offer keeps p, prepared by one sink, for the others (that many sinks).
func (c *batchCache) offer(r batchRange, p *preparedBatch, others int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[r]; ok || others <= 0 {
		return
	}
	if c.m == nil {
		c.m = map[batchRange]*preparedBatch{}
	}
	p.left, p.to = others, r.to
	c.m[r] = p
	c.order = append(c.order, r)
	for len(c.order) > maxCachedBatches {
		c.drop(c.order[0])
	}
}

func (c *batchCache) drop(r batchRange) {
	delete(c.m, r)
	for i, o := range c.order {
		if o == r {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
}

// backupCursor is one sink's entry in the BACKUP file: the backup root and
// how far this log has shipped to it. It may lag behind the backup; the
// shipper reconciles.
type backupCursor struct {
	Root    string `json:"root"`
	Shipped uint64 `json:"shipped"`
}

// backupCursorFileV2 is the BACKUP file: Root and Shipped at the top level
// are what older versions, with a single sink, read and wrote; Sinks holds
// each sink's cursor by name. An older file (no Sinks) is used only by a
// logger with a single sink. The top level keeps the least Shipped of the
// sinks, so that a logger downgraded to one sink ships again rather than
// skip records.
type backupCursorFileV2 struct {
	Root    string                  `json:"root"`
	Shipped uint64                  `json:"shipped"`
	Sinks   map[string]backupCursor `json:"sinks,omitempty"`
}

func readBackupCursors(dir string) (backupCursorFileV2, error) {
	var c backupCursorFileV2
	b, err := os.ReadFile(filepath.Join(dir, backupCursorFile))
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("treeoflife: %s is malformed: %w", filepath.Join(dir, backupCursorFile), err)
	}
	return c, nil
}

// writeBackupCursors writes the BACKUP file with cursors, by sink name.
func writeBackupCursors(dir string, cursors map[string]backupCursor) error {
	f := backupCursorFileV2{Sinks: cursors}
	first := true
	for _, c := range cursors {
		if first || c.Shipped < f.Shipped {
			f.Root, f.Shipped = c.Root, c.Shipped
		}
		first = false
	}
	b, _ := json.Marshal(f)
	return fileutil.WriteFileAtomic(filepath.Join(dir, backupCursorFile), append(b, '\n'), 0o644)
}

// startBackups starts a shipper for each sink of l.opts.
func startBackups(l *ImmutableLogger) (*backupSet, error) {
	sinks := l.opts.backupSinks()
	file, err := readBackupCursors(l.dir)
	if err != nil {
		return nil, err
	}
	set := &backupSet{l: l, cursors: map[string]backupCursor{}}
	for name, c := range file.Sinks {
		set.cursors[name] = c
	}
	if file.Sinks == nil && file.Root != "" && len(sinks) == 1 {
		// An older version's file: its single sink's cursor.
		set.cursors[SinkName(0, sinks[0])] = backupCursor{Root: file.Root, Shipped: file.Shipped}
	}
	for i, sink := range sinks {
		name := SinkName(i, sink)
		s, err := newShipper(l, set, sink, name, set.cursors[name])
		if err != nil {
			return nil, err
		}
		set.sinks = append(set.sinks, s)
	}
	for _, s := range set.sinks {
		go s.run()
	}
	return set, nil
}

// saveCursor records that name's sink holds c and rewrites BACKUP.
func (b *backupSet) saveCursor(name string, c backupCursor) error {
	b.cursorMu.Lock()
	defer b.cursorMu.Unlock()
	b.cursors[name] = c
	return writeBackupCursors(b.l.dir, b.cursors)
}

// publishCheckpoint queues a signed checkpoint for every sink.
func (b *backupSet) publishCheckpoint(size uint64, body []byte) {
	for _, s := range b.sinks {
		s.publishCheckpoint(size, body)
	}
}

// status aggregates the sinks' states; committed is the local log's size.
func (b *backupSet) status(committed uint64) BackupStatus {
	st := BackupStatus{Enabled: true, Connected: true}
	for i, s := range b.sinks {
		ss := s.status(committed)
		st.Sinks = append(st.Sinks, ss)
		if i == 0 || ss.Shipped < st.Shipped {
			st.Shipped = ss.Shipped
		}
		st.LagRecords = max(st.LagRecords, ss.LagRecords)
		st.Lag = max(st.Lag, ss.Lag)
		if ss.LastError != nil && (st.LastError == nil || ss.LastErrorTime.After(st.LastErrorTime)) {
			st.LastError, st.LastErrorTime = ss.sinkError(), ss.LastErrorTime
		}
		st.Errors += ss.Errors
		st.UploadedBytes += ss.UploadedBytes
		st.UploadedObjects += ss.UploadedObjects
		if ss.LastUpload.After(st.LastUpload) {
			st.LastUpload = ss.LastUpload
		}
		st.Connected = st.Connected && ss.Connected
	}
	return st
}

// sinkError is LastError naming the sink, nil without one.
func (ss SinkStatus) sinkError() error {
	if ss.LastError == nil {
		return nil
	}
	return &SinkError{Sink: ss.Name, Err: ss.LastError}
}

// SinkError is an error of one backup sink: the aggregate
// BackupStatus.LastError, SyncBackup and Close name the sink with it.
type SinkError struct {
	Sink string // see SinkName
	Err  error
}

func (e *SinkError) Error() string { return "backup sink " + e.Sink + ": " + e.Err.Error() }

// Unwrap returns Err.
func (e *SinkError) Unwrap() error { return e.Err }

// eachSink runs fn for every shipper at once and joins their errors, each
// a *SinkError naming its sink.
func (b *backupSet) eachSink(fn func(s *shipper) error) error {
	errs := make([]error, len(b.sinks))
	var wg sync.WaitGroup
	for i, s := range b.sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(s); err != nil {
				errs[i] = &SinkError{Sink: s.name, Err: err}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// close stops every shipper, each shipping what is left within ctx at the
// same time, so that a hung sink costs Close no more than ctx's deadline
// (and the lease's release time).
func (b *backupSet) close(ctx context.Context) error {
	return b.eachSink(func(s *shipper) error { return s.close(ctx) })
}

// SyncBackup waits until every record committed before the call is in
// every backup sink (Options.Backup and Options.Backups), or ctx ends. It
// fsyncs first, since only durable records ship. The sinks are waited for
// at once; the error joins one *SinkError for each sink that did not get
// there, so errors.Is finds ErrBackupLeased, ErrBackupConflict or the
// store's error of any of them.
func (l *ImmutableLogger) SyncBackup(ctx context.Context) error {
	if !l.live() {
		return ErrClosed
	}
	if l.backups == nil {
		return errors.New("treeoflife: no backup configured (Options.Backup or Options.Backups)")
	}
	if err := l.Sync(ctx); err != nil {
		return err
	}
	n := l.Head().Size
	return l.backups.eachSink(func(s *shipper) error { return s.waitShipped(ctx, n) })
}

// BackupStatus reports the backup's progress; Enabled is false without a
// backup sink. With several sinks, the top-level fields are the aggregate
// (see BackupStatus) and Sinks has each one's.
func (l *ImmutableLogger) BackupStatus() BackupStatus {
	if !l.live() || l.backups == nil {
		return BackupStatus{}
	}
	return l.backups.status(l.Head().Size)
}
