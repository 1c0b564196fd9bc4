package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/treeoflife/treeoflife"
)

// verifyJob is one verification, run in the background so the page can
// watch it. One runs at a time per log.
type verifyJob struct {
	mu      sync.Mutex
	started time.Time
	size    uint64 // the log's size when it started
	ended   time.Time
	done    chan struct{} // closed when it ends
	report  treeoflife.VerifyReport
	err     error
}

// verifyStatus is a job's state, as the page and its script see it.
type verifyStatus struct {
	State     string    `json:"state"` // idle, running, done
	Started   time.Time `json:"started"`
	Ended     time.Time `json:"ended"`
	ElapsedMS int64     `json:"elapsedMs"`
	Size      uint64    `json:"size"`
	OK        bool      `json:"ok"`
	Verified  uint64    `json:"verified,omitempty"` // records verified
	Anchored  uint64    `json:"anchored,omitempty"` // records covered by a trusted checkpoint
	Error     string    `json:"error,omitempty"`
	Tampered  bool      `json:"tampered"`
	Segment   string    `json:"segment,omitempty"`
	Seq       uint64    `json:"seq"`
	Offset    int64     `json:"offset"`
	Reason    string    `json:"reason,omitempty"`
}

func (j *verifyJob) status() verifyStatus {
	if j == nil {
		return verifyStatus{State: "idle"}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	s := verifyStatus{State: "running", Started: j.started, Size: j.size}
	if j.ended.IsZero() {
		s.ElapsedMS = time.Since(j.started).Milliseconds()
		return s
	}
	s.State, s.Ended, s.ElapsedMS = "done", j.ended, j.ended.Sub(j.started).Milliseconds()
	s.OK = j.err == nil
	s.Verified, s.Anchored = j.report.Head.Size, j.report.Anchored
	if j.err != nil {
		s.Error = j.err.Error()
		var te *treeoflife.TamperError
		if errors.As(j.err, &te) {
			s.Tampered, s.Segment, s.Seq, s.Offset, s.Reason = true, te.Segment, te.Seq, te.Offset, te.Reason
		}
		s.Tampered = s.Tampered || errors.Is(j.err, treeoflife.ErrTampered)
	}
	return s
}

func (h *handler) lastJob(tenant string) *verifyJob {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.jobs[tenant]
}

// verify renders the verify page (GET), or starts a verification (POST)
// unless one is running, then shows the page (303, or JSON for the script).
func (h *handler) verify(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.QueryTimeout)
	defer cancel()
	v, err := h.open(ctx, r)
	if err != nil {
		h.fail(w, r, nil, "verify", err)
		return
	}
	if r.Method == http.MethodPost {
		if !sameOrigin(r) {
			v.release()
			http.Error(w, "cross-site request refused", http.StatusForbidden)
			return
		}
		h.startVerify(v) // takes over v, released when the job ends
		if r.Header.Get("Accept") == "application/json" {
			h.writeStatus(w, v.tenant)
			return
		}
		http.Redirect(w, r, v.link("verify", nil), http.StatusSeeOther)
		return
	}
	defer v.release()
	s := h.lastJob(v.tenant).status()
	h.render(w, r, "verify", &page{Title: "Verify", Nav: "verify", View: v, Data: &s}, http.StatusOK)
}

// startVerify starts a verification of v's log, unless one is running.
func (h *handler) startVerify(v *view) {
	h.mu.Lock()
	if j := h.jobs[v.tenant]; j != nil && j.status().State == "running" {
		h.mu.Unlock()
		v.release()
		return
	}
	j := &verifyJob{started: time.Now(), done: make(chan struct{})}
	h.jobs[v.tenant] = j
	h.mu.Unlock()
	go func() {
		defer v.release()
		ctx, cancel := context.WithTimeout(context.Background(), h.opts.VerifyTimeout)
		defer cancel()
		if st, err := v.log.Stats(ctx); err == nil {
			j.mu.Lock()
			j.size = st.Head.Size
			j.mu.Unlock()
		}
		rep, err := v.log.VerifyWith(ctx, treeoflife.VerifyOptions{Verifiers: h.opts.Verifiers})
		j.mu.Lock()
		j.report, j.err, j.ended = rep, err, time.Now()
		j.mu.Unlock()
		close(j.done)
	}()
}

// verifyStatus serves the state of the tenant's verification as JSON.
// With "wait" (milliseconds, or empty for the query timeout, which also
// bounds it), it answers when the verification ends or the wait is over,
// whichever comes first: a long poll.
func (h *handler) verifyStatus(w http.ResponseWriter, r *http.Request) {
	tenant := r.URL.Query().Get("tenant")
	if h.tenants == nil && tenant != "" {
		http.Error(w, "this log has no tenants", http.StatusBadRequest)
		return
	}
	if j := h.lastJob(tenant); j != nil && r.URL.Query().Has("wait") {
		wait := h.opts.QueryTimeout
		if ms, err := strconv.Atoi(r.URL.Query().Get("wait")); err == nil && ms >= 0 {
			wait = min(wait, time.Duration(ms)*time.Millisecond)
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-j.done:
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	h.writeStatus(w, tenant)
}

func (h *handler) writeStatus(w http.ResponseWriter, tenant string) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(h.lastJob(tenant).status())
}
