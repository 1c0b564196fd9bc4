package witness

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
)

func TestFirstCheckpoint(t *testing.T) {
	l := newTestLog(t, "example.com/log1").grow(5)
	tw := newTestWitness(t, l)
	require.Nil(t, tw.stateBytes(l.origin))

	signed := l.checkpoint(5)
	cosig := tw.add(l, 0, 5)
	require.True(t, strings.HasPrefix(cosig, "— witness.example/w1 "), cosig)
	require.Equal(t, 1, strings.Count(cosig, "\n"))

	// The answer appended to the checkpoint is a note both keys verify.
	logV, err := note.NewVerifier(l.vkey)
	require.NoError(t, err)
	n, err := note.Open(append(bytes.Clone(signed), cosig...), note.VerifierList(logV, tw.verifier()))
	require.NoError(t, err)
	require.Len(t, n.Sigs, 2)
	require.Equal(t, l.text(5), n.Text)
	ts, err := CosignatureTime(n.Sigs[1])
	require.NoError(t, err)
	require.Equal(t, testClock, ts)

	// And so is the text with the cosignature line alone.
	n, err = note.Open([]byte(l.text(5)+"\n"+cosig), note.VerifierList(tw.verifier()))
	require.NoError(t, err)
	require.Len(t, n.Sigs, 1)

	// GET /checkpoint/ serves it with both signatures.
	resp, err := http.Get(tw.srv.URL + "/checkpoint/" + url.PathEscape(l.origin))
	require.NoError(t, err)
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	n, err = note.Open(got, note.VerifierList(logV, tw.verifier()))
	require.NoError(t, err)
	require.Len(t, n.Sigs, 2)
	require.Equal(t, l.text(5), n.Text)
	require.NotNil(t, tw.stateBytes(l.origin))
}

func TestSizeZeroAndGrowth(t *testing.T) {
	l := newTestLog(t, "example.com/log1")
	tw := newTestWitness(t, l)
	tw.add(l, 0, 0)
	tw.add(l, 0, 0) // the same checkpoint again is cosigned again
	l.grow(1)
	tw.add(l, 0, 1)
	l.grow(6)
	tw.add(l, 1, 7)
	l.grow(100)
	tw.add(l, 7, 107)
	tw.add(l, 107, 107)
	st, err := loadState(tw.dir, l.origin, tw.signer)
	require.NoError(t, err)
	require.EqualValues(t, 107, st.size)
	require.Equal(t, l.root(107), st.root)
	require.True(t, bytes.HasPrefix(st.note, []byte(l.text(107)+"\n— ")))
}

func TestRefusals(t *testing.T) {
	l := newTestLog(t, "example.com/log1").grow(12)
	// fork is a log with the same origin and key but other records.
	fork := newTestLogWithKey(t, l.origin, l.skey, l.vkey).append("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l")
	other := newTestLog(t, "example.com/log1") // same origin, a key the witness does not know
	other.hashes, other.size = l.hashes, l.size
	stranger := newTestLog(t, "example.com/stranger").grow(3)

	badSig := corruptSignature(t, l.checkpoint(12))
	badProof := l.proof(8, 12)
	badProof[0][0] ^= 1
	crlf := bytes.ReplaceAll(l.checkpoint(12), []byte("\n"), []byte("\r\n"))
	many := make([]byte, 0, 64*46)
	for i := 0; i < 64; i++ {
		many = append(many, base64.StdEncoding.EncodeToString(make([]byte, 32))+"\n"...)
	}

	tests := []struct {
		name   string
		body   []byte
		status int
		size   string // the 409 size body, when one is expected
	}{
		{"wrong old size", addBody(3, l.proof(3, 12), l.checkpoint(12)), 409, "8\n"},
		{"old size 0 but state", addBody(0, nil, l.checkpoint(12)), 409, "8\n"},
		{"rollback", addBody(8, nil, l.checkpoint(5)), 400, ""},
		{"rollback from its own size", addBody(5, nil, l.checkpoint(5)), 409, "8\n"},
		{"fork at the same size", addBody(8, nil, fork.checkpoint(8)), 409, ""},
		{"fork at a larger size", addBody(8, fork.proof(8, 12), fork.checkpoint(12)), 422, ""},
		{"fork with the honest proof", addBody(8, l.proof(8, 12), fork.checkpoint(12)), 422, ""},
		{"tampered proof", addBody(8, badProof, l.checkpoint(12)), 422, ""},
		{"no proof", addBody(8, nil, l.checkpoint(12)), 422, ""},
		{"proof at equal sizes", addBody(8, l.proof(4, 8), l.checkpoint(8)), 422, ""},
		{"unknown key", addBody(8, l.proof(8, 12), other.checkpoint(12)), 403, ""},
		{"invalid signature", addBody(8, l.proof(8, 12), badSig), 403, ""},
		{"unknown origin", addBody(0, nil, stranger.checkpoint(3)), 404, ""},
		{"empty body", nil, 400, ""},
		{"no old line", l.checkpoint(12), 400, ""},
		{"old with leading zero", append([]byte("old 08\n\n"), l.checkpoint(12)...), 400, ""},
		{"proof from zero", addBody(0, l.proof(4, 12), l.checkpoint(12)), 400, ""},
		{"64 proof lines", append(append([]byte("old 8\n"), many...), append([]byte("\n"), l.checkpoint(12)...)...), 400, ""},
		{"proof line not a hash", append([]byte("old 8\nAAAA\n\n"), l.checkpoint(12)...), 400, ""},
		{"no empty line", []byte("old 8\n"), 400, ""},
		{"CRLF checkpoint", addBody(8, l.proof(8, 12), crlf), 400, ""},
		{"unsigned checkpoint", addBody(8, l.proof(8, 12), []byte(l.text(12))), 400, ""},
		{"size with leading zero", addBody(8, nil, signText(t, l, strings.Replace(l.text(12), "\n12\n", "\n012\n", 1))), 400, ""},
		{"too large", append(addBody(8, nil, l.checkpoint(12)), bytes.Repeat([]byte("x"), DefaultMaxRequestBytes)...), 413, ""},
	}

	tw := newTestWitness(t, l)
	tw.add(l, 0, 8)
	before := tw.stateBytes(l.origin)
	require.NotNil(t, before)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, ct, body := tw.post(tt.body)
			assert.Equal(t, tt.status, code, body)
			if tt.size != "" {
				assert.Equal(t, "text/x.tlog.size", ct)
				assert.Equal(t, tt.size, body)
			} else {
				assert.NotEqual(t, "text/x.tlog.size", ct)
			}
			assert.Equal(t, before, tw.stateBytes(l.origin), "state changed by a refused request")
			assert.Nil(t, tw.stateBytes(stranger.origin))
		})
	}
	// The honest next step is still accepted.
	tw.add(l, 8, 12)
	require.NotEqual(t, before, tw.stateBytes(l.origin))
}

// corruptSignature flips a bit of the signature (not the key hash) of the
// last signature line of a note.
func corruptSignature(t *testing.T, signed []byte) []byte {
	i := bytes.LastIndex(signed, []byte(" ")) + 1
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(string(signed[i:]), "\n"))
	require.NoError(t, err)
	sig[10] ^= 1
	return append(bytes.Clone(signed[:i]), base64.StdEncoding.EncodeToString(sig)+"\n"...)
}

// signText signs an arbitrary text with the log's key.
func signText(t *testing.T, l *testLog, text string) []byte {
	b, err := note.Sign(&note.Note{Text: text}, l.signer)
	require.NoError(t, err)
	return b
}

func TestMethodsAndPaths(t *testing.T) {
	l := newTestLog(t, "example.com/log1").grow(2)
	tw := newTestWitness(t, l)
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/add-checkpoint", 405},
		{"POST", "/checkpoint/" + url.PathEscape(l.origin), 405},
		{"GET", "/checkpoint/" + url.PathEscape(l.origin), 404}, // nothing cosigned yet
		{"GET", "/checkpoint/" + url.PathEscape("example.com/unknown"), 404},
		{"GET", "/checkpoint/", 400},
		{"GET", "/other", 404},
	} {
		req, err := http.NewRequest(tt.method, tw.srv.URL+tt.path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, tt.status, resp.StatusCode, "%s %s", tt.method, tt.path)
	}
}

func TestPrefixOrigin(t *testing.T) {
	a := newTestLog(t, "treeoflife/a").grow(3)
	b := newTestLogWithKey(t, "treeoflife/b", a.skey, a.vkey).grow(4)
	signer, vkey := newTestCosigner(t, "w")
	tw := startWitness(t, t.TempDir(), signer, vkey, Log{Origin: "treeoflife/*", Keys: []string{a.vkey}})
	tw.add(a, 0, 3)
	tw.add(b, 0, 4)
	// Each origin has its own state.
	code, _, body := tw.post(addBody(0, nil, a.checkpoint(3)))
	require.Equal(t, 409, code)
	require.Equal(t, "3\n", body)
	require.NotEqual(t, tw.stateBytes(a.origin), tw.stateBytes(b.origin))
	c := newTestLogWithKey(t, "treeoflifeX/c", a.skey, a.vkey).grow(1)
	code, _, _ = tw.post(addBody(0, nil, c.checkpoint(1)))
	require.Equal(t, 404, code)
}

func TestRestart(t *testing.T) {
	l := newTestLog(t, "example.com/log1").grow(20)
	tw := newTestWitness(t, l)
	tw.add(l, 0, 10)
	before := tw.stateBytes(l.origin)

	// A second Witness on a directory in use is refused.
	_, err := New(Config{StateDir: tw.dir, Signer: tw.signer, Logs: tw.logs})
	require.Error(t, err)

	tw.restart()
	require.Equal(t, before, tw.stateBytes(l.origin))
	code, _, body := tw.post(addBody(0, nil, l.checkpoint(5)))
	require.Equal(t, 409, code)
	require.Equal(t, "10\n", body)
	code, _, _ = tw.post(addBody(10, nil, l.checkpoint(5)))
	require.Equal(t, 400, code)
	tw.add(l, 10, 20)
}

func TestDamagedState(t *testing.T) {
	l := newTestLog(t, "example.com/log1").grow(6)
	m := newTestLog(t, "example.com/log2").grow(2)
	damage := []struct {
		name   string
		change func(b []byte) []byte
	}{
		{"empty", func([]byte) []byte { return []byte{} }},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
		{"torn tail", func(b []byte) []byte { return b[:len(b)-1] }},
		{"flipped magic", func(b []byte) []byte { b[3] ^= 0x20; return b }},
		{"zeroed", func(b []byte) []byte { return make([]byte, len(b)) }},
		{"other origin", func([]byte) []byte {
			return []byte(stateMagic + m.text(2) + "\n— witness.example/w1 AAAAAAAA\n")
		}},
		{"no cosignature", func([]byte) []byte {
			return append([]byte(stateMagic), l.checkpoint(6)...)
		}},
		{"too large", func(b []byte) []byte { return append(b, bytes.Repeat([]byte("— x AAAAAAAA\n"), maxStateBytes/12)...) }},
	}
	for _, d := range damage {
		t.Run(d.name, func(t *testing.T) {
			tw := newTestWitness(t, l, m)
			tw.add(l, 0, 6)
			path := stateFile(tw.dir, l.origin)
			damaged := d.change(tw.stateBytes(l.origin))
			require.NoError(t, os.WriteFile(path, damaged, 0o600))
			tw.restart()

			_, err := loadState(tw.dir, l.origin, tw.signer)
			require.ErrorIs(t, err, ErrDamagedState)
			for _, body := range [][]byte{addBody(0, nil, l.checkpoint(2)), addBody(6, nil, l.checkpoint(6))} {
				code, _, _ := tw.post(body)
				require.Equal(t, http.StatusInternalServerError, code)
			}
			resp, err := http.Get(tw.srv.URL + "/checkpoint/" + url.PathEscape(l.origin))
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
			require.Equal(t, damaged, tw.stateBytes(l.origin))
			tw.add(m, 0, 2) // other origins are unaffected
		})
	}
}

func TestConcurrentSubmissions(t *testing.T) {
	const writers, steps = 8, 6
	l := newTestLog(t, "example.com/log1").grow(3)
	tw := newTestWitness(t, l)
	tw.add(l, 0, 3)
	base := []string{}
	for i := 0; i < 3; i++ {
		base = append(base, fmt.Sprintf("%s record %d", l.origin, i))
	}
	for step := 0; step < steps; step++ {
		// Each writer extends the cosigned tree by its own record, with a
		// valid proof: all are acceptable alone, only one may win.
		bodies := make([][]byte, writers)
		trees := make([]*testLog, writers)
		for w := range bodies {
			f := newTestLogWithKey(t, l.origin, l.skey, l.vkey).append(base...)
			f.append(fmt.Sprintf("step %d writer %d", step, w))
			trees[w] = f
			bodies[w] = addBody(uint64(len(base)), f.proof(int64(len(base)), f.size), f.checkpoint(f.size))
		}
		codes := make([]int, writers)
		var wg sync.WaitGroup
		for w := range bodies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := http.Post(tw.srv.URL+"/add-checkpoint", "text/plain", bytes.NewReader(bodies[w]))
				if !assert.NoError(t, err) {
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				codes[w] = resp.StatusCode
			}()
		}
		wg.Wait()
		winner := -1
		for w, c := range codes {
			switch c {
			case 200:
				require.Equal(t, -1, winner, "two winners at step %d: %v", step, codes)
				winner = w
			case 409:
			default:
				t.Fatalf("step %d: status %d", step, c)
			}
		}
		require.NotEqual(t, -1, winner, "no winner at step %d: %v", step, codes)
		st, err := loadState(tw.dir, l.origin, tw.signer)
		require.NoError(t, err)
		require.EqualValues(t, len(base)+1, st.size)
		require.Equal(t, trees[winner].root(trees[winner].size), st.root)
		base = append(base, fmt.Sprintf("step %d writer %d", step, winner))
	}
}

func TestConfig(t *testing.T) {
	signer, _ := newTestCosigner(t, "w")
	l := newTestLog(t, "o")
	good := []Log{{Origin: "o", Keys: []string{l.vkey}}}
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{Signer: signer, Logs: good}, "StateDir"},
		{Config{StateDir: t.TempDir(), Logs: good}, "Signer"},
		{Config{StateDir: t.TempDir(), Signer: signer}, "Logs"},
		{Config{StateDir: t.TempDir(), Signer: signer, Logs: good, MaxRequestBytes: -1}, "MaxRequestBytes"},
		{Config{StateDir: t.TempDir(), Signer: signer, Logs: []Log{{Origin: "", Keys: []string{l.vkey}}}}, "Origin"},
		{Config{StateDir: t.TempDir(), Signer: signer, Logs: []Log{{Origin: "a*b", Keys: []string{l.vkey}}}}, "Origin"},
		{Config{StateDir: t.TempDir(), Signer: signer, Logs: []Log{{Origin: "o"}}}, "Keys"},
		{Config{StateDir: t.TempDir(), Signer: signer, Logs: []Log{{Origin: "o", Keys: []string{"junk"}}}}, "Keys"},
		{Config{StateDir: t.TempDir(), Signer: signer, Logs: append(good, good...)}, "Logs[1]"},
	} {
		_, err := New(tt.cfg)
		require.ErrorContains(t, err, tt.want)
	}
	w, err := New(Config{StateDir: t.TempDir() + "/new/dir", Signer: signer, Logs: good})
	require.NoError(t, err)
	require.EqualValues(t, DefaultMaxRequestBytes, w.maxRequest)
	require.NoError(t, w.Close())
	_, err = w.latest("o")
	require.True(t, errors.Is(err, errClosed))
}
