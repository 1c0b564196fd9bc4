//go:build amd64 && !purego

package sha256x2

import (
	"crypto/sha256"

	"golang.org/x/sys/cpu"
)

// block1 hashes the n blocks at p into d.
//
//go:noescape
func block1(d *state, p *byte, n int)

// block2 hashes the n blocks at pa into da and those at pb into db.
//
//go:noescape
func block2(da, db *state, pa, pb *byte, n int)

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

// useSHANI reports whether the CPU has the instructions the block functions
// use (SHA, SSE4.1, SSSE3, AVX) and they give SHA-256's digests.
var useSHANI = hasSHANI() && selfTest()

func hasSHANI() bool {
	if !cpu.X86.HasAVX || !cpu.X86.HasSSE41 || !cpu.X86.HasSSSE3 {
		return false
	}
	if max, _, _, _ := cpuid(0, 0); max < 7 {
		return false
	}
	_, ebx, _, _ := cpuid(7, 0)
	return ebx&(1<<29) != 0
}

// selfTest checks the block functions against crypto/sha256 for messages
// of every length up to three blocks, in pairs of different lengths.
func selfTest() bool {
	var msg [200]byte
	for i := range msg {
		msg[i] = byte(i*7 + 3)
	}
	for n := 0; n <= len(msg); n++ {
		a, b := msg[:n], msg[len(msg)-n/2:]
		da, db := sum2(a, b)
		if da != sha256.Sum256(a) || db != sha256.Sum256(b) || sum1(a) != da {
			return false
		}
	}
	return true
}
