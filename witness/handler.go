package witness

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Paths served by NewHandler.
const (
	addCheckpointPath = "/add-checkpoint"
	checkpointPrefix  = "/checkpoint/"
)

// sizeContentType is the Content-Type of a 409 answer carrying the witness's
// recorded tree size (c2sp.org/tlog-witness).
const sizeContentType = "text/x.tlog.size"

// NewHandler returns the HTTP interface of w:
//
//	POST /add-checkpoint        c2sp.org/tlog-witness add-checkpoint
//	GET  /checkpoint/<origin>   the latest checkpoint w cosigned for origin
//
// The second is an extension, not part of C2SP: <origin> is the origin line
// path-escaped as one segment (url.PathEscape), and the answer is the
// checkpoint note with the log signatures that verified and w's cosignature,
// or 404 when w has cosigned none for that origin.
func NewHandler(w *Witness) http.Handler {
	return &handler{w: w}
}

type handler struct {
	w *Witness
}

func (h *handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	switch {
	case p == addCheckpointPath:
		if r.Method != http.MethodPost {
			rw.Header().Set("Allow", http.MethodPost)
			http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.addCheckpoint(rw, r)
	case strings.HasPrefix(p, checkpointPrefix):
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			rw.Header().Set("Allow", "GET, HEAD")
			http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		origin, err := url.PathUnescape(p[len(checkpointPrefix):])
		if err != nil || origin == "" {
			http.Error(rw, "malformed origin", http.StatusBadRequest)
			return
		}
		h.checkpoint(rw, r, origin)
	default:
		http.NotFound(rw, r)
	}
}

func (h *handler) addCheckpoint(rw http.ResponseWriter, r *http.Request) {
	limit := h.w.maxRequest
	if r.ContentLength > limit {
		http.Error(rw, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		http.Error(rw, "request body too large", http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		http.Error(rw, "reading request body failed", http.StatusBadRequest)
		return
	}
	req, err := parseAddRequest(body)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	cosig, err := h.w.add(req)
	var re *requestError
	switch {
	case errors.As(err, &re):
		lvl := slog.LevelInfo
		if re.status == http.StatusConflict && !re.sizeBody || re.status == http.StatusUnprocessableEntity {
			// An inconsistent checkpoint under a valid log signature may be
			// evidence of a misbehaving log.
			lvl = slog.LevelWarn
		}
		h.w.logger.LogAttrs(r.Context(), lvl, "witness: checkpoint refused",
			slog.Int("status", re.status), slog.String("reason", re.msg), slog.String("remote", r.RemoteAddr))
		if re.sizeBody {
			rw.Header().Set("Content-Type", sizeContentType)
			rw.WriteHeader(re.status)
			io.WriteString(rw, strconv.FormatUint(re.size, 10)+"\n")
			return
		}
		http.Error(rw, re.msg, re.status)
	case err != nil:
		h.w.logger.LogAttrs(r.Context(), slog.LevelError, "witness: add-checkpoint failed", slog.String("err", err.Error()))
		http.Error(rw, "internal error", http.StatusInternalServerError)
	default:
		h.w.logger.LogAttrs(r.Context(), slog.LevelInfo, "witness: checkpoint cosigned", slog.String("remote", r.RemoteAddr))
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rw.Write(cosig)
	}
}

func (h *handler) checkpoint(rw http.ResponseWriter, r *http.Request, origin string) {
	b, err := h.w.latest(origin)
	switch {
	case err != nil:
		h.w.logger.LogAttrs(r.Context(), slog.LevelError, "witness: reading state failed",
			slog.String("origin", origin), slog.String("err", err.Error()))
		http.Error(rw, "internal error", http.StatusInternalServerError)
	case b == nil:
		http.Error(rw, "no checkpoint cosigned for this origin", http.StatusNotFound)
	default:
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rw.Header().Set("Content-Length", strconv.Itoa(len(b)))
		rw.Write(b)
	}
}
