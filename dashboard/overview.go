package dashboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/treeoflife/treeoflife"
)

// overviewData is the overview page's content.
type overviewData struct {
	Stats      treeoflife.Stats
	Encrypted  bool // the log is encrypted (known for a logger)
	NoKey      bool // records cannot be read here: sizes and levels only
	Erased     bool
	Checkpoint *checkpointInfo
	Levels     []levelBar
	Chart      *chart
	Disk       *treeoflife.DiskUsage
	Backup     *backupInfo
	Verify     *verifyInfo
	Health     *treeoflife.HealthReport
}

type checkpointInfo struct {
	Size     uint64
	Time     time.Time
	Signed   bool
	Verified bool // signed by one of Options.Verifiers
	Legacy   bool
}

type levelBar struct {
	Name  string
	Count uint64
	Width int // of 300
	Y     int
}

type backupInfo struct {
	Enabled, Connected bool
	LagRecords         uint64
	Lag                time.Duration
	LastError          string
	Objects            int64
	Bytes              int64
	SyncedPct          float64
	LastUpload         time.Time
}

type verifyInfo struct {
	Time     time.Time
	Duration time.Duration
	Records  uint64
	OK       bool
	Error    string
}

// overview renders the overview: everything it shows is read from the
// indexes, the logger's counters and a few files, never from the records
// (except the chart's bucket edges, found through the time index).
func (h *handler) overview(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.QueryTimeout)
	defer cancel()
	v, err := h.open(ctx, r)
	if err != nil {
		h.fail(w, r, nil, "overview", err)
		return
	}
	defer v.release()
	d, err := h.overviewData(ctx, v)
	if err != nil {
		h.fail(w, r, v, "overview", err)
		return
	}
	h.render(w, r, "overview", &page{Title: "Overview", Nav: "overview", View: v, Data: d}, http.StatusOK)
}

func (h *handler) overviewData(ctx context.Context, v *view) (*overviewData, error) {
	st, err := v.log.Stats(ctx)
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	d := &overviewData{Stats: st, Erased: v.erased}
	d.Checkpoint = readCheckpoint(v.log.Dir(), h.opts.Verifiers)
	d.Levels = levelBars(st)
	if v.live != nil {
		d.Encrypted = v.live.Encrypted()
		m := v.live.Metrics()
		hr := v.live.Health()
		d.Health = &hr
		if hr.Disk.OK {
			d.Disk = &hr.Disk
		}
		b := m.Backup
		if b.Enabled {
			bi := &backupInfo{Enabled: true, Connected: b.Connected, LagRecords: b.LagRecords, Lag: b.Lag, Objects: b.UploadedObjects, Bytes: b.UploadedBytes, LastUpload: b.LastUpload, SyncedPct: 100}
			if b.LastError != nil {
				bi.LastError = b.LastError.Error()
			}
			if m.Records > 0 {
				bi.SyncedPct = 100 * float64(b.Shipped) / float64(m.Records)
			}
			d.Backup = bi
		}
		if lv := m.LastVerify; !lv.Time.IsZero() {
			d.Verify = &verifyInfo{Time: lv.Time, Duration: lv.Duration, Records: lv.Records, OK: lv.Err == nil}
			if lv.Err != nil {
				d.Verify.Error = lv.Err.Error()
			}
		}
	} else if du, ok := diskUsage(v.log.Dir()); ok {
		d.Disk = &du
	}
	if j := h.lastJob(v.tenant); j != nil {
		s := j.status()
		if s.State == "done" && (d.Verify == nil || s.Ended.After(d.Verify.Time)) {
			d.Verify = &verifyInfo{Time: s.Ended, Duration: time.Duration(s.ElapsedMS) * time.Millisecond, Records: s.Size, OK: s.OK, Error: s.Error}
		}
	}
	for _, err := range v.log.Entries(ctx, treeoflife.Filter{Limit: 1, Reverse: true}) {
		d.NoKey = errors.Is(err, treeoflife.ErrKeyRequired) || errors.Is(err, treeoflife.ErrErased)
	}
	if d.NoKey {
		return d, nil
	}
	d.Chart, err = h.cachedTimeChart(ctx, v.tenant, v.log, st)
	return d, err
}

// readCheckpoint reads the log's newest stored checkpoint, nil if none.
func readCheckpoint(dir string, verifiers note.Verifiers) *checkpointInfo {
	b, err := os.ReadFile(filepath.Join(dir, "CHECKPOINT"))
	if err != nil {
		return nil
	}
	text, signed := b, false
	if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
		text, signed = b[:i+1], true
	}
	cp, err := treeoflife.ParseCheckpoint(text)
	if err != nil {
		return nil
	}
	ci := &checkpointInfo{Size: cp.Size, Time: cp.Time, Signed: signed, Legacy: cp.Legacy}
	if signed && verifiers != nil {
		_, _, err := treeoflife.OpenCheckpoint(b, verifiers)
		ci.Verified = err == nil
	}
	return ci
}

func levelBars(st treeoflife.Stats) []levelBar {
	maxN := st.Unknown
	for _, n := range st.Levels {
		maxN = max(maxN, n)
	}
	var bars []levelBar
	for _, l := range treeoflife.Levels() {
		n := st.Levels[l]
		b := levelBar{Name: l.String(), Count: n, Y: len(bars) * 22}
		if maxN > 0 {
			b.Width = int(n * 300 / maxN)
		}
		bars = append(bars, b)
	}
	if st.Unknown > 0 {
		// Records a Reader without the key cannot see the level of.
		b := levelBar{Name: "unknown", Count: st.Unknown, Y: len(bars) * 22}
		b.Width = int(st.Unknown * 300 / max(maxN, st.Unknown))
		bars = append(bars, b)
	}
	return bars
}
