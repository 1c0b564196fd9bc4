package treeoflife

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/treeoflife/treeoflife/backup"
	"github.com/treeoflife/treeoflife/internal/fileutil"
)

// Durability says when a logging call returns.
type Durability uint8

const (
	// DurabilitySync, the default: a call returns only after its record has
	// been written and fsynced. Concurrent calls share one fsync (group
	// commit); after each, the writer waits for the callers it has just
	// woken to log again, so that they share the next one too: for as long
	// as some arrive in every 200 µs, and at most 1 ms in all. A
	// crash, even of the machine, loses no acknowledged record.
	DurabilitySync Durability = iota

	// DurabilityBuffered: a call returns once its record is sequenced,
	// chained and queued in the logger's write buffer. The buffer is written
	// to the file as soon as the writer goroutine runs (normally within
	// microseconds), or by the logging call that finds 256 KiB queued, and
	// fsynced every FlushInterval. A killed process can lose
	// the records accepted in that last moment; a machine crash can lose up to
	// FlushInterval of records. The chain stays intact either way.
	DurabilityBuffered
)

func (d Durability) String() string {
	switch d {
	case DurabilitySync:
		return "sync"
	case DurabilityBuffered:
		return "buffered"
	}
	return "Durability(" + strconv.Itoa(int(d)) + ")"
}

// Defaults for the zero Options.
const (
	DefaultSegmentSize   = 100 << 20
	DefaultFlushInterval = 100 * time.Millisecond
	DefaultMaxEntrySize  = 1 << 20

	// MinSegmentSize is the smallest SegmentSize Open accepts.
	MinSegmentSize = 4 << 10
)

// maxPendingBytes bounds the records accepted but not yet handed to the
// writer; a caller beyond it waits for the writer (backpressure), so memory
// stays bounded however fast records arrive.
const maxPendingBytes = 8 << 20

// Options configure a logger. The zero value is a sensible default: fsync on
// every call (group commit), 100 MiB segments, no compression, 1 MiB entries.
type Options struct {
	// Durability is when a logging call returns; see DurabilitySync (the
	// default) and DurabilityBuffered.
	Durability Durability

	// FlushInterval is how often a Buffered logger fsyncs. Default 100 ms.
	FlushInterval time.Duration

	// SegmentSize is the size at which the active segment is sealed and a new
	// one started. Default 100 MiB; at least MinSegmentSize.
	SegmentSize int64

	// SegmentMaxAge, when positive, also seals a segment holding records once
	// it is this old.
	SegmentMaxAge time.Duration

	// Compress gzips sealed segments in the background (NNN.seg.gz). They
	// stay readable and verifiable. Off by default: it costs CPU, and on JSON
	// entries saves about 85% of the disk.
	Compress bool

	// MaxEntrySize is the largest stored entry, in bytes of JSON. Default
	// 1 MiB; at most 64 MiB.
	MaxEntrySize int

	// Logger receives the library's own diagnostics (repairs, write
	// failures). Default: discarded. A library never prints.
	Logger *slog.Logger

	// Clock returns the time stamped on entries. Default time.Now.
	Clock func() time.Time

	// Tenant is stored in every entry as tenantId (the original system's
	// tenantId) and names the log's place in a backup. It is recorded in the
	// HEADER of a new log; reopening the log with another Tenant fails
	// (ErrInvalidTenant), and with none adopts the recorded one. Allowed IDs:
	// see ValidateTenantID.
	Tenant string

	// EncryptionKey (KeySize bytes), Passphrase or Keys, at most one of them,
	// turns on encryption when a log is created: each record is sealed with
	// AES-256-GCM under the log's data key, which HEADER stores wrapped by
	// this master key. Keys never touch the disk. An encrypted log cannot be
	// opened without its key (ErrKeyRequired) or with a wrong one
	// (ErrWrongKey); Verify and VerifyDir need no key. See KeyFromEnv.
	EncryptionKey []byte

	// Passphrase derives the master key with scrypt, from a random salt and
	// parameters stored in HEADER, once per Open.
	Passphrase string

	// Keys provides the master keys: a *Keyring (several keys, one active
	// for new data keys) or a KMS client. Open starts a new data key when
	// the provider's active key has not wrapped one of this log yet.
	Keys KeyProvider

	// MaxOpenTenants bounds the tenant loggers a Tenants keeps open (least
	// recently used are closed first). Default DefaultMaxOpenTenants. Only
	// OpenTenants reads it.
	MaxOpenTenants int

	// Backup, when set, ships every durable record to this sink in batches,
	// from the files on disk, in the background (see SyncBackup and
	// BackupStatus). Open does not wait for the sink: the shipper takes the
	// backup's lease and connects in the background, and reports an outage,
	// or ErrBackupLeased, through BackupStatus, SyncBackup and Close. Sinks
	// are in backup/s3, backup/gcs and backup/file.
	Backup backup.Sink

	// BackupPrefix is prepended to the backup's object keys.
	BackupPrefix string

	// BackupBatchSize is the number of records per backup object. Default
	// 1,000.
	BackupBatchSize int

	// BackupInterval is the longest a durable record waits before it is
	// shipped (the recovery point objective). Default 1 s.
	BackupInterval time.Duration

	// BackupCloseTimeout bounds how long Close keeps shipping. Default 10 s.
	// Releasing the lease afterwards has up to 2 s more.
	BackupCloseTimeout time.Duration

	// Signer signs every checkpoint (a C2SP signed note, Ed25519: see
	// GenerateSigningKey, SigningKeyFromEnv and LoadSigningKey). Without
	// one, checkpoints are unsigned: they catch local inconsistencies, not
	// someone who rewrites CHECKPOINT too.
	Signer note.Signer

	// CheckpointInterval is how often a checkpoint of the durable records is
	// written (and, with Witnesses or Backup, cosigned and published) while
	// records arrive. Default: DefaultCheckpointInterval when Signer is set;
	// without a signer, checkpoints are written only when a segment is
	// sealed, at Close and by Checkpoint. Negative turns the interval off.
	CheckpointInterval time.Duration

	// Witnesses cosign every checkpoint after checking that the log only
	// grew (package witness has the client). They need a Signer.
	Witnesses []Witness

	// WitnessQuorum is how many Witnesses must cosign a checkpoint for
	// Checkpoint to succeed. Default: all of them. A checkpoint is stored
	// and published with the cosignatures it got either way.
	WitnessQuorum int

	// WitnessTimeout bounds one round of cosigning. Default 10 s.
	WitnessTimeout time.Duration

	// OnAlert, when set, is called when a condition needing attention
	// starts: tamper found, backup failing or lagging, disk over
	// DiskUsageThreshold or full, a write failure that failed the logger
	// closed (see AlertKind). It is called from a goroutine the logger
	// owns, one alert at a time, never while the logger holds a lock; a
	// condition that lasts alerts once, and again only after it has
	// cleared. Close delivers the alerts still queued and waits for the
	// call to return.
	OnAlert func(Alert)

	// VerifyInterval, when positive, verifies the log in the background
	// every interval (e.g. time.Hour), using at most a tenth of one core:
	// each pass reads the records written since the last one; every
	// FullVerifyEvery-th pass, and the first, re-reads every segment. The
	// outcome is in Metrics().LastVerify and Health; tampering raises
	// AlertTamper. Default 0: off.
	VerifyInterval time.Duration

	// FullVerifyEvery is how many VerifyInterval passes make one full
	// pass. Default DefaultFullVerifyEvery (daily, with an hourly
	// VerifyInterval); 1 makes every pass full.
	FullVerifyEvery int

	// HealthBackupLag is the backup lag beyond which Health is degraded
	// and AlertBackup raised. Default DefaultHealthBackupLag.
	HealthBackupLag time.Duration

	// DiskUsageThreshold is the used share (0..1) of the log's file system
	// beyond which Health is degraded and AlertDisk raised. Default
	// DefaultDiskUsageThreshold (0.80).
	DiskUsageThreshold float64
}

// DefaultCheckpointInterval is the CheckpointInterval of a logger with a
// Signer.
const DefaultCheckpointInterval = time.Second

// DefaultWitnessTimeout is the default WitnessTimeout.
const DefaultWitnessTimeout = 10 * time.Second

func (o Options) withDefaults() (Options, error) {
	if o.Durability > DurabilityBuffered {
		return o, fmt.Errorf("%w: Durability %d is not DurabilitySync or DurabilityBuffered", ErrInvalidOptions, o.Durability)
	}
	if o.FlushInterval < 0 {
		return o, fmt.Errorf("%w: FlushInterval %v is negative", ErrInvalidOptions, o.FlushInterval)
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.SegmentSize < MinSegmentSize {
		return o, fmt.Errorf("%w: SegmentSize %d is below the minimum %d", ErrInvalidOptions, o.SegmentSize, MinSegmentSize)
	}
	if o.SegmentMaxAge < 0 {
		return o, fmt.Errorf("%w: SegmentMaxAge %v is negative", ErrInvalidOptions, o.SegmentMaxAge)
	}
	if o.MaxEntrySize == 0 {
		o.MaxEntrySize = DefaultMaxEntrySize
	}
	if o.MaxEntrySize < 0 || o.MaxEntrySize > maxFramePayload {
		return o, fmt.Errorf("%w: MaxEntrySize %d is outside 1..%d", ErrInvalidOptions, o.MaxEntrySize, maxFramePayload)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.BackupBatchSize < 0 || o.BackupInterval < 0 || o.BackupCloseTimeout < 0 {
		return o, fmt.Errorf("%w: BackupBatchSize, BackupInterval and BackupCloseTimeout must not be negative", ErrInvalidOptions)
	}
	if o.BackupBatchSize == 0 {
		o.BackupBatchSize = DefaultBackupBatchSize
	}
	if o.BackupInterval == 0 {
		o.BackupInterval = DefaultBackupInterval
	}
	if o.BackupCloseTimeout == 0 {
		o.BackupCloseTimeout = DefaultBackupCloseTimeout
	}
	if err := o.checkKeys(); err != nil {
		return o, err
	}
	if o.CheckpointInterval == 0 && o.Signer != nil {
		o.CheckpointInterval = DefaultCheckpointInterval
	}
	if len(o.Witnesses) > 0 && o.Signer == nil {
		return o, fmt.Errorf("%w: Witnesses need a Signer: witnesses cosign only signed checkpoints", ErrInvalidOptions)
	}
	if o.WitnessQuorum < 0 || o.WitnessQuorum > len(o.Witnesses) {
		return o, fmt.Errorf("%w: WitnessQuorum %d is outside 0..%d (the number of Witnesses)", ErrInvalidOptions, o.WitnessQuorum, len(o.Witnesses))
	}
	if o.WitnessQuorum == 0 {
		o.WitnessQuorum = len(o.Witnesses)
	}
	if o.WitnessTimeout < 0 {
		return o, fmt.Errorf("%w: WitnessTimeout %v is negative", ErrInvalidOptions, o.WitnessTimeout)
	}
	if o.WitnessTimeout == 0 {
		o.WitnessTimeout = DefaultWitnessTimeout
	}
	if err := o.observeDefaults(); err != nil {
		return o, err
	}
	return o, nil
}

// Record is what a logging call returns: where the record went in the log.
type Record struct {
	Seq   uint64    // position in the log; the first record is 0
	Hash  string    // hex chain value after this record (FORMAT.md, "Hashes")
	ID    string    // the entry's id (a UUIDv7)
	Time  time.Time // the entry's timestamp
	Level Level
}

// ImmutableLogger appends hash-chained records to a log directory. All methods
// are safe for concurrent use. Use the *ImmutableLogger that Open returns: a
// nil or zero ImmutableLogger is closed, so its methods return ErrClosed (or
// zero values, for those without an error) instead of panicking.
type ImmutableLogger struct {
	dir        string
	opts       Options
	log        *slog.Logger
	logID      [16]byte
	lock       *fileutil.Lock
	hostJSON   []byte
	tenantJSON []byte
	pid        int

	keys       *logKeys      // nil for an unencrypted log (crypto.go)
	shipper    *shipper      // nil without Options.Backup
	kick       chan struct{} // wakes the writer; capacity 1
	quit       chan struct{} // closed by Close
	writerDone chan struct{}
	compressor *compressor
	hashes     *hashCache // HASHES, for proofs (hashes.go)

	// HEADER as the logger last read or wrote it: checkpoints record its
	// hash, never that of whatever the file holds now.
	hdrMu      sync.Mutex
	headerHash Hash

	// Checkpoints: cpRun serialises whole rounds (sign, witness, publish),
	// cpMu the CHECKPOINT file; cpSize and cpSigned are the newest one
	// stored, which no older one may replace.
	cpRun    sync.Mutex
	cpMu     sync.Mutex
	cpLast   *Checkpoint
	cpSize   uint64
	cpSigned []byte
	cpTime   atomic.Int64  // Unix ns of the last checkpoint round
	cpDone   chan struct{} // closed when the checkpointer has ended

	// mu has a cache line of its own: appenders waiting for it would
	// otherwise keep taking the line of the state it guards away from the
	// goroutine that holds it.
	_  [64]byte
	mu sync.Mutex
	_  [64 - 8]byte
	// The log as accepted so far (records may still be in pend).
	size  uint64
	chain Hash
	// front is the Merkle frontier of the first front.n records: those the
	// writer has taken. The leaves of the records after it are in the
	// chunks of inflight and pend, in order; headLocked adds them. Growing
	// the frontier is the writer's work, not the appenders', so that the
	// critical section of every logging call stays short.
	front    frontier
	inflight []*chunk // taken by the writer, not yet folded into front
	segBytes int64    // bytes of the active segment, as accepted
	// Copies of Options.SegmentSize and SegmentMaxAge beside the state they
	// are compared with: the appenders' critical section reads them, and
	// the line of l.opts turned out to cost a cache miss there.
	segLimit   int64
	segMaxAge  time.Duration
	segRecords uint64
	segCreated time.Time
	// indexes holds one index per segment, in order; the last is the active
	// segment's and grows with every record accepted.
	indexes []*segmentIndex
	// Work for the writer.
	pend        []*chunk
	pendBytes   int
	pendRecords int
	// In Sync mode, fullAt is the size of the group the writer expects
	// next (the callers it has just woken, who usually log again at once);
	// full is signalled when that many records are pending. 0: no wait.
	fullAt        int
	full          chan struct{}
	gen           *generation // completes when pend is written (and fsynced, for Sync)
	kicked        bool
	syncRequested bool
	freeChunks    []*chunk
	// What the writer has finished, for Verify and readers; committed is
	// closed (and replaced) each time it advances.
	written   writtenState
	durable   writtenState // what is also fsynced: all the backup shipper may read
	committed chan struct{}
	closed    bool
	err       error // sticky: after a write or fsync error the logger fails closed
	// diskFull is set while records wait for space (stalled): new records
	// are refused with it, and the writer retries every diskFullRetry.
	diskFull error

	// wmu is held while the pending records are written: by the writer
	// goroutine, or by an appender writing them itself (flushInline). It
	// guards what follows (and Open and Close own it when the writer is not
	// running).
	wmu      sync.Mutex
	stopped  bool     // the writer has made its last flush: Close owns the file
	wfront   frontier // Merkle frontier of every record the writer has taken
	f        *os.File
	fSeq     uint64 // first seq of the open segment
	fLen     int64
	dirty    bool // written since the last fsync
	lastSync time.Time
	synced   syncedWriter // SYNCED: how much of the open segment is fsynced
	// stalled holds the chunks a full disk kept from being written, in
	// order: they are written first when space is available again.
	stalled []*chunk
	lastTry time.Time // of writing stalled chunks

	// obs holds metrics, health state and alerts (observe.go).
	obs observer
}

// chunk is a run of framed records for one segment; seg, when set, means
// "seal the open segment and start this one" before the records are written.
// recs describes each record, in order, for the writer to grow the Merkle
// frontier with (finishChunk) and to add to the segment's index
// (indexChunkLocked): bookkeeping that would otherwise lengthen every
// appender's critical section by a few cache misses.
//
// An appender completes its frame after unlocking: a plain record's is
// copied in, and a sealed record's checksum computed; unfilled counts the
// frames still to be completed, and the writer waits for it to reach zero
// before it reads data.
type chunk struct {
	seg      *segmentHeader
	sealed   *segmentIndex // with seg: the index of the segment being sealed
	data     []byte
	recs     []chunkRecord
	unfilled atomic.Int32
	// Set with the first record: its seq, its offset in the segment, the
	// chain value before it, and the index of its segment.
	first   uint64
	off     int64
	prev    Hash
	idx     *segmentIndex
	indexed bool // the records are in idx (l.mu)
}

// chunkRecord is what a segment index and the Merkle tree need of a record.
type chunkRecord struct {
	leaf     Hash
	t        int64 // the entry's timestamp, Unix nanoseconds
	frameLen int32
	level    Level
}

// generation is a batch handed to the writer at once; done is closed when it
// has been written (and fsynced in Sync mode), with err set before.
type generation struct {
	done chan struct{}
	err  error
	end  writtenState
}

type writtenState struct {
	size   uint64
	chain  Hash
	front  frontier
	segSeq uint64
	segLen int64
}

// live reports whether l came from Open: false for nil and for a zero
// ImmutableLogger, which act as closed loggers.
func (l *ImmutableLogger) live() bool { return l != nil && l.quit != nil }

func newGeneration() *generation { return &generation{done: make(chan struct{})} }

// Open opens the log in dir, creating dir and a new log if needed, and takes
// the directory's lock. If the last segment ends in a torn write (a crash
// mid-write), the torn bytes are moved to dir/repair/ and cut off; damage
// anywhere else is reported as a *TamperError and nothing is changed.
func Open(dir string, opts Options) (*ImmutableLogger, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("treeoflife: create log directory: %w", err)
	}
	// A directory that is neither a log nor empty is refused before LOCK
	// is created in it: Open leaves nothing behind in a directory that is
	// not its own. (open checks again under the lock.)
	if !isLogDir(dir) {
		if err := checkEmpty(dir); err != nil {
			return nil, err
		}
	}
	lockPath := filepath.Join(dir, lockFile)
	_, lerr := os.Lstat(lockPath)
	newLock := errors.Is(lerr, os.ErrNotExist)
	lk, err := fileutil.LockFile(lockPath)
	if errors.Is(err, fileutil.ErrLocked) {
		return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("treeoflife: lock %s: %w", dir, err)
	}
	l := &ImmutableLogger{
		dir:        dir,
		opts:       opts,
		log:        opts.Logger.With("log", dir),
		lock:       lk,
		pid:        os.Getpid(),
		tenantJSON: []byte("null"),
		kick:       make(chan struct{}, 1),
		full:       make(chan struct{}, 1),
		quit:       make(chan struct{}),
		writerDone: make(chan struct{}),
		gen:        newGeneration(),
		committed:  make(chan struct{}),
		segLimit:   opts.SegmentSize,
		segMaxAge:  opts.SegmentMaxAge,
	}
	host, _ := os.Hostname()
	if l.hostJSON, err = appendJSONString(nil, host); err != nil {
		l.hostJSON = []byte(`""`)
	}
	if opts.Tenant != "" {
		if l.tenantJSON, err = appendJSONString(nil, opts.Tenant); err != nil {
			lk.Unlock()
			return nil, fmt.Errorf("%w: Tenant: %v", ErrInvalidOptions, err)
		}
	}
	if err := l.open(); err != nil {
		if l.f != nil {
			l.f.Close()
		}
		if newLock && errors.Is(err, ErrNotLog) {
			os.Remove(lockPath) // ours, in a directory that is not
		}
		lk.Unlock()
		return nil, err
	}
	l.compressor = startCompressor(l)
	l.hashes = newHashCache(dir, true, l.log)
	l.hashes.startBackground(l.proofSource)
	if opts.Compress {
		segs, err := listSegments(dir)
		if err == nil {
			for _, s := range segs {
				if !s.Compressed && s.FirstSeq != l.fSeq {
					l.compressor.add(s)
				}
			}
		}
	}
	l.startObserver()
	go l.run()
	if opts.Backup != nil {
		if l.shipper, err = startShipper(l); err != nil {
			l.Close()
			return nil, err
		}
	}
	if opts.CheckpointInterval > 0 {
		l.cpDone = make(chan struct{})
		go l.checkpointer()
	}
	l.startMonitor()
	return l, nil
}

// open reads or creates the header and recovers the active segment.
func (l *ImmutableLogger) open() error {
	if err := finishHeader(l.dir); err != nil {
		return fmt.Errorf("treeoflife: finish HEADER replacement in %s: %w", l.dir, err)
	}
	hdr, id, raw, err := readHeaderRaw(l.dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := checkEmpty(l.dir); err != nil {
			return err
		}
		if hdr, id, err = createHeader(l.dir, l.opts.Clock(), l.initHeader); err != nil {
			return fmt.Errorf("treeoflife: create %s: %w", filepath.Join(l.dir, headerFile), err)
		}
		raw = encodeHeader(&hdr)
	case err != nil:
		return err
	}
	l.logID = id
	l.headerHash = headerDigest(raw)
	if err := l.useHeader(&hdr); err != nil {
		return err
	}
	removeTemps(l.dir)
	segs, err := listSegments(l.dir)
	if err != nil {
		return fmt.Errorf("treeoflife: list %s: %w", l.dir, err)
	}
	cp, err := readCheckpoint(l.dir, l.logID)
	if err != nil {
		return err
	}
	if err := checkCheckpointHeader(cp, l.headerHash, len(segs) > 0); err != nil {
		return err
	}
	if cp != nil {
		l.cpLast, l.cpSize, l.cpSigned = cp.Checkpoint, cp.Size, cp.raw
	}
	if len(segs) == 0 {
		if cp != nil && cp.Size > 0 {
			return &TamperError{Seq: 0, Offset: -1, Reason: fmt.Sprintf("the log has no segment files but its checkpoint records %d records", cp.Size)}
		}
		l.chain = genesisChain(l.logID)
		if cp == nil {
			// A new log starts with a checkpoint of no records, so that
			// a log without CHECKPOINT is always a damaged one.
			if err := l.writeCheckpoint(Head{Chain: l.chain}); err != nil {
				return fmt.Errorf("treeoflife: write checkpoint: %w", err)
			}
		}
		err = l.startFresh()
	} else {
		err = l.recover(segs, cp)
		if err == nil {
			err = l.checkIndexes(cp)
		}
	}
	if err == nil && l.keys != nil {
		l.keys.commit = l.commitHeader
		err = l.keys.startKeys(l.size)
	}
	return err
}

// checkCheckpointHeader checks the local checkpoint against the log's
// HEADER: a log with records has a checkpoint (every log since the first
// has one from its creation on), and a checkpoint records the hash of the
// HEADER it was made with.
func checkCheckpointHeader(cp *localCheckpoint, header Hash, hasSegments bool) error {
	if cp == nil {
		if hasSegments {
			return &TamperError{Segment: checkpointFile, Seq: 0, Offset: -1,
				Reason: "CHECKPOINT is missing: a log holds one from its creation on, so it was deleted"}
		}
		return nil
	}
	if !cp.Legacy && cp.Header != header {
		return &TamperError{Segment: headerFile, Seq: 0, Offset: -1,
			Reason: "HEADER differs from the one CHECKPOINT records (HEADER was edited or replaced)"}
	}
	return nil
}

// pin is the head the checkpoint records, as a verifier pin.
func (c *Checkpoint) pin(source string) pin {
	h := c.Head()
	return pin{size: h.Size, chain: &h.Chain, root: h.Root, source: source}
}

// commitHeader records a new HEADER's hash: the logger's checkpoints name
// it from now on, starting with a new checkpoint of the records the last
// one covered (see rewriteHeader).
func (l *ImmutableLogger) commitHeader(hash Hash) error {
	l.hdrMu.Lock()
	l.headerHash = hash
	l.hdrMu.Unlock()
	l.cpMu.Lock()
	last := l.cpLast
	l.cpMu.Unlock()
	h := Head{Chain: genesisChain(l.logID)}
	if last != nil {
		h = last.Head()
	}
	return l.writeCheckpoint(h)
}

// startFresh creates an empty segment at the current size: for a new log,
// and after a crash that sealed the last segment before its successor existed.
func (l *ImmutableLogger) startFresh() error {
	h := l.newHeader(l.opts.Clock())
	h.Frontier = slices.Clone(l.wfront.hashes)
	if err := l.createSegment(h); err != nil {
		return err
	}
	l.segBytes, l.segRecords, l.segCreated = h.size(), 0, time.Unix(0, h.Created)
	l.indexes = append(l.indexes, newSegmentIndex(h.FirstSeq, h.size()))
	l.front = l.wfront.clone()
	l.written = writtenState{size: l.size, chain: l.chain, front: l.front, segSeq: l.fSeq, segLen: l.fLen}
	l.durable = l.written
	return nil
}

// startFreshLater is startFresh on a full disk: the log opens with the
// sealed segment sealedSeq (of sealedLen bytes) as its last, and the writer
// creates the next segment, as a stalled cut, when there is space; records
// are refused with ErrDiskFull until then.
func (l *ImmutableLogger) startFreshLater(sealedSeq uint64, sealedLen int64, err error) {
	h := l.newHeader(l.opts.Clock())
	h.Frontier = slices.Clone(l.wfront.hashes)
	l.fSeq, l.fLen = sealedSeq, sealedLen
	l.stalled = []*chunk{{seg: h}}
	l.diskFull = fmt.Errorf("%w: %w", ErrDiskFull, err)
	l.segBytes, l.segRecords, l.segCreated = h.size(), 0, time.Unix(0, h.Created)
	l.indexes = append(l.indexes, newSegmentIndex(h.FirstSeq, h.size()))
	l.front = l.wfront.clone()
	l.written = writtenState{size: l.size, chain: l.chain, front: l.front, segSeq: l.fSeq, segLen: l.fLen}
	l.durable = l.written
	l.log.Error("disk full: the log is open, but records are refused until there is space for its next segment", "err", err)
}

// checkEmpty refuses to create a log in a directory that holds anything but
// what a half-finished creation leaves (the lock file, a temporary header).
func checkEmpty(dir string) error {
	des, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, de := range des {
		switch de.Name() {
		case lockFile, headerFile + ".tmp":
			continue
		}
		return fmt.Errorf("%w: %s holds %q but no %s; refusing to create a log in it", ErrNotLog, dir, de.Name(), headerFile)
	}
	return nil
}

// isLogDir reports whether dir holds a HEADER, or the revision that
// replaces it (finishHeader).
func isLogDir(dir string) bool {
	for _, name := range []string{headerFile, headerNextFile} {
		if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			return true
		}
	}
	return false
}

// removeTemps removes temporary files a crash may have left; each is a
// write that had not yet been renamed into place, so nothing depends on it.
func removeTemps(dir string) {
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if strings.HasSuffix(de.Name(), ".tmp") {
			os.Remove(filepath.Join(dir, de.Name()))
		}
	}
}

// newHeader returns the header of a segment starting at the current size.
// Its Frontier is left for the writer to fill in (finishChunk), except when
// the writer is not running (Open), where it is filled in here.
func (l *ImmutableLogger) newHeader(now time.Time) *segmentHeader {
	return &segmentHeader{
		LogID:     l.logID,
		FirstSeq:  l.size,
		Created:   now.UnixNano(),
		PrevChain: l.chain,
	}
}

// recover rebuilds the logger's state from the last segment, repairing a
// torn tail, and checks it against the local checkpoint.
func (l *ImmutableLogger) recover(segs []segmentFile, cp *localCheckpoint) error {
	for _, s := range segs[:len(segs)-1] {
		if err := sealMode(l.dir, s); err != nil {
			return err
		}
		x, err := loadIndex(l.dir, s, l.openPayload)
		if err != nil {
			return err
		}
		l.indexes = append(l.indexes, x)
	}
	last := segs[len(segs)-1]
	sr, err := openSegment(l.dir, last, -1)
	if err != nil {
		return segmentOpenError(last, last.FirstSeq, err)
	}
	defer sr.Close()
	h := &sr.Header
	v := newVerifier(l.dir, l.logID)
	v.size, v.chain, v.frontier = h.FirstSeq, h.PrevChain, frontier{n: h.FirstSeq, hashes: h.Frontier}
	if h.LogID != l.logID {
		return &TamperError{Segment: last.Name, Seq: h.FirstSeq, Offset: 0, Reason: "segment belongs to another log (log ID mismatch)"}
	}
	if h.FirstSeq != last.FirstSeq {
		return &TamperError{Segment: last.Name, Seq: h.FirstSeq, Offset: 0, Reason: "segment file name does not match its first seq (renamed segment)"}
	}
	if cp != nil && cp.Size > h.FirstSeq {
		v.pins = []pin{cp.pin("the checkpoint in CHECKPOINT")}
	}
	sealed := last.Compressed
	if !sealed {
		fi, err := os.Stat(filepath.Join(l.dir, last.Name))
		if err != nil {
			return err
		}
		sealed = fi.Mode().Perm()&0o222 == 0
	}
	active := newSegmentIndex(h.FirstSeq, h.size())
	var tornAt int64 = -1
	hole := false
	var scratch []byte
	for {
		fr, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			var fe *frameError
			if !errors.As(err, &fe) {
				return fmt.Errorf("treeoflife: read %s: %w", last.Name, err)
			}
			torn, terr := l.isTornTail(last, fe.Offset, v.size)
			if terr != nil {
				return terr
			}
			if !torn {
				// Valid records follow the damage: a hole. A power cut
				// can leave one only in bytes no fsync had made durable.
				if reason := l.holeRefused(last, fe.Offset, sealed); reason != "" {
					return &TamperError{Segment: last.Name, Seq: v.size, Offset: fe.Offset,
						Reason: "damaged frame followed by valid records: " + fe.Reason + " (" + reason + ")"}
				}
				hole = true
			}
			tornAt = fe.Offset
			break
		}
		prev := v.chain
		if err := v.record(last, &fr); err != nil {
			return err
		}
		level, t := l.payloadLevelTime(fr.Seq, fr.Payload, &scratch)
		if level == 0 {
			active.partial = true // a record it could not open
		}
		active.add(fr.Seq, fr.Offset, int64(frameHeaderSize+len(fr.Payload)), level, t, &prev)
	}
	if cp != nil && v.size < cp.Size {
		return &TamperError{Seq: v.size, Offset: -1,
			Reason: fmt.Sprintf("log ends after %d records but its checkpoint records %d (records cut off the tail)", v.size, cp.Size)}
	}
	if tornAt >= 0 && sealed {
		return &TamperError{Segment: last.Name, Seq: v.size, Offset: tornAt, Reason: "sealed segment ends in a damaged frame"}
	}
	l.size, l.chain, l.wfront = v.size, v.chain, v.frontier
	l.segRecords = v.size - h.FirstSeq
	if tornAt >= 0 {
		if err := l.repairTail(last, tornAt, hole); err != nil {
			return err
		}
	}
	if sealed {
		// A crash after sealing but before the next segment was created.
		// The index is a cache: failing to write it (a full disk) is no
		// reason to refuse the log.
		if err := writeIndex(l.dir, active); err != nil {
			l.log.Warn("writing segment index failed; it is rebuilt on the next Open", "segment", last.Name, "err", err)
		}
		l.indexes = append(l.indexes, active)
		err := l.startFresh()
		if isNoSpace(err) {
			l.startFreshLater(last.FirstSeq, sr.Offset(), err)
			return nil
		}
		return err
	}
	l.indexes = append(l.indexes, active)
	f, err := fileutil.OpenFileNoFollow(filepath.Join(l.dir, last.Name), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("treeoflife: open active segment: %w", err)
	}
	end := sr.Offset()
	if tornAt >= 0 {
		end = tornAt
	}
	l.f, l.fSeq, l.fLen = f, h.FirstSeq, end
	l.segBytes, l.segCreated = end, time.Unix(0, h.Created)
	l.front = l.wfront.clone()
	l.written = writtenState{size: l.size, chain: l.chain, front: l.front, segSeq: l.fSeq, segLen: l.fLen}
	l.durable = l.written
	return nil
}

// sealMode makes a sealed segment read-only if a crash interrupted its
// sealing; it changes no byte.
func sealMode(dir string, s segmentFile) error {
	p := filepath.Join(dir, s.Name)
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o222 != 0 {
		return os.Chmod(p, 0o444)
	}
	return nil
}

// isTornTail decides whether a bad frame at off in the last segment is a torn
// write: it is if no valid frame for a later record follows it.
func (l *ImmutableLogger) isTornTail(sf segmentFile, off int64, nextSeq uint64) (bool, error) {
	rest, err := readSegmentFrom(l.dir, sf, off)
	if err != nil {
		return false, err
	}
	return !scanForFrame(rest, nextSeq-1, nextSeq > 0), nil
}

func readSegmentFrom(dir string, sf segmentFile, off int64) ([]byte, error) {
	sr, err := openSegment(dir, sf, -1)
	if err != nil {
		return nil, err
	}
	defer sr.Close()
	if _, err := io.CopyN(io.Discard, sr.r, off-sr.Header.size()); err != nil {
		return nil, err
	}
	return io.ReadAll(sr.r)
}

// holeRefused says why damage at off in the last segment, followed by valid
// records, cannot be a power cut's hole, or "" when it can: a hole is
// repairable only in an active segment, and only at or after the offset that
// SYNCED records as fsynced (FORMAT.md, "Crash recovery").
func (l *ImmutableLogger) holeRefused(sf segmentFile, off int64, sealed bool) string {
	if sealed {
		return "the segment is sealed, and was fsynced whole"
	}
	d, ok := readSynced(l.dir, l.logID, sf.FirstSeq)
	if !ok {
		return "SYNCED does not record how much of the segment was fsynced"
	}
	if off < d {
		return fmt.Sprintf("the damage lies within the first %d bytes, which an fsync had made durable", d)
	}
	return ""
}

// repairTail keeps a copy of the damaged bytes in dir/repair/ and cuts them
// off the segment: a torn tail, or (hole) a hole in unsynced bytes and every
// record after it, which the chain cannot reach across the hole.
func (l *ImmutableLogger) repairTail(sf segmentFile, off int64, hole bool) error {
	rest, err := readSegmentFrom(l.dir, sf, off)
	if err != nil {
		return err
	}
	saved, err := cutTail(l.dir, sf, off, rest, ".torn")
	if err != nil {
		return err
	}
	n, lastSeq := validFrames(rest, l.size)
	attrs := []any{"segment", sf.Name, "offset", off, "bytes", len(rest), "saved", saved, "records", l.size}
	if n == 0 {
		l.log.Warn("repaired torn write at the end of the log", attrs...)
		return nil
	}
	attrs = append(attrs, "cut", lastSeq-l.size+1, "cutFirst", l.size, "cutLast", lastSeq, "cutIntact", n)
	if hole {
		l.log.Warn("repaired a hole a power cut left in unsynced bytes; the records from the hole on are cut", attrs...)
	} else {
		l.log.Warn("repaired torn write at the end of the log", attrs...)
	}
	return nil
}

// cutTail copies rest, the bytes of segment sf from off to its end, into
// dir/repair/ (as <segment>.<offset><ext>, numbered when that exists) and
// then cuts the segment at off. It returns the copy's path.
func cutTail(dir string, sf segmentFile, off int64, rest []byte, ext string) (string, error) {
	rdir := filepath.Join(dir, repairDir)
	if err := os.MkdirAll(rdir, 0o750); err != nil {
		return "", err
	}
	// The copy must be durable before the cut: fsync the new repair/
	// entry in the log directory too.
	if err := fileutil.SyncDir(dir); err != nil {
		return "", err
	}
	removeTemps(rdir)
	// A crash can tear the same offset again after a repair: number the
	// copies so that no earlier one is overwritten.
	saved := filepath.Join(rdir, fmt.Sprintf("%s.%d%s", sf.Name, off, ext))
	for n := 1; ; n++ {
		if _, err := os.Lstat(saved); errors.Is(err, os.ErrNotExist) {
			break
		}
		saved = filepath.Join(rdir, fmt.Sprintf("%s.%d.%d%s", sf.Name, off, n, ext))
	}
	if err := fileutil.WriteFileAtomic(saved, rest, 0o444); err != nil {
		return "", fmt.Errorf("treeoflife: save damaged tail: %w", err)
	}
	p := filepath.Join(dir, sf.Name)
	f, err := fileutil.OpenFileNoFollow(p, os.O_WRONLY, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := f.Truncate(off); err != nil {
		return "", fmt.Errorf("treeoflife: cut damaged tail of %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return saved, nil
}

// createSegment writes a new segment's header durably (temporary file,
// fsync, rename, fsync of the directory) and makes it the open segment.
func (l *ImmutableLogger) createSegment(h *segmentHeader) error {
	name := segmentName(h.FirstSeq)
	p := filepath.Join(l.dir, name)
	tmp := p + ".tmp"
	f, err := fileutil.CreateTemp(tmp, os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("treeoflife: create segment: %w", err)
	}
	hdr := h.appendTo(nil)
	if _, err = f.Write(hdr); err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err == nil {
		err = fileutil.SyncDir(l.dir)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("treeoflife: create segment %s: %w", p, err)
	}
	l.f, l.fSeq, l.fLen, l.dirty = f, h.FirstSeq, int64(len(hdr)), false
	return nil
}

// encoder is the per-call scratch space, pooled. frame holds a plain
// record's whole frame: room for the header, then the entry; buf is the
// entry (aliasing frame, or on its own once sealing has grown it).
type encoder struct {
	frame []byte
	buf   []byte
	id    []byte
	h     hash.Hash
	sum   [32]byte
	sealState
}

var encoderPool = sync.Pool{New: func() any {
	return &encoder{frame: make([]byte, 0, 512), id: make([]byte, 0, 36), h: sha256.New()}
}}

// Log appends an entry. It validates and encodes the entry in the calling
// goroutine and returns when the record is durable (DurabilitySync) or
// accepted (DurabilityBuffered). An invalid entry returns an error wrapping
// ErrInvalidEntry or ErrEntryTooLarge and writes nothing.
//
// ctx decides only whether the record is written and how long the caller
// waits, in two steps:
//
//   - Before the record is sequenced (given its Seq), a done ctx stops the
//     call: nothing is written and Log returns ctx.Err().
//   - Once the record is sequenced it is part of the log and is stored with
//     the others; ctx can no longer withdraw it. If ctx ends while a Sync
//     call waits for the fsync, Log returns the Record and a
//     *NotWaitedError carrying its Seq (errors.Is matches ctx's error): the
//     record is not known to be durable yet, but it will be unless the
//     logger fails. Do not log it again; Sync, or look for the Seq, to know
//     when it is durable. A Buffered call does not wait, so ctx cannot end
//     that wait.
//
// An HTTP handler that passes r.Context() loses the record if the client
// disconnects first, which an audit trail rarely wants. Pass
// context.WithoutCancel(r.Context()) to keep the request's values without
// its cancellation, or bound the wait with a context of your own.
func (l *ImmutableLogger) Log(ctx context.Context, level Level, msg string, fields Fields) (Record, error) {
	return l.logMeta(ctx, level, msg, meta{fields: fields})
}

func (l *ImmutableLogger) logMeta(ctx context.Context, level Level, msg string, m meta) (Record, error) {
	if !l.live() {
		return Record{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	if !level.valid() {
		return Record{}, fmt.Errorf("%w: unknown level %d", ErrInvalidEntry, level)
	}
	if msg == "" {
		return Record{}, fmt.Errorf("%w: message is empty", ErrInvalidEntry)
	}
	now := l.opts.Clock()
	e := encoderPool.Get().(*encoder)
	defer encoderPool.Put(e)
	e.id = appendEntryID(e.id[:0], now)
	var err error
	var hdr [frameHeaderSize]byte
	e.frame, err = l.appendEntryBody(append(e.frame[:0], hdr[:]...), e.id, now, level, msg, m)
	if err != nil {
		return Record{}, err
	}
	e.buf = e.frame[frameHeaderSize:]
	// 21: the longest seq and the closing brace.
	if len(e.buf)+21 > l.opts.MaxEntrySize {
		return Record{}, fmt.Errorf("%w: %d bytes encoded, limit %d (Options.MaxEntrySize)", ErrEntryTooLarge, len(e.buf)+21, l.opts.MaxEntrySize)
	}
	if l.keys != nil {
		// The leaf hash covers the sealed bytes, which need the seq: both
		// happen in append.
		l.keys.prepareSeal(e)
	} else {
		e.key, e.overhead = nil, 0
		e.h.Reset()
		e.h.Write(leafPrefix) // 0x00, RFC 6962; the rest of the leaf hash is finished in append
		e.h.Write(e.buf)
	}
	// Encoding takes a while: look at ctx again just before sequencing.
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	seq, chain, gen, err := l.append(e, now, level)
	if err != nil {
		return Record{}, err
	}
	if e.key != nil && seq+1 >= e.key.rotateAt.Load() {
		l.dataKeyDue(e.key)
	}
	// One allocation for both strings: the chain value in hex, then the ID.
	var strs [64 + 64]byte
	hex.Encode(strs[:64], chain[:])
	n := 64 + copy(strs[64:], e.id)
	s := string(strs[:n])
	rec := Record{Seq: seq, Hash: s[:64], ID: s[64:], Time: now, Level: level}
	if l.opts.Durability == DurabilitySync {
		if done := ctx.Done(); done == nil {
			<-gen.done // cheaper than a select, for the usual Background context
		} else {
			select {
			case <-gen.done:
			case <-done:
				select {
				case <-gen.done: // both were ready: the record is durable
				default:
					return rec, &NotWaitedError{Seq: seq, Err: ctx.Err()}
				}
			}
		}
		if errors.Is(gen.err, ErrDiskFull) {
			return rec, fmt.Errorf("treeoflife: record %d was accepted but is not durable yet; it stays queued, in order, and is written when space is available (unless the logger is closed first): %w", seq, gen.err)
		}
		if gen.err != nil {
			return Record{}, fmt.Errorf("treeoflife: record %d is not durable: %w", seq, gen.err)
		}
	}
	return rec, nil
}

// append sequences, hashes and frames the encoded entry. It cannot fail
// once it has taken a sequence number.
func (l *ImmutableLogger) append(e *encoder, now time.Time, level Level) (uint64, Hash, *generation, error) {
	if e.key != nil {
		return l.appendSealed(e, now, level)
	}
	buffered := l.opts.Durability == DurabilityBuffered
	l.lockAppend()
	if err := l.admitLocked(); err != nil {
		l.mu.Unlock()
		return 0, Hash{}, nil, err
	}
	// Under the lock: the seq, the leaf hash (the seq is the entry's last
	// field) and the chain. The frame is completed in e.frame and copied
	// into the chunk after unlocking; the writer waits for that copy.
	seq := l.size
	e.frame = strconv.AppendUint(e.frame, seq, 10)
	e.frame = append(e.frame, '}')
	e.h.Write(e.frame[frameHeaderSize+len(e.buf):])
	leaf := Hash(e.h.Sum(e.sum[:0]))
	c, off := l.reserveAdmittedLocked(int64(len(e.frame)), now)
	dst := c.data[off : off+len(e.frame)]
	c.data = c.data[:off+len(e.frame)]
	c.unfilled.Add(1)
	chain := l.linkLocked(c, int64(len(e.frame)), leaf, level, now.UnixNano())
	gen := l.gen
	flush := buffered && l.pendBytes >= flushBytes
	l.mu.Unlock()
	fillFrameHeader(e.frame, seq, &chain)
	copy(dst, e.frame)
	c.unfilled.Add(-1)
	if flush {
		l.flushInline()
	}
	return seq, chain, gen, nil
}

// lockAppend takes l.mu for an append, retrying for a little while before
// it queues on the mutex. With more logging goroutines than Ps, a goroutine
// that queues is parked, and parked waiters soon switch the mutex into
// starvation mode, where every Unlock hands the lock over with a context
// switch; the critical section is a few hundred nanoseconds, so a short
// spin usually gets the lock first.
func (l *ImmutableLogger) lockAppend() {
	for range spinTries {
		if l.mu.TryLock() {
			return
		}
		//lint:ignore SA4017 the call is the point: a short pause that touches no shared memory
		spinWait(spinLoop)
	}
	l.mu.Lock()
}

const (
	spinTries = 40
	spinLoop  = 50
)

// spinWait burns a little time without touching shared memory.
//
//go:noinline
func spinWait(n int) (x int) {
	for i := range n {
		x += i ^ x
	}
	return x
}

// appendSealed is append for an encrypted log: the record is sealed into
// the chunk under l.mu, once its seq is known.
func (l *ImmutableLogger) appendSealed(e *encoder, now time.Time, level Level) (uint64, Hash, *generation, error) {
	l.mu.Lock()
	c, off, err := l.reserveLocked(int64(frameHeaderSize+e.overhead+len(e.buf)+digits(l.size)+1), now)
	if err != nil {
		l.mu.Unlock()
		return 0, Hash{}, nil, err
	}
	// reserveLocked may have waited without the lock (backpressure), so the
	// seq is read after it.
	seq := l.size
	if seq >= e.key.stopAt {
		c.data = c.data[:off] // give the reserved frame back
		l.mu.Unlock()
		return 0, Hash{}, nil, fmt.Errorf("%w: data key %d has sealed %d records and no new data key could be started; records are refused until one is (RotateDataKey)",
			ErrKeyExhausted, e.key.id, dataKeyHardLimit)
	}
	var leaf Hash
	c.data, leaf = l.keys.sealLocked(c.data, e, seq)
	fr := c.data[off:]
	chain := l.linkLocked(c, int64(len(fr)), leaf, level, now.UnixNano())
	putFrameHeader(fr, seq, &chain)
	c.unfilled.Add(1)
	gen := l.gen
	l.mu.Unlock()
	finishFrame(fr) // the checksum, outside the lock
	c.unfilled.Add(-1)
	return seq, chain, gen, nil
}

// reserveLocked makes room for a frame of frameLen bytes for record l.size:
// it waits while too much is pending, starts a new segment when the active
// one is full or old, and returns the chunk with the frame header reserved
// at off. The caller appends the payload and calls commitLocked.
func (l *ImmutableLogger) reserveLocked(frameLen int64, now time.Time) (*chunk, int, error) {
	if err := l.admitLocked(); err != nil {
		return nil, 0, err
	}
	c, off := l.reserveAdmittedLocked(frameLen, now)
	c.data = c.data[:off+frameHeaderSize] // commitLocked fills it in
	return c, off, nil
}

// admitLocked returns an error if the logger takes no more records, and
// waits (without the lock) while too much is pending.
func (l *ImmutableLogger) admitLocked() error {
	for {
		if l.closed {
			return ErrClosed
		}
		if l.err != nil {
			return fmt.Errorf("treeoflife: logger failed earlier and accepts no more records: %w", l.err)
		}
		if l.diskFull != nil {
			return fmt.Errorf("treeoflife: record refused until space is available (the logger resumes by itself): %w", l.diskFull)
		}
		if l.pendBytes < maxPendingBytes {
			return nil
		}
		g := l.gen
		l.kickLocked()
		l.mu.Unlock()
		<-g.done
		l.mu.Lock()
	}
}

// reserveAdmittedLocked starts a new segment when the active one is full or
// old, and returns the chunk and offset where the frame of record l.size, of
// frameLen bytes, goes; the chunk has room for it.
func (l *ImmutableLogger) reserveAdmittedLocked(frameLen int64, now time.Time) (*chunk, int) {
	if l.segRecords > 0 && (l.segBytes+frameLen > l.segLimit ||
		l.segMaxAge > 0 && now.Sub(l.segCreated) >= l.segMaxAge) {
		l.rotateLocked(now)
	}
	need := int(frameLen)
	if len(l.pend) == 0 || cap(l.pend[len(l.pend)-1].data)-len(l.pend[len(l.pend)-1].data) < need {
		// A new chunk rather than a bigger buffer: no copying of what is
		// already queued.
		l.pend = append(l.pend, l.chunkLocked(need))
	}
	c := l.pend[len(l.pend)-1]
	return c, len(c.data)
}

// commitLocked completes the frame at c.data[off:] as record l.size with
// the given leaf hash: it links the chain, fills in the frame header and
// wakes the writer. It returns the record's chain value.
func (l *ImmutableLogger) commitLocked(c *chunk, off int, leaf Hash, level Level, t int64) Hash {
	seq := l.size
	chain := l.linkLocked(c, int64(len(c.data)-off), leaf, level, t)
	fillFrameHeader(c.data[off:], seq, &chain)
	return chain
}

// linkLocked makes the frame of frameLen bytes at the end of c record
// l.size, with the given leaf hash: it links the chain, notes the record
// for the writer (who adds it to the index) and wakes the writer. It returns the record's chain value; the caller fills
// in the frame.
func (l *ImmutableLogger) linkLocked(c *chunk, frameLen int64, leaf Hash, level Level, t int64) Hash {
	seq := l.size
	chain := chainHash(&l.chain, &leaf)
	if len(c.recs) == 0 {
		c.first, c.off, c.prev, c.idx = seq, l.segBytes, l.chain, l.indexes[len(l.indexes)-1]
	}
	c.recs = append(c.recs, chunkRecord{leaf: leaf, t: t, frameLen: int32(frameLen), level: level})
	l.chain = chain
	l.size++
	l.segBytes += frameLen
	l.segRecords++
	l.pendBytes += int(frameLen)
	l.pendRecords++
	if l.pendRecords == l.fullAt {
		select {
		case l.full <- struct{}{}:
		default:
		}
	}
	l.kickLocked()
	return chain
}

func digits(n uint64) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

func (l *ImmutableLogger) kickLocked() {
	if !l.kicked {
		l.kicked = true
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// rotateLocked ends the active segment at the current size: the records from
// here on go to a new segment whose header carries the current state.
func (l *ImmutableLogger) rotateLocked(now time.Time) {
	h := l.newHeader(now)
	sealed := l.indexes[len(l.indexes)-1]
	l.indexes = append(l.indexes, newSegmentIndex(h.FirstSeq, h.size()))
	c := l.chunkLocked(0)
	c.seg, c.sealed = h, sealed
	l.pend = append(l.pend, c)
	l.segBytes, l.segRecords, l.segCreated = h.size(), 0, now
}

// chunkSize is the size of the buffers records are framed into.
const chunkSize = 256 << 10

// chunkLocked returns an empty chunk with room for need bytes, reusing one
// the writer has finished with when it can.
func (l *ImmutableLogger) chunkLocked(need int) *chunk {
	if need > chunkSize {
		return &chunk{data: make([]byte, 0, need)}
	}
	if n := len(l.freeChunks); n > 0 {
		c := l.freeChunks[n-1]
		l.freeChunks = l.freeChunks[:n-1]
		return c
	}
	return &chunk{data: make([]byte, 0, chunkSize), recs: make([]chunkRecord, 0, chunkSize/256)}
}

// recycleLocked keeps the writer's finished chunks for reuse.
func (l *ImmutableLogger) recycleLocked(chunks []*chunk) {
	for _, c := range chunks {
		if cap(c.data) == chunkSize && len(l.freeChunks) < maxPendingBytes/chunkSize {
			c.seg, c.sealed, c.data, c.recs, c.idx, c.indexed = nil, nil, c.data[:0], c.recs[:0], nil, false
			l.freeChunks = append(l.freeChunks, c)
		}
	}
}

// finishChunk is the writer's share of appending c's records, done before
// they are written: it waits for their frames to be complete, fills in
// c.seg's Merkle frontier and grows the writer's frontier by each record's
// leaf.
func (l *ImmutableLogger) finishChunk(c *chunk) {
	// The appenders copy their frames in right after reserving them, so
	// this wait is short; yielding lets one that was preempted finish.
	for c.unfilled.Load() != 0 {
		runtime.Gosched()
	}
	if c.seg != nil {
		c.seg.Frontier = slices.Clone(l.wfront.hashes)
	}
	for i := range c.recs {
		l.wfront.append(c.recs[i].leaf)
	}
}

// indexChunkLocked adds c's records to their segment's index. It runs after
// finishChunk, when every frame is complete: the chain value before each
// record (which an index block starting there records) is in the frame
// before it.
func (l *ImmutableLogger) indexChunkLocked(c *chunk) {
	if c.indexed || len(c.recs) == 0 {
		return
	}
	c.indexed = true
	prev, pos := &c.prev, 0
	for i := range c.recs {
		r := &c.recs[i]
		c.idx.add(c.first+uint64(i), c.off+int64(pos), int64(r.frameLen), r.level, r.t, prev)
		prev = (*Hash)(c.data[pos+12 : pos+44])
		pos += int(r.frameLen)
	}
}

// unindexedLocked calls fn for every record accepted but not yet in an
// index.
func (l *ImmutableLogger) unindexedLocked(fn func(r *chunkRecord)) {
	for _, cs := range [2][]*chunk{l.inflight, l.pend} {
		for _, c := range cs {
			if c.indexed {
				continue
			}
			for i := range c.recs {
				fn(&c.recs[i])
			}
		}
	}
}

// headLocked returns the head of every record accepted so far: the
// writer's frontier grown by the leaves it has not taken yet.
func (l *ImmutableLogger) headLocked() Head {
	f := l.front
	if f.n < l.size {
		f = f.clone()
		for _, cs := range [2][]*chunk{l.inflight, l.pend} {
			for _, c := range cs {
				for i := range c.recs {
					f.append(c.recs[i].leaf)
				}
			}
		}
	}
	return Head{Size: l.size, Chain: l.chain, Root: f.root()}
}

// run is the writer goroutine: it takes everything accepted so far, writes
// it, fsyncs when the durability mode asks, and completes the generation.
func (l *ImmutableLogger) run() {
	defer close(l.writerDone)
	tick := time.NewTicker(l.opts.FlushInterval)
	defer tick.Stop()
	var groupWait *time.Timer
	// While the disk is full, retry every diskFullRetry (retryC is nil
	// otherwise, and never fires).
	retry := time.NewTimer(diskFullRetry)
	retry.Stop()
	defer retry.Stop()
	var retryC <-chan time.Time
	if len(l.stalled) > 0 { // opened on a full disk
		retry.Reset(diskFullRetry)
		retryC = retry.C
	}
	for {
		stop, timed := false, false
		select {
		case <-l.kick:
		case <-tick.C:
			timed = true
		case <-retryC:
		case <-l.quit:
			stop = true
		}
		pending, wait := 0, false
		if !stop && !timed {
			pending, wait = l.waitForGroup()
		}
		if wait {
			// Wait (briefly) for the rest of the group to arrive: for as
			// long as it keeps arriving, up to groupWaitMax in all.
			start := time.Now()
			for wait {
				if groupWait == nil {
					groupWait = time.NewTimer(groupWaitIdle)
				} else {
					groupWait.Reset(groupWaitIdle)
				}
				select {
				case <-l.full:
					wait = false
				case <-groupWait.C:
					last := pending
					pending, wait = l.waitForGroup()
					wait = wait && pending > last && time.Since(start) < groupWaitMax
				case <-l.quit:
					stop, wait = true, false
				}
				groupWait.Stop()
			}
		}
		l.wmu.Lock()
		n := l.flush(stop, timed)
		if stop {
			l.stopped = true
		}
		stalled := len(l.stalled) > 0
		l.wmu.Unlock()
		if stop {
			return
		}
		retryC = nil
		if stalled {
			retry.Reset(diskFullRetry)
			retryC = retry.C
		}
		if l.opts.Durability == DurabilitySync && n > 1 {
			l.expectGroup(n)
		}
	}
}

// groupWaitIdle and groupWaitMax bound how long the Sync writer waits for
// the callers of the last group commit to log again before it writes what
// it has: it stops waiting when none arrives within groupWaitIdle, a
// fraction of an fsync, so that a caller that does not come back costs the
// others little; and after groupWaitMax in all. Many callers on few CPUs
// take longer than groupWaitIdle to come back, and a group written before
// they all have is followed by a second fsync for the rest, which costs
// more than the wait.
const (
	groupWaitIdle = 200 * time.Microsecond
	groupWaitMax  = 1 * time.Millisecond
)

// expectGroup tells linkLocked to signal l.full once the n callers the
// writer has just woken have logged again, on top of the records already
// pending: in Sync mode they usually log again at once, and one group
// commit for all the waiting callers, rather than two half-sized ones that
// alternate (one filling while the other is fsynced), halves the fsyncs
// per record.
func (l *ImmutableLogger) expectGroup(n int) {
	select {
	case <-l.full: // a stale signal
	default:
	}
	l.mu.Lock()
	l.fullAt = l.pendRecords + n
	l.mu.Unlock()
}

// waitForGroup returns the number of pending records and reports whether
// the writer should wait for l.full before taking them: an expected group
// is not complete yet.
func (l *ImmutableLogger) waitForGroup() (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pendRecords, l.fullAt > 0 && l.pendRecords < l.fullAt && !l.syncRequested && l.err == nil
}

// flushBytes is how much a Buffered logger lets pile up before an appender
// writes it itself rather than leave it to the writer goroutine.
const flushBytes = chunkSize

// flushInline writes what is pending from an appender's goroutine, unless
// someone is writing already. With more busy logging goroutines than Ps, the
// writer goroutine gets only its turn on a P, less than a fast producer
// needs; work done by an appender is done when it is due.
func (l *ImmutableLogger) flushInline() {
	if l.wmu.TryLock() {
		l.flush(false, false)
		l.wmu.Unlock()
	}
}

// flush takes everything accepted so far, writes it, fsyncs when the
// durability mode (or stop, or a timed flush, or Sync) asks, and completes
// the generation. It returns the number of records it took. l.wmu held.
func (l *ImmutableLogger) flush(stop, timed bool) int {
	if l.stopped {
		return 0 // Close has written everything and closes the file
	}
	l.lockAppend()
	if timed && l.opts.SegmentMaxAge > 0 && l.segRecords > 0 && l.err == nil && l.diskFull == nil {
		if now := l.opts.Clock(); now.Sub(l.segCreated) >= l.opts.SegmentMaxAge {
			l.rotateLocked(now)
		}
	}
	chunks, gen, records := l.pend, l.gen, l.pendRecords
	l.pend, l.pendBytes, l.pendRecords, l.fullAt, l.gen, l.kicked = nil, 0, 0, 0, newGeneration(), false
	l.inflight = chunks
	syncReq := l.syncRequested
	l.syncRequested = false
	gen.end = writtenState{size: l.size, chain: l.chain}
	failed, full := l.err, l.diskFull
	l.mu.Unlock()

	// The frontier is grown even when nothing is written (after a
	// failure), so that Head stays right.
	for _, c := range chunks {
		l.finishChunk(c)
	}
	if len(chunks) > 0 || len(l.stalled) > 0 {
		gen.end.front = l.wfront.clone()
	}
	if len(chunks) > 0 {
		// Before the write: a segment sealed there writes its index.
		l.lockAppend()
		for _, c := range chunks {
			l.indexChunkLocked(c)
		}
		l.mu.Unlock()
	}
	err := failed
	todo, wrote := chunks, []*chunk(nil)
	if len(l.stalled) > 0 {
		// Records a full disk held back go first: the order is the chain's.
		todo = append(l.stalled, chunks...)
	}
	if err == nil {
		if full != nil && !stop && time.Since(l.lastTry) < diskFullRetry {
			// The disk was full a moment ago: retry at a bounded rate.
			err = full
			l.stalled = todo
		} else {
			doSync := l.opts.Durability == DurabilitySync || syncReq || stop ||
				timed && time.Since(l.lastSync) >= l.opts.FlushInterval
			var n int
			n, err = l.write(todo, doSync)
			wrote, l.stalled = todo[:n], nil
			l.obs.noteWritten(wrote)
			l.obs.noteGroup(records)
			switch {
			case errors.Is(err, ErrDiskFull) && !stop:
				l.stalled, l.lastTry = todo[n:], time.Now()
			case err != nil:
				if errors.Is(err, ErrDiskFull) {
					err = fmt.Errorf("closing with %d chunks of records unwritten: %w", len(todo)-n, err)
				}
				l.fail(err)
			}
		}
	}
	l.lockAppend()
	if len(chunks) > 0 {
		l.front = gen.end.front
	}
	l.inflight = nil
	l.recycleLocked(wrote)
	if errors.Is(err, ErrDiskFull) && l.err == nil {
		if l.diskFull == nil {
			l.log.Error("disk full: records are refused until space is available; accepted records are kept in order and written then", "err", err)
		}
		l.diskFull = err
	} else if err == nil && l.diskFull != nil {
		l.diskFull = nil
		l.log.Info("space is available again: the records held back are written and logging resumes", "size", gen.end.size)
	}
	advanced := false
	if err == nil && len(todo) > 0 {
		gen.end.segSeq, gen.end.segLen = l.fSeq, l.fLen
		l.written = gen.end
		advanced = true
	}
	if err == nil && !l.dirty && l.durable.size != l.written.size {
		l.durable = l.written
		advanced = true
	}
	if advanced {
		close(l.committed)
		l.committed = make(chan struct{})
	}
	l.mu.Unlock()
	gen.err = err
	close(gen.done)
	return records
}

// write writes the chunks in order, sealing and starting segments where they
// say, and fsyncs the open segment if doSync. It returns how many chunks it
// wrote whole. When the disk is full (the error is ErrDiskFull), the file
// ends after them: the part of the next one that was written is cut off,
// and the caller may call write again with the rest once there is space.
func (l *ImmutableLogger) write(chunks []*chunk, doSync bool) (int, error) {
	for i, c := range chunks {
		if c.seg != nil {
			if err := l.cut(c.seg, c.sealed); err != nil {
				// Once the old segment is sealed (l.f is nil), what is
				// left (CHECKPOINT, the new segment) can be retried; a
				// failure to seal it, its fsync, cannot.
				if l.f == nil && isNoSpace(err) {
					err = fmt.Errorf("%w: %w", ErrDiskFull, err)
				}
				return i, err
			}
			c.seg, c.sealed = nil, nil // done: a retry only writes the records
		}
		if len(c.data) > 0 {
			start := l.fLen
			n, err := l.f.Write(c.data)
			l.fLen += int64(n)
			l.dirty = true
			if err != nil {
				err = l.segmentErr("write", err)
				if !isNoSpace(err) {
					return i, err
				}
				// Cut off what part of the chunk was written: the file
				// ends with a whole frame, and the retry writes it again.
				if terr := l.f.Truncate(start); terr != nil {
					return i, fmt.Errorf("%w; cutting the partial write off failed: %w", err, l.segmentErr("truncate", terr))
				}
				l.fLen = start
				return i, fmt.Errorf("%w: %w", ErrDiskFull, err)
			}
		}
	}
	if doSync && l.dirty {
		// A failed fsync is final, even for ENOSPC: see fail.
		start := time.Now()
		err := l.f.Sync()
		l.obs.noteFsync(time.Since(start))
		if err != nil {
			return len(chunks), l.segmentErr("fsync", err)
		}
		l.dirty = false
		l.lastSync = time.Now()
		l.synced.note(l.dir, l.logID, l.fSeq, l.fLen)
	}
	return len(chunks), nil
}

// diskFullRetry is how often a logger whose disk is full tries to write the
// records it holds back: a write of them is the probe, and costs a system
// call when the disk is still full.
const diskFullRetry = 200 * time.Millisecond

// isNoSpace reports whether err says the file system (or the user's quota)
// is full: a write that may succeed later, unlike an I/O error.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// segmentErr returns err from op on the open segment, naming the segment's
// file: its *os.File was created under the temporary name it had before
// the rename, which the error would name otherwise.
func (l *ImmutableLogger) segmentErr(op string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &os.PathError{Op: op, Path: filepath.Join(l.dir, segmentName(l.fSeq)), Err: err}
}

// fail records the first write or fsync error other than a full disk. From
// then on the logger accepts nothing until it is closed and opened again:
// after a failed fsync the kernel may have dropped the dirty pages (and
// marked them clean), so a retried fsync could succeed and acknowledge
// records that are not on disk; an I/O error on a write says the same of
// the device. A full disk is different: a write that fails with ENOSPC
// leaves nothing dirty behind it once the partial write is cut off, so
// the writer holds the records and retries (see ErrDiskFull).
func (l *ImmutableLogger) fail(err error) {
	l.mu.Lock()
	first := l.err == nil
	if first {
		l.err = err
	}
	l.mu.Unlock()
	if first {
		l.log.Error("write failed; the logger now refuses new records", "err", err)
		l.alert(AlertFailedClosed, err, "a write failed: the logger refuses new records until it is closed and opened again")
	}
}

// Sync writes and fsyncs every record accepted before the call.
func (l *ImmutableLogger) Sync(ctx context.Context) error {
	if !l.live() {
		return ErrClosed
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	g := l.gen
	l.syncRequested = true
	l.kickLocked()
	l.mu.Unlock()
	select {
	case <-g.done:
		return g.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Head returns the size, chain value and Merkle root of every record accepted
// so far.
func (l *ImmutableLogger) Head() Head {
	if !l.live() {
		return Head{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.headLocked()
}

// LogID returns the log's random 128-bit ID in hex.
func (l *ImmutableLogger) LogID() string {
	if !l.live() {
		return ""
	}
	return checkpointOrigin(l.logID)[len("treeoflife/"):]
}

// Dir returns the log directory.
func (l *ImmutableLogger) Dir() string {
	if l == nil {
		return ""
	}
	return l.dir
}

// Verify re-reads every segment file from disk, checks every frame, the hash
// chain across all segments and the Merkle root, and compares the result with
// the logger's own head and the local checkpoint. It streams: memory does not
// grow with the log. It needs no encryption key. It returns nil when the log
// is intact, a *TamperError (errors.Is ErrTampered) locating the first
// problem, or an I/O error. Records logged while Verify runs are not checked.
func (l *ImmutableLogger) Verify(ctx context.Context) error {
	_, err := l.VerifyWith(ctx, VerifyOptions{})
	return err
}

// VerifyDir verifies the log in dir without opening it for writing and
// without a key: the check an auditor runs on a copy. It returns the head of
// the verified log. On a log that a live process is writing, the last record
// may be caught mid-write and reported as damaged; use the writer's Verify
// there.
func VerifyDir(ctx context.Context, dir string) (Head, error) {
	r, err := verifyLocal(ctx, dir, nil, VerifyOptions{})
	return r.Head, err
}

// Close writes and fsyncs every accepted record, records a checkpoint, and
// releases the directory. Calls after Close return ErrClosed, and so does a
// second Close, and Close on a nil or zero ImmutableLogger.
func (l *ImmutableLogger) Close() error {
	if !l.live() {
		return ErrClosed
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	l.mu.Unlock()
	close(l.quit)
	<-l.writerDone
	l.stopLoops()
	if l.cpDone != nil {
		<-l.cpDone
	}
	l.compressor.stop()
	l.hashes.stopBackground()
	l.mu.Lock()
	err := l.err
	head := l.headLocked()
	l.mu.Unlock()
	if err == nil {
		// The records are durable: the writer's last flush fsynced them.
		// The final checkpoint is signed, cosigned and queued for the
		// backup before the shipper's last round, which puts it after the
		// batches it covers.
		// A log closed without new records keeps its checkpoint: Open and
		// Close change nothing on disk.
		l.cpMu.Lock()
		same := l.cpLast != nil && !l.cpLast.Legacy && l.cpLast.Head() == head
		l.cpMu.Unlock()
		if !same {
			ctx, cancel := context.WithTimeout(context.Background(), l.opts.WitnessTimeout)
			if _, cerr := l.checkpointNow(ctx, true, &head); cerr != nil && !errors.Is(cerr, ErrWitness) {
				err = cerr
			}
			cancel()
		}
	}
	var backupErr error
	if l.shipper != nil {
		ctx, cancel := context.WithTimeout(context.Background(), l.opts.BackupCloseTimeout)
		backupErr = l.shipper.close(ctx)
		cancel()
	}
	l.synced.close()
	if l.f != nil {
		if cerr := l.f.Close(); err == nil && cerr != nil {
			err = l.segmentErr("close", cerr)
		}
	}
	if herr := l.hashes.close(); err == nil {
		err = herr
	}
	if l.keys != nil {
		l.keys.close() // no HEADER change after the lock is released
	}
	if uerr := l.lock.Unlock(); err == nil {
		err = uerr
	}
	if err == nil {
		err = backupErr
	}
	l.stopAlerts()
	return err
}

// The level methods log with context.Background; their Context variants
// take a ctx, with the meaning Log gives it.

// Info logs msg at LevelInfo.
func (l *ImmutableLogger) Info(msg string, fields Fields) (Record, error) {
	return l.Log(context.Background(), LevelInfo, msg, fields)
}

// InfoContext logs msg at LevelInfo, with ctx as Log takes it.
func (l *ImmutableLogger) InfoContext(ctx context.Context, msg string, fields Fields) (Record, error) {
	return l.Log(ctx, LevelInfo, msg, fields)
}

// Warn logs msg at LevelWarn.
func (l *ImmutableLogger) Warn(msg string, fields Fields) (Record, error) {
	return l.Log(context.Background(), LevelWarn, msg, fields)
}

// WarnContext logs msg at LevelWarn, with ctx as Log takes it.
func (l *ImmutableLogger) WarnContext(ctx context.Context, msg string, fields Fields) (Record, error) {
	return l.Log(ctx, LevelWarn, msg, fields)
}

// Error logs msg at LevelError.
func (l *ImmutableLogger) Error(msg string, fields Fields) (Record, error) {
	return l.Log(context.Background(), LevelError, msg, fields)
}

// ErrorContext logs msg at LevelError, with ctx as Log takes it.
func (l *ImmutableLogger) ErrorContext(ctx context.Context, msg string, fields Fields) (Record, error) {
	return l.Log(ctx, LevelError, msg, fields)
}

// Critical logs msg at LevelCritical.
func (l *ImmutableLogger) Critical(msg string, fields Fields) (Record, error) {
	return l.Log(context.Background(), LevelCritical, msg, fields)
}

// CriticalContext logs msg at LevelCritical, with ctx as Log takes it.
func (l *ImmutableLogger) CriticalContext(ctx context.Context, msg string, fields Fields) (Record, error) {
	return l.Log(ctx, LevelCritical, msg, fields)
}

// Audit logs msg at LevelAudit.
func (l *ImmutableLogger) Audit(msg string, fields Fields) (Record, error) {
	return l.Log(context.Background(), LevelAudit, msg, fields)
}

// AuditContext logs msg at LevelAudit, with ctx as Log takes it.
func (l *ImmutableLogger) AuditContext(ctx context.Context, msg string, fields Fields) (Record, error) {
	return l.Log(ctx, LevelAudit, msg, fields)
}

// Security logs msg at LevelSecurity.
func (l *ImmutableLogger) Security(msg string, fields Fields) (Record, error) {
	return l.Log(context.Background(), LevelSecurity, msg, fields)
}

// SecurityContext logs msg at LevelSecurity, with ctx as Log takes it.
func (l *ImmutableLogger) SecurityContext(ctx context.Context, msg string, fields Fields) (Record, error) {
	return l.Log(ctx, LevelSecurity, msg, fields)
}

// Revenue logs msg at LevelRevenue.
func (l *ImmutableLogger) Revenue(msg string, fields Fields) (Record, error) {
	return l.Log(context.Background(), LevelRevenue, msg, fields)
}

// RevenueContext logs msg at LevelRevenue, with ctx as Log takes it.
func (l *ImmutableLogger) RevenueContext(ctx context.Context, msg string, fields Fields) (Record, error) {
	return l.Log(ctx, LevelRevenue, msg, fields)
}

// System logs msg at LevelSystem.
func (l *ImmutableLogger) System(msg string, fields Fields) (Record, error) {
	return l.Log(context.Background(), LevelSystem, msg, fields)
}

// SystemContext logs msg at LevelSystem, with ctx as Log takes it.
func (l *ImmutableLogger) SystemContext(ctx context.Context, msg string, fields Fields) (Record, error) {
	return l.Log(ctx, LevelSystem, msg, fields)
}
