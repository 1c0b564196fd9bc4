package treeoflife

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/tlog"
)

// The golden log in testdata/golden is regenerated, never edited by hand:
//
//	TREEOFLIFE_UPDATE_GOLDEN=1 go test -run TestGolden .
//
// testdata/golden.json holds the hashes an independent verifier computes
// from it; the test recomputes them here from FORMAT.md alone (raw bytes,
// crypto/sha256 and tlog.TreeHash, none of this package's code) and checks
// the library agrees.

const goldenDir = "testdata/golden"

type goldenRecord struct {
	Seq   uint64 `json:"seq"`
	Leaf  string `json:"leaf"`
	Chain string `json:"chain"`
}

type goldenVector struct {
	LogID   string         `json:"logId"`
	Size    uint64         `json:"size"`
	Chain   string         `json:"chain"`
	Root    string         `json:"root"`
	Records []goldenRecord `json:"records"`
}

func TestGolden(t *testing.T) {
	if os.Getenv("TREEOFLIFE_UPDATE_GOLDEN") == "1" {
		writeGolden(t)
	}
	want := readGoldenVector(t)
	got := independentVerify(t, goldenDir)
	require.Equal(t, want, got, "an independent reading of testdata/golden matches golden.json")

	head, err := VerifyDir(context.Background(), goldenDir)
	require.NoError(t, err)
	require.Equal(t, want.Size, head.Head.Size)
	require.Equal(t, want.Chain, head.Head.Chain.String())
	require.Equal(t, want.Root, head.Head.Root.String())

	// The library reopens the golden log (in a copy) and continues it.
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(goldenDir)))
	l := openT(t, dir, Options{})
	require.Equal(t, head.Head, l.Head())
	rec, err := l.Info("continued", nil)
	require.NoError(t, err)
	require.Equal(t, want.Size, rec.Seq)
	require.NoError(t, verifyErr(l.Verify(context.Background())))
	require.NoError(t, l.Close())
}

func writeGolden(t *testing.T) {
	require.NoError(t, os.RemoveAll(goldenDir))
	clock := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	tick := func() time.Time { clock = clock.Add(1500 * time.Millisecond); return clock }
	l := openT(t, goldenDir, Options{SegmentSize: MinSegmentSize, Compress: true, Clock: tick})
	events := []struct {
		level Level
		msg   string
		f     Fields
	}{
		{LevelSystem, "System started", Fields{"version": "1.0.0"}},
		{LevelAudit, "User login", Fields{"userId": "user123", "ip": "203.0.113.7"}},
		{LevelRevenue, "Sale completed", Fields{"amount": 1000, "currency": "USD"}},
		{LevelSecurity, "Password changed", Fields{"userId": "user123"}},
		{LevelWarn, "Slow payment provider", Fields{"latencyMs": 1830.5}},
		{LevelError, "Card declined", Fields{"code": "do_not_honor", "retry": false}},
		{LevelCritical, "Ledger mismatch", Fields{"expected": 990000, "actual": 989900}},
		{LevelInfo, "Report generated", Fields{"rows": 42, "tags": []string{"eu", "monthly"}}},
	}
	for i := 0; i < 40; i++ {
		e := events[i%len(events)]
		f := Fields{"n": i}
		for k, v := range e.f {
			f[k] = v
		}
		_, err := l.Log(context.Background(), e.level, e.msg, f)
		require.NoError(t, err)
	}
	require.NoError(t, l.Sync(context.Background()))
	l.compressor.wait()
	require.NoError(t, l.Close())
	require.NoError(t, os.Remove(filepath.Join(goldenDir, lockFile)))
	v := independentVerify(t, goldenDir)
	b, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile("testdata/golden.json", append(b, '\n'), 0o644))
}

func readGoldenVector(t *testing.T) goldenVector {
	b, err := os.ReadFile("testdata/golden.json")
	require.NoError(t, err)
	var v goldenVector
	require.NoError(t, json.Unmarshal(b, &v))
	return v
}

// independentVerify reads a log directory following FORMAT.md only.
func independentVerify(t *testing.T, dir string) goldenVector {
	t.Helper()
	hb, err := os.ReadFile(filepath.Join(dir, "HEADER"))
	require.NoError(t, err)
	var hdr struct {
		LogID string `json:"logId"`
	}
	require.NoError(t, json.Unmarshal(hb, &hdr))
	logID, err := hex.DecodeString(hdr.LogID)
	require.NoError(t, err)
	sha := func(parts ...[]byte) []byte {
		h := sha256.New()
		for _, p := range parts {
			h.Write(p)
		}
		return h.Sum(nil)
	}
	chain := sha([]byte{0x03}, logID)
	var leaves []tlog.Hash
	v := goldenVector{LogID: hdr.LogID}

	names, err := filepath.Glob(filepath.Join(dir, "*.seg*"))
	require.NoError(t, err)
	sort.Strings(names)
	crcTable := crc32.MakeTable(crc32.Castagnoli)
	for _, name := range names {
		raw, err := os.ReadFile(name)
		require.NoError(t, err)
		if strings.HasSuffix(name, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			require.NoError(t, err)
			raw, err = io.ReadAll(zr)
			require.NoError(t, err)
		}
		require.Equal(t, "TOLSEG01", string(raw[:8]))
		require.Equal(t, logID, raw[8:24])
		first := binary.BigEndian.Uint64(raw[24:32])
		require.Equal(t, uint64(len(leaves)), first, name)
		require.Equal(t, chain, raw[40:72], "segment %s starts where the previous ended", name)
		k := int(raw[72])
		hlen := 73 + 32*k
		require.Equal(t, crc32.Checksum(raw[:hlen], crcTable), binary.BigEndian.Uint32(raw[hlen:]))
		for off := hlen + 4; off < len(raw); {
			n := int(binary.BigEndian.Uint32(raw[off:]))
			seq := binary.BigEndian.Uint64(raw[off+4:])
			payload := raw[off+48 : off+48+n]
			crc := crc32.Update(crc32.Checksum(raw[off:off+44], crcTable), crcTable, payload)
			require.Equal(t, crc, binary.BigEndian.Uint32(raw[off+44:]))
			require.Equal(t, uint64(len(leaves)), seq)
			leaf := sha([]byte{0x00}, payload)
			chain = sha([]byte{0x02}, chain, leaf)
			require.Equal(t, chain, raw[off+12:off+44], "stored chain value of seq %d", seq)
			var entry map[string]any
			require.NoError(t, json.Unmarshal(payload, &entry))
			require.EqualValues(t, seq, entry["seq"])
			leaves = append(leaves, tlog.Hash(leaf))
			v.Records = append(v.Records, goldenRecord{Seq: seq, Leaf: hex.EncodeToString(leaf), Chain: hex.EncodeToString(chain)})
			off += 48 + n
		}
	}
	v.Size = uint64(len(leaves))
	v.Chain = hex.EncodeToString(chain)
	root, err := tlog.TreeHash(int64(len(leaves)), leafTree(leaves))
	require.NoError(t, err)
	v.Root = hex.EncodeToString(root[:])
	return v
}

// leafTree serves tlog.TreeHash from the leaf hashes, computing the stored
// interior hashes with tlog.StoredHashes.
func leafTree(leaves []tlog.Hash) tlog.HashReader {
	var stored []tlog.Hash
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x >= int64(len(stored)) {
				return nil, fmt.Errorf("index %d out of range", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	for n, leaf := range leaves {
		// StoredHashesForRecordHash appends the interior nodes completed by this leaf.
		hs, err := tlog.StoredHashesForRecordHash(int64(n), leaf, r)
		if err != nil {
			panic(err)
		}
		stored = append(stored, hs...)
	}
	return r
}
