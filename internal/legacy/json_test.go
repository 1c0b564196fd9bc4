package legacy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

var stringSeeds = []string{
	``, `plain`, `a\"b`, `\\`, `\/\b\f\n\r\t`, `\u00e9\u2028`, `\ud83d\ude00`, `\ud800x`, `\udc00`, `\ud800\u0041`, `日本`,
}

func TestUnescape(t *testing.T) {
	for _, s := range stringSeeds {
		var want string
		require.NoError(t, json.Unmarshal([]byte(`"`+s+`"`), &want), s)
		got, err := unescape(nil, []byte(s))
		require.NoError(t, err, s)
		require.Equal(t, want, string(got), s)
	}
	for _, s := range []string{`\`, `\x`, `\u12`, `\u12g4`} {
		_, err := unescape(nil, []byte(s))
		require.Error(t, err, s)
	}
}

func TestEqualUnescaped(t *testing.T) {
	for _, s := range stringSeeds {
		u, err := unescape(nil, []byte(s))
		require.NoError(t, err)
		require.True(t, equalUnescaped([]byte(s), u), s)
		require.False(t, equalUnescaped([]byte(s), append(u, 'x')), s)
		if len(u) > 0 {
			require.False(t, equalUnescaped([]byte(s), u[:len(u)-1]), s)
		}
	}
	require.True(t, equalUnescaped([]byte(`a\"`), []byte(`a"`)))
	require.False(t, equalUnescaped([]byte(`a\\`), []byte(`a\\`)), "the raw form is a single backslash")
	require.False(t, equalUnescaped([]byte(`a\`), []byte(`a\`)), "a dangling escape")
}

func FuzzUnescape(f *testing.F) {
	for _, s := range stringSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want string
		// encoding/json replaces invalid UTF-8, which unescape keeps as
		// it is (the chain hashed the bytes).
		if !utf8.ValidString(s) || json.Unmarshal([]byte(`"`+s+`"`), &want) != nil {
			return
		}
		got, err := unescape(nil, []byte(s))
		if err != nil || string(got) != want {
			t.Fatalf("%q: got %q, %v; encoding/json %q", s, got, err, want)
		}
		if !equalUnescaped([]byte(s), []byte(want)) {
			t.Fatalf("%q: equalUnescaped says it is not %q", s, want)
		}
	})
}

func TestParseLine(t *testing.T) {
	var l jsonLine
	// Python's spacing, an unknown key, nested metadata.
	require.NoError(t, parseLine([]byte(`{"id": "u-1", "timestamp": "2026-11-29T18:16:58.005503Z", "level": "INFO", "message": "m \"q\"", "metadata": {"k": [0, "x", {"y": null}]}, "extra": [1, {"a": true}], "hostname": "vm", "pid": 7}`), &l))
	require.Equal(t, "u-1", l.ID)
	require.Equal(t, `m "q"`, l.Message)
	require.Equal(t, `{"k": [0, "x", {"y": null}]}`, string(l.Metadata))
	require.Equal(t, 7, l.PID)
	require.Nil(t, l.TenantID)
	require.NoError(t, parseLine([]byte(`{"id":12,"timestamp":"t","level":"INFO","message":"m","tenantId":"acme","pid":null,"hostname":null}`), &l))
	require.Equal(t, "12", l.ID)
	require.Equal(t, "acme", *l.TenantID)
	for _, s := range []string{`{`, `{"id":}`, `{"id":"x",}`, `{"id":"x"} x`, `{"pid":1.5}`, `{"metadata":{"a":tru}}`, `{"metadata":{"a" 1}}`, `{"id":"a` + "\n" + `"}`} {
		require.Error(t, parseLine([]byte(s), &l), s)
	}
}

func TestChainScanner(t *testing.T) {
	read := func(s string) ([]block, error) {
		c := &chainReader{s: streamScanner{br: bufio.NewReaderSize(strings.NewReader(s), 16)}, path: "blockchain.json"}
		if ch, err := c.s.next(); err != nil || ch != '[' {
			return nil, errors.New("not an array")
		}
		c.batches, c.quit = make(chan chainBatch, 4), make(chan struct{})
		go c.parse()
		defer func() {
			close(c.quit)
			for range c.batches {
			}
		}()
		var out []block
		for {
			b, err := c.next()
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return out, err
			}
			cp := *b
			cp.Data = append([]byte(nil), b.Data...)
			out = append(out, cp)
		}
	}
	// A small buffer: strings cross it, with escaped quotes at its edges.
	bs, err := read(`[{"index":0,"data":"{\"a\":\"x\\\\\"}","hash":"h0","previousHash":"0","timestamp":"t","x":{"y":[1,"]"]}}, {"previousHash":"h0","hash":"h1","index":1,"data":"\u00e9"}]`)
	require.NoError(t, err)
	require.Len(t, bs, 2)
	require.Equal(t, `{\"a\":\"x\\\\\"}`, string(bs[0].Data), "data is kept as written")
	require.True(t, equalUnescaped(bs[0].Data, []byte(`{"a":"x\\"}`)))
	require.Equal(t, "h0", bs[1].PreviousHash)
	require.True(t, equalUnescaped(bs[1].Data, []byte("é")))
	bs, err = read("[\n]")
	require.NoError(t, err)
	require.Empty(t, bs)
	for _, s := range []string{`[{"index":0}`, `[{"index":0} {"index":1}]`, `[{"data":"x"}]`, `[{"index":"0"}]`, `[{"index":0,"hash":1}]`, `[{"index":0,"data":"x`, `[1]`} {
		_, err := read(s)
		require.Error(t, err, s)
	}
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","timestamp":"2026-11-29T18:16:54.573Z","level":"INFO","message":"m","metadata":{"i":0,"n":[1.5e3,-0,true,null]},"pid":1,"tenantId":"t"}`,
		`{"id": "u", "timestamp": "t", "level": "WARN", "message": "m", "metadata": {}, "hostname": "vm", "pid": 2}`,
		`{"metadata":NaN}`, `{"x":1.}`, `{"x":01}`, `{"x":-}`, `{"x":1e}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var l jsonLine
		if parseLine(b, &l) == nil && !json.Valid(b) {
			t.Fatalf("parseLine accepted invalid JSON %q", b)
		}
	})
}

func FuzzChainScanner(f *testing.F) {
	f.Add([]byte(`[{"index":0,"data":"{\"a\":\"x\\\\\"}","hash":"h0","previousHash":"0","x":{"y":[1,"]"]}}]`))
	f.Add([]byte("[\n  {\n    \"index\": 0,\n    \"timestamp\": \"t\",\n    \"data\": \"\\u00e9\",\n    \"hash\": \"h\",\n    \"previousHash\": \"0\"\n  }\n]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		// A valid array of blocks reads to its end; anything else is an
		// error, never a panic.
		c := &chainReader{s: streamScanner{br: bufio.NewReaderSize(bytes.NewReader(b), 16)}, path: "blockchain.json"}
		if ch, err := c.s.next(); err != nil || ch != '[' {
			return
		}
		n := 0
		for {
			_, err := c.parseNext()
			if err != nil {
				if err == io.EOF {
					var blocks []map[string]any
					if json.Unmarshal(bytes.TrimSpace(b), &blocks) == nil && len(blocks) != n {
						t.Fatalf("%q: %d blocks read, encoding/json finds %d", b, n, len(blocks))
					}
				}
				return
			}
			n++
		}
	})
}
