//go:build !amd64 || purego

package sha256x2

const useSHANI = false

func block1(d *state, p *byte, n int)           { panic("unreachable") }
func block2(da, db *state, pa, pb *byte, n int) { panic("unreachable") }
