package witness

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// algCosignatureV1 is the signature type byte of an Ed25519 tlog-cosignature/v1
// key (c2sp.org/tlog-cosignature). It enters the key hash, so a cosigning key
// can never be mistaken for a plain note key (type 0x01) or the reverse.
const algCosignatureV1 = 0x04

// cosignatureSize is the size of a decoded cosignature/v1 signature after the
// 4-byte key hash: an 8-byte big-endian timestamp and a 64-byte Ed25519
// signature.
const cosignatureSize = 8 + ed25519.SignatureSize

var (
	errKey     = errors.New("witness: malformed key")
	errKeyAlg  = errors.New("witness: key is not an Ed25519 cosignature/v1 key (type 0x04)")
	errKeyHash = errors.New("witness: key hash does not match the key")
)

// keyHash is SHA-256(name || 0x0A || key)[:4], key starting with its type byte,
// as signed-note and tlog-cosignature define the key ID.
func keyHash(name string, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// validName reports whether name is a valid note key name: non-empty UTF-8
// with no Unicode space and no plus.
func validName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// GenerateKey returns a new Ed25519 cosigning key pair for a witness named
// name.
//
// skey is "PRIVATE+KEY+<name>+<hash>+<base64(0x04 || seed)>", the note
// private-key text form with the cosignature type byte; note.NewSigner refuses
// it, so the key cannot sign plain notes by mistake. vkey is the verifier key
// "<name>+<hash>+<base64(0x04 || pubkey)>" of c2sp.org/tlog-cosignature, where
// hash is the first 4 bytes of SHA-256(name || 0x0A || 0x04 || pubkey) in hex.
func GenerateKey(name string) (skey, vkey string, err error) {
	if !validName(name) {
		return "", "", fmt.Errorf("%w: invalid name %q", errKey, name)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	pubkey := append([]byte{algCosignatureV1}, pub...)
	privkey := append([]byte{algCosignatureV1}, priv.Seed()...)
	h := keyHash(name, pubkey)
	skey = fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, h, base64.StdEncoding.EncodeToString(privkey))
	vkey = fmt.Sprintf("%s+%08x+%s", name, h, base64.StdEncoding.EncodeToString(pubkey))
	return skey, vkey, nil
}

// parseKey parses a verifier key "<name>+<hash hex 8>+<base64(0x04 || key)>"
// and checks its name, type byte and hash. It returns the key without its type
// byte.
func parseKey(s string) (name string, hash uint32, key []byte, err error) {
	name, hash, key, err = parseKeyUnchecked(s)
	if err != nil {
		return "", 0, nil, err
	}
	if hash != keyHash(name, append([]byte{algCosignatureV1}, key...)) {
		return "", 0, nil, errKeyHash
	}
	return name, hash, key, nil
}

// cosigner is a note.Signer that produces tlog-cosignature/v1 signatures.
type cosigner struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
	// now returns the time a signature is stamped with; time.Now when nil.
	now func() time.Time
}

// NewCosigner returns a note.Signer producing tlog-cosignature/v1 signatures
// with skey, a private key from GenerateKey. Each signature is an 8-byte
// big-endian POSIX timestamp (the current time, in seconds) followed by the
// Ed25519 signature of "cosignature/v1\ntime <timestamp>\n" and the note text.
// Its methods are safe for concurrent use.
func NewCosigner(skey string) (note.Signer, error) {
	rest, ok := strings.CutPrefix(skey, "PRIVATE+KEY+")
	if !ok {
		return nil, errKey
	}
	name, hash, seed, err := parseKeyUnchecked(rest)
	if err != nil {
		return nil, err
	}
	if len(seed) != ed25519.SeedSize {
		return nil, errKey
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pubkey := append([]byte{algCosignatureV1}, priv.Public().(ed25519.PublicKey)...)
	// The hash is that of the public key: check it once it is derived.
	if hash != keyHash(name, pubkey) {
		return nil, errKeyHash
	}
	return &cosigner{name: name, hash: hash, key: priv}, nil
}

// parseKeyUnchecked is parseKey without the hash check, for private keys: their
// hash is over the public key.
func parseKeyUnchecked(s string) (name string, hash uint32, key []byte, err error) {
	name, rest, ok1 := strings.Cut(s, "+")
	hash16, key64, ok2 := strings.Cut(rest, "+")
	h, err1 := strconv.ParseUint(hash16, 16, 32)
	raw, err2 := base64.StdEncoding.Strict().DecodeString(key64)
	if !ok1 || !ok2 || !validName(name) || len(hash16) != 8 || err1 != nil || err2 != nil || len(raw) == 0 {
		return "", 0, nil, errKey
	}
	if raw[0] != algCosignatureV1 {
		return "", 0, nil, errKeyAlg
	}
	return name, uint32(h), raw[1:], nil
}

func (s *cosigner) Name() string    { return s.name }
func (s *cosigner) KeyHash() uint32 { return s.hash }

// Sign signs msg, the text of a checkpoint note.
func (s *cosigner) Sign(msg []byte) ([]byte, error) {
	now := time.Now
	if s.now != nil {
		now = s.now
	}
	t := now().Unix()
	if t < 0 {
		return nil, fmt.Errorf("witness: clock before 1970: %d", t)
	}
	sig := make([]byte, 8, cosignatureSize)
	binary.BigEndian.PutUint64(sig, uint64(t))
	return append(sig, ed25519.Sign(s.key, cosignedMessage(uint64(t), msg))...), nil
}

// cosignedMessage is the message a cosignature/v1 signs:
// "cosignature/v1\ntime <t>\n" followed by the note text.
func cosignedMessage(t uint64, text []byte) []byte {
	m := make([]byte, 0, 32+len(text))
	m = append(m, "cosignature/v1\ntime "...)
	m = strconv.AppendUint(m, t, 10)
	m = append(m, '\n')
	return append(m, text...)
}

// cosignatureVerifier is a note.Verifier of tlog-cosignature/v1 signatures.
type cosignatureVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

// NewCosignatureVerifier returns a note.Verifier for a witness's vkey, as
// GenerateKey returns it. It accepts a signature only if its timestamp is at
// most 2^63-1 and the Ed25519 signature of the cosigned message verifies; it
// makes no judgement on how old or new the timestamp is (CosignatureTime
// returns it).
func NewCosignatureVerifier(vkey string) (note.Verifier, error) {
	name, hash, key, err := parseKey(vkey)
	if err != nil {
		return nil, err
	}
	if len(key) != ed25519.PublicKeySize {
		return nil, errKey
	}
	return &cosignatureVerifier{name: name, hash: hash, key: ed25519.PublicKey(key)}, nil
}

func (v *cosignatureVerifier) Name() string    { return v.name }
func (v *cosignatureVerifier) KeyHash() uint32 { return v.hash }

func (v *cosignatureVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != cosignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	if t > 1<<63-1 {
		return false
	}
	return ed25519.Verify(v.key, cosignedMessage(t, msg), sig[8:])
}

// CosignatureTime returns the timestamp of a cosignature/v1 note signature.
// It does not verify the signature.
func CosignatureTime(sig note.Signature) (time.Time, error) {
	raw, err := base64.StdEncoding.DecodeString(sig.Base64)
	if err != nil || len(raw) != 4+cosignatureSize {
		return time.Time{}, fmt.Errorf("witness: not a cosignature/v1 signature from %s", sig.Name)
	}
	t := binary.BigEndian.Uint64(raw[4:])
	if t > 1<<63-1 {
		return time.Time{}, fmt.Errorf("witness: cosignature timestamp out of range from %s", sig.Name)
	}
	return time.Unix(int64(t), 0), nil
}
