package treeoflife

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/treeoflife/treeoflife/backup"
	"github.com/treeoflife/treeoflife/internal/fileutil"
)

// Backup defaults (the original system's backup_batch_size was 100; a
// thousand records make objects of a few hundred KiB, and 1M records cost
// 1,000 PUTs).
const (
	DefaultBackupBatchSize    = 1000
	DefaultBackupInterval     = time.Second
	DefaultBackupCloseTimeout = 10 * time.Second

	// backupAttemptTimeout bounds one Put, so a hung connection is retried
	// rather than waited on forever.
	backupAttemptTimeout = 30 * time.Second
	backupMaxBackoff     = 30 * time.Second

	backupCursorFile = "BACKUP"

	// backupCheckpointEvery spaces the checkpoints put into a backup: a
	// busy log would otherwise add one object per BackupInterval for ever.
	backupCheckpointEvery = time.Minute
)

// ErrBackupLeased is returned by Open when another logger already ships to
// the same backup location.
var ErrBackupLeased = errors.New("treeoflife: another logger ships to this backup location")

// ErrBackupConflict is reported when the backup holds, for a range of
// records, an object that differs from the local log: two histories for one
// log. The shipper stops; nothing is overwritten.
var ErrBackupConflict = errors.New("treeoflife: backup holds different records for the same positions")

// Object keys under a log's backup root (FORMAT.md, "Backup objects"):
//
//	<prefix>/<logId>/<tenant or _>/headers/<revision>               (20 digits)
//	<prefix>/<logId>/<tenant or _>/LEASE
//	<prefix>/<logId>/<tenant or _>/batches/<first seq>-<last seq>   (20 digits each)
//	<prefix>/<logId>/<tenant or _>/checkpoints/<size>               (20 digits)
func backupRoot(prefix, logID, tenant string) string {
	if tenant == "" {
		tenant = "_"
	}
	root := logID + "/" + tenant + "/"
	if p := strings.Trim(prefix, "/"); p != "" {
		root = p + "/" + root
	}
	return root
}

func headerKey(root string, revision uint64) string {
	return fmt.Sprintf("%sheaders/%020d", root, revision)
}

// parseHeaderKey returns the revision of a HEADER key under root.
func parseHeaderKey(root, key string) (uint64, bool) {
	rest, found := strings.CutPrefix(key, root+"headers/")
	if !found || len(rest) != 20 {
		return 0, false
	}
	r, err := strconv.ParseUint(rest, 10, 64)
	return r, err == nil
}

func batchKey(root string, first, last uint64) string {
	return fmt.Sprintf("%sbatches/%020d-%020d", root, first, last)
}

// parseBatchKey returns the range of a batch key under root.
func parseBatchKey(root, key string) (first, last uint64, ok bool) {
	rest, found := strings.CutPrefix(key, root+"batches/")
	if !found || len(rest) != 41 || rest[20] != '-' {
		return 0, 0, false
	}
	f, err1 := strconv.ParseUint(rest[:20], 10, 64)
	l, err2 := strconv.ParseUint(rest[21:], 10, 64)
	if err1 != nil || err2 != nil || l < f {
		return 0, 0, false
	}
	return f, l, true
}

// BackupStatus describes the backup shipper.
type BackupStatus struct {
	Enabled         bool
	Shipped         uint64        // records confirmed in the backup (seq < Shipped)
	LagRecords      uint64        // records committed locally but not yet confirmed
	Lag             time.Duration // how long the backup has not held everything (0 when it does)
	LastError       error         // the last failed attempt, nil after a success
	LastErrorTime   time.Time
	UploadedBytes   int64 // by this process: batches, checkpoints and HEADER revisions
	UploadedObjects int64 // objects created by this process (each one PUT, not counting retries)
	LastUpload      time.Time
}

// backupCursor is the BACKUP file: the lease this log ships under and how
// far it has shipped. It may lag behind the backup; Open reconciles.
type backupCursor struct {
	Root    string `json:"root"`
	Lease   string `json:"lease"`
	Shipped uint64 `json:"shipped"`
}

type shipper struct {
	l        *ImmutableLogger
	sink     backup.Sink
	root     string
	lease    string
	batch    int
	interval time.Duration

	wake chan struct{} // SyncBackup asks for an immediate round
	quit chan struct{} // closed by Close
	done chan struct{}

	mu            sync.Mutex
	shipped       uint64
	shippedChain  Hash
	front         frontier  // Merkle frontier of the shipped records
	caughtUp      time.Time // everything durable at this time is shipped
	markSize      uint64    // durable at markTime; caughtUp moves to markTime once it ships
	markTime      time.Time
	lastSave      time.Time
	lastCP        time.Time
	lastErr       error
	lastErrTime   time.Time
	bytes, objs   int64
	lastUpload    time.Time
	progress      chan struct{} // closed and replaced when shipped advances or an error is recorded
	headerRev     uint64        // the HEADER revision shipped (shipping goroutine only)
	spare         [][]byte      // batch buffers to reuse, at most shipParallel (shipping goroutine only)
	stopped       bool          // a conflict stopped shipping for good
	savedShipped  uint64
	lastCPShipped uint64
	// Signed checkpoints waiting for the batches they cover (s.mu).
	pendingCP []pendingCheckpoint
	// checked: the local log continues the backup's newest checkpoint
	// (checkDiverged); nothing ships before.
	checked bool
}

// pendingCheckpoint is a signed checkpoint of size records, put into the
// backup once the batches hold them: a checkpoint beyond the batches would
// read as records removed from the backup.
type pendingCheckpoint struct {
	size uint64
	body []byte
}

// maxPendingCheckpoints bounds the signed checkpoints kept for a shipper
// that lags behind: only the newest that the batches cover is put, so the
// older ones are dropped first.
const maxPendingCheckpoints = 16

// publishCheckpoint queues a signed checkpoint (the CHECKPOINT file's
// bytes) for the backup.
func (s *shipper) publishCheckpoint(size uint64, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.pendingCP); n > 0 && s.pendingCP[n-1].size == size {
		s.pendingCP[n-1].body = body // the same size with more cosignatures
		return
	}
	if len(s.pendingCP) == maxPendingCheckpoints {
		s.pendingCP = s.pendingCP[1:]
	}
	s.pendingCP = append(s.pendingCP, pendingCheckpoint{size, body})
}

// nextCheckpoint returns the newest queued signed checkpoint that the
// shipped batches cover, dropping it and the older ones.
func (s *shipper) nextCheckpoint(shipped uint64) (pendingCheckpoint, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := -1
	for j, p := range s.pendingCP {
		if p.size <= shipped {
			i = j
		}
	}
	if i < 0 {
		return pendingCheckpoint{}, false
	}
	p := s.pendingCP[i]
	s.pendingCP = s.pendingCP[i+1:]
	return p, true
}

// startShipper takes the lease, reconciles the cursor with the backup and
// starts the shipping goroutine.
func startShipper(ctx context.Context, l *ImmutableLogger) (*shipper, error) {
	o := l.opts
	s := &shipper{
		l: l, sink: o.Backup, root: backupRoot(o.BackupPrefix, l.LogID(), o.Tenant),
		batch: o.BackupBatchSize, interval: o.BackupInterval,
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		progress: make(chan struct{}), caughtUp: time.Now(),
	}
	cur, err := readBackupCursor(l.dir)
	if err != nil {
		return nil, err
	}
	if cur.Root != s.root {
		cur = backupCursor{Root: s.root} // a new backup location starts from its own state
	}
	if err := s.takeLease(ctx, &cur); err != nil {
		return nil, err
	}
	if err := s.shipHeader(ctx); err != nil {
		return nil, err
	}
	s.shipped = cur.Shipped
	if err := s.reconcile(ctx); err != nil {
		return nil, err
	}
	v, _ := l.durableView()
	if s.shippedChain, s.front, err = stateAt(v, s.shipped); err != nil {
		return nil, err
	}
	s.savedShipped = s.shipped
	go s.run()
	return s, nil
}

func readBackupCursor(dir string) (backupCursor, error) {
	var c backupCursor
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

func writeBackupCursor(dir string, c backupCursor) error {
	b, _ := json.Marshal(c)
	return fileutil.WriteFileAtomic(filepath.Join(dir, backupCursorFile), append(b, '\n'), 0o644)
}

// takeLease creates the LEASE object with a conditional write, or accepts
// an existing one that holds this log's own token. A lease is never
// deleted: a log ships to one location for good; a restored copy inherits
// the lease (see RestoreFromCloud).
func (s *shipper) takeLease(ctx context.Context, cur *backupCursor) error {
	if cur.Lease == "" {
		var b [16]byte
		if _, err := crand.Read(b[:]); err != nil {
			return err
		}
		cur.Lease = hex.EncodeToString(b[:])
	}
	host, _ := os.Hostname()
	body, _ := json.Marshal(map[string]any{"lease": cur.Lease, "host": host, "pid": os.Getpid(), "dir": s.l.dir})
	key := s.root + "LEASE"
	sum := sha256.Sum256(body)
	err := s.sink.Put(ctx, key, body, sum, backup.PutOptions{IfNotExists: true, Metadata: map[string]string{"lease": cur.Lease}})
	if errors.Is(err, backup.ErrExist) {
		rc, _, gerr := s.sink.Get(ctx, key)
		if gerr != nil {
			return fmt.Errorf("treeoflife: read backup lease %s: %w", key, gerr)
		}
		defer rc.Close()
		var other struct {
			Lease string `json:"lease"`
			Host  string `json:"host"`
			Dir   string `json:"dir"`
		}
		if derr := json.NewDecoder(io.LimitReader(rc, 1<<16)).Decode(&other); derr != nil || other.Lease != cur.Lease {
			return fmt.Errorf("%w: %s is held by %s:%s", ErrBackupLeased, key, other.Host, other.Dir)
		}
		err = nil
	}
	if err != nil {
		return fmt.Errorf("treeoflife: take backup lease %s: %w", key, err)
	}
	s.lease = cur.Lease
	return writeBackupCursor(s.l.dir, *cur)
}

// shipHeader ships HEADER as it is on disk, once per revision. A revision
// that adds a data key must be in the backup before any record sealed with
// that key, or the backup could not be decrypted: round ships it before the
// records that follow it.
func (s *shipper) shipHeader(ctx context.Context) error {
	b, h, err := readHeaderBytes(s.l.dir)
	if err != nil {
		s.recordErr(err, false)
		return err
	}
	if err := s.putOnce(ctx, headerKey(s.root, h.Revision), b, nil); err != nil {
		return fmt.Errorf("treeoflife: backup HEADER revision %d: %w", h.Revision, err)
	}
	s.headerRev = h.Revision
	return nil
}

func readHeaderBytes(dir string) ([]byte, logHeader, error) {
	name := filepath.Join(dir, headerFile)
	b, err := os.ReadFile(name)
	var h logHeader
	if err == nil {
		h, _, err = parseHeader(b, name)
	}
	if err != nil {
		return nil, h, fmt.Errorf("treeoflife: backup HEADER: %w", err)
	}
	return b, h, nil
}

// publishHeader puts the HEADER of the log in dir, whose shipper is not
// running, into the backup: Tenants.Erase uses it so that the backup's
// newest revision is the erased one. One attempt; the caller reports
// failure.
func publishHeader(ctx context.Context, sink backup.Sink, prefix, dir string) error {
	b, h, err := readHeaderBytes(dir)
	if err != nil {
		return err
	}
	key := headerKey(backupRoot(prefix, h.LogID, h.Tenant), h.Revision)
	sum := sha256.Sum256(b)
	err = sink.Put(ctx, key, b, sum, backup.PutOptions{IfNotExists: true})
	if errors.Is(err, backup.ErrExist) {
		err = sameObject(ctx, sink, key, b, sum)
	}
	return err
}

// reconcile advances the cursor over batches that are already in the
// backup (the cursor is saved lazily), checking each against the local log.
func (s *shipper) reconcile(ctx context.Context) error {
	type rng struct{ first, last uint64 }
	var found []rng
	for info, err := range s.sink.List(ctx, s.root+"batches/") {
		if err != nil {
			return fmt.Errorf("treeoflife: list backup batches: %w", err)
		}
		if f, l, ok := parseBatchKey(s.root, info.Key); ok && l >= s.shipped {
			found = append(found, rng{f, l})
		}
	}
	v, _ := s.l.durableView()
	for _, r := range found {
		if r.first != s.shipped || r.last >= v.Size {
			break
		}
		body, err := batchBody(v, r.first, r.last+1, nil)
		if err != nil {
			return err
		}
		info, err := s.sink.Stat(ctx, batchKey(s.root, r.first, r.last))
		if err != nil {
			return fmt.Errorf("treeoflife: backup batch: %w", err)
		}
		if sum := sha256.Sum256(body); info.SHA256 != nil && !bytes.Equal(info.SHA256, sum[:]) {
			return fmt.Errorf("%w: %s", ErrBackupConflict, batchKey(s.root, r.first, r.last))
		}
		s.shipped = r.last + 1
	}
	return nil
}

// batchBody appends the frames of records from..to-1, exactly as stored,
// to body.
func batchBody(v *readView, from, to uint64, body []byte) ([]byte, error) {
	err := readFrames(v, from, to, func(fr *frame) error {
		var hdr [frameHeaderSize]byte
		body = append(body, hdr[:]...)
		body = append(body, fr.Payload...)
		fillFrameHeader(body[len(body)-frameHeaderSize-len(fr.Payload):], fr.Seq, &fr.Chain)
		return nil
	})
	return body, err
}

// ErrBackupDiverged is reported (BackupStatus.LastError, SyncBackup) when
// the local log does not continue the backup's newest checkpoint: the local
// directory was rolled back, cut or rewritten. Shipping stops rather than
// fork the backup; the backup keeps the history it has.
var ErrBackupDiverged = errors.New("treeoflife: the local log does not continue the backup")

// checkDiverged compares the local log with the backup's newest checkpoint:
// the log must hold at least its records and agree with it at its size.
// It runs in the shipping goroutine before anything is shipped, so that Open
// does not wait for the store.
func (s *shipper) checkDiverged(ctx context.Context) (permanent bool, err error) {
	b, err := BackupAnchor{Sink: s.sink, Prefix: s.l.opts.BackupPrefix}.Latest(ctx, checkpointOrigin(s.l.logID))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	c, err := parseBackupCheckpoint(s.l.logID, b)
	if err != nil {
		return true, &TamperError{Segment: checkpointKey(s.root, 0), Seq: 0, Offset: -1, Reason: "the backup's newest checkpoint is malformed: " + err.Error()}
	}
	v, _ := s.l.durableView()
	if c.Size > v.Size {
		return true, fmt.Errorf("%w: the backup has a checkpoint of %d records but the local log holds %d (rolled back or cut); shipping stopped", ErrBackupDiverged, c.Size, v.Size)
	}
	if c.Size == 0 {
		return false, nil
	}
	chain, f, err := stateAt(v, c.Size)
	if err != nil {
		return false, err
	}
	if chain != c.Chain || f.root() != c.Head().Root {
		return true, fmt.Errorf("%w: the local log differs from the backup's checkpoint at size %d (history rewritten); shipping stopped", ErrBackupDiverged, c.Size)
	}
	return false, nil
}

func (s *shipper) run() {
	defer close(s.done)
	timer := time.NewTimer(s.interval)
	defer timer.Stop()
	for {
		permanent, err := s.checkDiverged(context.Background())
		if err == nil {
			s.mu.Lock()
			s.checked = true
			s.mu.Unlock()
			break
		}
		s.recordErr(err, permanent)
		if permanent {
			<-s.quit
			return
		}
		select {
		case <-s.quit:
			return
		case <-timer.C:
			timer.Reset(s.interval)
		}
	}
	for {
		size, committed := s.l.durableSize()
		s.mu.Lock()
		shipped, stopped := s.shipped, s.stopped
		s.mu.Unlock()
		if stopped {
			<-s.quit // a conflict: nothing more to do until Close
			return
		}
		force := false
		if size-shipped < uint64(s.batch) {
			// Nothing worth a full batch yet: wait for more, for the
			// interval, or for SyncBackup. Checking the size is cheap; a
			// read view is taken only to ship.
			select {
			case <-s.quit:
				return
			case <-s.wake:
				force = true
			case <-committed:
				continue
			case <-timer.C:
				force = true
				timer.Reset(s.interval)
			}
		}
		s.round(context.Background(), force)
		select {
		case <-s.quit:
			return
		default:
		}
	}
}

// shipParallel is how many batches are uploaded at once. One Put at a time
// is bound by the round trip (a few ms to S3 and GCS); four in flight keep
// up with 100,000 records a second and hold at most four batches in memory.
const shipParallel = 4

// round ships what is durable: full batches always; when forced (the
// interval passed, SyncBackup, Close), also a partial batch up to the size
// durable when the round began, so that a busy log is not cut into small
// objects by chasing its end.
func (s *shipper) round(ctx context.Context, force bool) {
	s.mu.Lock()
	checked := s.checked
	s.mu.Unlock()
	if !checked {
		return
	}
	var target uint64
	if force {
		target, _ = s.l.durableSize()
	}
	for {
		s.mu.Lock()
		stopped, shipped := s.stopped, s.shipped
		s.mu.Unlock()
		if stopped {
			return
		}
		now := time.Now()
		v, _ := s.l.durableView()
		s.observe(shipped, v.Size, now)
		// Records in v that are sealed with a new data key were sealed
		// after its HEADER revision was written, so it is seen here.
		if k := s.l.keys; k != nil && k.revision() != s.headerRev {
			if err := s.shipHeader(ctx); err != nil {
				return
			}
		}
		var todo []batchRange
		for from := shipped; from < v.Size && len(todo) < shipParallel; {
			to := min(from+uint64(s.batch), v.Size)
			if to-from < uint64(s.batch) && from >= target {
				break
			}
			todo = append(todo, batchRange{from, to})
			from = to
		}
		if len(todo) == 0 {
			s.saveProgress(ctx, false)
			return
		}
		if err := s.shipAll(ctx, v, todo); err != nil {
			return
		}
		s.saveProgress(ctx, false)
	}
}

// observe notes that size records were durable at t, and moves caughtUp
// (the time up to which everything durable is shipped) once the previous
// observation is shipped.
func (s *shipper) observe(shipped, size uint64, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if shipped >= s.markSize {
		if s.markTime.After(s.caughtUp) {
			s.caughtUp = s.markTime
		}
		s.markSize, s.markTime = size, t
	}
	if shipped >= size && t.After(s.caughtUp) {
		s.caughtUp = t
	}
}

type batchRange struct{ from, to uint64 }

// shipAll uploads the consecutive batches todo, up to shipParallel at once,
// each retried with exponential backoff and jitter until it succeeds, the
// logger closes or ctx ends, and advances the cursor over those that
// succeeded in order.
func (s *shipper) shipAll(ctx context.Context, v *readView, todo []batchRange) error {
	type batch struct {
		key   string
		body  []byte
		meta  map[string]string
		last  Hash
		front frontier
		err   error
	}
	bs := make([]batch, len(todo))
	s.mu.Lock()
	front := s.front.clone()
	s.mu.Unlock()
	for i, r := range todo {
		b := &bs[i]
		var buf []byte
		if n := len(s.spare); n > 0 {
			buf, s.spare = s.spare[n-1][:0], s.spare[:n-1]
		}
		body, err := batchBody(v, r.from, r.to, buf)
		if err != nil {
			s.recordErr(err, true)
			return err
		}
		walkBatch(body, func(fr *frame) error {
			front.append(leafHash(fr.Payload))
			b.last = fr.Chain
			return nil
		})
		b.key, b.body, b.front = batchKey(s.root, r.from, r.to-1), body, front.clone()
		b.meta = map[string]string{
			"first-seq": strconv.FormatUint(r.from, 10),
			"last-seq":  strconv.FormatUint(r.to-1, 10),
			"chain":     b.last.String(),
		}
	}
	var wg sync.WaitGroup
	for i := range bs {
		wg.Add(1)
		go func(b *batch) {
			defer wg.Done()
			b.err = s.putOnce(ctx, b.key, b.body, b.meta)
		}(&bs[i])
	}
	wg.Wait()
	for i := range bs {
		s.spare = append(s.spare, bs[i].body) // the next round reuses them: no Put holds them now
	}
	for i := range bs {
		if bs[i].err != nil {
			return bs[i].err
		}
		s.mu.Lock()
		s.shipped, s.shippedChain, s.front = todo[i].to, bs[i].last, bs[i].front
		s.lastUpload = time.Now()
		s.lastErr = nil
		s.notifyLocked()
		s.mu.Unlock()
	}
	return nil
}

// putOnce writes an object that must never change: a conditional Put,
// retried with backoff on transient errors. An object already there with
// the same content is success (a retry of a Put whose answer was lost); one
// with different content is ErrBackupConflict, which stops shipping.
func (s *shipper) putOnce(ctx context.Context, key string, body []byte, meta map[string]string) error {
	sum := sha256.Sum256(body)
	backoff := 100 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, backupAttemptTimeout)
		err := s.sink.Put(actx, key, body, sum, backup.PutOptions{Metadata: meta, IfNotExists: true})
		if err == nil {
			s.mu.Lock()
			s.bytes += int64(len(body))
			s.objs++
			s.mu.Unlock()
		}
		if errors.Is(err, backup.ErrExist) {
			err = sameObject(actx, s.sink, key, body, sum)
		}
		cancel()
		if err == nil {
			return nil
		}
		permanent := errors.Is(err, ErrBackupConflict) || errors.Is(err, backup.ErrInvalidKey) || errors.Is(err, backup.ErrInvalidMetadata)
		s.recordErr(fmt.Errorf("put %s: %w", key, err), permanent)
		if permanent {
			return err
		}
		// Full jitter: a fleet of loggers recovering from one outage does
		// not retry in step.
		wait := time.Duration(rand.Int64N(int64(backoff))) + backoff/2
		backoff = min(2*backoff, backupMaxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-s.quit:
			t.Stop()
			if ctx == context.Background() {
				return err // Close takes over with its own deadline
			}
		}
	}
}

// sameObject checks that the object at key holds body.
func sameObject(ctx context.Context, sink backup.Sink, key string, body []byte, sum [32]byte) error {
	info, err := sink.Stat(ctx, key)
	if err != nil {
		return err
	}
	if info.SHA256 != nil {
		if bytes.Equal(info.SHA256, sum[:]) {
			return nil
		}
		return fmt.Errorf("%w: %s", ErrBackupConflict, key)
	}
	rc, _, err := sink.Get(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	got, err := io.ReadAll(io.LimitReader(rc, int64(len(body))+1))
	if err != nil {
		return err
	}
	if !bytes.Equal(got, body) {
		return fmt.Errorf("%w: %s", ErrBackupConflict, key)
	}
	return nil
}

func (s *shipper) recordErr(err error, permanent bool) {
	s.mu.Lock()
	s.lastErr, s.lastErrTime = err, time.Now()
	if permanent {
		s.stopped = true
	}
	s.notifyLocked()
	s.mu.Unlock()
	if permanent {
		s.l.log.Error("backup stopped", "err", err)
	} else {
		s.l.log.Warn("backup attempt failed; retrying", "err", err)
	}
}

func (s *shipper) notifyLocked() {
	close(s.progress)
	s.progress = make(chan struct{})
}

// saveProgress persists the cursor, at most once per interval, and
// publishes a checkpoint of what is shipped, at most once per
// backupCheckpointEvery; both when final.
func (s *shipper) saveProgress(ctx context.Context, final bool) {
	s.mu.Lock()
	shipped, chain, root := s.shipped, s.shippedChain, s.front.root()
	s.mu.Unlock()
	if !final && (shipped == s.savedShipped || time.Since(s.lastSave) < s.interval) {
		return
	}
	s.lastSave = time.Now()
	if err := writeBackupCursor(s.l.dir, backupCursor{Root: s.root, Lease: s.lease, Shipped: shipped}); err != nil {
		s.l.log.Warn("saving backup cursor failed", "err", err)
	}
	s.savedShipped = shipped
	if s.l.opts.Signer != nil {
		// The logger's own signed checkpoints, as soon as the batches
		// cover them.
		if p, ok := s.nextCheckpoint(shipped); ok && p.size > s.lastCPShipped {
			if err := s.putOnce(ctx, checkpointKey(s.root, p.size), p.body, nil); err == nil {
				s.lastCPShipped, s.lastCP = p.size, time.Now()
			}
		}
		return
	}
	if shipped == 0 || shipped == s.lastCPShipped || (!final && time.Since(s.lastCP) < backupCheckpointEvery) {
		return
	}
	c := s.l.newCheckpoint(Head{Size: shipped, Chain: chain, Root: root}, IndexDigest{})
	if err := s.putOnce(ctx, checkpointKey(s.root, shipped), c.Marshal(), nil); err == nil {
		s.lastCPShipped, s.lastCP = shipped, time.Now()
	}
}

func checkpointKey(root string, size uint64) string {
	return fmt.Sprintf("%scheckpoints/%020d", root, size)
}

// status reports the shipper's state; committed is the local log's size.
func (s *shipper) status(committed uint64) BackupStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := BackupStatus{
		Enabled: true, Shipped: s.shipped, LastError: s.lastErr, LastErrorTime: s.lastErrTime,
		UploadedBytes: s.bytes, UploadedObjects: s.objs, LastUpload: s.lastUpload,
	}
	if committed > s.shipped {
		st.LagRecords = committed - s.shipped
		st.Lag = time.Since(s.caughtUp)
	}
	return st
}

// waitShipped waits until n records are shipped.
func (s *shipper) waitShipped(ctx context.Context, n uint64) error {
	for {
		s.mu.Lock()
		shipped, progress, stopped, lastErr := s.shipped, s.progress, s.stopped, s.lastErr
		s.mu.Unlock()
		if shipped >= n {
			return nil
		}
		if stopped {
			return lastErr
		}
		select {
		case s.wake <- struct{}{}:
		default:
		}
		select {
		case <-progress:
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("%w (last backup error: %v)", ctx.Err(), lastErr)
			}
			return ctx.Err()
		}
	}
}

// close stops the shipping goroutine and ships what is left, within ctx.
func (s *shipper) close(ctx context.Context) error {
	close(s.quit)
	<-s.done
	s.round(ctx, true)
	s.saveProgress(ctx, true)
	v, _ := s.l.durableView()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shipped < v.Size {
		err := fmt.Errorf("treeoflife: backup incomplete at close: %d records not shipped", v.Size-s.shipped)
		if s.lastErr != nil {
			err = fmt.Errorf("%w: %w", err, s.lastErr)
		}
		return err
	}
	return nil
}

// SyncBackup waits until every record committed before the call is in the
// backup, or ctx ends. It fsyncs first, since only durable records ship.
func (l *ImmutableLogger) SyncBackup(ctx context.Context) error {
	if l.shipper == nil {
		return errors.New("treeoflife: no backup configured (Options.Backup)")
	}
	if err := l.Sync(ctx); err != nil {
		return err
	}
	return l.shipper.waitShipped(ctx, l.Head().Size)
}

// BackupStatus reports the backup's progress; Enabled is false without
// Options.Backup.
func (l *ImmutableLogger) BackupStatus() BackupStatus {
	if l.shipper == nil {
		return BackupStatus{}
	}
	return l.shipper.status(l.Head().Size)
}
