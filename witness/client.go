package witness

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Errors returned (wrapped, with the witness URL) by Client methods.
var (
	// ErrConflict: the witness holds another size for the log than the one
	// the request started from, even after a retry. The error is also a
	// *ConflictError carrying that size.
	ErrConflict = errors.New("witness: old size conflict")
	// ErrRollback: the witness has cosigned a larger tree for the origin
	// than the checkpoint submitted.
	ErrRollback = errors.New("witness: checkpoint is older than the witness's")
	// ErrFork: the witness holds a tree the checkpoint is not consistent
	// with (same size and another root, or a consistency proof that fails).
	ErrFork = errors.New("witness: checkpoint inconsistent with the witness's")
	// ErrUnknownLog: the witness does not witness the checkpoint's origin.
	ErrUnknownLog = errors.New("witness: unknown log origin")
	// ErrForbidden: no signature on the checkpoint verified with a log key
	// the witness trusts.
	ErrForbidden = errors.New("witness: checkpoint signature not accepted")
)

// ConflictError is a 409 answer carrying the tree size the witness recorded
// for the origin. errors.Is(err, ErrConflict) holds for it.
type ConflictError struct {
	Size uint64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("witness: old size conflict: the witness holds size %d", e.Size)
}

// Is reports whether target is ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// StatusError is an unexpected HTTP answer from a witness.
type StatusError struct {
	StatusCode int
	Body       string // the start of the answer, for diagnostics
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("witness: HTTP %d: %s", e.StatusCode, e.Body)
}

// maxResponseBytes caps what the client reads of an answer.
const maxResponseBytes = 64 << 10

// defaultClientTimeout bounds a whole request when NewClient builds the HTTP
// client: a witness answers after one signature and one fsync, so a slow
// answer is a stuck witness, and the caller usually has other witnesses.
const defaultClientTimeout = 30 * time.Second

// Client talks to one witness over HTTP. Its methods are safe for concurrent
// use.
type Client struct {
	url      string // without a final "/"
	verifier note.Verifier
	hc       *http.Client

	mu   sync.Mutex
	last map[string]uint64 // origin → the witness's size, as last learned
}

// NewClient returns a client of the witness at url (its submission and
// monitoring prefix) whose cosignatures verify with vkey. hc nil means an
// http.Client with a 30-second timeout.
func NewClient(url, vkey string, hc *http.Client) (*Client, error) {
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return nil, fmt.Errorf("witness: URL %q is not http(s)", url)
	}
	v, err := NewCosignatureVerifier(vkey)
	if err != nil {
		return nil, err
	}
	if hc == nil {
		hc = &http.Client{Timeout: defaultClientTimeout}
	}
	return &Client{url: strings.TrimSuffix(url, "/"), verifier: v, hc: hc, last: make(map[string]uint64)}, nil
}

// String names the witness by its URL, in reports.
func (c *Client) String() string { return "witness " + c.url }

// Name returns the witness's name, from its vkey.
func (c *Client) Name() string { return c.verifier.Name() }

// Cosign submits signedCheckpoint, a signed checkpoint note, and returns the
// witness's cosignatures on it, verified with the client's vkey.
//
// The client remembers the witness's size per origin (zero at first) and
// calls prove for a consistency proof from that size to the checkpoint's;
// prove is not called when the proof is empty. On a 409 whose body is the
// witness's size, Cosign learns that size and tries once more: it returns an
// error wrapping ErrRollback (and a *ConflictError with the size) when the
// size is larger than the checkpoint's,
// and a *ConflictError when the second attempt conflicts again. A witness
// refusing a checkpoint inconsistent with its own yields ErrFork.
func (c *Client) Cosign(ctx context.Context, signedCheckpoint []byte, prove func(ctx context.Context, oldSize, newSize uint64) (tlog.TreeProof, error)) ([]note.Signature, error) {
	split := bytes.LastIndex(signedCheckpoint, []byte("\n\n"))
	if split < 0 {
		return nil, fmt.Errorf("%w: not a signed note", ErrMalformedCheckpoint)
	}
	text := signedCheckpoint[:split+1]
	origin, size, _, err := ParseCheckpoint(text)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	old := c.last[origin]
	c.mu.Unlock()
	if old > size {
		// What the client remembers is a hint; from size 0 the witness
		// answers with the size it holds.
		old = 0
	}
	for attempt := 0; ; attempt++ {
		var proof tlog.TreeProof
		if old != 0 && old != size {
			if proof, err = prove(ctx, old, size); err != nil {
				return nil, fmt.Errorf("witness: consistency proof %d→%d for %s: %w", old, size, c.url, err)
			}
		}
		sigs, err := c.add(ctx, old, proof, signedCheckpoint, text)
		var conflict *ConflictError
		switch {
		case err == nil:
			c.remember(origin, size)
			return sigs, nil
		case errors.As(err, &conflict):
			c.remember(origin, conflict.Size)
			if conflict.Size > size {
				return nil, fmt.Errorf("%w: %s holds size %d, checkpoint has %d: %w", ErrRollback, c.url, conflict.Size, size, conflict)
			}
			if attempt == 0 {
				old = conflict.Size
				continue
			}
		}
		return nil, err
	}
}

func (c *Client) remember(origin string, size uint64) {
	c.mu.Lock()
	c.last[origin] = size
	c.mu.Unlock()
}

// add makes one add-checkpoint request.
func (c *Client) add(ctx context.Context, old uint64, proof tlog.TreeProof, signed, text []byte) ([]note.Signature, error) {
	var body bytes.Buffer
	fmt.Fprintf(&body, "old %d\n", old)
	for _, h := range proof {
		body.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	body.WriteString("\n")
	body.Write(signed)
	u := c.url + addCheckpointPath
	resp, b, err := c.do(ctx, http.MethodPost, u, &body)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		sigs, err := c.verifyCosignatures(text, b)
		if err != nil {
			return nil, fmt.Errorf("witness: %s: %w", u, err)
		}
		return sigs, nil
	case http.StatusConflict:
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == sizeContentType {
			n, ok := parseDecimal(bytes.TrimSuffix(b, []byte("\n")))
			if !ok || !bytes.HasSuffix(b, []byte("\n")) {
				return nil, fmt.Errorf("witness: %s: malformed size in 409 answer %q", u, b)
			}
			return nil, fmt.Errorf("witness: %s: %w", u, &ConflictError{Size: n})
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrFork, u, statusError(resp.StatusCode, b))
	case http.StatusUnprocessableEntity:
		return nil, fmt.Errorf("%w: %s: %w", ErrFork, u, statusError(resp.StatusCode, b))
	case http.StatusNotFound:
		return nil, fmt.Errorf("%w: %s: %w", ErrUnknownLog, u, statusError(resp.StatusCode, b))
	case http.StatusForbidden:
		return nil, fmt.Errorf("%w: %s: %w", ErrForbidden, u, statusError(resp.StatusCode, b))
	}
	return nil, fmt.Errorf("witness: %s: %w", u, statusError(resp.StatusCode, b))
}

func statusError(code int, body []byte) *StatusError {
	const max = 200
	if len(body) > max {
		body = body[:max]
	}
	return &StatusError{StatusCode: code, Body: strings.TrimSpace(string(body))}
}

// verifyCosignatures checks the signature lines of a 200 answer against the
// checkpoint text and returns those by the client's witness key. Lines by
// other keys are ignored, as the protocol requires; at least one must be the
// witness's.
func (c *Client) verifyCosignatures(text, lines []byte) ([]note.Signature, error) {
	msg := make([]byte, 0, len(text)+1+len(lines))
	msg = append(append(append(msg, text...), '\n'), lines...)
	n, err := note.Open(msg, note.VerifierList(c.verifier))
	if err != nil {
		return nil, fmt.Errorf("cosignature does not verify: %w", err)
	}
	return n.Sigs, nil
}

// Latest returns the latest checkpoint the witness cosigned for origin (GET
// /checkpoint/<origin>, an extension of this package), after checking that it
// is a checkpoint for origin carrying a valid cosignature of the client's
// witness. The log signatures on it are not verified: the caller knows the
// log's keys. When the witness has none, the error wraps os.ErrNotExist.
func (c *Client) Latest(ctx context.Context, origin string) ([]byte, error) {
	u := c.url + checkpointPrefix + url.PathEscape(origin)
	resp, b, err := c.do(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, fmt.Errorf("witness: %s: %w", u, os.ErrNotExist)
	default:
		return nil, fmt.Errorf("witness: %s: %w", u, statusError(resp.StatusCode, b))
	}
	n, err := note.Open(b, note.VerifierList(c.verifier))
	if err != nil {
		return nil, fmt.Errorf("witness: %s: cosignature does not verify: %w", u, err)
	}
	got, _, _, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return nil, fmt.Errorf("witness: %s: %w", u, err)
	}
	if got != origin {
		return nil, fmt.Errorf("witness: %s: checkpoint has origin %q", u, got)
	}
	return b, nil
}

// do sends a request to the witness and returns its response with the body
// read (at most maxResponseBytes) and closed.
func (c *Client) do(ctx context.Context, method, u string, body io.Reader) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("witness: %s: %w", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, nil, fmt.Errorf("witness: %s: %w", u, err)
	}
	return resp, b, nil
}
