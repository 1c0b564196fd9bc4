package witness

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
)

func TestGenerateKey(t *testing.T) {
	skey, vkey, err := GenerateKey("witness.example/w1")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(skey, "PRIVATE+KEY+witness.example/w1+"))

	// The key hash is SHA-256(name || 0x0A || 0x04 || pubkey)[:4], computed
	// here independently of keyHash.
	parts := strings.SplitN(vkey, "+", 3) // the base64 may hold "+"
	require.Len(t, parts, 3)
	require.Equal(t, "witness.example/w1", parts[0])
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	require.NoError(t, err)
	require.Len(t, raw, 33)
	require.Equal(t, byte(0x04), raw[0])
	sum := sha256.Sum256(append([]byte("witness.example/w1\n"), raw...))
	require.Equal(t, fmt.Sprintf("%x", sum[:4]), parts[1])

	// The keys are not plain note keys, in either direction.
	_, err = note.NewSigner(skey)
	require.Error(t, err)
	_, err = note.NewVerifier(vkey)
	require.Error(t, err)
	nskey, nvkey, err := note.GenerateKey(rand.Reader, "plain")
	require.NoError(t, err)
	_, err = NewCosigner(nskey)
	require.ErrorIs(t, err, errKeyAlg)
	_, err = NewCosignatureVerifier(nvkey)
	require.ErrorIs(t, err, errKeyAlg)

	for _, bad := range []string{"", "a b", "a+b"} {
		_, _, err := GenerateKey(bad)
		require.Error(t, err, "%q", bad)
	}
	// A private key whose hash does not match is refused.
	prefix := "PRIVATE+KEY+witness.example/w1+"
	hash := skey[len(prefix) : len(prefix)+8]
	other := "00000000"
	if hash == other {
		other = "00000001"
	}
	_, err = NewCosigner(prefix + other + skey[len(prefix)+8:])
	require.ErrorIs(t, err, errKeyHash)
}

func TestCosignature(t *testing.T) {
	skey, vkey, err := GenerateKey("w")
	require.NoError(t, err)
	s, err := NewCosigner(skey)
	require.NoError(t, err)
	s.(*cosigner).now = func() time.Time { return time.Unix(1679315147, 0) }
	v, err := NewCosignatureVerifier(vkey)
	require.NoError(t, err)
	require.Equal(t, s.Name(), v.Name())
	require.Equal(t, s.KeyHash(), v.KeyHash())

	text := []byte("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n")
	sig, err := s.Sign(text)
	require.NoError(t, err)
	require.Len(t, sig, 72)
	require.EqualValues(t, 1679315147, binary.BigEndian.Uint64(sig))
	require.True(t, v.Verify(text, sig))

	// The signed message is the spec's, byte for byte.
	pub := s.(*cosigner).key.Public().(ed25519.PublicKey)
	msg := "cosignature/v1\ntime 1679315147\n" + string(text)
	require.True(t, ed25519.Verify(pub, []byte(msg), sig[8:]))

	other := append([]byte{}, sig...)
	binary.BigEndian.PutUint64(other, 1679315148)
	require.False(t, v.Verify(text, other), "timestamp is signed")
	binary.BigEndian.PutUint64(other, 1<<63)
	require.False(t, v.Verify(text, other))
	require.False(t, v.Verify(append(text, 'x'), sig))
	require.False(t, v.Verify(text, sig[:71]))

	signed, err := note.Sign(&note.Note{Text: string(text)}, s)
	require.NoError(t, err)
	n, err := note.Open(signed, note.VerifierList(v))
	require.NoError(t, err)
	ts, err := CosignatureTime(n.Sigs[0])
	require.NoError(t, err)
	require.Equal(t, int64(1679315147), ts.Unix())
}

func TestParseCheckpoint(t *testing.T) {
	root := "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
	origin, size, h, err := ParseCheckpoint([]byte("example.com/log\n20852163\n" + root + "\nchain abc\ntime 1\n"))
	require.NoError(t, err)
	require.Equal(t, "example.com/log", origin)
	require.EqualValues(t, 20852163, size)
	require.Equal(t, root, base64.StdEncoding.EncodeToString(h[:]))
	_, size, _, err = ParseCheckpoint([]byte("o\n0\n" + root + "\n"))
	require.NoError(t, err)
	require.Zero(t, size)
	_, size, _, err = ParseCheckpoint([]byte("o\n9223372036854775807\n" + root + "\n"))
	require.NoError(t, err)
	require.EqualValues(t, uint64(1<<63-1), size)

	for _, bad := range []string{
		"",
		"o\n1\n" + root,                          // no final newline
		"o\n1\n",                                 // two lines
		"\n1\n" + root + "\n",                    // empty origin
		"o\n01\n" + root + "\n",                  // leading zero
		"o\n+1\n" + root + "\n",                  // sign
		"o\n-1\n" + root + "\n",                  // negative
		"o\n9223372036854775808\n" + root + "\n", // over 2^63-1
		"o\n1\n" + root[:40] + "\n",              // short hash
		"o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n",                  // non-canonical padding bits
		"o\n1\n" + root + "\n\n",                                                // empty extension line
		"o\r\n1\n" + root + "\n",                                                // CR
		"o\n1\n" + root + "\n" + strings.Repeat("x", MaxCheckpointBytes) + "\n", // too long
	} {
		_, _, _, err := ParseCheckpoint([]byte(bad))
		require.ErrorIs(t, err, ErrMalformedCheckpoint, "%q", bad)
	}
}
