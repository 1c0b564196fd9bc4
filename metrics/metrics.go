// Package metrics exports a logger's metrics to Prometheus.
//
// NewCollector returns a prometheus.Collector that reads
// ImmutableLogger.Metrics on every scrape and turns it into constant
// metrics, named treeoflife_*:
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(metrics.NewCollector(logger))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// A scrape takes the logger's lock once, briefly, and makes one statfs
// system call; it reads no segment. The root package does not import
// Prometheus: only programs that import this package depend on it.
//
// The backup metrics have one series per backup sink (Options.Backup and
// Options.Backups), labelled sink with its treeoflife.SinkName, such as
// "s3://bucket/prefix/". The worst lag over the sinks is
// max(treeoflife_backup_lag_seconds); records in every sink,
// min(treeoflife_backup_shipped_records).
//
// The metrics:
//
//	treeoflife_records                              records accepted so far (the log's size)
//	treeoflife_segments                             segment files
//	treeoflife_records_written_total{level}         records written since Open
//	treeoflife_written_bytes_total{level}           frame bytes written since Open
//	treeoflife_fsync_duration_seconds               histogram of the writer's fsyncs
//	treeoflife_group_commit_records                 histogram of records per write
//	treeoflife_last_checkpoint_timestamp_seconds    newest checkpoint
//	treeoflife_checkpoint_age_seconds               time since it
//	treeoflife_checkpointed_records                 records it covers
//	treeoflife_backup_lag_records{sink}                   with a backup: records not yet in the sink
//	treeoflife_backup_lag_seconds{sink}                   how long it has not held everything
//	treeoflife_backup_shipped_records{sink}               records confirmed in it
//	treeoflife_backup_uploaded_objects_total{sink}        objects put by this process
//	treeoflife_backup_uploaded_bytes_total{sink}          bytes put by this process
//	treeoflife_backup_failing{sink}                       1 while the last attempt failed
//	treeoflife_backup_errors_total{sink}                  failed attempts by this process
//	treeoflife_backup_last_error_timestamp_seconds{sink}  the last failed attempt
//	treeoflife_backup_connected{sink}                     1 while it holds the lease and ships
//	treeoflife_last_verify_timestamp_seconds        once a verification has run
//	treeoflife_last_verify_duration_seconds
//	treeoflife_last_verify_success                  1 intact, 0 not (or not finished)
//	treeoflife_last_verify_tampered                 1 when it found the log altered
//	treeoflife_failed_closed                        1 once a write error failed the logger closed
//	treeoflife_disk_full                            1 while records wait for space
//	treeoflife_disk_total_bytes                     the log's file system (where statfs works)
//	treeoflife_disk_free_bytes
//	treeoflife_disk_used_ratio
package metrics

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/treeoflife/treeoflife"
)

// An Option configures a Collector.
type Option func(*config)

type config struct {
	labels prometheus.Labels
}

// WithConstLabels adds labels to every metric: to tell several loggers of
// one process apart, for example ("log": "audit").
func WithConstLabels(labels prometheus.Labels) Option {
	return func(c *config) { c.labels = labels }
}

// Collector is a prometheus.Collector for one logger. It is safe for
// concurrent use, as the logger is.
type Collector struct {
	l *treeoflife.ImmutableLogger
	d descs
}

var _ prometheus.Collector = (*Collector)(nil)

type descs struct {
	records, segments, written, writtenBytes, fsync, group,
	cpTime, cpAge, cpRecords,
	lagRecords, lagSeconds, shipped, uploadedObjects, uploadedBytes, failing, backupErrors, lastError, connected,
	verifyTime, verifyDuration, verifySuccess, verifyTampered,
	failedClosed, diskFull, diskTotal, diskFree, diskUsed,
	firstSeq, retentionRemoved, retentionHeld *prometheus.Desc
}

// NewCollector returns a collector of l's metrics.
func NewCollector(l *treeoflife.ImmutableLogger, opts ...Option) *Collector {
	var c config
	for _, o := range opts {
		o(&c)
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("treeoflife_"+name, help, labels, c.labels)
	}
	return &Collector{l: l, d: descs{
		records:          d("records", "Records accepted so far: the log's size."),
		segments:         d("segments", "Segment files, the active one included."),
		written:          d("records_written_total", "Records written to the segment files since the logger was opened.", "level"),
		writtenBytes:     d("written_bytes_total", "Frame bytes written to the segment files since the logger was opened.", "level"),
		fsync:            d("fsync_duration_seconds", "Latency of the writer's fsyncs of the active segment."),
		group:            d("group_commit_records", "Records the writer took at once: one write, and with sync durability one fsync, for all of them."),
		cpTime:           d("last_checkpoint_timestamp_seconds", "Time of the newest checkpoint, in seconds since the Unix epoch."),
		cpAge:            d("checkpoint_age_seconds", "Time since the newest checkpoint."),
		cpRecords:        d("checkpointed_records", "Records the newest checkpoint covers."),
		lagRecords:       d("backup_lag_records", "Records committed locally but not yet confirmed in the backup.", "sink"),
		lagSeconds:       d("backup_lag_seconds", "How long the backup has not held every committed record (0 when it does).", "sink"),
		shipped:          d("backup_shipped_records", "Records confirmed in the backup.", "sink"),
		uploadedObjects:  d("backup_uploaded_objects_total", "Objects put into the backup by this process.", "sink"),
		uploadedBytes:    d("backup_uploaded_bytes_total", "Bytes put into the backup by this process.", "sink"),
		failing:          d("backup_failing", "1 while the last backup attempt failed, else 0.", "sink"),
		backupErrors:     d("backup_errors_total", "Failed backup attempts (uploads, listings, lease calls) by this process.", "sink"),
		lastError:        d("backup_last_error_timestamp_seconds", "Time of the last failed backup attempt, in seconds since the Unix epoch.", "sink"),
		connected:        d("backup_connected", "1 while the shipper holds the backup's lease and ships, else 0.", "sink"),
		verifyTime:       d("last_verify_timestamp_seconds", "Time the newest verification ended, in seconds since the Unix epoch."),
		verifyDuration:   d("last_verify_duration_seconds", "Duration of the newest verification."),
		verifySuccess:    d("last_verify_success", "1 when the newest verification found the log intact, else 0."),
		verifyTampered:   d("last_verify_tampered", "1 when the newest verification found the log altered, else 0."),
		failedClosed:     d("failed_closed", "1 once a write or fsync error has made the logger refuse records until reopened, else 0."),
		diskFull:         d("disk_full", "1 while records are refused until disk space is available, else 0."),
		diskTotal:        d("disk_total_bytes", "Size of the file system holding the log."),
		diskFree:         d("disk_free_bytes", "Bytes available to an unprivileged user on the file system holding the log."),
		diskUsed:         d("disk_used_ratio", "Used share of the file system holding the log, as df computes it (0 to 1)."),
		firstSeq:         d("first_local_seq", "The first record the log's directory holds: where local retention cut it (0 before any cut)."),
		retentionRemoved: d("retention_removed_segments_total", "Segments removed by local retention since the logger was opened."),
		retentionHeld:    d("retention_held_back", "1 while local retention keeps segments its rule selects because the backup does not hold them verified yet, else 0."),
	}}
}

// Describe sends the descriptors of every metric the collector can send.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.d.records, c.d.segments, c.d.written, c.d.writtenBytes, c.d.fsync, c.d.group,
		c.d.cpTime, c.d.cpAge, c.d.cpRecords,
		c.d.lagRecords, c.d.lagSeconds, c.d.shipped, c.d.uploadedObjects, c.d.uploadedBytes, c.d.failing, c.d.backupErrors, c.d.lastError, c.d.connected,
		c.d.verifyTime, c.d.verifyDuration, c.d.verifySuccess, c.d.verifyTampered,
		c.d.failedClosed, c.d.diskFull, c.d.diskTotal, c.d.diskFree, c.d.diskUsed,
		c.d.firstSeq, c.d.retentionRemoved, c.d.retentionHeld} {
		ch <- d
	}
}

// Collect reads the logger's metrics once and sends them. Backup metrics
// are sent only with a backup configured, retention metrics only with
// local retention, verification metrics once a
// verification has run, disk metrics where statfs works.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	m := c.l.Metrics()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(c.d.records, float64(m.Records))
	gauge(c.d.segments, float64(m.Segments))
	for _, w := range m.Written {
		lv := w.Level.String()
		counter(c.d.written, float64(w.Records), lv)
		counter(c.d.writtenBytes, float64(w.Bytes), lv)
	}
	ch <- histogram(c.d.fsync, m.FsyncSeconds)
	ch <- histogram(c.d.group, m.GroupCommitRecords)
	if !m.LastCheckpoint.IsZero() {
		gauge(c.d.cpTime, unix(m.LastCheckpoint))
		gauge(c.d.cpAge, time.Since(m.LastCheckpoint).Seconds())
		gauge(c.d.cpRecords, float64(m.Checkpointed))
	}
	for _, b := range m.Backup.Sinks {
		gauge(c.d.lagRecords, float64(b.LagRecords), b.Name)
		gauge(c.d.lagSeconds, b.Lag.Seconds(), b.Name)
		gauge(c.d.shipped, float64(b.Shipped), b.Name)
		counter(c.d.uploadedObjects, float64(b.UploadedObjects), b.Name)
		counter(c.d.uploadedBytes, float64(b.UploadedBytes), b.Name)
		gauge(c.d.failing, bool01(b.LastError != nil), b.Name)
		counter(c.d.backupErrors, float64(b.Errors), b.Name)
		if !b.LastErrorTime.IsZero() {
			gauge(c.d.lastError, unix(b.LastErrorTime), b.Name)
		}
		gauge(c.d.connected, bool01(b.Connected), b.Name)
	}
	if v := m.LastVerify; !v.Time.IsZero() {
		gauge(c.d.verifyTime, unix(v.Time))
		gauge(c.d.verifyDuration, v.Duration.Seconds())
		gauge(c.d.verifySuccess, bool01(v.Err == nil))
		gauge(c.d.verifyTampered, bool01(errors.Is(v.Err, treeoflife.ErrTampered)))
	}
	gauge(c.d.failedClosed, bool01(m.FailedClosed))
	gauge(c.d.diskFull, bool01(m.DiskFull))
	if r := m.Retention; r.Enabled {
		gauge(c.d.firstSeq, float64(r.FirstSeq))
		counter(c.d.retentionRemoved, float64(r.Removed))
		gauge(c.d.retentionHeld, bool01(r.HeldBack != ""))
	}
	if m.Disk.OK {
		gauge(c.d.diskTotal, float64(m.Disk.TotalBytes))
		gauge(c.d.diskFree, float64(m.Disk.FreeBytes))
		gauge(c.d.diskUsed, m.Disk.UsedRatio)
	}
}

func histogram(d *prometheus.Desc, h treeoflife.HistogramSnapshot) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, b := range h.Bounds {
		buckets[b] = h.Cumulative[i]
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum, buckets)
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
