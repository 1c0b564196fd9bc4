package treeoflife

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/binary"
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
)

// Backup defaults. The original system's backup_batch_size was 100. Ten
// thousand records of a few hundred bytes make objects of a few MiB, and
// 1M records cost 100 PUTs: on a store that fsyncs what it is given (as
// MinIO does), every PUT is disk work that a Sync logger on the same
// machine waits behind, and fewer, larger PUTs leave it more of the disk.
// A batch is also cut at DefaultBackupBatchBytes, so that large records
// do not make large objects: a shipper holds at most shipParallel batches.
const (
	DefaultBackupBatchSize    = 10000
	DefaultBackupBatchBytes   = 8 << 20
	DefaultBackupInterval     = time.Second
	DefaultBackupCloseTimeout = 10 * time.Second

	backupMaxBackoff = 30 * time.Second

	backupCursorFile = "BACKUP"

	// backupCheckpointEvery spaces the checkpoints put into a backup: a
	// busy log would otherwise add one object per BackupInterval for ever.
	backupCheckpointEvery = time.Minute

	// maxLeaseSize bounds the LEASE object read back from the store.
	maxLeaseSize = 4 << 10

	// backupReleaseTimeout bounds the release of the lease at Close, after
	// BackupCloseTimeout: a lease not released holds for backupLeaseTTL.
	backupReleaseTimeout = 2 * time.Second
)

// Lease timing (FORMAT.md, "Backup objects"); variables so that tests can
// shorten them.
var (
	// backupAttemptTimeout bounds one Put, so a hung connection is retried
	// rather than waited on forever. Close does not wait for it: its
	// BackupCloseTimeout cancels the attempt.
	backupAttemptTimeout = 30 * time.Second
	// backupLeaseTTL is how long a LEASE stays valid without renewal: a
	// logger that dies without closing holds its backup location this long.
	backupLeaseTTL = 60 * time.Second
	// backupLeaseRenew is how often the running shipper renews its lease:
	// two renewals in a row can fail before it lapses.
	backupLeaseRenew = 20 * time.Second
)

// ErrBackupLeased is reported (BackupStatus.LastError, SyncBackup, Close)
// while another running logger holds the lease on the same backup location:
// a copy of a log directory opened while the original runs. Open does not
// wait for the store, so it does not return it; the shipper retries, and
// takes the lease once the other logger closes or its lease expires.
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

// BackupStatus describes the backup shippers, one per sink. The top-level
// fields aggregate the sinks so that one number answers "is everything
// backed up": Shipped is the least of the sinks' (every record before it is
// in every sink), LagRecords and Lag are the worst, LastError is the most
// recent failure of any sink (a *SinkError naming it), Errors and the
// upload counters are sums, LastUpload is the latest, and Connected holds
// only when every sink is connected. Sinks has each sink's own, in the
// order of Options.Backup then Options.Backups.
type BackupStatus struct {
	Enabled         bool
	Shipped         uint64        // records confirmed in every sink (seq < Shipped)
	LagRecords      uint64        // records committed locally but not yet confirmed, in the sink that lags most
	Lag             time.Duration // how long the sink that lags most has not held everything (0 when all do)
	LastError       error         // the newest failed attempt of any sink that has not succeeded since, a *SinkError
	LastErrorTime   time.Time
	Errors          int64 // failed attempts by this process (a counter: each failed upload, list or lease call)
	UploadedBytes   int64 // by this process: batches, checkpoints and HEADER revisions
	UploadedObjects int64 // objects created by this process (each one PUT, not counting retries)
	LastUpload      time.Time
	// Connected: every shipper holds its lease and has reconciled with its
	// backup, so it ships. False while one connects in the background after
	// Open, during an outage that outlasts the lease, and while another
	// logger holds the lease (LastError then wraps ErrBackupLeased).
	Connected bool
	// Sinks has each sink's status.
	Sinks []SinkStatus
}

type shipper struct {
	l        *ImmutableLogger
	set      *backupSet // saves the cursor
	name     string     // SinkName
	sink     backup.Sink
	root     string
	token    string // this Open's lease token
	batch    int
	maxBytes int // Options.BackupBatchBytes
	interval time.Duration

	// Shipping goroutine only (and Close, once it has stopped):
	renewAt time.Time // when the lease is renewed next
	held    bool      // the lease was taken by this Open; Close releases it
	// ahead holds the batches that the backup holds, or may hold, from the
	// cursor on (first -> last; the longest for a first): found by
	// reconcile, or put in a round whose earlier batch failed, or whose
	// answer was lost. Batches are cut at their starts and adopted as they
	// are, so that the batches tile the log.
	ahead map[uint64]uint64

	wake chan struct{} // SyncBackup asks for an immediate round
	quit chan struct{} // closed by Close
	done chan struct{}
	// runCtx is the shipping goroutine's context; Close cancels it, so that
	// no attempt of the goroutine outlives BackupCloseTimeout.
	runCtx    context.Context
	runCancel context.CancelFunc

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
	errs          int64 // failed attempts (recordErr)
	lastErrTime   time.Time
	bytes, objs   int64
	lastUpload    time.Time
	progress      chan struct{}   // closed and replaced when shipped advances or an error is recorded
	headerRev     uint64          // the HEADER revision shipped (shipping goroutine only)
	spare         [][]byte        // batch buffers to reuse, at most shipParallel (shipping goroutine only)
	bodyHint      int             // the capacity to give a new batch buffer (shipping goroutine only)
	leaves        []Hash          // a batch's leaf hashes (shipping goroutine only)
	frontScratch  frontierScratch // (shipping goroutine only)
	stopped       bool            // a conflict stopped shipping for good
	savedShipped  uint64
	lastCPShipped uint64
	// Signed checkpoints waiting for the batches they cover (s.mu).
	pendingCP []pendingCheckpoint
	// connected: the lease is held, HEADER shipped, the cursor reconciled
	// and the local log found to continue the backup's newest checkpoint
	// (checkDiverged); nothing ships before.
	connected bool
	// leaseUntil: the lease is ours until then, by this clock, less a
	// margin for the other loggers' clocks; nothing ships after it.
	leaseUntil time.Time
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

// requeueCheckpoint puts back a checkpoint taken by nextCheckpoint whose
// put failed, unless a newer one that covers as much is queued.
func (s *shipper) requeueCheckpoint(p pendingCheckpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pendingCP) > 0 && s.pendingCP[0].size <= p.size {
		return // the queue holds it again (publishCheckpoint with more cosignatures), or newer ones first
	}
	if len(s.pendingCP) == maxPendingCheckpoints {
		return // the queue holds newer ones
	}
	s.pendingCP = append([]pendingCheckpoint{p}, s.pendingCP...)
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

// newShipper prepares the shipper of one sink, named name, from its
// cursor cur; the caller starts its goroutine (run). Taking the lease,
// shipping HEADER and reconciling with the backup happen in the goroutine
// (connect), so that Open does not wait for the store.
func newShipper(l *ImmutableLogger, set *backupSet, sink backup.Sink, name string, cur backupCursor) (*shipper, error) {
	o := l.opts
	var tok [16]byte
	if _, err := crand.Read(tok[:]); err != nil {
		return nil, err
	}
	s := &shipper{
		l: l, set: set, name: name, sink: sink, root: backupRoot(o.BackupPrefix, l.LogID(), o.Tenant),
		token: hex.EncodeToString(tok[:]), batch: o.BackupBatchSize, maxBytes: o.BackupBatchBytes, interval: o.BackupInterval,
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		progress: make(chan struct{}), caughtUp: time.Now(), ahead: map[uint64]uint64{},
	}
	s.runCtx, s.runCancel = context.WithCancel(context.Background())
	if cur.Root == s.root { // a new backup location starts from its own state
		s.shipped = cur.Shipped
	}
	s.savedShipped = s.shipped
	return s, nil
}

// leaseBody is the LEASE object: the token of the Open that ships to this
// location, and until when (RFC 3339) its lease holds unless renewed.
type leaseBody struct {
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}

type leaseOp int

const (
	leaseTake    leaseOp = iota // absent, ours or expired: take it
	leaseRenew                  // absent or ours: extend it
	leaseRelease                // ours: expire it now
)

func (s *shipper) leaseKey() string { return s.root + "LEASE" }

// readLease returns the LEASE object and its version, or exists false.
// A body that does not parse, or has no token (an older version's, which
// never expired nor was renewed), reads as a lease that has expired: the
// compare-and-swap that replaces it still lets only one logger win.
func (s *shipper) readLease(ctx context.Context) (lb leaseBody, version string, exists bool, err error) {
	rc, info, err := s.sink.Get(ctx, s.leaseKey())
	if errors.Is(err, backup.ErrNotExist) {
		return lb, "", false, nil
	}
	if err != nil {
		return lb, "", false, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxLeaseSize+1))
	if err != nil {
		return lb, "", false, err
	}
	if info.Version == "" {
		return lb, "", false, fmt.Errorf("treeoflife: backup lease %s: the sink reports no object version (backup.ObjectInfo.Version), which the lease needs", s.leaseKey())
	}
	if len(b) > maxLeaseSize || json.Unmarshal(b, &lb) != nil || lb.Token == "" {
		lb = leaseBody{}
	}
	return lb, info.Version, true, nil
}

// writeLease takes, renews or releases this Open's lease with one
// conditional write (create if absent, else compare-and-swap on the version
// read), retried only when another writer changed LEASE in between. A
// write whose answer was lost and that did land is a success.
func (s *shipper) writeLease(ctx context.Context, op leaseOp, expires time.Time) error {
	key := s.leaseKey()
	want := leaseBody{Token: s.token, Expires: expires.UTC()}
	body, _ := json.Marshal(want)
	sum := sha256.Sum256(body)
	for range 3 {
		cur, version, exists, err := s.readLease(ctx)
		if err != nil {
			return err
		}
		switch {
		case !exists && op == leaseRelease:
			return nil
		case exists && cur.Token != s.token && op == leaseRelease:
			return nil // not ours to release
		case exists && cur.Token != s.token && (op == leaseRenew || time.Now().Before(cur.Expires)):
			// Renewing: another logger took the lease after ours lapsed.
			return fmt.Errorf("%w: %s is held by another logger until %s", ErrBackupLeased, key, cur.Expires.Format(time.RFC3339))
		}
		opts := backup.PutOptions{Mutable: true, IfMatch: version, IfNotExists: !exists}
		err = s.sink.Put(ctx, key, body, sum, opts)
		if err == nil {
			s.mu.Lock()
			s.bytes += int64(len(body))
			s.mu.Unlock()
			return nil
		}
		if !errors.Is(err, backup.ErrExist) && !errors.Is(err, backup.ErrChanged) {
			return fmt.Errorf("treeoflife: backup lease: %w", err)
		}
		if got, _, ok, rerr := s.readLease(ctx); rerr == nil && ok && got.Token == want.Token && got.Expires.Equal(want.Expires) {
			return nil // a retry of a write that landed
		}
	}
	return fmt.Errorf("treeoflife: backup lease %s keeps changing under another writer", key)
}

// holdLease notes a lease written at start: it is ours until it expires,
// less a quarter of its life for the difference between this clock and the
// other loggers'.
func (s *shipper) holdLease(start time.Time) {
	s.held = true
	s.renewAt = start.Add(backupLeaseRenew)
	s.mu.Lock()
	s.leaseUntil = start.Add(backupLeaseTTL - backupLeaseTTL/4)
	s.mu.Unlock()
}

func (s *shipper) leaseHeld() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Now().Before(s.leaseUntil)
}

// keepLease renews the lease when it is due. A failed renewal is retried
// soon (a tenth of the renewal period); a lease that another logger has
// taken meanwhile disconnects the shipper, which then waits to take it
// back and reconciles again.
func (s *shipper) keepLease(ctx context.Context) {
	if !s.held || time.Now().Before(s.renewAt) {
		return
	}
	start := time.Now()
	actx, cancel := context.WithTimeout(ctx, backupAttemptTimeout)
	slow := s.watch("renew the lease")
	err := s.writeLease(actx, leaseRenew, start.Add(backupLeaseTTL))
	slow.Stop()
	cancel()
	if err == nil {
		s.holdLease(start)
		return
	}
	s.renewAt = time.Now().Add(backupLeaseRenew / 10)
	if errors.Is(ctx.Err(), context.Canceled) {
		return // Close began: it renews nothing, and releases the lease
	}
	if errors.Is(err, ErrBackupLeased) {
		s.mu.Lock()
		s.connected, s.leaseUntil = false, time.Time{}
		s.mu.Unlock()
	}
	s.recordErr(fmt.Errorf("renew backup lease: %w", err), false)
}

// releaseLease expires this Open's lease, so that a successor (this
// directory reopened, or a restored copy) need not wait for it.
func (s *shipper) releaseLease(ctx context.Context) {
	if !s.held {
		return
	}
	s.mu.Lock()
	s.leaseUntil = time.Time{}
	s.mu.Unlock()
	// Close may have spent its deadline shipping: the release has its own.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), backupReleaseTimeout)
	defer cancel()
	if err := s.writeLease(rctx, leaseRelease, time.Now()); err != nil {
		s.l.log.Warn("releasing the backup lease failed; it expires by itself", "err", err, "ttl", backupLeaseTTL)
	}
}

// connectOnce makes one attempt to start shipping: take the lease, ship
// HEADER, reconcile the cursor with the backup, check that the local log
// continues the backup (checkDiverged), and compute the shipped state.
func (s *shipper) connectOnce(ctx context.Context) (permanent bool, err error) {
	actx, cancel := context.WithTimeout(ctx, backupAttemptTimeout)
	defer cancel()
	defer s.watch("connect").Stop()
	start := time.Now()
	if err := s.writeLease(actx, leaseTake, start.Add(backupLeaseTTL)); err != nil {
		return false, err
	}
	s.holdLease(start)
	if err := s.shipHeader(actx); err != nil {
		return errors.Is(err, ErrBackupConflict), err
	}
	if err := s.reconcile(actx); err != nil {
		return errors.Is(err, ErrBackupConflict), err
	}
	if permanent, err := s.checkDiverged(actx); err != nil {
		return permanent, err
	}
	v, _ := s.l.durableView()
	s.mu.Lock()
	shipped := s.shipped
	s.mu.Unlock()
	chain, front, err := stateAt(v, shipped)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	s.shippedChain, s.front, s.connected = chain, front, true
	s.lastErr = nil
	s.notifyLocked()
	s.mu.Unlock()
	return false, nil
}

// connect retries connectOnce with backoff until it succeeds (true), or
// until a permanent error or the end of ctx (false): the shipping
// goroutine's ends when Close begins. Close, which calls it with its own ctx
// (closing), does not wait for another logger's lease.
func (s *shipper) connect(ctx context.Context, closing bool) bool {
	backoff := 100 * time.Millisecond
	for {
		permanent, err := s.connectOnce(ctx)
		if err == nil {
			return true
		}
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return false // Close began: not the store's failure
		}
		s.recordErr(err, permanent)
		if permanent || (errors.Is(err, ErrBackupLeased) && closing) {
			return false
		}
		if !s.sleep(ctx, &backoff) {
			return false
		}
	}
}

// sleep waits for a jittered *backoff and doubles it, up to
// backupMaxBackoff, or backupLeaseRenew if less (a lease held elsewhere is
// polled that often). It returns false if ctx ends first: for the shipping
// goroutine, whose ctx (runCtx, or one derived from it) Close cancels, when
// Close begins; Close then carries on with its own deadline.
func (s *shipper) sleep(ctx context.Context, backoff *time.Duration) bool {
	// Full jitter: a fleet of loggers recovering from one outage does not
	// retry in step.
	wait := time.Duration(rand.Int64N(int64(*backoff))) + *backoff/2
	*backoff = min(2**backoff, backupMaxBackoff, max(backupLeaseRenew, time.Millisecond))
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
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

// reconcile reads the batches that the backup holds from the cursor on and
// advances the cursor over those that continue the tiling from it, each
// checked against the local records (ErrBackupConflict if it differs). The
// others are kept in s.ahead: shipping cuts its batches at their starts and
// adopts them when it gets there, whatever their size, so that the batches
// tile the log even after a round that was interrupted, or a tail shipped
// past a failed batch by an older version.
func (s *shipper) reconcile(ctx context.Context) error {
	s.mu.Lock()
	shipped := s.shipped
	s.mu.Unlock()
	for info, err := range s.sink.List(ctx, s.root+"batches/") {
		if err != nil {
			return fmt.Errorf("treeoflife: list backup batches: %w", err)
		}
		if f, l, ok := parseBatchKey(s.root, info.Key); ok && f >= shipped {
			s.noteAhead(f, l)
		}
	}
	v, _ := s.l.durableView()
	for {
		last, ok := s.ahead[shipped]
		if !ok || last >= v.Size {
			break // a gap to ship, or a batch the local log cannot check yet
		}
		key := batchKey(s.root, shipped, last)
		body, _, err := batchBody(v, shipped, last+1, nil, 0)
		if err != nil {
			return err
		}
		if err := sameObject(ctx, s.sink, key, body, sha256.Sum256(body)); err != nil {
			if errors.Is(err, backup.ErrNotExist) {
				break // a range this process tried that did not land
			}
			return fmt.Errorf("treeoflife: backup batch %s: %w", key, err)
		}
		shipped = last + 1
	}
	s.mu.Lock()
	s.shipped = shipped
	s.mu.Unlock()
	s.pruneAhead(shipped)
	return nil
}

// noteAhead records that the backup holds, or may hold, batch first..last.
func (s *shipper) noteAhead(first, last uint64) {
	if cur, ok := s.ahead[first]; !ok || last > cur {
		s.ahead[first] = last
	}
}

// pruneAhead forgets the batches that start before shipped.
func (s *shipper) pruneAhead(shipped uint64) {
	for f := range s.ahead {
		if f < shipped {
			delete(s.ahead, f)
		}
	}
}

// nextAhead returns the first batch start in s.ahead after from.
func (s *shipper) nextAhead(from uint64) (uint64, bool) {
	next, found := uint64(0), false
	for f := range s.ahead {
		if f > from && (!found || f < next) {
			next, found = f, true
		}
	}
	return next, found
}

// batchBody appends the frames of records from..to-1, exactly as stored,
// to body. With maxBytes > 0 it stops after the record that brings what it
// appended to maxBytes. It returns the seq after the last record appended.
func batchBody(v *readView, from, to uint64, body []byte, maxBytes int) ([]byte, uint64, error) {
	start, end := len(body), from
	err := readFrames(v, from, to, func(fr *frame) error {
		var hdr [frameHeaderSize]byte
		at := len(body)
		body = append(body, hdr[:]...)
		body = append(body, fr.Payload...)
		// The checksum the reader checked, not computed again.
		putFrameHeader(body[at:], fr.Seq, &fr.Chain)
		binary.BigEndian.PutUint32(body[at+44:at+frameHeaderSize], fr.Sum)
		end = fr.Seq + 1
		if maxBytes > 0 && len(body)-start >= maxBytes {
			return errBatchFull
		}
		return nil
	})
	switch {
	case err == errBatchFull:
		err = nil
	case err == nil && end < min(to, v.Size):
		err = &TamperError{Seq: end, Offset: -1, Reason: "no segment holds this record"}
	}
	return body, end, err
}

// errBatchFull stops batchBody at its size bound.
var errBatchFull = errors.New("treeoflife: backup batch full")

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
	ctx := s.runCtx
	timer := time.NewTimer(s.interval)
	defer timer.Stop()
	renew := time.NewTimer(backupLeaseRenew)
	defer renew.Stop()
	for {
		s.mu.Lock()
		connected, stopped := s.connected, s.stopped
		s.mu.Unlock()
		if stopped {
			<-s.quit // a conflict or divergence: nothing more to do until Close
			return
		}
		if !connected {
			if !s.connect(ctx, false) {
				select {
				case <-s.quit:
					return // Close takes over
				default:
					continue // stopped: see above
				}
			}
		}
		s.keepLease(ctx)
		size, committed := s.l.durableSize()
		s.mu.Lock()
		shipped := s.shipped
		s.mu.Unlock()
		force := false
		if size-shipped < uint64(s.batch) {
			// Nothing worth a full batch yet: wait for more, for the
			// interval, for SyncBackup or for the lease's renewal. Checking
			// the size is cheap; a read view is taken only to ship.
			renew.Reset(max(time.Until(s.renewAt), 0))
			select {
			case <-s.quit:
				return
			case <-s.wake:
				force = true
			case <-committed:
				continue
			case <-renew.C:
				continue
			case <-timer.C:
				force = true
				timer.Reset(s.interval)
			}
		}
		s.round(ctx, force)
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
//
// Batches tile the log: each starts where the cursor, or the batch before
// it, ends. A batch is cut at the start of a batch that the backup holds or
// may hold (s.ahead), which is then adopted as it is. A partial batch at the
// end (the tail) is put only alone, once every batch before it is in the
// backup, so a tail never lands beyond a batch that failed.
func (s *shipper) round(ctx context.Context, force bool) {
	var target uint64
	if force {
		target, _ = s.l.durableSize()
	}
	for {
		s.mu.Lock()
		stopped, connected := s.stopped, s.connected
		s.mu.Unlock()
		if stopped || !connected {
			return
		}
		s.keepLease(ctx)
		s.mu.Lock()
		shipped, connected := s.shipped, s.connected
		s.mu.Unlock()
		if !connected || !s.leaseHeld() {
			return // taken by another logger, or not renewed in time
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
		todo := s.plan(shipped, v.Size, target)
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

// plan returns the next batches to put, at most shipParallel, from shipped
// in a log of size durable records; a partial tail only when the round
// began with more records than shipped (target), and only alone.
func (s *shipper) plan(shipped, size, target uint64) []batchRange {
	var todo []batchRange
	for from := shipped; from < size && len(todo) < shipParallel; {
		if last, ok := s.ahead[from]; ok {
			if last >= size {
				break // the backup holds more than is durable here: wait for it
			}
			todo = append(todo, batchRange{from, last + 1})
			from = last + 1
			continue
		}
		to := min(from+uint64(s.batch), size)
		if next, ok := s.nextAhead(from); ok && next < to {
			to = next // cut where a batch in the backup starts
		} else if to-from < uint64(s.batch) && (from >= target || len(todo) > 0) {
			break // a tail: only forced, and only after the batches before it
		}
		todo = append(todo, batchRange{from, to})
		from = to
	}
	return todo
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
		sum   [32]byte
		meta  map[string]string
		last  Hash
		front frontier
		err   error
	}
	bs := make([]batch, len(todo))
	s.mu.Lock()
	front := s.front.clone()
	s.mu.Unlock()
	// With several sinks, batches are shared (batchCache), so no buffer
	// is reused: another sink's Put may still read it.
	others := len(s.set.sinks) - 1
	for i := range todo {
		b, r := &bs[i], &todo[i]
		// A batch the backup holds or may hold (s.ahead) is put as it is;
		// any other is cut at maxBytes.
		_, adopted := s.ahead[r.from]
		if p, ok := s.set.batches.take(*r, adopted); ok && others > 0 {
			front = p.front.clone()
			r.to = p.to
			b.body, b.sum, b.last, b.front = p.body, p.sum, p.last, p.front.clone()
		} else {
			var buf []byte
			if n := len(s.spare); n > 0 && others == 0 {
				buf, s.spare = s.spare[n-1][:0], s.spare[:n-1]
			} else if others > 0 {
				buf = make([]byte, 0, s.bodyHint) // the size of the last one, to grow once at most
			}
			limit := s.maxBytes
			if adopted {
				limit = 0
			}
			body, end, err := batchBody(v, r.from, r.to, buf, limit)
			if err != nil {
				s.recordErr(err, true)
				return err
			}
			s.leaves, b.last = batchLeaves(body, s.leaves[:0], &s.frontScratch.pair)
			front.appendAll(s.leaves, &s.frontScratch)
			b.body, b.sum, b.front = body, sha256.Sum256(body), front.clone()
			s.bodyHint = len(body) + len(body)/8
			full := end < r.to
			r.to = end
			s.set.batches.offer(*r, &preparedBatch{body: body, sum: b.sum, last: b.last, front: front.clone(), full: full}, others)
		}
		b.key = batchKey(s.root, r.from, r.to-1)
		b.meta = map[string]string{
			"first-seq": strconv.FormatUint(r.from, 10),
			"last-seq":  strconv.FormatUint(r.to-1, 10),
			"chain":     b.last.String(),
		}
		if i+1 < len(todo) && r.to != todo[i+1].from {
			// Cut short: the next batches start where this one ends, in
			// the next round.
			todo, bs = todo[:i+1], bs[:i+1]
			break
		}
	}
	var wg sync.WaitGroup
	for i := range bs {
		wg.Add(1)
		go func(b *batch) {
			defer wg.Done()
			b.err = s.putOnceSum(ctx, b.key, b.body, b.sum, b.meta)
		}(&bs[i])
	}
	wg.Wait()
	if others == 0 {
		for i := range bs {
			s.spare = append(s.spare, bs[i].body) // the next round reuses them: no Put holds them now
		}
	}
	// The cursor advances over the batches in the backup up to the first
	// that failed. That one may have landed all the same (an answer lost),
	// and those after it did or may have: all are kept in s.ahead, so that
	// the next attempt puts the same ranges, and finds its own objects.
	for i := range bs {
		if bs[i].err != nil {
			for _, r := range todo[i:] {
				s.noteAhead(r.from, r.to-1)
			}
			return bs[i].err
		}
		delete(s.ahead, todo[i].from)
		s.mu.Lock()
		s.shipped, s.shippedChain, s.front = todo[i].to, bs[i].last, bs[i].front
		s.lastUpload = time.Now()
		s.lastErr = nil
		s.notifyLocked()
		s.mu.Unlock()
	}
	return nil
}

// errLeaseLapsed stops a Put when the lease has not been renewed in time;
// the shipper renews it (or finds it taken) before it puts again.
var errLeaseLapsed = errors.New("treeoflife: the backup lease lapsed before it was renewed")

// putOnce writes an object that must never change: a conditional Put,
// retried with backoff on transient errors. An object already there with
// the same content is success (a retry of a Put whose answer was lost); one
// with different content is ErrBackupConflict, which stops shipping.
//
// Each failed attempt is reported (recordErr) as it fails; the sinks keep
// their SDKs' own retries short for that reason (see backup/s3 and
// backup/gcs), and the retrying that lasts, with backoff, is done here.
func (s *shipper) putOnce(ctx context.Context, key string, body []byte, meta map[string]string) error {
	return s.putOnceSum(ctx, key, body, sha256.Sum256(body), meta)
}

// putOnceSum is putOnce with the SHA-256 of body, sum, computed already.
func (s *shipper) putOnceSum(ctx context.Context, key string, body []byte, sum [32]byte, meta map[string]string) error {
	backoff := 100 * time.Millisecond
	for {
		if !s.leaseHeld() {
			return errLeaseLapsed
		}
		actx, cancel := context.WithTimeout(ctx, backupAttemptTimeout)
		slow := s.watch("put " + key)
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
		slow.Stop()
		cancel()
		if err == nil {
			return nil
		}
		if errors.Is(ctx.Err(), context.Canceled) {
			return err // Close began: not the store's failure
		}
		permanent := errors.Is(err, ErrBackupConflict) || errors.Is(err, backup.ErrInvalidKey) || errors.Is(err, backup.ErrInvalidMetadata)
		s.recordErr(fmt.Errorf("put %s: %w", key, err), permanent)
		if permanent {
			return err
		}
		if !s.sleep(ctx, &backoff) {
			return err // ctx ended, or Close takes over with its own deadline
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
	s.errs++
	if permanent {
		s.stopped = true
	}
	s.notifyLocked()
	s.mu.Unlock()
	s.l.obs.pokeMonitor() // AlertBackup
	if permanent {
		s.l.log.Error("backup stopped", "err", err)
	} else {
		s.l.log.Warn("backup attempt failed; retrying", "err", err)
	}
}

// ErrBackupNotAnswering is reported (BackupStatus.LastError) while an
// attempt has waited longer than backupSlowAttempt for the object store:
// a store that accepts connections and then hangs shows at once, not only
// when the attempt times out.
var ErrBackupNotAnswering = errors.New("treeoflife: the object store is not answering")

// backupSlowAttempt is how long one attempt waits for the store before
// BackupStatus says so; the attempt itself goes on until
// backupAttemptTimeout. A variable for tests.
var backupSlowAttempt = 2 * time.Second

// watch reports what as not answered once backupSlowAttempt has passed;
// the caller stops it when the attempt ends.
func (s *shipper) watch(what string) *time.Timer {
	start := time.Now()
	return time.AfterFunc(backupSlowAttempt, func() {
		s.recordErr(fmt.Errorf("%s: %w for %v (still waiting)", what, ErrBackupNotAnswering, time.Since(start).Round(time.Millisecond)), false)
	})
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
	shipped, chain, root, connected := s.shipped, s.shippedChain, s.front.root(), s.connected
	s.mu.Unlock()
	if !connected || (!final && (shipped == s.savedShipped || time.Since(s.lastSave) < s.interval)) {
		return // before connecting, the cursor is still the one on disk
	}
	s.lastSave = time.Now()
	if err := s.set.saveCursor(s.name, backupCursor{Root: s.root, Shipped: shipped}); err != nil {
		s.l.log.Warn("saving backup cursor failed", "err", err)
	}
	s.savedShipped = shipped
	if s.l.opts.Signer != nil {
		// The logger's own signed checkpoints, as soon as the batches
		// cover them.
		if p, ok := s.nextCheckpoint(shipped); ok && p.size > s.lastCPShipped {
			if err := s.putOnce(ctx, checkpointKey(s.root, p.size), p.body, nil); err == nil {
				s.lastCPShipped, s.lastCP = p.size, time.Now()
			} else {
				s.requeueCheckpoint(p) // Close (which cancels this attempt) or the next round puts it
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
func (s *shipper) status(committed uint64) SinkStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := SinkStatus{
		Name: s.name, Shipped: s.shipped, LastError: s.lastErr, LastErrorTime: s.lastErrTime, Errors: s.errs,
		UploadedBytes: s.bytes, UploadedObjects: s.objs, LastUpload: s.lastUpload,
		Connected: s.connected,
	}
	if committed > s.shipped {
		st.LagRecords = committed - s.shipped
		st.Lag = time.Since(s.caughtUp)
	}
	return st
}

// waitShipped waits until the shipper has connected and n records are
// shipped. It returns early with ErrBackupLeased while another logger holds
// the lease, and with the error that stopped shipping.
func (s *shipper) waitShipped(ctx context.Context, n uint64) error {
	for {
		s.mu.Lock()
		shipped, progress, stopped, lastErr, connected := s.shipped, s.progress, s.stopped, s.lastErr, s.connected
		s.mu.Unlock()
		if !connected && errors.Is(lastErr, ErrBackupLeased) {
			return lastErr // another running logger ships this log
		}
		if shipped >= n && connected {
			return nil // connected: the cursor is checked against the backup
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

// close stops the shipping goroutine and ships what is left, within ctx:
// it connects first if the goroutine had not (but does not wait for a lease
// held by another logger), and releases the lease last.
func (s *shipper) close(ctx context.Context) error {
	close(s.quit)
	s.runCancel() // the goroutine's attempt in flight ends now, not at its own timeout
	<-s.done
	s.mu.Lock()
	connected, stopped := s.connected, s.stopped
	s.mu.Unlock()
	if !connected && !stopped {
		s.connect(ctx, true)
	}
	s.round(ctx, true)
	s.saveProgress(ctx, true)
	s.releaseLease(ctx)
	v, _ := s.l.durableView()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.connected && errors.Is(s.lastErr, ErrBackupLeased) {
		return s.lastErr
	}
	if s.shipped < v.Size {
		err := fmt.Errorf("treeoflife: backup incomplete at close: %d records not shipped", v.Size-s.shipped)
		if s.lastErr != nil {
			err = fmt.Errorf("%w: %w", err, s.lastErr)
		}
		return err
	}
	return nil
}
