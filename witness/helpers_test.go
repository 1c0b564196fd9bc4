package witness

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// testLog is an in-memory transparency log built with sumdb/tlog.
type testLog struct {
	t      testing.TB
	origin string
	skey   string
	vkey   string
	signer note.Signer
	hashes []tlog.Hash // stored hashes
	size   int64
}

// newTestLog returns an empty log for origin with a new signing key.
func newTestLog(t testing.TB, origin string) *testLog {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, "log."+strings.ReplaceAll(origin, "/", "."))
	require.NoError(t, err)
	return newTestLogWithKey(t, origin, skey, vkey)
}

// newTestLogWithKey returns an empty log for origin that signs with skey: two
// such logs with one key and different records are a fork.
func newTestLogWithKey(t testing.TB, origin, skey, vkey string) *testLog {
	t.Helper()
	s, err := note.NewSigner(skey)
	require.NoError(t, err)
	return &testLog{t: t, origin: origin, skey: skey, vkey: vkey, signer: s}
}

func (l *testLog) reader() tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x < 0 || x >= int64(len(l.hashes)) {
				return nil, fmt.Errorf("no stored hash %d", x)
			}
			out[i] = l.hashes[x]
		}
		return out, nil
	})
}

// append adds records with the given texts.
func (l *testLog) append(records ...string) *testLog {
	for _, r := range records {
		hs, err := tlog.StoredHashes(l.size, []byte(r), l.reader())
		require.NoError(l.t, err)
		l.hashes = append(l.hashes, hs...)
		l.size++
	}
	return l
}

// grow adds n records named after the log and their index.
func (l *testLog) grow(n int) *testLog {
	for i := 0; i < n; i++ {
		l.append(fmt.Sprintf("%s record %d", l.origin, l.size))
	}
	return l
}

func (l *testLog) root(size int64) tlog.Hash {
	h, err := tlog.TreeHash(size, l.reader())
	require.NoError(l.t, err)
	return h
}

// text is the checkpoint body at size, with a treeoflife-style extension line.
func (l *testLog) text(size int64) string {
	root := l.root(size)
	return fmt.Sprintf("%s\n%d\n%s\ntime 1700000000\n", l.origin, size, base64.StdEncoding.EncodeToString(root[:]))
}

// checkpoint is the signed checkpoint note at size.
func (l *testLog) checkpoint(size int64) []byte {
	b, err := note.Sign(&note.Note{Text: l.text(size)}, l.signer)
	require.NoError(l.t, err)
	return b
}

func (l *testLog) proof(old, size int64) tlog.TreeProof {
	if old == 0 || old == size {
		return nil
	}
	p, err := tlog.ProveTree(size, old, l.reader())
	require.NoError(l.t, err)
	return p
}

// addBody is an add-checkpoint request body.
func addBody(old uint64, proof tlog.TreeProof, signed []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	b.WriteString("\n")
	b.Write(signed)
	return b.Bytes()
}

// testClock is the time every test cosignature is stamped with.
var testClock = time.Unix(1_750_000_000, 0)

// newTestCosigner returns a cosigner with a fixed clock and its vkey.
func newTestCosigner(t testing.TB, name string) (note.Signer, string) {
	t.Helper()
	skey, vkey, err := GenerateKey(name)
	require.NoError(t, err)
	s, err := NewCosigner(skey)
	require.NoError(t, err)
	s.(*cosigner).now = func() time.Time { return testClock }
	return s, vkey
}

// testWitness is a Witness behind an httptest server.
type testWitness struct {
	t      testing.TB
	dir    string
	w      *Witness
	srv    *httptest.Server
	signer note.Signer
	vkey   string
	logs   []Log
}

func startWitness(t testing.TB, dir string, signer note.Signer, vkey string, logs ...Log) *testWitness {
	t.Helper()
	w, err := New(Config{StateDir: dir, Signer: signer, Logs: logs})
	require.NoError(t, err)
	srv := httptest.NewServer(NewHandler(w))
	tw := &testWitness{t: t, dir: dir, w: w, srv: srv, signer: signer, vkey: vkey, logs: logs}
	t.Cleanup(tw.stop)
	return tw
}

// newTestWitness starts a witness of the given logs on a new state directory.
func newTestWitness(t testing.TB, logs ...*testLog) *testWitness {
	t.Helper()
	signer, vkey := newTestCosigner(t, "witness.example/w1")
	var cfg []Log
	for _, l := range logs {
		cfg = append(cfg, Log{Origin: l.origin, Keys: []string{l.vkey}})
	}
	return startWitness(t, t.TempDir(), signer, vkey, cfg...)
}

func (tw *testWitness) stop() {
	if tw.srv != nil {
		tw.srv.Close()
		tw.srv = nil
		require.NoError(tw.t, tw.w.Close())
	}
}

// restart stops the witness and starts a new one over the same directory.
func (tw *testWitness) restart() {
	tw.stop()
	ntw := startWitness(tw.t, tw.dir, tw.signer, tw.vkey, tw.logs...)
	*tw = *ntw
}

// post sends an add-checkpoint body and returns the status, the Content-Type
// and the answer.
func (tw *testWitness) post(body []byte) (int, string, string) {
	tw.t.Helper()
	resp, err := http.Post(tw.srv.URL+"/add-checkpoint", "text/plain", bytes.NewReader(body))
	require.NoError(tw.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(tw.t, err)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// add submits the log's checkpoint at size from old and requires a 200.
func (tw *testWitness) add(l *testLog, old, size int64) string {
	tw.t.Helper()
	code, _, body := tw.post(addBody(uint64(old), l.proof(old, size), l.checkpoint(size)))
	require.Equal(tw.t, http.StatusOK, code, body)
	return body
}

// stateBytes returns the state file of origin, nil if there is none.
func (tw *testWitness) stateBytes(origin string) []byte {
	tw.t.Helper()
	b, err := os.ReadFile(stateFile(tw.dir, origin))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(tw.t, err)
	return b
}

func (tw *testWitness) verifier() note.Verifier {
	v, err := NewCosignatureVerifier(tw.vkey)
	require.NoError(tw.t, err)
	return v
}

// httptestServer serves h until the test ends and returns its URL.
func httptestServer(t testing.TB, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
