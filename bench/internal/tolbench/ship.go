package tolbench

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	tol "github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/backup/s3"
)

// The S3 rows ship to, and restore from, a MinIO server on loopback that
// the benchmark starts (Config.MinIOBin) with its data in the run's
// directory. Every row uses the default BackupBatchSize and BackupInterval;
// each log ships under a BackupPrefix named after its row.

// A cpuMeter measures the CPU time this process and the MinIO server use
// during a row: on 2 cores they compete, and a slow row can say why.
type cpuMeter struct {
	srv        *minioServer
	self, srv0 time.Duration
	wall       time.Time
}

func (r *runner) startCPU() cpuMeter {
	return cpuMeter{srv: r.minio, self: selfCPU(), srv0: processCPU(r.minio.cmd.Process.Pid), wall: time.Now()}
}

// String reports the CPU used since startCPU.
func (c cpuMeter) String() string {
	wall := time.Since(c.wall).Seconds()
	self := (selfCPU() - c.self).Seconds()
	srv := (processCPU(c.srv.cmd.Process.Pid) - c.srv0).Seconds()
	return fmt.Sprintf("CPU during the row (%.1f s): this process %.1f s, MinIO %.1f s", wall, self, srv)
}

// lagSampleInterval is how often a backup row samples BackupStatus.
const lagSampleInterval = 50 * time.Millisecond

// A shippedLog is what RowShipCapacity shipped: where, and the head of the
// log it shipped, which the restored log must reproduce.
type shippedLog struct {
	prefix string
	logID  string
	head   tol.Head
}

// s3Sink returns the sink on the benchmark's MinIO, starting the server
// first if this is the first S3 row.
func (r *runner) s3Sink(ctx context.Context) (*s3.Sink, error) {
	if r.sink != nil {
		return r.sink, nil
	}
	if r.minio == nil {
		t0 := time.Now()
		srv, err := startMinIO(ctx, r.cfg.MinIOBin, filepath.Join(r.dir, "minio", "data"))
		if err != nil {
			return nil, err
		}
		r.minio = srv
		r.cfg.logf("tolbench: MinIO ready at %s in %.1f s (log: %s)", srv.endpoint, time.Since(t0).Seconds(), srv.logPath)
	}
	sink, err := r.minio.sink(ctx, "")
	if err != nil {
		return nil, err
	}
	r.sink = sink
	return sink, nil
}

// stopMinIO stops the MinIO server, if one was started.
func (r *runner) stopMinIO() {
	if r.minio != nil {
		r.minio.stop()
		r.minio = nil
	}
}

// A lagSampler samples a logger's BackupStatus, a gauge, from its own
// goroutine and keeps the largest LagRecords and Lag seen.
type lagSampler struct {
	lg   *tol.ImmutableLogger
	stop chan struct{}
	done chan struct{}

	mu         sync.Mutex
	maxRecords uint64
	maxLag     time.Duration
	samples    int
}

func startLagSampler(lg *tol.ImmutableLogger) *lagSampler {
	s := &lagSampler{lg: lg, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(lagSampleInterval)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// sample reads BackupStatus once.
func (s *lagSampler) sample() {
	st := s.lg.BackupStatus()
	s.mu.Lock()
	s.maxRecords = max(s.maxRecords, st.LagRecords)
	s.maxLag = max(s.maxLag, st.Lag)
	s.samples++
	s.mu.Unlock()
}

// finish stops the sampling goroutine and returns the maxima.
func (s *lagSampler) finish() (records uint64, lag time.Duration, samples int) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxRecords, s.maxLag, s.samples
}

// shipLive writes NShip entries from writers goroutines to a new log opened
// with durability d and Options.Backup on MinIO, while a goroutine samples
// BackupStatus. RowShipS3 logs with Sync as fast as it can, as RowSync does;
// RowShipS3Paced logs with Buffered at rate entries/s (0: unpaced), since
// Sync logging on 2 cores beside MinIO does not reach the rate that
// shipping must keep up with. Seconds and entries/s are the logging alone;
// then it times SyncBackup (the drain: what was not yet in the backup when
// the last write returned).
func (r *runner) shipLive(ctx context.Context, name string, d tol.Durability, writers, rate int) (Row, error) {
	n := r.cfg.NShip
	row := Row{Name: name, Writers: writers, Entries: n, OfferedPerSec: float64(rate)}
	sink, err := r.s3Sink(ctx)
	if err != nil {
		return row, err
	}
	dir := filepath.Join(r.dir, name)
	lg, err := tol.Open(dir, tol.Options{
		Durability: d, SegmentSize: r.cfg.SegmentSize,
		Backup: sink, BackupPrefix: name,
	})
	if err != nil {
		return row, err
	}
	defer lg.Close()
	var lat []int64 // per-call latency, but for the paced row, whose calls wait their turn
	if rate == 0 {
		lat = make([]int64, n)
	}
	m, err := r.startMeter(name)
	if err != nil {
		return row, err
	}
	sampler := startLagSampler(lg)
	cpu := r.startCPU()
	wait := pacer(n, writers, rate)
	elapsed, werr := drive(ctx, n, writers, lat, func(i int) error {
		wait(i)
		e := r.entry(i)
		_, err := lg.Log(ctx, tol.LevelRevenue, e.Msg, e.Fields)
		return err
	})
	sampler.sample() // the moment the backup is furthest behind, likely
	t0 := time.Now()
	serr := lg.SyncBackup(ctx)
	drain := time.Since(t0)
	cpuNote := cpu.String()
	lagRecords, lag, samples := sampler.finish()
	st := lg.BackupStatus()
	if err := m.stop(&row); err != nil {
		return row, err
	}
	if werr != nil {
		return row, werr
	}
	if serr != nil {
		return row, fmt.Errorf("SyncBackup: %w", serr)
	}
	if err := checkShipped(st, lg.Head().Size, uint64(n)); err != nil {
		return row, err
	}
	if err := lg.Close(); err != nil {
		return row, fmt.Errorf("closing the logger: %w", err)
	}
	finish(&row, elapsed, 0)
	percentiles(&row, lat)
	row.MaxLagRecords, row.MaxLagMs, row.DrainMs = lagRecords, float64(lag)/1e6, float64(drain)/1e6
	row.PUTs, row.UploadedBytes = st.UploadedObjects, st.UploadedBytes
	if row.Batches, err = countBatches(ctx, sink, name, lg.LogID()); err != nil {
		return row, err
	}
	row.Note = fmt.Sprintf("seconds and entries/s are the logging alone (drain is separate); %d BackupStatus samples; %s", samples, cpuNote)
	if rate > 0 {
		row.Note = fmt.Sprintf("logging with Buffered, paced at %s entries/s; ", thousands(float64(rate))) + row.Note
	}
	if n < r.cfg.N {
		row.Note += fmt.Sprintf("; %d entries, not -n %d (-n-ship)", n, r.cfg.N)
	}
	return row, diskUsage(&row, dir)
}

// pacer returns a func that holds write i back until its time when
// writers goroutines, each taking a contiguous share of n entries as drive
// hands them out, log rate entries/s in all. It sleeps only when a writer
// is more than a millisecond ahead, so the entries go in bursts of about a
// millisecond's worth. rate 0 does not wait.
func pacer(n, writers, rate int) func(i int) {
	if rate <= 0 {
		return func(int) {}
	}
	writers = max(1, min(writers, n))
	perEntry := time.Duration(float64(time.Second) * float64(writers) / float64(rate))
	var once sync.Once
	var start time.Time
	return func(i int) {
		once.Do(func() { start = time.Now() })
		g := i * writers / n // drive gives writer g the entries g*n/writers up to (g+1)*n/writers
		for g*n/writers > i {
			g--
		}
		for (g+1)*n/writers <= i {
			g++
		}
		due := start.Add(time.Duration(i-g*n/writers) * perEntry)
		if d := time.Until(due); d > time.Millisecond {
			time.Sleep(d)
		}
	}
}

// countBatches lists the batch objects of a log shipped under prefix
// (FORMAT.md, "Backup objects": PREFIX/LOGID/_/batches/FIRST-LAST). Every
// Put the shipper makes, HEADER and checkpoints included, counts in
// BackupStatus.UploadedObjects; the listing counts the batches alone.
func countBatches(ctx context.Context, sink *s3.Sink, prefix, logID string) (int64, error) {
	var n int64
	for _, err := range sink.List(ctx, prefix+"/"+logID+"/_/batches/") {
		if err != nil {
			return n, fmt.Errorf("listing the backup's batches: %w", err)
		}
		n++
	}
	return n, nil
}

// checkShipped checks the status after SyncBackup: everything shipped.
func checkShipped(st tol.BackupStatus, size, n uint64) error {
	switch {
	case size != n:
		return fmt.Errorf("Head().Size is %d after writing %d entries", size, n)
	case st.Shipped != n || st.LagRecords != 0:
		return fmt.Errorf("after SyncBackup, BackupStatus has Shipped %d, LagRecords %d; want %d, 0 (last error: %v)", st.Shipped, st.LagRecords, n, st.LastError)
	}
	return nil
}

// shipCapacity opens the prepared log of N entries (written with Buffered,
// not timed) with Options.Backup on MinIO, and times Open and SyncBackup:
// how fast the shipper uploads a backlog, whatever the speed of logging on
// this disk.
func (r *runner) shipCapacity(ctx context.Context) (Row, error) {
	row := Row{Name: RowShipCapacity, Writers: 1, Entries: r.cfg.N}
	dir, err := r.preparedLog(ctx)
	if err != nil {
		return row, err
	}
	sink, err := r.s3Sink(ctx)
	if err != nil {
		return row, err
	}
	m, err := r.startMeter(RowShipCapacity)
	if err != nil {
		return row, err
	}
	cpu := r.startCPU()
	t0 := time.Now()
	lg, err := tol.Open(dir, tol.Options{
		Durability: tol.DurabilityBuffered, SegmentSize: r.cfg.SegmentSize,
		Backup: sink, BackupPrefix: RowShipCapacity,
	})
	if err != nil {
		m.stop(&row)
		return row, err
	}
	defer lg.Close()
	opened := time.Since(t0)
	sampler := startLagSampler(lg)
	serr := lg.SyncBackup(ctx)
	elapsed := time.Since(t0)
	cpuNote := cpu.String()
	lagRecords, lag, _ := sampler.finish()
	st := lg.BackupStatus()
	head := lg.Head()
	if err := m.stop(&row); err != nil {
		return row, err
	}
	if serr != nil {
		return row, fmt.Errorf("SyncBackup: %w", serr)
	}
	if err := checkShipped(st, head.Size, uint64(r.cfg.N)); err != nil {
		return row, err
	}
	if err := lg.Close(); err != nil {
		return row, fmt.Errorf("closing the logger: %w", err)
	}
	r.shipped = &shippedLog{prefix: RowShipCapacity, logID: lg.LogID(), head: head}
	finish(&row, elapsed, 0)
	row.MaxLagRecords, row.MaxLagMs, row.DrainMs = lagRecords, float64(lag)/1e6, float64(elapsed-opened)/1e6
	row.PUTs, row.UploadedBytes = st.UploadedObjects, st.UploadedBytes
	if row.Batches, err = countBatches(ctx, sink, RowShipCapacity, lg.LogID()); err != nil {
		return row, err
	}
	row.Note = fmt.Sprintf("seconds = Open with Backup (lease, HEADER, listing: %.0f ms) + SyncBackup (drain); %s", float64(opened)/1e6, cpuNote)
	return row, diskUsage(&row, dir)
}

// restoreS3 restores the backup RowShipCapacity shipped into a new
// directory with RestoreBackup, and fails unless the restored log's head
// (size, chain value, Merkle root) is the shipped log's.
func (r *runner) restoreS3(ctx context.Context) (Row, error) {
	row := Row{Name: RowRestoreS3, Writers: 1}
	if r.shipped == nil {
		return row, fmt.Errorf("row %s needs row %s", RowRestoreS3, RowShipCapacity)
	}
	row.Entries = int(r.shipped.head.Size)
	sink, err := r.s3Sink(ctx)
	if err != nil {
		return row, err
	}
	dir := filepath.Join(r.dir, RowRestoreS3)
	m, err := r.startMeter(RowRestoreS3)
	if err != nil {
		return row, err
	}
	cpu := r.startCPU()
	t0 := time.Now()
	head, rerr := tol.RestoreBackup(ctx, sink, dir, tol.RestoreOptions{
		Prefix: r.shipped.prefix, LogID: r.shipped.logID,
		Log: tol.Options{SegmentSize: r.cfg.SegmentSize},
	})
	elapsed := time.Since(t0)
	cpuNote := cpu.String()
	if err := m.stop(&row); err != nil {
		return row, err
	}
	if rerr != nil {
		return row, fmt.Errorf("RestoreBackup: %w", rerr)
	}
	if head != r.shipped.head {
		return row, fmt.Errorf("restored head %+v, want the shipped log's %+v", head, r.shipped.head)
	}
	finish(&row, elapsed, 0)
	row.Note = fmt.Sprintf("restored head = source head (size %d, chain %s); %s", head.Size, head.Chain, cpuNote)
	return row, diskUsage(&row, dir)
}
