package treeoflife

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
const maxPendingBytes = 4 << 20

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

	// Tenant makes Open's dir a root of tenant logs and opens this tenant's,
	// dir/tenants/<Tenant> (see Open). It is stored in every entry as
	// tenantId (the original system's tenantId), names the log's place in a
	// backup, and is recorded in the HEADER of a new log: a tenant's log
	// opened in its own directory with no Tenant adopts the recorded one,
	// and with another is refused (ErrInvalidTenant). Allowed IDs: see
	// ValidateTenantID.
	Tenant string

	// tenantKeyed: Keys is a tenant's own key (Tenants, tenantkey.go),
	// which RotateKey must not change.
	tenantKeyed bool

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
	// are in backup/s3, backup/gcs, backup/azblob and backup/file.
	Backup backup.Sink

	// LocalRetention removes the oldest sealed segments from dir once the
	// backup holds and has verified them (by age and/or total size; see
	// LocalRetention). Off by default; it needs Backup or Backups, and with
	// several sinks waits for every one of them.
	LocalRetention LocalRetention
	// Backups adds backup sinks (several regions or providers): each holds
	// a complete backup and has a shipper of its own (lease, cursor,
	// batches, retries, status: BackupStatus.Sinks), so that a slow,
	// failing or hung sink delays no other sink, no writer and no Sync, and
	// Close by at most BackupCloseTimeout. Backup, when also set, is the
	// first sink, followed by these. Sinks are told apart by SinkName,
	// which must differ between them.
	Backups []backup.Sink

	// BackupPrefix is prepended to the backup's object keys.
	BackupPrefix string

	// BackupBatchSize is the number of records per backup object. Default
	// 10,000.
	BackupBatchSize int

	// BackupBatchBytes bounds a backup object's size: a batch ends early
	// with the record that brings it to this many bytes (one record, at
	// least). Default 8 MiB. Each sink's shipper uploads up to 4 batches at
	// a time, and keeps their buffers for the next ones.
	BackupBatchBytes int

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
	if o.BackupBatchSize < 0 || o.BackupBatchBytes < 0 || o.BackupInterval < 0 || o.BackupCloseTimeout < 0 {
		return o, fmt.Errorf("%w: BackupBatchSize, BackupBatchBytes, BackupInterval and BackupCloseTimeout must not be negative", ErrInvalidOptions)
	}
	if o.BackupBatchSize == 0 {
		o.BackupBatchSize = DefaultBackupBatchSize
	}
	if o.BackupBatchBytes == 0 {
		o.BackupBatchBytes = DefaultBackupBatchBytes
	}
	if o.BackupInterval == 0 {
		o.BackupInterval = DefaultBackupInterval
	}
	if o.BackupCloseTimeout == 0 {
		o.BackupCloseTimeout = DefaultBackupCloseTimeout
	}
	if err := checkBackupSinks(&o); err != nil {
		return o, err
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
	if err := o.retentionDefaults(); err != nil {
		return o, err
	}
	return o, nil
}

// Record is what a logging call returns: where the record went in the log.
type Record struct {
	Seq   uint64    // position in the log; the first record is 0
	Hash  Hash      // chain value after this record (FORMAT.md, "Hashes")
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
	backups    *backupSet    // nil without a backup sink
	kick       chan struct{} // wakes the writer; capacity 1
	quit       chan struct{} // closed by Close
	writerDone chan struct{}
	compressor *compressor
	hashes     *hashCache // HASHES, for proofs (hashes.go)
	ret        *retainer  // nil without Options.LocalRetention (retention.go)
	// cutMu is held (write) while local retention records a cut and
	// removes segment files, and (read) by verifications, which would
	// otherwise find a segment gone midway.
	cutMu sync.RWMutex

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
	// The log as accepted so far (records may still be in pend): size
	// records have their seq. The first linked of them have their chain
	// value too, and chain is the value after them. In a plain log every
	// record is linked when it gets its seq (linked == size whenever mu is
	// free); an encrypted log's record is sealed after it gets its seq,
	// outside mu, and linked in seq order after that (appendSealed).
	size   uint64
	linked uint64
	chain  Hash
	// unlinked holds the encoders of the records size-linked.. in seq
	// order, while they are sealed; linkedN is linked, for their callers
	// to wait on without the lock, and linkCond wakes those that sleep
	// (linkSleepers of them).
	unlinked     []*encoder
	linkedN      atomic.Uint64
	linkCond     sync.Cond
	linkSleepers int
	// admitCond wakes the appenders that wait for room (admitWaiters of
	// them, in admitLocked): a flush takes what is pending.
	admitCond    sync.Cond
	admitWaiters int
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
	// The sealed ones are summaries whose blocks blocks loads on demand.
	indexes []*segmentIndex
	blocks  *blockSource
	// start is START: where the local log begins after local retention
	// removed its oldest segments (nil: at record 0). Set under mu.
	start *logStart
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
	sealedTo  uint64       // the segments starting before it are sealed on disk (noteSealed)
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
	stopped  bool            // the writer has made its last flush: Close owns the file
	wfront   frontier        // Merkle frontier of every record the writer has taken
	wchain   Hash            // the chain value after them
	wscratch frontierScratch // finishChunk's
	wleaves  []Hash
	f        *os.File
	fSeq     uint64 // first seq of the open segment
	fLen     int64
	dirty    bool     // written since the last fsync
	wbFile   *os.File // the segment startWriteback last hinted, and up to where
	wbAt     int64
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
//
// With Options.Tenant, dir is a root that holds one isolated log per
// tenant, and Open opens that tenant's: dir/tenants/<id>, the log
// OpenTenants(dir).Get(id) opens, with its own lock, chain and keys. So
// several tenants can be open at once in one process, each from its own
// Open, and Open and Tenants can be mixed (one logger per tenant at a
// time). A dir that is itself the log of that tenant (created by Open
// before tenants had their own directories) is opened in place, with a
// warning to Options.Logger; see the migration note in README.md.
func Open(dir string, opts Options) (*ImmutableLogger, error) {
	if opts.Tenant == "" {
		return openDir(dir, opts)
	}
	if err := ValidateTenantID(opts.Tenant); err != nil {
		return nil, err
	}
	if isLogDir(dir) {
		h, _, err := readHeader(dir)
		if err != nil {
			return nil, err
		}
		if h.Tenant != opts.Tenant {
			what := "a log without a tenant"
			if h.Tenant != "" {
				what = fmt.Sprintf("the log of tenant %q", h.Tenant)
			}
			return nil, fmt.Errorf("%w: %s is %s, not a root of tenant logs; tenant %q's log goes in ROOT/%s/%s (see the migration note in README.md)",
				ErrInvalidTenant, dir, what, opts.Tenant, tenantsDir, opts.Tenant)
		}
		if opts.Logger != nil {
			opts.Logger.Warn("treeoflife: a tenant's log in the root directory, as Open made it before tenants had their own directories; move it to ROOT/tenants/<id> (README.md, migration)",
				"log", dir, "tenant", h.Tenant)
		}
		return openDir(dir, opts)
	}
	tdir, err := tenantDir(dir, opts.Tenant)
	if err != nil {
		return nil, err
	}
	if err := checkTenantCase(dir, opts.Tenant, tdir); err != nil {
		return nil, err
	}
	if opts.encrypted() {
		// A tenant that Tenants created has a tenant key (tenantkey.go).
		kf, err := readTenantKey(dir, opts.Tenant)
		if err != nil {
			return nil, err
		}
		if kf != nil {
			if opts, err = withTenantKey(context.Background(), opts, kf, filepath.Join(dir, systemDir)); err != nil {
				return nil, err
			}
		}
	}
	return openDir(tdir, opts)
}

// openDir is Open of the log in dir itself, whatever Options.Tenant says.
func openDir(dir string, opts Options) (*ImmutableLogger, error) {
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
	l.linkCond.L = &l.mu
	l.admitCond.L = &l.mu
	l.blocks = newBlockSource(dir, true, func(sf segmentFile) (*segmentIndex, bool, error) {
		return buildIndexWith(dir, sf, -1, l.openPayload)
	})
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
	if len(opts.backupSinks()) > 0 {
		if l.backups, err = startBackups(l); err != nil {
			l.Close()
			return nil, err
		}
	}
	if opts.CheckpointInterval > 0 {
		l.cpDone = make(chan struct{})
		go l.checkpointer()
	}
	l.startRetention()
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
	segs, st, err := listKept(l.dir, &l.logID)
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
	if st != nil {
		if err := l.openStart(st, segs, cp); err != nil {
			return err
		}
	}
	if cp != nil {
		l.cpLast, l.cpSize, l.cpSigned = cp.Checkpoint, cp.Size, cp.raw
	}
	if len(segs) == 0 {
		if cp != nil && cp.Size > 0 {
			return &TamperError{Seq: 0, Offset: -1, Reason: fmt.Sprintf("the log has no segment files but its checkpoint records %d records", cp.Size)}
		}
		l.chain = genesisChain(l.logID)
		l.wchain = l.chain
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
		if err == nil {
			// Checked: the sealed segments' indexes are kept as their
			// summaries from now on.
			for i, x := range l.indexes[:len(l.indexes)-1] {
				l.indexes[i] = l.blocks.summarise(x)
			}
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
	l.noteSealed(h.FirstSeq)
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
	l.noteSealed(h.FirstSeq)
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

// noteSealed records that every segment starting before seq is sealed on
// disk (read-only and fsynced).
func (l *ImmutableLogger) noteSealed(seq uint64) {
	l.mu.Lock()
	l.sealedTo = seq
	l.mu.Unlock()
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
// so far. After local retention removed the oldest segments, it still covers
// every record, the removed ones too: the local log begins at
// Stats().FirstSeq.
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
// grow with the log. It needs no encryption key. It returns the report (the
// verified head, the checkpoints compared) and a nil error when the log is
// intact, or a *TamperError (errors.Is ErrTampered) locating the first
// problem, or an I/O error. Records logged while Verify runs are not checked.
// VerifyWith also checks signatures and anchors.
func (l *ImmutableLogger) Verify(ctx context.Context) (VerifyReport, error) {
	return l.VerifyWith(ctx, VerifyOptions{})
}

// VerifyDir verifies the log in dir without opening it for writing and
// without a key: the check an auditor runs on a copy. Its report holds the
// head of the verified log. On a log that a live process is writing, the last record
// may be caught mid-write and reported as damaged; use the writer's Verify
// there.
func VerifyDir(ctx context.Context, dir string) (VerifyReport, error) {
	return verifyLocal(ctx, dir, nil, VerifyOptions{})
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
	if l.backups != nil {
		ctx, cancel := context.WithTimeout(context.Background(), l.opts.BackupCloseTimeout)
		backupErr = l.backups.close(ctx)
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
