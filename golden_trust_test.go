package treeoflife

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/treeoflife/treeoflife/witness"
)

// testdata/golden-trust.json holds, for the golden log, a signed checkpoint
// with a witness's cosignature, an inclusion proof and a consistency proof,
// and the test keys (made from fixed seeds: test vectors, not secrets). It
// is regenerated with the golden log (TREEOFLIFE_UPDATE_GOLDEN=1), never
// edited by hand. TestGoldenTrust checks every value with the standard
// library, tlog and note alone, then that the library agrees.

const goldenTrustFile = "testdata/golden-trust.json"

type goldenTrust struct {
	LogSkey     string `json:"logSkey"`
	LogVkey     string `json:"logVkey"`
	WitnessName string `json:"witnessName"`
	WitnessSeed string `json:"witnessSeed"` // hex Ed25519 seed
	WitnessVkey string `json:"witnessVkey"`
	CosignedAt  int64  `json:"cosignedAt"` // Unix seconds in the cosignature
	Checkpoint  string `json:"checkpoint"` // signed note: the log's signature, then the cosignature

	Inclusion struct {
		Seq      int64    `json:"seq"`
		TreeSize int64    `json:"treeSize"`
		Leaf     string   `json:"leaf"`
		Proof    []string `json:"proof"`
	} `json:"inclusion"`
	Consistency struct {
		OldSize int64    `json:"oldSize"`
		NewSize int64    `json:"newSize"`
		OldRoot string   `json:"oldRoot"`
		Proof   []string `json:"proof"`
	} `json:"consistency"`
}

// seededReader is a deterministic byte stream for key generation.
type seededReader struct {
	seed []byte
	n    uint64
	buf  []byte
}

func (r *seededReader) Read(p []byte) (int, error) {
	for len(r.buf) < len(p) {
		var ctr [8]byte
		binary.BigEndian.PutUint64(ctr[:], r.n)
		r.n++
		h := sha256.Sum256(append(append([]byte(nil), r.seed...), ctr[:]...))
		r.buf = append(r.buf, h[:]...)
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func writeGoldenTrust(t *testing.T, leaves []tlog.Hash, v goldenVector) {
	t.Helper()
	var g goldenTrust
	var err error
	g.LogSkey, g.LogVkey, err = note.GenerateKey(&seededReader{seed: []byte("treeoflife golden log key")}, "golden-log")
	require.NoError(t, err)
	seed := sha256.Sum256([]byte("treeoflife golden witness key"))
	g.WitnessName, g.WitnessSeed = "golden-witness", hex.EncodeToString(seed[:])
	pub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
	g.WitnessVkey = cosignatureVkey(g.WitnessName, pub)
	g.CosignedAt = time.Date(2026, 11, 22, 9, 1, 0, 0, time.UTC).Unix()

	hb, err := os.ReadFile(filepath.Join(goldenDir, headerFile))
	require.NoError(t, err)
	var root, chain Hash
	require.NoError(t, root.UnmarshalText([]byte(v.Root)))
	require.NoError(t, chain.UnmarshalText([]byte(v.Chain)))
	c := &Checkpoint{Origin: "treeoflife/" + v.LogID, Size: v.Size, Root: root, Chain: chain,
		Time: time.Date(2026, 11, 22, 9, 1, 0, 0, time.UTC), Header: sha256.Sum256(hb)}
	text := c.Marshal()
	signer, err := note.NewSigner(g.LogSkey)
	require.NoError(t, err)
	logSigned, err := note.Sign(&note.Note{Text: string(text)}, signer)
	require.NoError(t, err)
	cosig := cosign(ed25519.NewKeyFromSeed(seed[:]), g.WitnessName, g.CosignedAt, text)
	g.Checkpoint = string(logSigned) + cosig

	r := leafTree(leaves)
	g.Inclusion.Seq, g.Inclusion.TreeSize = 5, int64(len(leaves))
	g.Inclusion.Leaf = hex.EncodeToString(leaves[5][:])
	rp, err := tlog.ProveRecord(int64(len(leaves)), 5, r)
	require.NoError(t, err)
	for _, h := range rp {
		g.Inclusion.Proof = append(g.Inclusion.Proof, hex.EncodeToString(h[:]))
	}
	g.Consistency.OldSize, g.Consistency.NewSize = 14, int64(len(leaves))
	old, err := tlog.TreeHash(14, r)
	require.NoError(t, err)
	g.Consistency.OldRoot = hex.EncodeToString(old[:])
	tp, err := tlog.ProveTree(int64(len(leaves)), 14, r)
	require.NoError(t, err)
	for _, h := range tp {
		g.Consistency.Proof = append(g.Consistency.Proof, hex.EncodeToString(h[:]))
	}
	b, err := json.MarshalIndent(g, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(goldenTrustFile, append(b, '\n'), 0o644))
}

// cosignatureVkey is a C2SP tlog-cosignature verifier key: name, key hash
// SHA-256(name || 0x0A || 0x04 || pub)[:4] in hex, base64(0x04 || pub).
func cosignatureVkey(name string, pub ed25519.PublicKey) string {
	key := append([]byte{0x04}, pub...)
	h := sha256.Sum256(append(append([]byte(name), '\n'), key...))
	return fmt.Sprintf("%s+%08x+%s", name, binary.BigEndian.Uint32(h[:4]), base64.StdEncoding.EncodeToString(key))
}

// cosign returns a tlog-cosignature/v1 signature line for a checkpoint
// text: Ed25519 over "cosignature/v1\ntime <t>\n" || text, encoded as key
// hash (4) || t (8) || signature (64).
func cosign(priv ed25519.PrivateKey, name string, ts int64, text []byte) string {
	pub := priv.Public().(ed25519.PublicKey)
	key := append([]byte{0x04}, pub...)
	h := sha256.Sum256(append(append([]byte(name), '\n'), key...))
	msg := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", ts)), text...)
	sig := make([]byte, 0, 76)
	sig = append(sig, h[:4]...)
	sig = binary.BigEndian.AppendUint64(sig, uint64(ts))
	sig = append(sig, ed25519.Sign(priv, msg)...)
	return "\u2014 " + name + " " + base64.StdEncoding.EncodeToString(sig) + "\n"
}

func TestGoldenTrust(t *testing.T) {
	want := readGoldenVector(t)
	if os.Getenv("TREEOFLIFE_UPDATE_GOLDEN") == "1" {
		var leaves []tlog.Hash
		for _, r := range want.Records {
			var h Hash
			require.NoError(t, h.UnmarshalText([]byte(r.Leaf)))
			leaves = append(leaves, tlog.Hash(h))
		}
		writeGoldenTrust(t, leaves, want)
	}
	b, err := os.ReadFile(goldenTrustFile)
	require.NoError(t, err)
	var g goldenTrust
	require.NoError(t, json.Unmarshal(b, &g))

	// The log's signature, with note alone.
	logV, err := note.NewVerifier(g.LogVkey)
	require.NoError(t, err)
	n, err := note.Open([]byte(g.Checkpoint), note.VerifierList(logV))
	require.NoError(t, err)
	require.Len(t, n.Sigs, 1)
	require.Len(t, n.UnverifiedSigs, 1, "the cosignature, in a key type note does not know")
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	require.Equal(t, "treeoflife/"+want.LogID, lines[0])
	require.Equal(t, strconv.FormatUint(want.Size, 10), lines[1])
	rootBytes, err := base64.StdEncoding.DecodeString(lines[2])
	require.NoError(t, err)
	require.Equal(t, want.Root, hex.EncodeToString(rootBytes))
	require.Equal(t, "chain "+want.Chain, lines[3])
	hb, err := os.ReadFile(filepath.Join(goldenDir, headerFile))
	require.NoError(t, err)
	hh := sha256.Sum256(hb)
	require.Contains(t, lines, "header "+hex.EncodeToString(hh[:]))

	// The cosignature, with crypto/ed25519 alone.
	cs := n.UnverifiedSigs[0]
	require.Equal(t, g.WitnessName, cs.Name)
	raw, err := base64.StdEncoding.DecodeString(cs.Base64)
	require.NoError(t, err)
	require.Len(t, raw, 4+8+ed25519.SignatureSize)
	parts := strings.SplitN(g.WitnessVkey, "+", 3)
	key, err := base64.StdEncoding.DecodeString(parts[2])
	require.NoError(t, err)
	require.Equal(t, byte(0x04), key[0])
	kh := sha256.Sum256(append(append([]byte(g.WitnessName), '\n'), key...))
	require.Equal(t, kh[:4], raw[:4], "key hash")
	ts := int64(binary.BigEndian.Uint64(raw[4:12]))
	require.Equal(t, g.CosignedAt, ts)
	msg := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", ts)), n.Text...)
	require.True(t, ed25519.Verify(ed25519.PublicKey(key[1:]), msg, raw[12:]), "the cosignature verifies")

	// The proofs, with tlog alone.
	var root tlog.Hash
	copy(root[:], rootBytes)
	leaf := decodeHash(t, g.Inclusion.Leaf)
	require.Equal(t, want.Records[g.Inclusion.Seq].Leaf, g.Inclusion.Leaf)
	var rp tlog.RecordProof
	for _, h := range g.Inclusion.Proof {
		rp = append(rp, decodeHash(t, h))
	}
	require.NoError(t, tlog.CheckRecord(rp, g.Inclusion.TreeSize, root, g.Inclusion.Seq, leaf))
	var tp tlog.TreeProof
	for _, h := range g.Consistency.Proof {
		tp = append(tp, decodeHash(t, h))
	}
	require.NoError(t, tlog.CheckTree(tp, g.Consistency.NewSize, root, g.Consistency.OldSize, decodeHash(t, g.Consistency.OldRoot)))

	// The library agrees: it parses the checkpoint, checks both signatures
	// (the witness's with package witness), and trusts the log against it.
	wv, err := witness.NewCosignatureVerifier(g.WitnessVkey)
	require.NoError(t, err)
	c, n2, err := OpenCheckpoint([]byte(g.Checkpoint), note.VerifierList(logV, wv))
	require.NoError(t, err)
	require.Len(t, n2.Sigs, 2)
	require.Equal(t, want.Size, c.Size)
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(goldenDir)))
	anchor := filepath.Join(t.TempDir(), "anchor")
	require.NoError(t, os.WriteFile(anchor, []byte(g.Checkpoint), 0o644))
	rep, err := VerifyDirWith(t.Context(), dir, VerifyOptions{Verifiers: note.VerifierList(logV), Anchors: []Anchor{AnchorFile(anchor)}, RequireSigned: false})
	require.NoError(t, err)
	require.Equal(t, want.Size, rep.Anchored)
	require.True(t, bytes.HasPrefix([]byte(g.Checkpoint), c.Marshal()))
}

func decodeHash(t *testing.T, s string) tlog.Hash {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	require.Len(t, b, 32)
	return tlog.Hash(b)
}
