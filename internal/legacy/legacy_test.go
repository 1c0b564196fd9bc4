package legacy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/treeoflife/treeoflife"
)

// fixtures holds logs written by the original system's own code, copied
// unchanged (see its README).
const fixtures = "../../testdata/legacy"

func fixture(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(fixtures, name)
	_, err := os.Stat(dir)
	require.NoError(t, err)
	return dir
}

// readAll reads and decodes every record of src.
func readAll(t *testing.T, src Source, pass string) (recs []Record, ents []Entry, missing uint64) {
	t.Helper()
	r, err := NewReader(src)
	require.NoError(t, err)
	defer r.Close()
	d := NewDecoder([]byte(pass))
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		c := *rec
		c.Data = append([]byte(nil), rec.Data...)
		recs = append(recs, c)
		e, err := d.Decode(rec.Data)
		require.NoError(t, err, rec.Where())
		e.Metadata = append([]byte(nil), e.Metadata...)
		ents = append(ents, e)
	}
	return recs, ents, r.Missing()
}

func TestFixtures(t *testing.T) {
	cases := []struct {
		dir, pass string
		tenants   []string
		counts    []int
		checked   string
	}{
		{"js-plain", "", []string{"customer-abc", "default"}, []int{40, 120}, "blockchain.json"},
		{"js-gcm", "legacy-passphrase-1", []string{"default"}, []int{80}, "blockchain.json"},
		{"js-cbc", "legacy-passphrase-0", []string{"default"}, []int{20}, ""},
		{"js-rotated", "", []string{"default"}, []int{150}, "blockchain.json"},
		{"py-plain", "", []string{""}, []int{150}, "blockchain.json"},
		{"py-rotated", "", []string{""}, []int{120}, "blockchain.json"},
	}
	for _, tc := range cases {
		t.Run(tc.dir, func(t *testing.T) {
			srcs, err := Discover(fixture(t, tc.dir))
			require.NoError(t, err)
			require.Len(t, srcs, len(tc.tenants))
			for i, src := range srcs {
				require.Equal(t, tc.tenants[i], src.Tenant)
				recs, ents, missing := readAll(t, src, tc.pass)
				require.Len(t, recs, tc.counts[i])
				require.Zero(t, missing)
				prev := "0"
				for j, rec := range recs {
					require.Empty(t, rec.Broken, rec.Where())
					require.Equal(t, uint64(j), rec.Index)
					require.Equal(t, prev, rec.PrevHash)
					prev = rec.Hash
					e := ents[j]
					require.NotEmpty(t, e.ID)
					require.False(t, e.Time.IsZero())
					require.NotEmpty(t, e.Message)
					require.NotEmpty(t, e.Hostname)
					require.NotZero(t, e.PID)
					if src.Tenant != "" {
						require.Equal(t, src.Tenant, e.Tenant)
					}
					if j > 0 {
						require.False(t, e.Time.Before(ents[j-1].Time), "entries are in time order: archives are ordered right")
					}
				}
			}
		})
	}
}

func TestRotatedOrder(t *testing.T) {
	srcs, err := Discover(fixture(t, "py-rotated"))
	require.NoError(t, err)
	files := srcs[0].Files
	require.Len(t, files, 4)
	require.True(t, strings.HasSuffix(files[3], "immutable.log"))
	for i := 1; i < 3; i++ {
		require.Less(t, files[i-1], files[i])
	}
	// A Python archive name without a fraction (isoformat omits a zero one)
	// sorts after one with a fraction as a string, but is earlier.
	a, err := archiveTime("immutable-2026-11-29T18-16-58.log.gz")
	require.NoError(t, err)
	b, err := archiveTime("immutable-2026-11-29T18-16-58.000001.log.gz")
	require.NoError(t, err)
	require.True(t, a.Before(b))
}

func TestTampered(t *testing.T) {
	srcs, err := Discover(fixture(t, "js-plain-tampered"))
	require.NoError(t, err)
	require.Equal(t, "default", srcs[1].Tenant)
	recs, _, _ := readAll(t, srcs[1], "")
	var broken []Record
	for _, r := range recs {
		if r.Broken != "" {
			broken = append(broken, r)
		}
	}
	require.Len(t, broken, 1)
	require.Equal(t, uint64(7), broken[0].Index, "line 8 is block 7")
	require.Equal(t, 8, broken[0].Line)
	require.Contains(t, broken[0].Broken, "does not match its recorded hash")
	require.Contains(t, string(broken[0].Data), `"amount":999999`)
	// The record after it links to the recorded hash, so only one is broken.
	require.Equal(t, broken[0].Hash, recs[8].PrevHash)
}

func TestWrongPassphrase(t *testing.T) {
	for _, tc := range []struct{ dir, pass string }{{"js-gcm", "wrong"}, {"js-cbc", "wrong"}, {"js-gcm", ""}} {
		srcs, err := Discover(fixture(t, tc.dir))
		require.NoError(t, err)
		r, err := NewReader(srcs[0])
		require.NoError(t, err)
		rec, err := r.Next()
		require.NoError(t, err)
		_, err = NewDecoder([]byte(tc.pass)).Decode(rec.Data)
		require.ErrorIs(t, err, ErrPassphrase, tc.dir)
		require.Equal(t, 1, rec.Line)
		r.Close()
	}
	// The CBC key and IV of a passphrase are those OpenSSL derives:
	// `openssl enc -aes-256-cbc -md md5 -nosalt -P -pass pass:legacy-passphrase-0`.
	key, iv := bytesToKey([]byte("legacy-passphrase-0"))
	require.Len(t, key, 32)
	require.Len(t, iv, 16)
}

func TestNotLegacy(t *testing.T) {
	dir := t.TempDir()
	_, err := Discover(dir)
	require.ErrorIs(t, err, ErrNotLegacy)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "immutable.log"), []byte("hello world\n"), 0o600))
	srcs, err := Discover(dir)
	require.NoError(t, err)
	r, err := NewReader(srcs[0])
	require.NoError(t, err)
	defer r.Close()
	rec, err := r.Next()
	require.NoError(t, err)
	_, err = NewDecoder(nil).Decode(rec.Data)
	require.ErrorIs(t, err, ErrNotLegacy)
	_, err = NewDecoder(nil).Decode([]byte(`{"a":1}`))
	require.ErrorIs(t, err, ErrNotLegacy)

	bad := filepath.Join(t.TempDir(), "x")
	require.NoError(t, os.MkdirAll(bad, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(bad, "blockchain.json"), []byte(`{"not":"an array"}`), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(bad, "immutable.log"), []byte("{}\n"), 0o600))
	srcs, err = Discover(bad)
	require.NoError(t, err)
	_, err = NewReader(srcs[0])
	require.True(t, errors.Is(err, ErrNotLegacy), "%v", err)
}

func TestLevels(t *testing.T) {
	srcs, err := Discover(fixture(t, "js-plain"))
	require.NoError(t, err)
	_, ents, _ := readAll(t, srcs[1], "")
	seen := map[treeoflife.Level]bool{}
	for _, e := range ents {
		seen[e.Level] = true
	}
	require.Len(t, seen, 8, "the fixture holds all eight levels")
}

func TestChainFileTampered(t *testing.T) {
	// blockchain.json edited (compact, as Python's json.dumps without indent
	// would write it): block 3's data, block 5's previousHash. The lines are
	// untouched.
	dir := filepath.Join(t.TempDir(), "py")
	require.NoError(t, os.CopyFS(dir, os.DirFS(fixture(t, "py-plain"))))
	path := filepath.Join(dir, "blockchain.json")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var blocks []map[string]any
	require.NoError(t, json.Unmarshal(b, &blocks))
	blocks[3]["data"] = strings.Replace(blocks[3]["data"].(string), "py event 3", "py event 4", 1)
	blocks[5]["previousHash"] = blocks[1]["hash"]
	b, err = json.Marshal(blocks[:140]) // and the last 10 blocks lost
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o600))
	srcs, err := Discover(dir)
	require.NoError(t, err)
	recs, _, missing := readAll(t, srcs[0], "")
	require.Zero(t, missing)
	var broken []string
	for _, r := range recs {
		if r.Broken != "" {
			broken = append(broken, fmt.Sprintf("%d: %s", r.Index, r.Broken))
		}
	}
	require.Len(t, broken, 12)
	require.Contains(t, broken[0], "3: the data of block 3 in blockchain.json differs from the line")
	require.Contains(t, broken[1], "5: previousHash")
	require.Contains(t, broken[2], "140: the line is not in blockchain.json")
}

func TestReplayChanged(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "py")
	require.NoError(t, os.CopyFS(dir, os.DirFS(fixture(t, "py-plain"))))
	srcs, err := Discover(dir)
	require.NoError(t, err)
	r, err := NewReader(srcs[0])
	require.NoError(t, err)
	for {
		if _, err := r.Next(); err == io.EOF {
			break
		} else {
			require.NoError(t, err)
		}
	}
	res := r.Result()
	require.NoError(t, r.Close())
	require.Equal(t, uint64(150), res.Records())

	// Replayed unchanged: the same records, without the chain file.
	first, _, _ := readAll(t, srcs[0], "")
	rp := Replay(srcs[0], res)
	for i := 0; ; i++ {
		rec, err := rp.Next()
		if err == io.EOF {
			require.Equal(t, 150, i)
			break
		}
		require.NoError(t, err)
		require.Equal(t, first[i].Hash, rec.Hash)
		require.Equal(t, first[i].PrevHash, rec.PrevHash)
	}
	require.NoError(t, rp.Close())

	// A line changed between the readings is an error.
	path := filepath.Join(dir, "immutable.log")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(b), `"py event 1"`, `"py event 9"`, 1)), 0o600))
	rp = Replay(srcs[0], res)
	defer rp.Close()
	_, err = rp.Next()
	require.NoError(t, err)
	_, err = rp.Next()
	require.ErrorContains(t, err, "immutable.log:2: the line changed while it was being imported")
}
