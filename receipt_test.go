package treeoflife

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
)

// testSigner returns a new checkpoint signer and the verifiers of its key.
func testSigner(t testing.TB) (note.Signer, note.Verifiers) {
	t.Helper()
	skey, vkey, err := GenerateSigningKey("example.com/audit")
	require.NoError(t, err)
	signer, err := note.NewSigner(skey)
	require.NoError(t, err)
	verifiers, err := NewVerifiers(vkey)
	require.NoError(t, err)
	return signer, verifiers
}

// receiptLog writes n padded records to a signed log in small segments.
func receiptLog(t testing.TB, opts Options, n int) *ImmutableLogger {
	t.Helper()
	opts.SegmentSize = MinSegmentSize
	l, err := Open(t.TempDir(), opts)
	require.NoError(t, err)
	pad := strings.Repeat("r", 700)
	for i := 0; i < n; i++ {
		_, err := l.Audit(fmt.Sprintf("payment %d", i), Fields{"pad": pad})
		require.NoError(t, err)
	}
	return l
}

func TestReceiptRoundTrip(t *testing.T) {
	ctx := context.Background()
	signer, verifiers := testSigner(t)
	l := receiptLog(t, Options{Signer: signer}, 30)
	defer l.Close()
	require.NoError(t, l.Sync(ctx))
	records := storedRecords(t, l.Dir())
	for _, seq := range []uint64{0, 1, 7, 16, 29} {
		rc, err := l.Receipt(ctx, seq)
		require.NoError(t, err)
		require.Equal(t, records[seq], rc.Record)
		b, err := json.Marshal(rc)
		require.NoError(t, err)
		parsed, err := ParseReceipt(b)
		require.NoError(t, err)
		require.Equal(t, rc, parsed)
		cp, err := parsed.Verify(verifiers)
		require.NoError(t, err)
		require.Greater(t, cp.Size, seq)
		require.Equal(t, "treeoflife/"+l.LogID(), cp.Origin)

		// Without the record, the leaf hash is proved.
		parsed.Record = nil
		_, err = parsed.Verify(verifiers)
		require.NoError(t, err)
	}

	// A record beyond the newest checkpoint gets a new checkpoint.
	_, err := l.Audit("late", nil)
	require.NoError(t, err)
	rc, err := l.Receipt(ctx, 30)
	require.NoError(t, err)
	cp, err := rc.Verify(verifiers)
	require.NoError(t, err)
	require.EqualValues(t, 31, cp.Size)
	require.Contains(t, string(rc.Record), "late")

	_, err = l.Receipt(ctx, 31)
	require.ErrorIs(t, err, ErrOutOfRange)
}

func TestReceiptRejected(t *testing.T) {
	ctx := context.Background()
	signer, verifiers := testSigner(t)
	l := receiptLog(t, Options{Signer: signer}, 20)
	defer l.Close()
	rc, err := l.Receipt(ctx, 11)
	require.NoError(t, err)
	good, err := json.Marshal(rc)
	require.NoError(t, err)

	// Keys: another key of the same name, another name.
	verifiersOf := func(name string) note.Verifiers {
		_, vkey, err := GenerateSigningKey(name)
		require.NoError(t, err)
		vs, err := NewVerifiers(vkey)
		require.NoError(t, err)
		return vs
	}
	var unverified *note.UnverifiedNoteError
	_, err = rc.Verify(verifiersOf("example.com/audit"))
	require.ErrorAs(t, err, &unverified)
	_, err = rc.Verify(verifiersOf("example.org/other"))
	require.ErrorAs(t, err, &unverified)

	modify := func(fn func(rc *Receipt)) *Receipt {
		c, err := ParseReceipt(good)
		require.NoError(t, err)
		fn(c)
		return c
	}
	for name, tc := range map[string]struct {
		rc   *Receipt
		want error
	}{
		"record": {modify(func(c *Receipt) { c.Record[5] ^= 1 }), ErrProof},
		"record and leaf": {modify(func(c *Receipt) {
			c.Record[5] ^= 1
			c.LeafHash = leafHash(c.Record)
		}), ErrProof},
		"leaf":          {modify(func(c *Receipt) { c.Record = nil; c.LeafHash[0] ^= 1 }), ErrProof},
		"seq":           {modify(func(c *Receipt) { c.Seq++ }), ErrProof},
		"seq beyond":    {modify(func(c *Receipt) { c.Seq = 1 << 40 }), ErrProof},
		"proof hash":    {modify(func(c *Receipt) { c.Proof[0][31] ^= 1 }), ErrProof},
		"proof short":   {modify(func(c *Receipt) { c.Proof = c.Proof[1:] }), ErrProof},
		"proof long":    {modify(func(c *Receipt) { c.Proof = append(c.Proof, c.Proof[0]) }), ErrProof},
		"proof missing": {modify(func(c *Receipt) { c.Proof = nil }), ErrProof},
		"checkpoint size": {modify(func(c *Receipt) {
			lines := strings.SplitN(c.Checkpoint, "\n", 3)
			lines[1] = "19"
			c.Checkpoint = strings.Join(lines, "\n")
		}), nil},
		"checkpoint root": {modify(func(c *Receipt) {
			c.Checkpoint = strings.Replace(c.Checkpoint, "chain ", "chain 0", 1)
		}), nil},
		"checkpoint unsigned": {modify(func(c *Receipt) {
			c.Checkpoint = c.Checkpoint[:strings.Index(c.Checkpoint, "\n\n")+1]
		}), nil},
	} {
		_, err := tc.rc.Verify(verifiers)
		require.Error(t, err, name)
		if tc.want != nil {
			require.ErrorIs(t, err, tc.want, name)
		}
	}

	// Malformed documents.
	recB64 := base64.StdEncoding.EncodeToString(rc.Record)
	for name, doc := range map[string]string{
		"empty":          ``,
		"not JSON":       `receipt`,
		"array":          `[]`,
		"unknown field":  strings.Replace(string(good), `{"seq"`, `{"extra":1,"seq"`, 1),
		"trailing data":  string(good) + `{}`,
		"no seq":         strings.Replace(string(good), `"seq":11,`, ``, 1),
		"negative seq":   strings.Replace(string(good), `"seq":11`, `"seq":-1`, 1),
		"no leafHash":    strings.Replace(string(good), `"leafHash":"`+rc.LeafHash.String()+`",`, ``, 1),
		"short leafHash": strings.Replace(string(good), rc.LeafHash.String(), "abcd", 1),
		"no checkpoint":  strings.Replace(string(good), `"checkpoint":`, `"checkpoint":"",`+`"x":`, 1),
		"null proof":     strings.Replace(string(good), `"proof":[`, `"proof":null,"y":[`, 1),
		"bad base64":     strings.Replace(string(good), recB64, recB64[:len(recB64)-2]+"!!", 1),
		"empty record":   strings.Replace(string(good), recB64, "", 1),
		"record mismatch": strings.Replace(string(good), recB64,
			base64.StdEncoding.EncodeToString(append(bytes.Clone(rc.Record[:len(rc.Record)-1]), '!')), 1),
		"long proof": strings.Replace(string(good), `"proof":[`,
			`"proof":[`+strings.Repeat(`"`+rc.LeafHash.String()+`",`, 65), 1),
		"oversized": `{"seq":1,"record":"` + strings.Repeat("A", maxReceiptSize) + `"}`,
	} {
		_, err := ParseReceipt([]byte(doc))
		require.ErrorIs(t, err, ErrBadReceipt, name)
	}
}

func TestReceiptNeedsSigner(t *testing.T) {
	ctx := context.Background()
	l := receiptLog(t, Options{}, 3)
	_, err := l.Receipt(ctx, 0)
	require.ErrorIs(t, err, ErrInvalidOptions)
	require.NoError(t, l.Close())

	r, err := OpenReader(l.Dir())
	require.NoError(t, err)
	defer r.Close()
	_, err = r.Receipt(ctx, 0)
	require.ErrorContains(t, err, "not signed")
}

func TestReceiptFromReader(t *testing.T) {
	ctx := context.Background()
	signer, verifiers := testSigner(t)
	l := receiptLog(t, Options{Signer: signer, Compress: true}, 25)
	require.NoError(t, l.Close())
	r, err := OpenReader(l.Dir())
	require.NoError(t, err)
	defer r.Close()
	for _, seq := range []uint64{0, 12, 24} {
		rc, err := r.Receipt(ctx, seq)
		require.NoError(t, err)
		cp, err := rc.Verify(verifiers)
		require.NoError(t, err)
		require.EqualValues(t, 25, cp.Size)
	}
	_, err = r.Receipt(ctx, 25)
	require.ErrorIs(t, err, ErrOutOfRange)
}

// TestReceiptEncrypted checks that the receipt of an encrypted record holds
// the ciphertext and verifies without the key.
func TestReceiptEncrypted(t *testing.T) {
	ctx := context.Background()
	signer, verifiers := testSigner(t)
	l := receiptLog(t, Options{Signer: signer, EncryptionKey: testKey(3)}, 10)
	defer l.Close()
	rc, err := l.Receipt(ctx, 4)
	require.NoError(t, err)
	require.NotContains(t, string(rc.Record), "payment")
	require.Equal(t, byte(sealedVersion), rc.Record[0])
	_, err = rc.Verify(verifiers)
	require.NoError(t, err)
}

// FuzzParseReceipt checks that ParseReceipt never panics, that what it
// accepts survives a round trip, and that Verify never panics on it.
func FuzzParseReceipt(f *testing.F) {
	signer, verifiers := testSigner(f)
	l := receiptLog(f, Options{Signer: signer}, 5)
	for _, seq := range []uint64{0, 3} {
		rc, err := l.Receipt(context.Background(), seq)
		require.NoError(f, err)
		b, err := json.Marshal(rc)
		require.NoError(f, err)
		f.Add(b)
		rc.Record = nil
		b, err = json.Marshal(rc)
		require.NoError(f, err)
		f.Add(b)
	}
	require.NoError(f, l.Close())
	f.Add([]byte(`{"seq":0,"leafHash":"` + strings.Repeat("0", 64) + `","checkpoint":"x","proof":[]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rc, err := ParseReceipt(b)
		if err != nil {
			if !errors.Is(err, ErrBadReceipt) {
				t.Fatalf("error %v does not wrap ErrBadReceipt", err)
			}
			return
		}
		out, err := json.Marshal(rc)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseReceipt(out)
		if err != nil {
			t.Fatalf("re-encoded receipt does not parse: %v\n%s", err, out)
		}
		if again.Seq != rc.Seq || again.LeafHash != rc.LeafHash || again.Checkpoint != rc.Checkpoint ||
			!bytes.Equal(again.Record, rc.Record) || len(again.Proof) != len(rc.Proof) {
			t.Fatalf("round trip changed the receipt")
		}
		rc.Verify(verifiers)
	})
}
