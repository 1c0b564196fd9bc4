package treeoflife

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Defaults for the health and alert Options.
const (
	// DefaultHealthBackupLag is the default Options.HealthBackupLag.
	DefaultHealthBackupLag = time.Minute
	// DefaultDiskUsageThreshold is the default Options.DiskUsageThreshold:
	// 80% of the file system.
	DefaultDiskUsageThreshold = 0.80
	// DefaultFullVerifyEvery is the default Options.FullVerifyEvery.
	DefaultFullVerifyEvery = 24
)

// checkpointStaleFactor: with a CheckpointInterval, records left without a
// checkpoint for this many intervals make the logger degraded.
const checkpointStaleFactor = 10

// monitorInterval is how often the logger checks the conditions it alerts
// on (Options.OnAlert) that nothing else reports: disk usage and backup lag.
const monitorInterval = 10 * time.Second

// observeDefaults fills in and checks the health, alert and verification
// options.
func (o *Options) observeDefaults() error {
	if o.HealthBackupLag < 0 || o.VerifyInterval < 0 || o.FullVerifyEvery < 0 {
		return fmt.Errorf("%w: HealthBackupLag, VerifyInterval and FullVerifyEvery must not be negative", ErrInvalidOptions)
	}
	if o.DiskUsageThreshold < 0 || o.DiskUsageThreshold > 1 {
		return fmt.Errorf("%w: DiskUsageThreshold %v is outside 0..1", ErrInvalidOptions, o.DiskUsageThreshold)
	}
	if o.HealthBackupLag == 0 {
		o.HealthBackupLag = DefaultHealthBackupLag
	}
	if o.DiskUsageThreshold == 0 {
		o.DiskUsageThreshold = DefaultDiskUsageThreshold
	}
	if o.FullVerifyEvery == 0 {
		o.FullVerifyEvery = DefaultFullVerifyEvery
	}
	return nil
}

// HealthStatus is the overall state in a HealthReport.
type HealthStatus string

const (
	// HealthOK: nothing needs attention.
	HealthOK HealthStatus = "ok"
	// HealthDegraded: the logger accepts records, but something needs
	// attention: the backup fails or lags, the disk is over its threshold
	// or full, a verification could not finish, checkpoints are overdue.
	HealthDegraded HealthStatus = "degraded"
	// HealthFailed: the logger has failed closed or is closed, or a
	// verification found the log altered.
	HealthFailed HealthStatus = "failed"
)

// HealthReport is the logger's health; see Health. It encodes as JSON.
type HealthReport struct {
	Status  HealthStatus `json:"status"`
	Reasons []string     `json:"reasons,omitempty"` // why it is not ok, one sentence each
	Time    time.Time    `json:"time"`

	Records      uint64 `json:"records"`
	Closed       bool   `json:"closed,omitempty"`
	FailedClosed bool   `json:"failedClosed"`
	DiskFull     bool   `json:"diskFull"`
	Error        string `json:"error,omitempty"` // why it failed closed, or waits for space

	Disk DiskUsage `json:"disk"`

	// Backup is nil without Options.Backup.
	Backup *BackupHealth `json:"backup,omitempty"`
	// LastVerify is nil until a verification has run since Open.
	LastVerify *VerifyHealth `json:"lastVerify,omitempty"`
	// VerifyOverdue: with Options.VerifyInterval, no verification has
	// completed for three intervals (counted from Open before the first).
	VerifyOverdue bool `json:"verifyOverdue,omitempty"`

	LastCheckpoint       time.Time `json:"lastCheckpoint"`
	CheckpointAgeSeconds float64   `json:"checkpointAgeSeconds"`
	Checkpointed         uint64    `json:"checkpointed"` // records the newest checkpoint covers

	// FirstSeq is where the local log begins: local retention removed the
	// records before it (they are in the backup). 0 before any cut.
	FirstSeq uint64 `json:"firstSeq,omitempty"`
}

// BackupHealth is the backup's part of a HealthReport: the aggregate of
// the sinks (as in BackupStatus), and each sink's in Sinks.
type BackupHealth struct {
	Connected  bool    `json:"connected"`
	LagRecords uint64  `json:"lagRecords"`
	LagSeconds float64 `json:"lagSeconds"`
	Error      string  `json:"error,omitempty"`

	Sinks []SinkHealth `json:"sinks,omitempty"`
}

// SinkHealth is one backup sink's part of a HealthReport.
type SinkHealth struct {
	Name       string  `json:"name"` // see SinkName
	Connected  bool    `json:"connected"`
	LagRecords uint64  `json:"lagRecords"`
	LagSeconds float64 `json:"lagSeconds"`
	Error      string  `json:"error,omitempty"`
}

// backupProblems returns a sentence for each backup sink that fails (with
// its error when withErr) or lags beyond lagLimit, naming the sink.
func backupProblems(b BackupStatus, lagLimit time.Duration, withErr bool) []string {
	var out []string
	for _, s := range b.Sinks {
		switch {
		case s.LastError != nil && withErr:
			out = append(out, fmt.Sprintf("the backup to %s is failing: %v", s.Name, s.LastError))
		case s.LastError != nil:
			out = append(out, fmt.Sprintf("the backup to %s is failing", s.Name))
		}
		if s.Lag > lagLimit {
			out = append(out, fmt.Sprintf("the backup to %s lags by %v (%d records), over the %v threshold", s.Name, s.Lag.Round(time.Second), s.LagRecords, lagLimit))
		}
	}
	return out
}

// VerifyHealth is the newest verification's part of a HealthReport.
type VerifyHealth struct {
	Time            time.Time `json:"time"`
	DurationSeconds float64   `json:"durationSeconds"`
	Records         uint64    `json:"records"`
	Full            bool      `json:"full"`
	Tampered        bool      `json:"tampered"`
	Error           string    `json:"error,omitempty"`
}

// verifyOverdueFactor is how many VerifyIntervals without a completed
// verification make Health report it overdue.
const verifyOverdueFactor = 3

// Health reports whether the logger is working and its log intact, from
// the state it keeps (Metrics): it reads no segment. The thresholds are
// Options.HealthBackupLag and Options.DiskUsageThreshold; with a
// CheckpointInterval, records left without a checkpoint for ten intervals
// are overdue, and with a VerifyInterval, so is a verification that has not
// completed for three.
func (l *ImmutableLogger) Health() HealthReport {
	return l.health(l.Metrics())
}

func (l *ImmutableLogger) health(m MetricsSnapshot) HealthReport {
	now := time.Now()
	h := HealthReport{Time: now, Records: m.Records, Closed: m.Closed, FailedClosed: m.FailedClosed, DiskFull: m.DiskFull, Disk: m.Disk,
		LastCheckpoint: m.LastCheckpoint, Checkpointed: m.Checkpointed, FirstSeq: m.Retention.FirstSeq}
	var failed, degraded []string
	if m.Err != nil {
		h.Error = m.Err.Error()
	}
	if m.Closed {
		failed = append(failed, "the logger is closed")
	}
	if m.FailedClosed {
		failed = append(failed, "the logger failed closed after a write error and accepts no records until it is reopened: "+h.Error)
	}
	if m.DiskFull {
		degraded = append(degraded, "the disk is full: records are refused until space is available")
	}
	if m.Disk.OK && m.Disk.UsedRatio > l.opts.DiskUsageThreshold {
		degraded = append(degraded, fmt.Sprintf("the disk is %.1f%% used, over the %.1f%% threshold", 100*m.Disk.UsedRatio, 100*l.opts.DiskUsageThreshold))
	}
	if b := m.Backup; b.Enabled {
		h.Backup = &BackupHealth{Connected: b.Connected, LagRecords: b.LagRecords, LagSeconds: b.Lag.Seconds()}
		if b.LastError != nil {
			h.Backup.Error = b.LastError.Error()
		}
		for _, s := range b.Sinks {
			sh := SinkHealth{Name: s.Name, Connected: s.Connected, LagRecords: s.LagRecords, LagSeconds: s.Lag.Seconds()}
			if s.LastError != nil {
				sh.Error = s.LastError.Error()
			}
			h.Backup.Sinks = append(h.Backup.Sinks, sh)
		}
		degraded = append(degraded, backupProblems(b, l.opts.HealthBackupLag, true)...)
	}
	if v := m.LastVerify; !v.Time.IsZero() {
		h.LastVerify = &VerifyHealth{Time: v.Time, DurationSeconds: v.Duration.Seconds(), Records: v.Records, Full: v.Full, Tampered: isTamper(v.Err)}
		if v.Err != nil {
			h.LastVerify.Error = v.Err.Error()
			if h.LastVerify.Tampered {
				failed = append(failed, "the last verification found the log altered: "+h.LastVerify.Error)
			} else {
				degraded = append(degraded, "the last verification could not finish: "+h.LastVerify.Error)
			}
		}
	}
	if iv := l.opts.VerifyInterval; iv > 0 && !m.Closed {
		since := m.LastVerify.Time
		if since.IsZero() {
			since = l.obs.started
		}
		if age := now.Sub(since); age > verifyOverdueFactor*iv {
			h.VerifyOverdue = true
			what := "the last verification"
			if m.LastVerify.Time.IsZero() {
				what = "Open, and no verification has completed since"
			}
			degraded = append(degraded, fmt.Sprintf("verification is overdue: %v since %s (VerifyInterval %v)", age.Round(time.Second), what, iv))
		}
	}
	if !m.LastCheckpoint.IsZero() {
		h.CheckpointAgeSeconds = now.Sub(m.LastCheckpoint).Seconds()
	}
	if iv := l.opts.CheckpointInterval; iv > 0 && !m.Closed && m.Records > m.Checkpointed {
		if age := now.Sub(m.LastCheckpoint); age > checkpointStaleFactor*iv {
			degraded = append(degraded, fmt.Sprintf("the newest checkpoint is %v old, and %d records are not covered by one (CheckpointInterval %v)",
				age.Round(time.Second), m.Records-m.Checkpointed, iv))
		}
	}
	h.Reasons = append(failed, degraded...)
	switch {
	case len(failed) > 0:
		h.Status = HealthFailed
	case len(degraded) > 0:
		h.Status = HealthDegraded
	default:
		h.Status = HealthOK
	}
	return h
}

// checkAlerts raises and clears the alerts that Health's thresholds
// decide: disk and backup. (Failed closed and tamper are raised where they
// happen.)
func (l *ImmutableLogger) checkAlerts() {
	m := l.Metrics()
	switch over := m.Disk.OK && m.Disk.UsedRatio > l.opts.DiskUsageThreshold; {
	case m.DiskFull:
		l.alert(AlertDisk, m.Err, "the disk is full: records are refused until space is available")
	case over:
		l.alert(AlertDisk, nil, fmt.Sprintf("the disk holding the log is %.1f%% used, over the %.1f%% threshold (Options.DiskUsageThreshold)",
			100*m.Disk.UsedRatio, 100*l.opts.DiskUsageThreshold))
	default:
		l.obs.alerts.clear(AlertDisk)
	}
	// One alert for the backup, naming every sink at fault when it starts.
	if b := m.Backup; b.Enabled {
		if p := backupProblems(b, l.opts.HealthBackupLag, false); len(p) > 0 {
			l.alert(AlertBackup, b.LastError, strings.Join(p, "; "))
		} else {
			l.obs.alerts.clear(AlertBackup)
		}
	}
}

// startObserver starts the alert dispatcher (with OnAlert) and the
// verification loop (with VerifyInterval), before the writer starts.
// The loops end when l.quit is closed; Close waits for them (stopLoops).
func (l *ImmutableLogger) startObserver() {
	l.obs.started = time.Now()
	if l.opts.OnAlert != nil {
		l.obs.alertQuit = make(chan struct{})
		l.obs.alerts.start(l.opts.OnAlert, l.obs.alertQuit)
		l.obs.poke = make(chan struct{}, 1)
	}
	if l.opts.VerifyInterval > 0 {
		l.obs.loops.Add(1)
		go l.verifyLoop()
	}
}

// startMonitor starts the monitor (with OnAlert), once Open has set up
// everything it reads: the shipper.
func (l *ImmutableLogger) startMonitor() {
	if l.opts.OnAlert != nil {
		l.obs.loops.Add(1)
		go l.monitor()
	}
}

// stopLoops waits for the monitor and the verification loop to end; l.quit
// is closed.
func (l *ImmutableLogger) stopLoops() { l.obs.loops.Wait() }

// stopAlerts delivers the alerts still queued and ends the dispatcher.
func (l *ImmutableLogger) stopAlerts() {
	if l.obs.alertQuit != nil {
		close(l.obs.alertQuit)
		l.obs.alerts.wait()
	}
}

// pokeMonitor asks the monitor to check the alert conditions now.
func (o *observer) pokeMonitor() {
	select {
	case o.poke <- struct{}{}:
	default:
	}
}

// monitor checks the alert conditions at start, every monitorInterval, and
// when poked (a backup error).
func (l *ImmutableLogger) monitor() {
	defer l.obs.loops.Done()
	t := time.NewTicker(monitorInterval)
	defer t.Stop()
	for {
		l.checkAlerts()
		select {
		case <-l.quit:
			return
		case <-t.C:
		case <-l.obs.poke:
		}
	}
}

// HealthHandler serves the logger's health in the usual liveness and
// readiness shape, as JSON:
//
//   - a path ending in /livez answers 200 while the process serves HTTP;
//   - a path ending in /readyz answers 200 with the HealthReport when its
//     status is ok, and 503 with it (its Reasons say why) when it is
//     degraded or failed;
//   - any other path answers 404.
//
// Mount it at both paths, or under a prefix:
//
//	mux.Handle("/livez", treeoflife.HealthHandler(logger))
//	mux.Handle("/readyz", treeoflife.HealthHandler(logger))
func HealthHandler(l *ImmutableLogger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		switch {
		case strings.HasSuffix(r.URL.Path, "/livez"):
			w.WriteHeader(http.StatusOK)
			w.Write([]byte(`{"status":"alive"}` + "\n"))
		case strings.HasSuffix(r.URL.Path, "/readyz"):
			h := l.Health()
			b, err := json.Marshal(h)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			if h.Status != HealthOK {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			w.Write(append(b, '\n'))
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"not found: use /livez or /readyz"}` + "\n"))
		}
	})
}
