package witness

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func FuzzParseCheckpoint(f *testing.F) {
	root := "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
	for _, s := range []string{
		"example.com/log\n20852163\n" + root + "\n",
		"o\n0\n" + root + "\nchain x\ntime 1\n",
		"o\n01\n" + root + "\n",
		"o\n1\n" + root,
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		origin, size, root, err := ParseCheckpoint(text)
		if err != nil {
			return
		}
		// What parses has the canonical form it was parsed from.
		rest := bytes.SplitN(text, []byte("\n"), 4)
		canon := origin + "\n" + strconv.FormatUint(size, 10) + "\n" + base64.StdEncoding.EncodeToString(root[:]) + "\n"
		require.Equal(t, canon, string(bytes.Join(rest[:3], []byte("\n")))+"\n")
		require.LessOrEqual(t, len(text), MaxCheckpointBytes)
	})
}

func FuzzAddCheckpoint(f *testing.F) {
	l := newTestLog(f, "example.com/log1").grow(9)
	f.Add(addBody(0, nil, l.checkpoint(3)))
	f.Add(addBody(3, l.proof(3, 9), l.checkpoint(9)))
	f.Add(addBody(0, nil, l.checkpoint(0)))
	f.Add([]byte("old 0\n\n"))
	f.Add([]byte("old 3\nAAAA\n\nx\n"))
	signer, _ := newTestCosigner(f, "w")
	dir := f.TempDir()
	w, err := New(Config{StateDir: dir, Signer: signer, Logs: []Log{{Origin: l.origin, Keys: []string{l.vkey}}}})
	require.NoError(f, err)
	f.Cleanup(func() { w.Close() })
	h := NewHandler(w)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/add-checkpoint", bytes.NewReader(body)))
		switch rec.Code {
		case 200, 400, 403, 404, 409, 413, 422:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		// Whatever was accepted or refused, the state stays readable.
		st, err := loadState(dir, l.origin, signer)
		require.NoError(t, err)
		if rec.Code == 200 {
			require.NotNil(t, st)
			i := bytes.LastIndex(body, []byte("\n\n"))
			require.True(t, bytes.HasPrefix(st.note, body[bytes.Index(body, []byte("\n\n"))+2:i+1]))
		}
	})
}
