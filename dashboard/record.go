package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"

	"github.com/treeoflife/treeoflife"
)

// recordData is the record page's content.
type recordData struct {
	Entry    treeoflife.Entry
	Level    string
	Fields   []field
	Receipt  *treeoflife.Receipt
	NoProof  string // why there is no inclusion proof
	Verified bool   // the receipt's checkpoint is signed by one of Options.Verifiers
	Checked  bool   // Options.Verifiers were given
	Size     uint64 // the checkpoint's tree size
	Root     string // its root, hex
}

type field struct{ Key, Value string }

// record shows every field of one record and, when a signed checkpoint
// covers it, its inclusion proof, which the page checks with WebCrypto.
func (h *handler) record(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.QueryTimeout)
	defer cancel()
	v, err := h.open(ctx, r)
	if err != nil {
		h.fail(w, r, nil, "search", err)
		return
	}
	defer v.release()
	seq, err := strconv.ParseUint(r.URL.Query().Get("seq"), 10, 64)
	if err != nil {
		h.fail(w, r, v, "search", fmt.Errorf("%w: seq must be a record's sequence number", errBadInput))
		return
	}
	e, err := readOne(ctx, v.log, seq)
	if err != nil {
		h.fail(w, r, v, "search", err)
		return
	}
	d := &recordData{Entry: e, Level: e.Level.String()}
	meta, _ := json.MarshalIndent(e.Metadata, "", "  ")
	d.Fields = []field{{"seq", strconv.FormatUint(e.Seq, 10)}, {"id", e.ID}, {"timestamp", fmtTime(e.Time)},
		{"level", e.Level.String()}, {"message", e.Message}, {"hostname", e.Hostname}, {"pid", strconv.Itoa(e.PID)}}
	if e.Tenant != "" {
		d.Fields = append(d.Fields, field{"tenantId", e.Tenant})
	}
	d.Fields = append(d.Fields, field{"prevHash", e.PrevHash.String()}, field{"hash (chain value)", e.Hash.String()}, field{"metadata", string(meta)})
	rc, why := h.proof(ctx, v, seq)
	if rc != nil {
		d.Receipt = rc
		text := rc.Checkpoint
		if i := indexBlank(text); i >= 0 {
			text = text[:i+1]
		}
		if cp, err := treeoflife.ParseCheckpoint([]byte(text)); err == nil {
			d.Size, d.Root = cp.Size, cp.Root.String()
		}
		if h.opts.Verifiers != nil {
			d.Checked = true
			_, err := rc.Verify(h.opts.Verifiers)
			d.Verified = err == nil
		}
	}
	d.NoProof = why
	h.render(w, r, "record", &page{Title: fmt.Sprintf("Record %d", seq), Nav: "search", View: v, Data: d}, http.StatusOK)
}

func indexBlank(s string) int {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '\n' && s[i+1] == '\n' {
			return i
		}
	}
	return -1
}

// readOne reads record seq.
func readOne(ctx context.Context, log Log, seq uint64) (treeoflife.Entry, error) {
	for e, err := range log.Entries(ctx, treeoflife.Filter{FromSeq: seq, ToSeq: seq + 1}) {
		return e, err
	}
	return treeoflife.Entry{}, fmt.Errorf("%w: record %d is not in the log", errNotFound, seq)
}

// proof returns the receipt of seq against the stored signed checkpoint,
// or why there is none. It never makes a checkpoint: a record newer than
// the stored one waits for the next (a logger with a signer writes one
// every CheckpointInterval).
func (h *handler) proof(ctx context.Context, v *view, seq uint64) (*treeoflife.Receipt, string) {
	cp := readCheckpoint(v.log.Dir(), nil)
	switch {
	case cp == nil:
		return nil, "The log has no checkpoint yet."
	case !cp.Signed:
		return nil, "The log's checkpoints are not signed (no signing key), so there is no receipt to check."
	case cp.Size <= seq:
		return nil, fmt.Sprintf("The newest signed checkpoint covers %d records; this record is not in it yet. Reload after the next checkpoint.", cp.Size)
	}
	rc, err := v.log.Receipt(ctx, seq)
	if err != nil {
		return nil, "No receipt: " + err.Error()
	}
	return rc, ""
}

// receipt serves record seq's receipt as JSON (FORMAT.md, "Proofs and
// receipts"), for the page's proof check and for download.
func (h *handler) receipt(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.QueryTimeout)
	defer cancel()
	v, err := h.open(ctx, r)
	if err != nil {
		http.Error(w, err.Error(), errStatus(err))
		return
	}
	defer v.release()
	seq, err := strconv.ParseUint(r.URL.Query().Get("seq"), 10, 64)
	if err != nil {
		http.Error(w, "seq must be a record's sequence number", http.StatusBadRequest)
		return
	}
	rc, why := h.proof(ctx, v, seq)
	if rc == nil {
		http.Error(w, why, http.StatusNotFound)
		return
	}
	b, err := json.MarshalIndent(rc, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

// tenantsPage lists the tenants, erased ones marked.
func (h *handler) tenantsPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.QueryTimeout)
	defer cancel()
	if h.tenants == nil {
		h.fail(w, r, nil, "tenants", fmt.Errorf("%w: this log is not a tenants root", errNotFound))
		return
	}
	v, err := h.open(ctx, r)
	if err != nil {
		h.fail(w, r, nil, "tenants", err)
		return
	}
	defer v.release()
	items, err := h.listTenants(ctx, v.tenant, true)
	if err != nil {
		h.fail(w, r, v, "tenants", err)
		return
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].ID < items[j].ID })
	h.render(w, r, "tenants", &page{Title: "Tenants", Nav: "tenants", View: v, Tenants: items, Data: items}, http.StatusOK)
}
