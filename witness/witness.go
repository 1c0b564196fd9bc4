package witness

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/treeoflife/treeoflife/internal/fileutil"
)

// DefaultMaxRequestBytes is the default Config.MaxRequestBytes: an old size
// line, 63 proof lines and a checkpoint of MaxCheckpointBytes with a hundred
// signature lines fit in it.
const DefaultMaxRequestBytes = 64 << 10

// maxProofLines is the most consistency proof lines a request may carry
// (c2sp.org/tlog-witness).
const maxProofLines = 63

// Config of a witness server. Its zero value is not usable: StateDir, Signer
// and Logs are required.
type Config struct {
	// StateDir is where the per-origin state lives. It is created (mode 0700)
	// if missing and locked while the Witness is open.
	StateDir string
	// Signer is the cosigner, from NewCosigner.
	Signer note.Signer
	// Logs are the logs the witness accepts checkpoints from.
	Logs []Log
	// MaxRequestBytes caps the body of an add-checkpoint request; larger
	// bodies are answered 413. Zero means DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// Logger receives a record per refused or accepted checkpoint. Nil
	// discards them.
	Logger *slog.Logger
}

// Log is a log the witness accepts checkpoints from.
type Log struct {
	// Origin is the exact origin line of the log, or a prefix followed by "*"
	// (e.g. "treeoflife/*"), which matches every origin starting with the
	// prefix. An exact origin wins over a prefix; a longer prefix over a
	// shorter one. Each matching origin has its own state.
	Origin string
	// Keys are the note verifier keys of the log's signing keys; a checkpoint
	// needs a valid signature by any one of them.
	Keys []string
}

// logConfig is a validated Log.
type logConfig struct {
	origin    string // without the final "*" when prefix
	prefix    bool
	verifiers note.Verifiers
}

// Witness verifies and cosigns checkpoints, recording the latest one per
// origin in its state directory. Its methods are safe for concurrent use.
type Witness struct {
	dir        string
	signer     note.Signer
	logs       []logConfig
	maxRequest int64
	logger     *slog.Logger
	lock       *fileutil.Lock

	mu      sync.Mutex
	origins map[string]*originState
}

// originState serialises the requests of one origin and caches its state.
type originState struct {
	mu     sync.Mutex
	loaded bool
	// err, once set, is returned for every later request: a state write
	// failed, so what the disk holds is unknown until a restart reads it.
	err error
	cur *state // nil: nothing cosigned yet
}

// New validates cfg, creates and locks the state directory and returns the
// Witness. Close releases the lock.
func New(cfg Config) (*Witness, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("witness: Config.StateDir is empty")
	}
	if cfg.Signer == nil {
		return nil, errors.New("witness: Config.Signer is nil")
	}
	if !validName(cfg.Signer.Name()) {
		return nil, fmt.Errorf("witness: Config.Signer: invalid name %q", cfg.Signer.Name())
	}
	if len(cfg.Logs) == 0 {
		return nil, errors.New("witness: Config.Logs is empty")
	}
	if cfg.MaxRequestBytes < 0 {
		return nil, fmt.Errorf("witness: Config.MaxRequestBytes is negative (%d)", cfg.MaxRequestBytes)
	}
	w := &Witness{
		dir:        cfg.StateDir,
		signer:     cfg.Signer,
		maxRequest: cfg.MaxRequestBytes,
		logger:     cfg.Logger,
		origins:    make(map[string]*originState),
	}
	if w.maxRequest == 0 {
		w.maxRequest = DefaultMaxRequestBytes
	}
	if w.logger == nil {
		w.logger = slog.New(slog.DiscardHandler)
	}
	seen := make(map[string]bool)
	for i, l := range cfg.Logs {
		lc, err := newLogConfig(l, cfg.Signer)
		if err != nil {
			return nil, fmt.Errorf("witness: Config.Logs[%d]: %w", i, err)
		}
		if seen[l.Origin] {
			return nil, fmt.Errorf("witness: Config.Logs[%d]: origin %q listed twice", i, l.Origin)
		}
		seen[l.Origin] = true
		w.logs = append(w.logs, lc)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("witness: Config.StateDir: %w", err)
	}
	lock, err := fileutil.LockFile(filepath.Join(cfg.StateDir, "LOCK"))
	if err != nil {
		return nil, fmt.Errorf("witness: lock %s: %w", cfg.StateDir, err)
	}
	w.lock = lock
	return w, nil
}

func newLogConfig(l Log, signer note.Signer) (logConfig, error) {
	lc := logConfig{origin: l.Origin}
	if base, ok := strings.CutSuffix(l.Origin, "*"); ok {
		lc.origin, lc.prefix = base, true
	}
	if lc.origin == "" {
		return lc, errors.New("empty Origin")
	}
	if strings.ContainsAny(lc.origin, "*\n") {
		return lc, fmt.Errorf("invalid Origin %q: a \"*\" may only end it, and it is one line", l.Origin)
	}
	if len(l.Keys) == 0 {
		return lc, fmt.Errorf("empty Keys for %q", l.Origin)
	}
	var vs []note.Verifier
	seen := make(map[string]bool)
	for _, k := range l.Keys {
		v, err := note.NewVerifier(k)
		if err != nil {
			return lc, fmt.Errorf("invalid key %q in Keys for %q: %w", k, l.Origin, err)
		}
		id := fmt.Sprintf("%s+%08x", v.Name(), v.KeyHash())
		if seen[id] {
			return lc, fmt.Errorf("key %s listed twice in Keys for %q", id, l.Origin)
		}
		if v.Name() == signer.Name() && v.KeyHash() == signer.KeyHash() {
			return lc, fmt.Errorf("key %s in Keys for %q is the witness's own", id, l.Origin)
		}
		seen[id] = true
		vs = append(vs, v)
	}
	lc.verifiers = note.VerifierList(vs...)
	return lc, nil
}

// Close releases the lock on the state directory. Requests after Close fail.
func (w *Witness) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.origins = nil
	return w.lock.Unlock()
}

// match returns the configuration of the log origin, or nil.
func (w *Witness) match(origin string) *logConfig {
	var best *logConfig
	for i := range w.logs {
		lc := &w.logs[i]
		switch {
		case !lc.prefix && lc.origin == origin:
			return lc
		case lc.prefix && strings.HasPrefix(origin, lc.origin):
			if best == nil || len(lc.origin) > len(best.origin) {
				best = lc
			}
		}
	}
	return best
}

// errClosed is returned for requests made after Close.
var errClosed = errors.New("witness: closed")

// lockOrigin returns the locked state of origin, loaded from disk on first
// use. The caller unlocks its mu.
func (w *Witness) lockOrigin(origin string) (*originState, error) {
	w.mu.Lock()
	if w.origins == nil {
		w.mu.Unlock()
		return nil, errClosed
	}
	og, ok := w.origins[origin]
	if !ok {
		og = &originState{}
		w.origins[origin] = og
	}
	w.mu.Unlock()
	og.mu.Lock()
	if og.err == nil && !og.loaded {
		og.cur, og.err = loadState(w.dir, origin, w.signer)
		og.loaded = og.err == nil
	}
	if og.err != nil {
		err := og.err
		if !errors.Is(err, ErrDamagedState) {
			// A read error may pass (e.g. EMFILE): try again next time.
			og.err = nil
		}
		og.mu.Unlock()
		return nil, err
	}
	return og, nil
}

// requestError is a refused add-checkpoint request: the HTTP status, a
// message for the response body and, for 409 on the old size, the size the
// witness holds.
type requestError struct {
	status   int
	msg      string
	size     uint64
	sizeBody bool // answer with Content-Type text/x.tlog.size and size
}

func (e *requestError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

func refuse(status int, format string, args ...any) *requestError {
	return &requestError{status: status, msg: fmt.Sprintf(format, args...)}
}

// addRequest is a parsed add-checkpoint request body.
type addRequest struct {
	oldSize uint64
	proof   tlog.TreeProof
	msg     []byte // the signed checkpoint note
}

// parseAddRequest parses an add-checkpoint body: "old <size>\n", at most 63
// base64 hash lines, an empty line and the signed checkpoint.
func parseAddRequest(body []byte) (*addRequest, error) {
	line, rest, ok := bytes.Cut(body, []byte("\n"))
	if !ok {
		return nil, errors.New("no old size line")
	}
	num, ok := bytes.CutPrefix(line, []byte("old "))
	if !ok {
		return nil, errors.New(`first line is not "old <size>"`)
	}
	req := &addRequest{}
	if req.oldSize, ok = parseDecimal(num); !ok {
		return nil, errors.New("old size is not a canonical decimal")
	}
	for {
		line, rest, ok = bytes.Cut(rest, []byte("\n"))
		if !ok {
			return nil, errors.New("no empty line before the checkpoint")
		}
		if len(line) == 0 {
			break
		}
		if len(req.proof) == maxProofLines {
			return nil, fmt.Errorf("more than %d proof lines", maxProofLines)
		}
		h, err := base64.StdEncoding.Strict().DecodeString(string(line))
		if err != nil || len(h) != tlog.HashSize {
			return nil, fmt.Errorf("proof line %d is not a base64 hash", len(req.proof)+1)
		}
		req.proof = append(req.proof, tlog.Hash(h))
	}
	if req.oldSize == 0 && len(req.proof) != 0 {
		return nil, errors.New("a proof from size 0 must be empty")
	}
	req.msg = rest
	return req, nil
}

// add checks req against the recorded state of its origin and, when every
// check passes, records the checkpoint and returns the cosignature line. The
// checks follow c2sp.org/tlog-witness, in its order.
func (w *Witness) add(req *addRequest) ([]byte, error) {
	// Parse the note without verifiers first: a malformed note is a 400
	// whatever its origin.
	_, err := note.Open(req.msg, note.VerifierList())
	var unverified *note.UnverifiedNoteError
	if !errors.As(err, &unverified) {
		return nil, refuse(http.StatusBadRequest, "malformed checkpoint note")
	}
	text := []byte(unverified.Note.Text)
	origin, size, root, err := ParseCheckpoint(text)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "%v", err)
	}
	lc := w.match(origin)
	if lc == nil {
		return nil, refuse(http.StatusNotFound, "unknown log origin")
	}
	n, err := note.Open(req.msg, lc.verifiers)
	if err != nil {
		// Unverified (no known key signed) or a known key's signature is
		// invalid: both are 403.
		return nil, refuse(http.StatusForbidden, "checkpoint not signed by a known key of the log")
	}
	if req.oldSize > size {
		return nil, refuse(http.StatusBadRequest, "old size %d is larger than the checkpoint size %d", req.oldSize, size)
	}

	og, err := w.lockOrigin(origin)
	if err != nil {
		return nil, err
	}
	defer og.mu.Unlock()
	var recorded uint64
	if og.cur != nil {
		recorded = og.cur.size
	}
	if req.oldSize != recorded {
		return nil, &requestError{status: http.StatusConflict, msg: "old size does not match", size: recorded, sizeBody: true}
	}
	if og.cur != nil {
		switch {
		case size == recorded && root != og.cur.root:
			return nil, refuse(http.StatusConflict, "fork: size %d already cosigned with a different root hash", size)
		case size == recorded && len(req.proof) != 0:
			return nil, refuse(http.StatusUnprocessableEntity, "consistency proof must be empty for equal sizes")
		case size > recorded && recorded > 0:
			if err := tlog.CheckTree(req.proof, int64(size), root, int64(recorded), og.cur.root); err != nil {
				return nil, refuse(http.StatusUnprocessableEntity, "consistency proof from %d to %d does not verify", recorded, size)
			}
		}
	}

	sig, err := w.signer.Sign(text)
	if err != nil {
		return nil, fmt.Errorf("witness: cosign: %w", err)
	}
	var hb [4]byte
	binary.BigEndian.PutUint32(hb[:], w.signer.KeyHash())
	cosig := []byte("— " + w.signer.Name() + " " + base64.StdEncoding.EncodeToString(append(hb[:], sig...)) + "\n")

	var stored bytes.Buffer
	stored.Write(text)
	stored.WriteString("\n")
	for _, s := range n.Sigs {
		stored.WriteString("— " + s.Name + " " + s.Base64 + "\n")
	}
	stored.Write(cosig)
	st := &state{size: size, root: root, note: stored.Bytes()}
	if err := storeState(w.dir, origin, st); err != nil {
		// Fail closed: the file may hold the old or the new state, and after
		// a failed fsync the page cache may not match the disk. Refuse the
		// origin until a restart reads back what the disk holds.
		og.err = fmt.Errorf("witness: state of %q not written, restart to recover: %w", origin, err)
		return nil, og.err
	}
	og.cur = st
	return cosig, nil
}

// latest returns the latest cosigned checkpoint of origin, or nil.
func (w *Witness) latest(origin string) ([]byte, error) {
	if w.match(origin) == nil {
		return nil, nil
	}
	og, err := w.lockOrigin(origin)
	if err != nil {
		return nil, err
	}
	defer og.mu.Unlock()
	if og.cur == nil {
		return nil, nil
	}
	return og.cur.note, nil
}
