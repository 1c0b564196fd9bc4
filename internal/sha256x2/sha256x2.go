// Package sha256x2 computes SHA-256 digests two messages at a time.
//
// On amd64 with the SHA extensions, one message's rounds wait on the
// latency of SHA256RNDS2, which leaves the unit idle half the time: two
// independent messages hashed together take little longer than one. That
// suits verification, which hashes many short independent messages (leaf
// hashes, chain links, Merkle nodes). Elsewhere, and under the purego build
// tag, Sum2 is two calls of crypto/sha256.Sum256.
package sha256x2

//go:generate go run gen.go

import (
	"crypto/sha256"
	"encoding/binary"
)

// Size is the size of a digest.
const Size = sha256.Size

// Sum2 returns SHA-256(a) and SHA-256(b).
func Sum2(a, b []byte) (da, db [Size]byte) {
	if !useSHANI {
		return sha256.Sum256(a), sha256.Sum256(b)
	}
	return sum2(a, b)
}

// sum2 is Sum2 with the block functions.
func sum2(a, b []byte) (da, db [Size]byte) {
	sa, sb := iv, iv
	var ta, tb [128]byte
	ra, rb := pad(&ta, a), pad(&tb, b)
	// Each message is its full blocks, then its padded tail: walk both in
	// step, two parts at a time.
	pa := [2][]byte{a[:len(a)&^63], ra}
	pb := [2][]byte{b[:len(b)&^63], rb}
	ia, ib := 0, 0
	for {
		for ia < 2 && len(pa[ia]) == 0 {
			ia++
		}
		for ib < 2 && len(pb[ib]) == 0 {
			ib++
		}
		if ia == 2 || ib == 2 {
			break
		}
		n := min(len(pa[ia]), len(pb[ib])) / 64
		block2(&sa, &sb, &pa[ia][0], &pb[ib][0], n)
		pa[ia], pb[ib] = pa[ia][n*64:], pb[ib][n*64:]
	}
	for ; ia < 2; ia++ {
		if len(pa[ia]) > 0 {
			block1(&sa, &pa[ia][0], len(pa[ia])/64)
		}
	}
	for ; ib < 2; ib++ {
		if len(pb[ib]) > 0 {
			block1(&sb, &pb[ib][0], len(pb[ib])/64)
		}
	}
	return sa.sum(), sb.sum()
}

// Sum returns SHA-256(m), as sha256.Sum256 does.
func Sum(m []byte) [Size]byte {
	if !useSHANI {
		return sha256.Sum256(m)
	}
	return sum1(m)
}

// sum1 is Sum with the block functions.
func sum1(m []byte) [Size]byte {
	s := iv
	var t [128]byte
	r := pad(&t, m)
	if full := len(m) &^ 63; full > 0 {
		block1(&s, &m[0], full/64)
	}
	block1(&s, &r[0], len(r)/64)
	return s.sum()
}

// Pair hashes two messages at a time, as Sum2 does, in buffers of its
// own: a message of up to PairMax bytes is copied there and padded, so that
// both take one call of the block function between them. That is worth a
// third of the time of two short messages. The zero Pair is ready to use;
// it is not for concurrent use.
type Pair struct {
	a, b [pairBuf]byte
}

const pairBuf = 1024

// PairMax is the longest message Pair copies; longer ones go to Sum2.
const PairMax = pairBuf - 9

// Sum2 returns SHA-256(a) and SHA-256(b).
func (p *Pair) Sum2(a, b []byte) (da, db [Size]byte) {
	if !useSHANI || len(a) > PairMax || len(b) > PairMax {
		return Sum2(a, b)
	}
	na, nb := padInto(&p.a, a), padInto(&p.b, b)
	sa, sb := iv, iv
	n := min(na, nb)
	block2(&sa, &sb, &p.a[0], &p.b[0], n)
	if na > n {
		block1(&sa, &p.a[n*64], na-n)
	}
	if nb > n {
		block1(&sb, &p.b[n*64], nb-n)
	}
	return sa.sum(), sb.sum()
}

// padInto copies m (at most PairMax bytes) into buf, pads it and returns
// the number of blocks.
func padInto(buf *[pairBuf]byte, m []byte) int {
	n := copy(buf[:], m)
	end := (n + 9 + 63) &^ 63
	buf[n] = 0x80
	clear(buf[n+1 : end-8])
	binary.BigEndian.PutUint64(buf[end-8:end], uint64(n)<<3)
	return end / 64
}

// Link returns SHA-256(prefix || a || b), the 65-byte message of a hash
// chain link or a Merkle node, without a hash.Hash's buffering.
func Link(prefix byte, a, b *[Size]byte) [Size]byte {
	var m [128]byte
	m[0] = prefix
	copy(m[1:33], a[:])
	copy(m[33:65], b[:])
	if !useSHANI {
		return sha256.Sum256(m[:65])
	}
	m[65] = 0x80
	m[126], m[127] = 65*8>>8, 65*8&0xff
	s := iv
	block1(&s, &m[0], 2)
	return s.sum()
}

// Digest computes SHA-256 of what is written to it, as crypto/sha256's
// digest does, with less work per call: Write hashes whole blocks straight
// from its argument, and Sum pads in place (a Digest is done after Sum
// until Reset). The zero Digest is not ready: call Reset first.
type Digest struct {
	s   state
	n   uint64 // bytes written
	buf [128]byte
	nb  int    // bytes in buf, < 64
	gen []byte // the message, without the block functions
}

// Reset starts a new message.
func (d *Digest) Reset() {
	d.s, d.n, d.nb, d.gen = iv, 0, 0, d.gen[:0]
}

// Write adds p to the message.
func (d *Digest) Write(p []byte) {
	if !useSHANI {
		d.writeGeneric(p)
		return
	}
	d.n += uint64(len(p))
	if d.nb > 0 {
		k := copy(d.buf[d.nb:64], p)
		d.nb += k
		p = p[k:]
		if d.nb < 64 {
			return
		}
		block1(&d.s, &d.buf[0], 1)
		d.nb = 0
	}
	if full := len(p) &^ 63; full > 0 {
		block1(&d.s, &p[0], full/64)
		p = p[full:]
	}
	d.nb = copy(d.buf[:], p)
}

// Sum returns the digest of what was written.
func (d *Digest) Sum() [Size]byte {
	if !useSHANI {
		return d.sumGeneric()
	}
	end := 64
	if d.nb >= 56 {
		end = 128
	}
	d.buf[d.nb] = 0x80
	clear(d.buf[d.nb+1 : end-8])
	binary.BigEndian.PutUint64(d.buf[end-8:end], d.n<<3)
	block1(&d.s, &d.buf[0], end/64)
	return d.s.sum()
}

// Without the block functions, a Digest keeps the message and hashes it
// at Sum; only short messages are worth it, and this is the fallback.
func (d *Digest) writeGeneric(p []byte) {
	d.n += uint64(len(p))
	d.gen = append(d.gen, p...)
}

func (d *Digest) sumGeneric() [Size]byte {
	s := sha256.Sum256(d.gen)
	d.gen = d.gen[:0]
	return s
}

type state [8]uint32

var iv = state{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}

// pad copies the bytes of m after its last full block into t, pads them
// and returns the one or two blocks that end the message.
func pad(t *[128]byte, m []byte) []byte {
	n := copy(t[:], m[len(m)&^63:])
	end := 64
	if n >= 56 {
		end = 128
	}
	t[n] = 0x80
	binary.BigEndian.PutUint64(t[end-8:end], uint64(len(m))<<3)
	return t[:end]
}

func (s *state) sum() (d [Size]byte) {
	for i, w := range s {
		binary.BigEndian.PutUint32(d[4*i:], w)
	}
	return d
}
