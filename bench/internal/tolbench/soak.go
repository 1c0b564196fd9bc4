package tolbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	tol "github.com/treeoflife/treeoflife"
)

// The soak runs one logger for a long time at a fixed rate, the way a
// service runs it: small segments that seal and compress, a signed
// checkpoint every second, backup shipping to a MinIO that is killed and
// restarted now and then, and a Reader following the log from the
// directory. It samples the process as it goes and, at the end, checks that
// nothing grew that should not have and that the log, its backup and the
// reader's view all hold every record.

// Names of the soak's JSON lines.
const (
	RowSoak       = "treeoflife-soak"        // the summary
	RowSoakSample = "treeoflife-soak-sample" // one sample
)

// Defaults for the zero SoakConfig.
const (
	DefaultSoakRate        = 20_000
	DefaultSoakWriters     = 8
	DefaultSoakSample      = 10 * time.Second
	DefaultSoakSegmentSize = 8 << 20
)

const (
	// soakPool is how many distinct entries the writers cycle through: few
	// enough (about 2 MiB) that the RSS is the logger's and the runtime's.
	soakPool = 4096
	// soakPrefix is the BackupPrefix the soak ships under.
	soakPrefix = RowSoak
	// soakReaderPoll is how often the reader asks the directory for new
	// records: a Reader has no Tail (that is the writer's), so a process
	// following a log it does not write polls.
	soakReaderPoll = 200 * time.Millisecond
	// soakRecoveredLag is the backup lag that counts as caught up again
	// after MinIO comes back: the ship rows' target for the largest lag
	// while MinIO runs throughout.
	soakRecoveredLag = 2 * time.Second
	// soakLagPoll is how often BackupStatus is read while waiting for the
	// backup to catch up after a restart.
	soakLagPoll = 100 * time.Millisecond
	// soakFinishTimeout bounds SyncBackup and the wait for the last
	// restart's recovery at the end.
	soakFinishTimeout = 2 * time.Minute
)

// Slack for the flatness checks: the last quarter's largest sample may
// exceed the first quarter's by 20% or by these, whichever is more.
const (
	soakSlackRSS        = 16 << 20
	soakSlackFDs        = 8
	soakSlackGoroutines = 16
)

// SoakConfig says how long and how hard RunSoak runs.
type SoakConfig struct {
	Duration    time.Duration // how long the writers log; required
	Rate        int           // entries/s in all; default DefaultSoakRate
	Writers     int           // writer goroutines; default DefaultSoakWriters
	SampleEvery time.Duration // default DefaultSoakSample
	// KillEvery, when positive, SIGKILLs MinIO this often and restarts it
	// on the same port and data directory.
	KillEvery time.Duration
	// SegmentSize is the logger's Options.SegmentSize; default
	// DefaultSoakSegmentSize, so that segments seal and compress often.
	SegmentSize int64

	MinIOBin string // required
	Dir      string // a new directory is made inside it; default os.TempDir()
	Keep     bool   // keep that directory

	// OnSample, when set, gets each sample as it is taken.
	OnSample func(SoakSample)
	// Log, when set, gets progress lines: MinIO's restarts, the final steps.
	Log io.Writer
}

// A SoakSample is the state of the process at one moment of the soak.
type SoakSample struct {
	Name       string  `json:"name"` // RowSoakSample
	ElapsedS   float64 `json:"elapsed_s"`
	Logged     uint64  `json:"logged"`      // records logged so far
	RSSMiB     float64 `json:"rss_mib"`     // VmRSS
	FDs        int     `json:"fds"`         // open file descriptors; -1 if unknown
	Goroutines int     `json:"goroutines"`  // runtime.NumGoroutine
	HeapMiB    float64 `json:"heap_mib"`    // Go heap objects, garbage included
	LagRecords uint64  `json:"lag_records"` // BackupStatus.LagRecords
	LagMs      float64 `json:"lag_ms"`      // BackupStatus.Lag
	LastError  string  `json:"last_error,omitempty"`
	Seen       uint64  `json:"reader_seen"` // records the Reader has seen
	ReaderLag  uint64  `json:"reader_lag"`  // Logged - Seen
	Restarts   int     `json:"minio_restarts"`
}

// A SoakStat summarises one column of the samples.
type SoakStat struct {
	First float64 `json:"first"`
	Last  float64 `json:"last"`
	Max   float64 `json:"max"`
	// The largest sample in the first and in the last quarter of the run.
	FirstQuarterMax float64 `json:"first_quarter_max"`
	LastQuarterMax  float64 `json:"last_quarter_max"`
}

// A SoakRestart is one kill and restart of MinIO.
type SoakRestart struct {
	AtS    float64 `json:"at_s"`    // when it was killed, since the start
	DownMs float64 `json:"down_ms"` // from the kill until MinIO was ready again
	// RecoveredMs is the time from MinIO being ready until the backup had
	// uploaded again and its lag was at most soakRecoveredLag; -1 if that
	// did not happen before the next kill or the end.
	RecoveredMs float64 `json:"recovered_ms"`
	MaxLagMs    float64 `json:"max_lag_ms"` // the largest lag seen meanwhile
}

// SoakResult is what RunSoak measured and found.
type SoakResult struct {
	Name          string  `json:"name"` // RowSoak
	Seconds       float64 `json:"seconds"`
	Writers       int     `json:"writers"`
	Entries       uint64  `json:"entries"`
	OfferedPerSec float64 `json:"offered_per_sec"`
	EntriesPerSec float64 `json:"entries_per_sec"`
	SegmentSize   int64   `json:"segment_size"`

	Samples    []SoakSample `json:"-"`
	RSSMiB     SoakStat     `json:"rss_mib"`
	FDs        SoakStat     `json:"fds"`
	Goroutines SoakStat     `json:"goroutines"`
	HeapMiB    SoakStat     `json:"heap_mib"`
	LagMs      SoakStat     `json:"lag_ms"`
	LagRecords SoakStat     `json:"lag_records"`
	ReaderLag  SoakStat     `json:"reader_lag"`

	Restarts []SoakRestart `json:"restarts"`

	ReaderSeen       uint64 `json:"reader_seen"`
	ReaderOutOfOrder uint64 `json:"reader_out_of_order"` // records not at the seq expected
	ReaderErrors     int    `json:"reader_errors"`       // failed polls
	ReaderLastError  string `json:"reader_last_error,omitempty"`

	SyncBackupMs float64 `json:"sync_backup_ms"` // SyncBackup after the last write
	FileBytes    int64   `json:"file_bytes"`     // the log directory at the end
	Files        int     `json:"files"`
	PUTs         int64   `json:"puts"`
	LogSize      uint64  `json:"log_size"`    // VerifyDirWith's head
	BackupSize   uint64  `json:"backup_size"` // VerifyBackupWith's head

	// Checks are the verdict: flatness, recovery after each restart, and the
	// final verifications. The soak passes when all pass.
	Checks []Target `json:"checks"`
}

// Pass reports whether every check passed.
func (r *SoakResult) Pass() bool {
	for _, c := range r.Checks {
		if !c.Pass {
			return false
		}
	}
	return len(r.Checks) > 0
}

// RunSoak runs the soak (see SoakConfig) and returns what it found. An error
// means it could not run to the end (MinIO did not start, logging failed,
// ctx ended); a check that fails is in the result, not an error.
func RunSoak(ctx context.Context, cfg SoakConfig) (res SoakResult, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return res, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return res, err
	}
	base, err := os.MkdirTemp(cfg.Dir, "tolsoak-")
	if err != nil {
		return res, err
	}
	if cfg.Keep {
		cfg.logf("soak: keeping the log and MinIO's data in %s", base)
	} else {
		defer func() {
			if rerr := os.RemoveAll(base); rerr != nil && err == nil {
				err = rerr
			}
		}()
	}
	t0 := time.Now()
	srv, err := startMinIO(ctx, cfg.MinIOBin, filepath.Join(base, "minio", "data"))
	if err != nil {
		return res, err
	}
	defer srv.stop()
	cfg.logf("soak: MinIO ready at %s in %.1f s (log: %s)", srv.endpoint, time.Since(t0).Seconds(), srv.logPath)
	sink, err := srv.sink(ctx, "")
	if err != nil {
		return res, err
	}
	signer, verifiers, err := benchSigner()
	if err != nil {
		return res, err
	}
	dir := filepath.Join(base, "log")
	lg, err := tol.Open(dir, tol.Options{
		Durability:  tol.DurabilityBuffered,
		SegmentSize: cfg.SegmentSize,
		Compress:    true,
		Signer:      signer,
		Backup:      sink, BackupPrefix: soakPrefix,
	})
	if err != nil {
		return res, err
	}
	defer lg.Close()

	s := &soak{cfg: cfg, lg: lg, srv: srv, entries: Generate(soakPool), fatal: make(chan error, 1)}
	res = SoakResult{
		Name: RowSoak, Writers: cfg.Writers, OfferedPerSec: float64(cfg.Rate),
		SegmentSize: cfg.SegmentSize, Restarts: []SoakRestart{},
	}

	// The reader follows the log until it is closed, then reads once more.
	rd := &soakReader{dir: dir, closed: make(chan struct{}), done: make(chan struct{})}
	go rd.run(ctx)

	s.start = time.Now()
	stopWriters := make(chan struct{})
	var writers sync.WaitGroup
	for w := range cfg.Writers {
		writers.Add(1)
		go func() {
			defer writers.Done()
			s.write(ctx, w, stopWriters)
		}()
	}
	stopKills := make(chan struct{})
	killerDone := make(chan struct{})
	go func() {
		defer close(killerDone)
		s.killMinIO(ctx, stopKills)
	}()

	// Sample until the duration is up.
	s.sample(&res, rd)
	end := time.NewTimer(cfg.Duration)
	defer end.Stop()
	tick := time.NewTicker(cfg.SampleEvery)
	defer tick.Stop()
	var runErr error
loop:
	for {
		select {
		case <-tick.C:
			s.sample(&res, rd)
		case <-end.C:
			break loop
		case runErr = <-s.fatal:
			break loop
		case <-ctx.Done():
			runErr = ctx.Err()
			break loop
		}
	}
	close(stopWriters)
	writers.Wait()
	elapsed := time.Since(s.start)
	close(stopKills)
	if runErr == nil {
		cfg.logf("soak: logging stopped after %.1f s; waiting for the backup", elapsed.Seconds())
	}
	<-killerDone // it waits for the last restart's recovery, if any
	s.sample(&res, rd)
	select {
	case err := <-s.fatal:
		runErr = firstErr(runErr, err)
	default:
	}
	if runErr != nil {
		lg.Close()
		close(rd.closed)
		<-rd.done
		return res, runErr
	}
	res.Seconds = elapsed.Seconds()
	res.Entries = s.logged.Load()
	res.EntriesPerSec = float64(res.Entries) / elapsed.Seconds()
	res.Restarts = append(res.Restarts, s.restarts...)

	// The end: everything shipped, the logger closed, the reader caught up,
	// the log and the backup verified as an auditor would, with the public
	// key and every record under a signed checkpoint.
	fctx, cancel := context.WithTimeout(ctx, soakFinishTimeout)
	defer cancel()
	t1 := time.Now()
	serr := lg.SyncBackup(fctx)
	res.SyncBackupMs = float64(time.Since(t1)) / 1e6
	st := lg.BackupStatus()
	res.PUTs = st.UploadedObjects
	logID := lg.LogID()
	cerr := lg.Close()
	close(rd.closed)
	<-rd.done
	res.ReaderSeen, res.ReaderOutOfOrder = rd.seen.Load(), rd.outOfOrder.Load()
	res.ReaderErrors, res.ReaderLastError = rd.errorsSeen()
	var du Row
	if err := diskUsage(&du, dir); err == nil {
		res.FileBytes, res.Files = du.FileBytes, du.Files
	}
	cfg.logf("soak: verifying the log and the backup")
	vopts := tol.VerifyOptions{Verifiers: verifiers, RequireSigned: true}
	lrep, lerr := tol.VerifyDirWith(ctx, dir, vopts)
	brep, berr := tol.VerifyBackupWith(ctx, sink, tol.RestoreOptions{Prefix: soakPrefix, LogID: logID}, vopts)
	res.LogSize, res.BackupSize = lrep.Head.Size, brep.Head.Size

	res.summarise(cfg)
	res.Checks = append(res.Checks, res.flatChecks()...)
	res.Checks = append(res.Checks, res.restartChecks(cfg)...)
	n := res.Entries
	res.Checks = append(res.Checks,
		check("SyncBackup after the last write, then Close", errors.Join(serr, cerr) == nil,
			fmt.Sprintf("SyncBackup %.0f ms: %s; Close: %s", res.SyncBackupMs, errText(serr), errText(cerr))),
		check("VerifyDirWith the log (public key, RequireSigned)", lerr == nil && lrep.Head.Size == n,
			fmt.Sprintf("%s records of %s logged, %s under a signed checkpoint: %s",
				thousands(float64(lrep.Head.Size)), thousands(float64(n)), thousands(float64(lrep.Anchored)), errText(lerr))),
		check("VerifyBackupWith the bucket (public key, RequireSigned)", berr == nil && brep.Head.Size == n && brep.Head == lrep.Head,
			fmt.Sprintf("%s records, head equal to the log's: %v: %s", thousands(float64(brep.Head.Size)), brep.Head == lrep.Head, errText(berr))),
		check("the Reader saw every record, in order", res.ReaderSeen == n && res.ReaderOutOfOrder == 0,
			fmt.Sprintf("%s of %s, %d out of order, %d failed polls%s", thousands(float64(res.ReaderSeen)), thousands(float64(n)),
				res.ReaderOutOfOrder, res.ReaderErrors, lastErrNote(res.ReaderLastError))),
	)
	return res, nil
}

func (c SoakConfig) withDefaults() (SoakConfig, error) {
	if c.Duration <= 0 {
		return c, errors.New("soak: the duration must be positive")
	}
	if c.MinIOBin == "" {
		return c, errors.New("soak: it ships to MinIO: " + minioHint)
	}
	if c.Rate == 0 {
		c.Rate = DefaultSoakRate
	}
	if c.Writers == 0 {
		c.Writers = DefaultSoakWriters
	}
	if c.SampleEvery == 0 {
		c.SampleEvery = DefaultSoakSample
	}
	if c.SegmentSize == 0 {
		c.SegmentSize = DefaultSoakSegmentSize
	}
	if c.Dir == "" {
		c.Dir = os.TempDir()
	}
	if c.Rate < 0 || c.Writers < 0 || c.SampleEvery < 0 || c.KillEvery < 0 || c.SegmentSize < 0 {
		return c, errors.New("soak: rate, writers, intervals and segment size must not be negative")
	}
	return c, nil
}

func (c SoakConfig) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format+"\n", args...)
	}
}

// soak is the state of one run that its goroutines share.
type soak struct {
	cfg     SoakConfig
	lg      *tol.ImmutableLogger
	srv     *minioServer // restarted by killMinIO alone, until it returns
	entries []Entry
	start   time.Time

	logged   atomic.Uint64
	nRestart atomic.Int64
	restarts []SoakRestart // written by killMinIO; read after it returns
	fatal    chan error    // the first error that ends the run
}

func (s *soak) fail(err error) {
	select {
	case s.fatal <- err:
	default:
	}
}

// write logs from writer w at its share of the rate until stop is closed.
// It sleeps when it is more than a millisecond ahead of its schedule; when
// it falls behind, it logs as fast as it can until it has caught up.
func (s *soak) write(ctx context.Context, w int, stop <-chan struct{}) {
	writers := s.cfg.Writers
	perEntry := time.Duration(float64(time.Second) * float64(writers) / float64(s.cfg.Rate))
	// Start the writers a fraction of perEntry apart, not all at once.
	first := s.start.Add(perEntry * time.Duration(w) / time.Duration(writers))
	var t *time.Timer
	for k := 0; ; k++ {
		select {
		case <-stop:
			return
		default:
		}
		if d := time.Until(first.Add(time.Duration(k) * perEntry)); d > time.Millisecond {
			if t == nil {
				t = time.NewTimer(d)
			} else {
				t.Reset(d)
			}
			select {
			case <-stop:
				t.Stop()
				return
			case <-t.C:
			}
		}
		e := &s.entries[(k*writers+w)%len(s.entries)]
		if _, err := s.lg.Log(ctx, tol.LevelRevenue, e.Msg, e.Fields); err != nil {
			s.fail(fmt.Errorf("logging: %w", err))
			return
		}
		s.logged.Add(1)
	}
}

// killMinIO kills MinIO at every multiple of KillEvery before the end of
// the run, restarts it, and watches the backup catch up, until stop is
// closed. The recovery it is watching when stop closes, it still waits for
// (bounded by soakFinishTimeout).
func (s *soak) killMinIO(ctx context.Context, stop <-chan struct{}) {
	if s.cfg.KillEvery <= 0 {
		return
	}
	next := time.NewTimer(s.cfg.KillEvery)
	defer next.Stop()
	for k := 1; time.Duration(k)*s.cfg.KillEvery < s.cfg.Duration; k++ {
		// After a slow recovery the kill may be due already.
		if !next.Stop() {
			select {
			case <-next.C:
			default:
			}
		}
		next.Reset(time.Until(s.start.Add(time.Duration(k) * s.cfg.KillEvery)))
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-next.C:
		}
		rs := SoakRestart{AtS: time.Since(s.start).Seconds(), RecoveredMs: -1}
		t0 := time.Now()
		s.srv.kill()
		if err := s.srv.restart(ctx); err != nil {
			s.fail(err)
			return
		}
		ready := time.Now()
		rs.DownMs = float64(ready.Sub(t0)) / 1e6
		s.nRestart.Add(1)
		s.cfg.logf("soak: MinIO killed at %.1f s, ready again after %.1f s", rs.AtS, rs.DownMs/1e3)
		s.watchRecovery(ctx, &rs, ready, s.start.Add(time.Duration(k+1)*s.cfg.KillEvery), stop)
		s.restarts = append(s.restarts, rs)
	}
}

// watchRecovery polls BackupStatus until the backup has uploaded since
// ready and its lag is at most soakRecoveredLag, or the next kill is due.
// After stop, it keeps watching for up to soakFinishTimeout.
func (s *soak) watchRecovery(ctx context.Context, rs *SoakRestart, ready, nextKill time.Time, stop <-chan struct{}) {
	poll := time.NewTicker(soakLagPoll)
	defer poll.Stop()
	due := time.NewTimer(time.Until(nextKill))
	defer due.Stop()
	dueC := due.C // nil after stop: no kill follows
	var deadline <-chan time.Time
	for {
		st := s.lg.BackupStatus()
		rs.MaxLagMs = max(rs.MaxLagMs, float64(st.Lag)/1e6)
		if st.LastUpload.After(ready) && st.Lag <= soakRecoveredLag {
			rs.RecoveredMs = float64(time.Since(ready)) / 1e6
			return
		}
		select {
		case <-poll.C:
		case <-dueC:
			return
		case <-stop:
			stop, dueC = nil, nil
			t := time.NewTimer(soakFinishTimeout)
			defer t.Stop()
			deadline = t.C
		case <-deadline:
			return
		case <-ctx.Done():
			return
		}
	}
}

// sample appends a sample to res and passes it to OnSample.
func (s *soak) sample(res *SoakResult, rd *soakReader) {
	st := s.lg.BackupStatus()
	// Seen before logged: a record the reader saw was logged before.
	seen := rd.seen.Load()
	logged := s.logged.Load()
	m := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(m)
	var heap uint64
	if m[0].Value.Kind() == metrics.KindUint64 {
		heap = m[0].Value.Uint64()
	}
	sm := SoakSample{
		Name:       RowSoakSample,
		ElapsedS:   time.Since(s.start).Seconds(),
		Logged:     logged,
		RSSMiB:     float64(currentRSS()) / (1 << 20),
		FDs:        openFDs(),
		Goroutines: runtime.NumGoroutine(),
		HeapMiB:    float64(heap) / (1 << 20),
		LagRecords: st.LagRecords,
		LagMs:      float64(st.Lag) / 1e6,
		Seen:       seen,
		ReaderLag:  logged - min(seen, logged),
		Restarts:   int(s.nRestart.Load()),
	}
	if st.LastError != nil {
		sm.LastError = st.LastError.Error()
	}
	res.Samples = append(res.Samples, sm)
	if s.cfg.OnSample != nil {
		s.cfg.OnSample(sm)
	}
}

// A soakReader follows the log from its directory with a Reader, as
// another process would, and checks that records arrive in order.
type soakReader struct {
	dir    string
	closed chan struct{} // closed after the logger is: read once more, then stop
	done   chan struct{}

	seen       atomic.Uint64
	outOfOrder atomic.Uint64

	mu      sync.Mutex
	errs    int
	lastErr error
}

func (rd *soakReader) run(ctx context.Context) {
	defer close(rd.done)
	r, err := tol.OpenReader(rd.dir)
	if err != nil {
		rd.recordErr(err)
		return
	}
	defer r.Close()
	poll := time.NewTicker(soakReaderPoll)
	defer poll.Stop()
	var next uint64
	for final := false; ; {
		for e, err := range r.Entries(ctx, tol.Filter{FromSeq: next}) {
			if err != nil {
				rd.recordErr(err)
				break
			}
			if e.Seq != next {
				rd.outOfOrder.Add(1)
			}
			next = e.Seq + 1
			rd.seen.Add(1)
		}
		if final || ctx.Err() != nil {
			return
		}
		select {
		case <-poll.C:
		case <-rd.closed:
			final = true
		case <-ctx.Done():
			return
		}
	}
}

func (rd *soakReader) recordErr(err error) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	rd.errs++
	rd.lastErr = err
}

func (rd *soakReader) errorsSeen() (int, string) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.lastErr == nil {
		return rd.errs, ""
	}
	return rd.errs, rd.lastErr.Error()
}

// summarise fills the SoakStats from the samples.
func (r *SoakResult) summarise(cfg SoakConfig) {
	quarter := cfg.Duration.Seconds() / 4
	stat := func(v func(SoakSample) float64) SoakStat {
		var st SoakStat
		for i, sm := range r.Samples {
			x := v(sm)
			if i == 0 {
				st.First = x
			}
			st.Last = x
			st.Max = max(st.Max, x)
			if sm.ElapsedS <= quarter {
				st.FirstQuarterMax = max(st.FirstQuarterMax, x)
			}
			if sm.ElapsedS >= 3*quarter {
				st.LastQuarterMax = max(st.LastQuarterMax, x)
			}
		}
		return st
	}
	r.RSSMiB = stat(func(s SoakSample) float64 { return s.RSSMiB })
	r.FDs = stat(func(s SoakSample) float64 { return float64(s.FDs) })
	r.Goroutines = stat(func(s SoakSample) float64 { return float64(s.Goroutines) })
	r.HeapMiB = stat(func(s SoakSample) float64 { return s.HeapMiB })
	r.LagMs = stat(func(s SoakSample) float64 { return s.LagMs })
	r.LagRecords = stat(func(s SoakSample) float64 { return float64(s.LagRecords) })
	r.ReaderLag = stat(func(s SoakSample) float64 { return float64(s.ReaderLag) })
}

// flatChecks: RSS, open files and goroutines in the last quarter of the run
// stay within 20% (or a small slack) of the first quarter's largest.
func (r *SoakResult) flatChecks() []Target {
	flat := func(name string, st SoakStat, slack float64, unit string) Target {
		limit := max(st.FirstQuarterMax*1.2, st.FirstQuarterMax+slack)
		return check(name+" flat", st.LastQuarterMax <= limit,
			fmt.Sprintf("last quarter max %.0f%s, first quarter max %.0f%s (limit %.0f%s); first %.0f, last %.0f, max %.0f",
				st.LastQuarterMax, unit, st.FirstQuarterMax, unit, limit, unit, st.First, st.Last, st.Max))
	}
	ts := []Target{flat("RSS", r.RSSMiB, soakSlackRSS>>20, " MiB")}
	if len(r.Samples) > 0 && r.Samples[0].FDs >= 0 { // -1: not measured here
		ts = append(ts, flat("open files", r.FDs, soakSlackFDs, ""))
	}
	return append(ts, flat("goroutines", r.Goroutines, soakSlackGoroutines, ""))
}

// restartChecks: after each restart of MinIO the backup caught up again.
func (r *SoakResult) restartChecks(cfg SoakConfig) []Target {
	if cfg.KillEvery <= 0 || len(r.Restarts) == 0 {
		return nil // none asked for, or the run was shorter than KillEvery
	}
	recovered, worst, worstLag := 0, 0.0, 0.0
	for _, rs := range r.Restarts {
		if rs.RecoveredMs >= 0 {
			recovered++
		}
		worst = max(worst, rs.RecoveredMs)
		worstLag = max(worstLag, rs.MaxLagMs)
	}
	return []Target{check("backup lag back under 2 s after each MinIO restart",
		recovered == len(r.Restarts),
		fmt.Sprintf("%d of %d restarts recovered; slowest %.1f s after MinIO was ready; largest lag %.1f s",
			recovered, len(r.Restarts), worst/1e3, worstLag/1e3))}
}

func check(name string, pass bool, got string) Target {
	return Target{Name: name, Got: got, Pass: pass}
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func lastErrNote(s string) string {
	if s == "" {
		return ""
	}
	return "; last: " + s
}

// firstErr returns the first of errs that is not nil.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// WriteSoakHeader writes the header of the sample table.
func WriteSoakHeader(w io.Writer) error {
	_, err := fmt.Fprintf(w, "%9s %12s %8s %5s %5s %8s %9s %7s %10s %8s  %s\n",
		"elapsed s", "logged", "RSS MiB", "fds", "gorts", "heap MiB", "lag recs", "lag s", "reader lag", "restarts", "backup error")
	return err
}

// WriteSoakSample writes one line of the sample table.
func WriteSoakSample(w io.Writer, s SoakSample) error {
	msg := s.LastError
	if len(msg) > 80 {
		msg = msg[:77] + "..."
	}
	if msg == "" {
		msg = "-"
	}
	_, err := fmt.Fprintf(w, "%9.1f %12s %8.1f %5d %5d %8.1f %9s %7.2f %10s %8d  %s\n",
		s.ElapsedS, thousands(float64(s.Logged)), s.RSSMiB, s.FDs, s.Goroutines, s.HeapMiB,
		thousands(float64(s.LagRecords)), s.LagMs/1e3, thousands(float64(s.ReaderLag)), s.Restarts, msg)
	return err
}

// WriteSoakSummary writes what the soak found: the columns' first, last and
// largest values, the restarts, the end, and the checks.
func WriteSoakSummary(w io.Writer, r SoakResult) error {
	seg := fmt.Sprintf("%d MiB", r.SegmentSize>>20)
	if r.SegmentSize < 1<<20 {
		seg = fmt.Sprintf("%d KiB", r.SegmentSize>>10)
	}
	fmt.Fprintf(w, "soak: %.1f s, %d writers, %s records (%s/s offered, %s/s logged), %s segments, compressed; MinIO restarted %d times\n\n",
		r.Seconds, r.Writers, thousands(float64(r.Entries)), thousands(r.OfferedPerSec), thousands(r.EntriesPerSec),
		seg, len(r.Restarts))
	fmt.Fprintf(w, "%-20s %10s %10s %10s %18s %18s\n", "", "first", "last", "max", "first quarter max", "last quarter max")
	for _, c := range []struct {
		name string
		st   SoakStat
		prec int
	}{
		{"RSS MiB", r.RSSMiB, 1},
		{"open files", r.FDs, 0},
		{"goroutines", r.Goroutines, 0},
		{"Go heap MiB", r.HeapMiB, 1},
		{"backup lag s", scaleStat(r.LagMs, 1e-3), 2},
		{"backup lag records", r.LagRecords, 0},
		{"reader lag records", r.ReaderLag, 0},
	} {
		fmt.Fprintf(w, "%-20s %10.*f %10.*f %10.*f %18.*f %18.*f\n", c.name,
			c.prec, c.st.First, c.prec, c.st.Last, c.prec, c.st.Max, c.prec, c.st.FirstQuarterMax, c.prec, c.st.LastQuarterMax)
	}
	for _, rs := range r.Restarts {
		caught := "the backup did not catch up before the next kill or the end"
		if rs.RecoveredMs >= 0 {
			caught = fmt.Sprintf("the backup caught up %.1f s after", rs.RecoveredMs/1e3)
		}
		fmt.Fprintf(w, "MinIO killed at %.1f s: ready again after %.1f s; %s; largest lag %.1f s\n",
			rs.AtS, rs.DownMs/1e3, caught, rs.MaxLagMs/1e3)
	}
	perEntry := 0.0
	if r.Entries > 0 {
		perEntry = float64(r.FileBytes) / float64(r.Entries)
	}
	fmt.Fprintf(w, "end: SyncBackup %.0f ms after the last write; %s PUTs; the log holds %.1f MiB in %d files (%.0f B/entry)\n\n",
		r.SyncBackupMs, thousands(float64(r.PUTs)), float64(r.FileBytes)/(1<<20), r.Files, perEntry)
	if err := WriteTargets(w, r.Checks); err != nil {
		return err
	}
	verdict := "PASS"
	if !r.Pass() {
		verdict = "FAIL"
	}
	_, err := fmt.Fprintf(w, "soak: %s\n", verdict)
	return err
}

func scaleStat(st SoakStat, k float64) SoakStat {
	return SoakStat{First: st.First * k, Last: st.Last * k, Max: st.Max * k, FirstQuarterMax: st.FirstQuarterMax * k, LastQuarterMax: st.LastQuarterMax * k}
}
