package treeoflife

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	formatslog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// The proofs and checkpoints are checked with transparency-dev's
// independent implementations of RFC 6962 and C2SP tlog-checkpoint.

func hashBytes[H ~[32]byte](hs []H) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

func TestInteropMerkleProofs(t *testing.T) {
	ctx := context.Background()
	l := openT(t, t.TempDir(), Options{SegmentSize: MinSegmentSize, Compress: true})
	defer l.Close()
	p := writeProvedLog(t, l, 33)
	h := rfc6962.DefaultHasher
	for size := uint64(1); size <= 33; size++ {
		for seq := uint64(0); seq < size; seq++ {
			leaf := p.leaf(seq)
			require.Equal(t, h.HashLeaf(p.records[seq]), leaf[:])
			pr, err := l.ProveInclusion(ctx, seq, size)
			require.NoError(t, err)
			require.NoError(t, proof.VerifyInclusion(h, seq, size, leaf[:], hashBytes(pr), p.roots[size][:]), "seq %d size %d", seq, size)
		}
		for old := uint64(1); old <= size; old++ {
			pr, err := l.ProveConsistency(ctx, old, size)
			require.NoError(t, err)
			require.NoError(t, proof.VerifyConsistency(h, old, size, hashBytes(pr), p.roots[old][:], p.roots[size][:]), "%d to %d", old, size)
		}
	}
	// And a wrong root is refused there too.
	pr, err := l.ProveConsistency(ctx, 5, 33)
	require.NoError(t, err)
	require.Error(t, proof.VerifyConsistency(h, 5, 33, hashBytes(pr), p.roots[6][:], p.roots[33][:]))
}

func TestInteropCheckpointAndReceipt(t *testing.T) {
	ctx := context.Background()
	skey, vkey, err := GenerateSigningKey("example.com/audit")
	require.NoError(t, err)
	signer, err := note.NewSigner(skey)
	require.NoError(t, err)
	verifier, err := note.NewVerifier(vkey)
	require.NoError(t, err)
	l := receiptLog(t, Options{Signer: signer, Tenant: "acme"}, 12)
	defer l.Close()
	signed, err := l.Checkpoint(ctx)
	require.NoError(t, err)

	origin := "treeoflife/" + l.LogID()
	cp, ext, _, err := formatslog.ParseCheckpoint(signed, origin, verifier)
	require.NoError(t, err)
	require.Equal(t, origin, cp.Origin)
	require.EqualValues(t, 12, cp.Size)
	head := l.Head()
	require.Equal(t, head.Root[:], cp.Hash)
	require.True(t, strings.HasPrefix(string(ext), "chain "+head.Chain.String()+"\n"), "extension lines: %q", ext)
	_, _, _, err = formatslog.ParseCheckpoint(signed, "treeoflife/other", verifier)
	require.Error(t, err)

	// A receipt's proof, checked against the checkpoint parsed there.
	rc, err := l.Receipt(ctx, 7)
	require.NoError(t, err)
	cp, _, _, err = formatslog.ParseCheckpoint([]byte(rc.Checkpoint), origin, verifier)
	require.NoError(t, err)
	require.NoError(t, proof.VerifyInclusion(rfc6962.DefaultHasher, rc.Seq, cp.Size, rfc6962.DefaultHasher.HashLeaf(rc.Record), hashBytes(rc.Proof), cp.Hash))
}
