// Package tolbench is the benchmark behind cmd/tolbench: it writes the same
// entries through treeoflife and through the loggers it is compared with, and
// measures each. See bench/README.md for the rows and the targets.
package tolbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tol "github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/backup/s3"
)

// Row names, in the order Run runs them.
const (
	RowBuffered          = "treeoflife-buffered"
	RowTolSlog           = "treeoflife-slog"
	RowBufferedEncrypted = "treeoflife-buffered-encrypted"
	RowSync              = "treeoflife-sync"
	RowSlog              = "slog-json"
	RowZap               = "zap-json"
	RowZerolog           = "zerolog"
	RowVerify            = "treeoflife-verify"
	RowReadPage          = "treeoflife-read-page"
	RowSearch            = "treeoflife-search"
	RowEntries           = "treeoflife-entries"
	RowShipS3            = "treeoflife-ship-s3"
	RowShipS3Paced       = "treeoflife-ship-s3-paced"
	RowShipCapacity      = "treeoflife-ship-capacity"
	RowRestoreS3         = "treeoflife-restore-s3"
	RowRSS               = "treeoflife-buffered-rss"
	RowBufferedSigned    = "treeoflife-buffered-signed"
	RowSyncSigned        = "treeoflife-sync-signed"
	RowVerifyAnchored    = "treeoflife-verify-anchored"
	RowProve             = "treeoflife-prove"
	RowOpen              = "treeoflife-open"
	RowCeiling           = "ceiling"
	RowSHA256            = "sha256"
	RowAESGCM            = "aes-gcm"
	RowDashOverview      = "dashboard-overview"
	RowDashSearch        = "dashboard-search"
	RowDashStream        = "dashboard-stream"
	RowDashClients       = "dashboard-100-clients"
)

// AllRows lists the rows Run knows, in the order it runs them. RowVerify and
// RowVerifyDir need RowBuffered (they verify that log), and so do RowSHA256
// and RowAESGCM (records of its size), RowVerifyAnchored needs
// RowBufferedSigned, and RowRestoreS3 needs RowShipCapacity
// (it restores that backup). The S3Rows run only with Config.MinIOBin; RowRSS
// runs only when Config.RSSN > 0.
var AllRows = []string{
	RowBuffered, RowTolSlog, RowBufferedSigned, RowBufferedEncrypted, RowSync, RowSyncSigned, RowCeiling, RowSlog, RowZap, RowZerolog,
	RowVerify, RowVerifyDir, RowSHA256, RowAESGCM, RowVerifyAnchored, RowProve, RowOpen, RowReadPage, RowSearch, RowEntries, RowEntriesNested, RowEntriesNestedRaw, RowShipS3, RowShipS3Paced, RowShipCapacity, RowRestoreS3,
	RowShipSinks1, RowShipSinks2, RowShipSinks3, RowRSS,
	RowDashOverview, RowDashSearch, RowDashStream, RowDashClients,
	RowLegacyImport,
}

// wants reports whether the run measures row name: one of Config.Rows (or
// any, without them), and an S3 row only with a MinIO.
func (c Config) wants(name string) bool {
	if c.MinIOBin == "" && slices.Contains(S3Rows, name) {
		return false
	}
	return len(c.Rows) == 0 || slices.Contains(c.Rows, name)
}

// S3Rows are the rows that ship to, or restore from, a MinIO server that the
// benchmark starts from Config.MinIOBin.
var S3Rows = []string{RowShipS3, RowShipS3Paced, RowShipCapacity, RowRestoreS3}

// ErrNoMinIO is returned by Run when Config.Rows names an S3 row but
// Config.MinIOBin is empty. Without Config.Rows, those rows are skipped.
var ErrNoMinIO = errors.New("tolbench: the S3 rows need a MinIO server: " + minioHint)

// Defaults for the zero Config.
const (
	DefaultN               = 1_000_000
	DefaultDistinct        = 1 << 16
	DefaultWritersBuffered = 8
	DefaultWritersSync     = 64
	DefaultWritersPeers    = 8
	DefaultBufferSize      = 64 << 10
	DefaultShipRate        = 100_000
	DefaultProveN          = 10_000_000
)

// Config says what Run measures. The zero value runs every row but RowRSS
// with the defaults above in a temporary directory.
type Config struct {
	N     int // entries per row; default DefaultN
	NSync int // entries for RowSync; default N
	NShip int // entries for RowShipS3 and RowShipS3Paced; default N

	// ShipRate is the rate, in entries/s, at which RowShipS3Paced logs;
	// default DefaultShipRate.
	ShipRate int

	// Distinct is how many different entries are generated before the
	// rows run; entry i of a row is entry i mod Distinct. Default
	// DefaultDistinct: a million pre-built entries (about 575 MiB of maps)
	// would make the Go heap ten times what a logging service has, and the
	// allocating rows would pay for it in fresh pages rather than GC, which
	// measured 10-30% slower for treeoflife-buffered.
	Distinct int

	WritersBuffered int // goroutines for RowBuffered and RowRSS
	WritersSync     int // goroutines for RowSync
	WritersPeers    int // goroutines for slog, zap and zerolog
	BufferSize      int // bufio size for the peers' files

	// SegmentSize is passed to treeoflife's Options (0: its default).
	SegmentSize int64

	// ProveN is the size of the log RowProve proves records of; default
	// DefaultProveN.
	ProveN int

	// RSSN, when positive, adds RowRSS: RSSN entries written with Buffered
	// in a child process, reporting that process's peak RSS.
	RSSN int
	// Exe is the program run as that child; default os.Executable(). It must
	// call ChildMain when its arguments start with ChildFlag.
	Exe string

	// Rows, when not empty, restricts the run to these row names.
	Rows []string

	// MinIOBin is a minio server binary. The S3Rows start it on a free
	// loopback port with its data in the run's directory, and stop it when
	// Run returns. Empty: the S3Rows are skipped (see ErrNoMinIO).
	MinIOBin string

	// Dir is where the logs are written: a new directory inside it is used
	// and removed afterwards, unless Keep. Default os.TempDir().
	Dir  string
	Keep bool

	// CPUProfile, when set, is a file to write a CPU profile of ProfileRow's
	// timed section to (default row RowBuffered). MemProfile likewise gets
	// an allocation profile taken after that row.
	CPUProfile string
	MemProfile string
	ProfileRow string

	// Log, when set, gets a line as each row starts, where the logs are
	// kept when Keep, and why rows were skipped.
	Log io.Writer
}

// A Row is one measured line of the benchmark.
type Row struct {
	Name          string  `json:"name"`
	Writers       int     `json:"writers"`
	Entries       int     `json:"entries"`
	Seconds       float64 `json:"seconds"`
	EntriesPerSec float64 `json:"entries_per_sec"`
	P50ms         float64 `json:"p50_ms"`   // per-call latency; 0 if not measured
	P99ms         float64 `json:"p99_ms"`   // per-call latency; 0 if not measured
	P999ms        float64 `json:"p999_ms"`  // per-call latency; 0 if not measured
	Maxms         float64 `json:"max_ms"`   // per-call latency; 0 if not measured
	CloseMs       float64 `json:"close_ms"` // final flush/Close, included in Seconds
	BytesPerEntry float64 `json:"bytes_per_entry"`
	FileBytes     int64   `json:"file_bytes"`
	Files         int     `json:"files"`

	// Go allocation during the timed section, per entry.
	AllocBytesPerEntry float64 `json:"alloc_bytes_per_entry"`
	AllocsPerEntry     float64 `json:"allocs_per_entry"`
	// Peak live Go heap (sampled every 10 ms) during the timed section,
	// above what was live before it (mostly the pre-generated entries).
	HeapPeakMiB float64 `json:"heap_peak_mib"`
	// Peak RSS (VmHWM) of the process during the row. In the main process it
	// includes the pre-generated entries; RowRSS runs alone in a child.
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	GCs        uint32  `json:"gcs"`
	// Load1 is the machine's 1-minute load average as the row ended: above
	// GOMAXPROCS, other work shared the CPUs and the row is not comparable.
	Load1 float64 `json:"load1"`

	// Backup rows only (RowShipS3, RowShipS3Paced, RowShipCapacity): the largest
	// BackupStatus.LagRecords and Lag sampled during the row, how long
	// SyncBackup took after the last write returned (DrainMs), the objects
	// (PUTs: BackupStatus.UploadedObjects, HEADER and checkpoints included)
	// and bytes the shipper uploaded, and the batch objects the backup
	// holds, counted by listing the bucket.
	MaxLagRecords uint64  `json:"max_lag_records,omitempty"`
	MaxLagMs      float64 `json:"max_lag_ms,omitempty"`
	DrainMs       float64 `json:"drain_ms,omitempty"`
	PUTs          int64   `json:"puts,omitempty"`
	UploadedBytes int64   `json:"uploaded_bytes,omitempty"`
	Batches       int64   `json:"batches,omitempty"`
	// VerifyP99ms is RowProve's p99 time to verify an inclusion proof.
	VerifyP99ms float64 `json:"verify_p99_ms,omitempty"`
	// CostPct is RowDashClients' loss of logging throughput with its
	// stream clients, in percent.
	CostPct float64 `json:"cost_pct,omitempty"`
	// OfferedPerSec is the rate RowShipS3Paced tried to log at.
	OfferedPerSec float64 `json:"offered_per_sec,omitempty"`
	// CPUusPerEntry is this process's CPU time (user and system) over the
	// timed section, per entry; for the sink rows, over the logging and the
	// drain: what the sinks cost the machine, which other work on it
	// disturbs less than the rate.
	CPUusPerEntry float64 `json:"cpu_us_per_entry,omitempty"`

	Note string `json:"note,omitempty"`
}

// Run runs the benchmark and returns its rows in order.
func Run(ctx context.Context, cfg Config) (rows []Row, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(cfg.Dir, "tolbench-")
	if err != nil {
		return nil, err
	}
	if cfg.Keep {
		cfg.logf("tolbench: keeping the logs in %s", dir)
	} else {
		defer func() {
			if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
				err = rerr
			}
		}()
	}

	if cfg.MinIOBin == "" && len(cfg.Rows) == 0 {
		cfg.logf("tolbench: skipping %s: no MinIO; %s", strings.Join(S3Rows, ", "), minioHint)
	}
	needEntries := 0
	for _, name := range []string{RowBuffered, RowTolSlog, RowBufferedSigned, RowBufferedEncrypted, RowProve, RowOpen, RowSlog, RowZap, RowZerolog, RowReadPage, RowSearch, RowEntries, RowShipCapacity, RowDashOverview, RowDashSearch, RowDashStream, RowDashClients, RowShipSinks1, RowShipSinks2, RowShipSinks3} {
		if cfg.wants(name) {
			needEntries = cfg.N
		}
	}
	if cfg.wants(RowSync) || cfg.wants(RowSyncSigned) {
		needEntries = max(needEntries, cfg.NSync)
	}
	if cfg.wants(RowShipS3) || cfg.wants(RowShipS3Paced) {
		needEntries = max(needEntries, cfg.NShip)
	}
	entries := Generate(min(needEntries, cfg.Distinct))

	r := &runner{cfg: cfg, dir: dir, entries: entries}
	defer r.stopMinIO()
	for _, name := range AllRows {
		if !cfg.wants(name) || (name == RowRSS && cfg.RSSN <= 0) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return rows, err
		}
		cfg.logf("tolbench: running %s", name)
		row, err := r.run(ctx, name)
		if err != nil {
			return rows, fmt.Errorf("%s: %w", name, err)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func (c Config) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format+"\n", args...)
	}
}

func (c Config) withDefaults() (Config, error) {
	if c.N == 0 {
		c.N = DefaultN
	}
	if c.NSync == 0 {
		c.NSync = c.N
	}
	if c.NShip == 0 {
		c.NShip = c.N
	}
	if c.ShipRate == 0 {
		c.ShipRate = DefaultShipRate
	}
	if c.ProveN == 0 {
		c.ProveN = DefaultProveN
	}
	if c.Distinct == 0 {
		c.Distinct = DefaultDistinct
	}
	if c.WritersBuffered == 0 {
		c.WritersBuffered = DefaultWritersBuffered
	}
	if c.WritersSync == 0 {
		c.WritersSync = DefaultWritersSync
	}
	if c.WritersPeers == 0 {
		c.WritersPeers = DefaultWritersPeers
	}
	if c.BufferSize == 0 {
		c.BufferSize = DefaultBufferSize
	}
	if c.Dir == "" {
		c.Dir = os.TempDir()
	}
	if c.ProfileRow == "" {
		c.ProfileRow = RowBuffered
	}
	if c.N < 0 || c.ProveN < 0 || c.NSync < 0 || c.NShip < 0 || c.ShipRate < 0 || c.Distinct < 0 || c.RSSN < 0 || c.WritersBuffered < 0 || c.WritersSync < 0 || c.WritersPeers < 0 || c.BufferSize < 0 {
		return c, errors.New("tolbench: counts must not be negative")
	}
	for _, name := range c.Rows {
		if !slices.Contains(AllRows, name) {
			return c, fmt.Errorf("tolbench: unknown row %q (rows: %v)", name, AllRows)
		}
	}
	if slices.Contains(c.Rows, RowVerify) && !slices.Contains(c.Rows, RowBuffered) {
		return c, fmt.Errorf("tolbench: row %s needs row %s", RowVerify, RowBuffered)
	}
	if slices.Contains(c.Rows, RowVerifyDir) && !slices.Contains(c.Rows, RowBuffered) {
		return c, fmt.Errorf("tolbench: row %s needs row %s", RowVerifyDir, RowBuffered)
	}
	for _, name := range []string{RowSHA256, RowAESGCM} {
		if slices.Contains(c.Rows, name) && !slices.Contains(c.Rows, RowBuffered) {
			return c, fmt.Errorf("tolbench: row %s needs row %s", name, RowBuffered)
		}
	}
	if slices.Contains(c.Rows, RowVerifyAnchored) && !slices.Contains(c.Rows, RowBufferedSigned) {
		return c, fmt.Errorf("tolbench: row %s needs row %s", RowVerifyAnchored, RowBufferedSigned)
	}
	if slices.Contains(c.Rows, RowRestoreS3) && !slices.Contains(c.Rows, RowShipCapacity) {
		return c, fmt.Errorf("tolbench: row %s needs row %s", RowRestoreS3, RowShipCapacity)
	}
	if c.MinIOBin == "" {
		for _, name := range c.Rows {
			if slices.Contains(S3Rows, name) {
				return c, fmt.Errorf("row %s: %w", name, ErrNoMinIO)
			}
		}
	}
	if slices.Contains(c.Rows, RowRSS) && c.RSSN <= 0 {
		return c, fmt.Errorf("tolbench: row %s needs RSSN > 0 (-rss-n)", RowRSS)
	}
	if c.RSSN > 0 && c.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return c, fmt.Errorf("tolbench: finding the program to run the RSS child: %w", err)
		}
		c.Exe = exe
	}
	return c, nil
}

type runner struct {
	cfg     Config
	dir     string
	entries []Entry

	prepared  string         // a log of N entries for the read and capacity rows
	minio     *minioServer   // started by the first S3 row
	sink      *s3.Sink       // on minio's bucket
	shipped   *shippedLog    // what RowShipCapacity shipped, for RowRestoreS3
	sinkRows  map[string]Row // the sink rows, measured together by the first (sinks.go)
	roundRows map[string]Row // the rows of RoundGroups, measured together by the first of each (rounds.go)
	proveDir  string         // the log RowProve wrote, for RowOpen
	nestedDir string         // the log of the nested rows
}

// entry returns the i'th entry a row writes.
func (r *runner) entry(i int) *Entry { return &r.entries[i%len(r.entries)] }

func (r *runner) run(ctx context.Context, name string) (Row, error) {
	if g, ok := roundGroup(name); ok {
		return r.roundRow(ctx, g, name)
	}
	return r.runOnce(ctx, name)
}

// runOnce runs row name once.
func (r *runner) runOnce(ctx context.Context, name string) (Row, error) {
	switch name {
	case RowBuffered:
		return r.tolBuffered(ctx)
	case RowTolSlog:
		return r.tolSlog(ctx)
	case RowBufferedEncrypted:
		return r.tolBufferedEncrypted(ctx)
	case RowSync:
		return r.tolSync(ctx)
	case RowBufferedSigned:
		return r.tolBufferedSigned(ctx)
	case RowSyncSigned:
		return r.tolSyncSigned(ctx)
	case RowVerifyAnchored:
		return r.tolVerifyAnchored(ctx)
	case RowProve:
		return r.tolProve(ctx)
	case RowOpen:
		return r.tolOpen(ctx)
	case RowSlog:
		return r.slog(ctx)
	case RowZap:
		return r.zap(ctx)
	case RowZerolog:
		return r.zerolog(ctx)
	case RowVerify:
		return r.tolVerify(ctx)
	case RowVerifyDir:
		return r.tolVerifyDir(ctx)
	case RowCeiling:
		return r.ceiling(ctx)
	case RowSHA256:
		return r.sha256Row(ctx)
	case RowAESGCM:
		return r.aesGCMRow(ctx)
	case RowReadPage:
		return r.readPage(ctx)
	case RowSearch:
		return r.search(ctx)
	case RowEntries:
		return r.iterate(ctx)
	case RowEntriesNested:
		return r.iterateNested(ctx, false)
	case RowEntriesNestedRaw:
		return r.iterateNested(ctx, true)
	case RowShipS3:
		return r.shipLive(ctx, RowShipS3, tol.DurabilitySync, r.cfg.WritersSync, 0)
	case RowShipS3Paced:
		return r.shipLive(ctx, RowShipS3Paced, tol.DurabilityBuffered, r.cfg.WritersBuffered, r.cfg.ShipRate)
	case RowShipCapacity:
		return r.shipCapacity(ctx)
	case RowRestoreS3:
		return r.restoreS3(ctx)
	case RowDashOverview:
		return r.dashOverview(ctx)
	case RowDashSearch:
		return r.dashSearch(ctx)
	case RowDashStream:
		return r.dashStream(ctx)
	case RowDashClients:
		return r.dashClients(ctx)
	case RowShipSinks1:
		return r.sinkRow(ctx, 1)
	case RowShipSinks2:
		return r.sinkRow(ctx, 2)
	case RowShipSinks3:
		return r.sinkRow(ctx, 3)
	case RowRSS:
		return r.rss(ctx)
	case RowLegacyImport:
		return r.legacyImport(ctx)
	}
	return Row{}, fmt.Errorf("unknown row")
}

// drive calls write(i) for every i in [0, n) from the given number of
// goroutines, each taking a contiguous share, all released at once. If lat is
// not nil, lat[i] gets the duration of write(i) in nanoseconds. It returns
// the time from release until the last goroutine finished, and the first error.
func drive(ctx context.Context, n, writers int, lat []int64, write func(i int) error) (time.Duration, error) {
	writers = max(1, min(writers, n))
	var (
		wg       sync.WaitGroup
		failed   atomic.Bool
		errOnce  sync.Once
		firstErr error
		start    = make(chan struct{})
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		failed.Store(true)
	}
	for g := range writers {
		lo, hi := g*n/writers, (g+1)*n/writers
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := lo; i < hi; i++ {
				if i&1023 == 0 && (failed.Load() || ctx.Err() != nil) {
					if err := ctx.Err(); err != nil {
						fail(err)
					}
					return
				}
				var t0 time.Time
				if lat != nil {
					t0 = time.Now()
				}
				if err := write(i); err != nil {
					fail(fmt.Errorf("entry %d: %w", i, err))
					return
				}
				if lat != nil {
					lat[i] = int64(time.Since(t0))
				}
			}
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	return time.Since(t0), firstErr
}

// percentiles fills the latency fields of row from lat (nanoseconds), which
// it sorts.
func percentiles(row *Row, lat []int64) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(p float64) float64 {
		i := int(p*float64(len(lat))+0.999999) - 1 // nearest rank
		i = max(0, min(i, len(lat)-1))
		return float64(lat[i]) / 1e6
	}
	row.P50ms, row.P99ms, row.P999ms = at(0.50), at(0.99), at(0.999)
	row.Maxms = float64(lat[len(lat)-1]) / 1e6
}

// A meter measures the Go heap, allocation and RSS of one row's timed
// section, and profiles it when asked.
type meter struct {
	cfg      Config
	name     string
	ms0      runtime.MemStats
	peakHeap atomic.Uint64
	stopHeap chan struct{}
	heapDone chan struct{}
	rssReset bool
	profFile *os.File
	cpu0     time.Duration // selfCPU when the timed section started
}

func (r *runner) startMeter(name string) (*meter, error) {
	runtime.GC()
	settle()
	m := &meter{cfg: r.cfg, name: name, stopHeap: make(chan struct{}), heapDone: make(chan struct{})}
	m.rssReset = resetPeakRSS()
	if r.cfg.CPUProfile != "" && name == r.cfg.ProfileRow {
		f, err := os.Create(r.cfg.CPUProfile)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
		m.profFile = f
	}
	runtime.ReadMemStats(&m.ms0)
	go m.sampleHeap()
	m.cpu0 = selfCPU()
	return m, nil
}

func (m *meter) sampleHeap() {
	defer close(m.heapDone)
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		metrics.Read(s)
		if s[0].Value.Kind() == metrics.KindUint64 {
			if v := s[0].Value.Uint64(); v > m.peakHeap.Load() {
				m.peakHeap.Store(v)
			}
		}
		select {
		case <-m.stopHeap:
			return
		case <-t.C:
		}
	}
}

// stop ends the measurement and fills row's memory fields; row.Entries must
// be set.
func (m *meter) stop(row *Row) error {
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	close(m.stopHeap)
	<-m.heapDone
	if m.profFile != nil {
		pprof.StopCPUProfile()
		if err := m.profFile.Close(); err != nil {
			return err
		}
	}
	if m.cfg.MemProfile != "" && m.name == m.cfg.ProfileRow {
		runtime.GC() // the profile shows allocations as of the last GC
		f, err := os.Create(m.cfg.MemProfile)
		if err != nil {
			return err
		}
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if row.Entries > 0 {
		n := float64(row.Entries)
		if cpu := selfCPU() - m.cpu0; cpu > 0 {
			row.CPUusPerEntry = float64(cpu.Nanoseconds()) / 1e3 / n
		}
		row.AllocBytesPerEntry = float64(ms1.TotalAlloc-m.ms0.TotalAlloc) / n
		row.AllocsPerEntry = float64(ms1.Mallocs-m.ms0.Mallocs) / n
	}
	row.GCs = ms1.NumGC - m.ms0.NumGC
	peak := max(m.peakHeap.Load(), ms1.HeapAlloc)
	row.HeapPeakMiB = float64(peak-min(peak, m.ms0.HeapAlloc)) / (1 << 20)
	row.PeakRSSMiB = float64(peakRSS()) / (1 << 20)
	row.Load1 = loadAverage()
	return nil
}

// finish fills the rate of row from its elapsed time.
func finish(row *Row, elapsed, closing time.Duration) {
	row.Seconds = (elapsed + closing).Seconds()
	row.CloseMs = float64(closing) / 1e6
	if row.Seconds > 0 {
		row.EntriesPerSec = float64(row.Entries) / row.Seconds
	}
}

// diskUsage sets the file fields of row from the files under path.
func diskUsage(row *Row, path string) error {
	var total int64
	var files int
	err := filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		files++
		return nil
	})
	if err != nil {
		return err
	}
	row.FileBytes, row.Files = total, files
	if row.Entries > 0 {
		row.BytesPerEntry = float64(total) / float64(row.Entries)
	}
	return nil
}
