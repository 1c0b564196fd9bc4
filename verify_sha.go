package treeoflife

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"hash"
)

// blockHasher computes the SHA-256s of verification with less work per
// hash than sha256.Sum256: it pads the message itself, so that the last
// blocks go to the hash in one call, and reads the digest from the hash's
// state (the big-endian words after the 4-byte identifier of its binary
// encoding) instead of copying the hash and padding it again (Sum).
// Verification hashes three short messages per record, where that work is
// a quarter of the cost.
//
// Whether the state reads as the digest is checked once (blockHashWorks);
// where it does not, sum falls back to sha256.Sum256.
type blockHasher struct {
	d   hash.Hash
	app encoding.BinaryAppender
	pad [128]byte // the message's last bytes and its padding
	lnk [128]byte // link's message and its padding, which stays
	st  [4 + 32 + 64 + 8]byte
}

func newBlockHasher() *blockHasher {
	d := sha256.New()
	app, ok := d.(encoding.BinaryAppender)
	if !ok || !blockHashWorks {
		return &blockHasher{}
	}
	return newBlockHasherOf(d, app)
}

func newBlockHasherOf(d hash.Hash, app encoding.BinaryAppender) *blockHasher {
	h := &blockHasher{d: d, app: app}
	h.lnk[65] = 0x80
	binary.BigEndian.PutUint64(h.lnk[120:], 65<<3)
	return h
}

// blockHashWorks reports whether blockHasher's digests are SHA-256's, for
// messages of every length up to three blocks and the 65-byte ones.
var blockHashWorks = func() bool {
	d := sha256.New()
	app, ok := d.(encoding.BinaryAppender)
	if !ok {
		return false
	}
	h := newBlockHasherOf(d, app)
	var msg [200]byte
	for i := range msg {
		msg[i] = byte(i*7 + 3)
	}
	for n := 0; n <= len(msg); n++ {
		if h.sum(msg[:n]) != sha256.Sum256(msg[:n]) {
			return false
		}
	}
	a, b := Hash(msg[:32]), Hash(msg[32:64])
	return h.link(chainPrefix, &a, &b) == chainHash(&a, &b)
}()

// sum returns SHA-256(msg).
func (h *blockHasher) sum(msg []byte) Hash {
	if h.d == nil {
		return sha256.Sum256(msg)
	}
	h.d.Reset()
	full := 0
	if len(msg) > len(h.pad)-9 {
		full = len(msg) &^ 63
		h.d.Write(msg[:full])
	}
	n := copy(h.pad[:], msg[full:])
	return h.finish(n, len(msg))
}

// link returns SHA-256(prefix || a || b): a chain value (chainPrefix) or a
// Merkle node (0x01).
func (h *blockHasher) link(prefix byte, a, b *Hash) Hash {
	if h.d == nil {
		var m [65]byte
		m[0] = prefix
		copy(m[1:33], a[:])
		copy(m[33:], b[:])
		return sha256.Sum256(m[:])
	}
	h.d.Reset()
	h.lnk[0] = prefix
	copy(h.lnk[1:33], a[:])
	copy(h.lnk[33:65], b[:])
	h.d.Write(h.lnk[:])
	return h.digest()
}

// finish pads the n bytes in h.pad, the end of a message of size bytes,
// hashes them and returns the digest.
func (h *blockHasher) finish(n, size int) Hash {
	end := 64
	if n >= 56 {
		end = 128
	}
	h.pad[n] = 0x80
	clear(h.pad[n+1 : end-8])
	binary.BigEndian.PutUint64(h.pad[end-8:end], uint64(size)<<3)
	h.d.Write(h.pad[:end])
	return h.digest()
}

// digest reads the digest of the padded message written from the state.
func (h *blockHasher) digest() Hash {
	st, _ := h.app.AppendBinary(h.st[:0]) // never fails: blockHashWorks
	return Hash(st[4:36])
}
