package sha256x2

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGenerated: sha256x2_amd64.s is what gen.go writes.
func TestGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("builds gen.go")
	}
	out := filepath.Join(t.TempDir(), "gen.s")
	cmd := exec.Command("go", "run", "gen.go", "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run gen.go: %v\n%s", err, b)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("sha256x2_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("sha256x2_amd64.s differs from gen.go's output: run go generate")
	}
}

// TestSum2 compares Sum2 and Sum with crypto/sha256 for every pair of
// lengths up to five blocks, and for random long messages.
func TestSum2(t *testing.T) {
	msg := make([]byte, 1<<16)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range msg {
		msg[i] = byte(r.Uint32())
	}
	check := func(a, b []byte) {
		t.Helper()
		da, db := Sum2(a, b)
		if da != sha256.Sum256(a) || db != sha256.Sum256(b) {
			t.Fatalf("Sum2 of %d and %d bytes: wrong digest", len(a), len(b))
		}
		if Sum(a) != da {
			t.Fatalf("Sum of %d bytes: wrong digest", len(a))
		}
	}
	for na := 0; na <= 320; na++ {
		for nb := 0; nb <= 320; nb++ {
			check(msg[na:2*na], msg[1000+nb:1000+2*nb])
		}
	}
	for range 200 {
		na, nb := r.IntN(len(msg)/2), r.IntN(len(msg)/2)
		check(msg[:na], msg[len(msg)-nb:])
	}
}

// TestPairSum2 compares Pair.Sum2 with crypto/sha256 for every pair of
// lengths up to five blocks, around PairMax and beyond, with one Pair
// reused throughout (stale bytes from a longer message must not matter).
func TestPairSum2(t *testing.T) {
	msg := make([]byte, 4096)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range msg {
		msg[i] = byte(r.Uint32())
	}
	var p Pair
	check := func(a, b []byte) {
		t.Helper()
		da, db := p.Sum2(a, b)
		if da != sha256.Sum256(a) || db != sha256.Sum256(b) {
			t.Fatalf("Pair.Sum2 of %d and %d bytes: wrong digest", len(a), len(b))
		}
	}
	for na := 0; na <= 320; na++ {
		for nb := 0; nb <= 320; nb++ {
			check(msg[na:2*na], msg[1000+nb:1000+2*nb])
			check(msg[1000+nb:1000+2*nb], msg[:na])
		}
	}
	for na := PairMax - 70; na <= PairMax+70; na++ {
		check(msg[:na], msg[100:100+r.IntN(PairMax+70)])
		check(msg[:r.IntN(300)], msg[7:7+na])
	}
}

// TestSum2Unaligned: messages at every offset within a block.
func TestSum2Unaligned(t *testing.T) {
	buf := make([]byte, 1024)
	for i := range buf {
		buf[i] = byte(i * 13)
	}
	for off := range 64 {
		a, b := buf[off:off+333], buf[off+1:off+1+65]
		da, db := Sum2(a, b)
		if da != sha256.Sum256(a) || db != sha256.Sum256(b) {
			t.Fatalf("offset %d: wrong digest", off)
		}
	}
}

func BenchmarkSum2(b *testing.B) {
	for _, n := range []int{65, 330} {
		m1, m2 := make([]byte, n), make([]byte, n)
		b.Run("pair"+itoa(n), func(b *testing.B) {
			b.SetBytes(int64(2 * n))
			for b.Loop() {
				Sum2(m1, m2)
			}
		})
		b.Run("Pair"+itoa(n), func(b *testing.B) {
			var p Pair
			b.SetBytes(int64(2 * n))
			for b.Loop() {
				p.Sum2(m1, m2)
			}
		})
		b.Run("sha256"+itoa(n), func(b *testing.B) {
			b.SetBytes(int64(2 * n))
			for b.Loop() {
				sha256.Sum256(m1)
				sha256.Sum256(m2)
			}
		})
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// TestLink compares Link with crypto/sha256.
func TestLink(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 1000 {
		var a, b [32]byte
		for i := range a {
			a[i], b[i] = byte(r.Uint32()), byte(r.Uint32())
		}
		prefix := byte(r.IntN(4))
		m := append(append([]byte{prefix}, a[:]...), b[:]...)
		if Link(prefix, &a, &b) != sha256.Sum256(m) {
			t.Fatalf("Link(%d, %x, %x): wrong digest", prefix, a, b)
		}
	}
}

// TestDigest compares Digest with crypto/sha256 for messages of every
// length up to five blocks, written in two to four pieces of every split,
// with one Digest reused.
func TestDigest(t *testing.T) {
	msg := make([]byte, 330)
	for i := range msg {
		msg[i] = byte(i*31 + 7)
	}
	var d Digest
	r := rand.New(rand.NewPCG(9, 10))
	for n := 0; n <= len(msg); n++ {
		for i := 0; i <= n; i += 1 + n/40 {
			d.Reset()
			d.Write(msg[:i])
			j := i + r.IntN(n-i+1)
			d.Write(msg[i:j])
			d.Write(msg[j:n])
			if d.Sum() != sha256.Sum256(msg[:n]) {
				t.Fatalf("%d bytes written as %d, %d, %d: wrong digest", n, i, j-i, n-j)
			}
		}
	}
}
