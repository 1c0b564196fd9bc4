package main

import (
	"crypto/rand"
	"strings"
	"testing"

	"github.com/treeoflife/treeoflife"
)

func TestRun(t *testing.T) {
	oldKey, newKey := make([]byte, treeoflife.KeySize), make([]byte, treeoflife.KeySize)
	rand.Read(oldKey)
	rand.Read(newKey)
	var out strings.Builder
	if err := run(&out, t.TempDir(), oldKey, newKey); err != nil {
		t.Fatal(err)
	}
	want := `3 records logged, the key rotated after the second
  seq=0 Card charged last4=4242 amount=2500
  seq=1 Card charged last4=1881 amount=2500
  seq=2 Card charged last4=0005 amount=900
verified without a key: 3 records
a reader without the key: 3 records, reading them fails with ErrKeyRequired: true
a wrong key fails with ErrWrongKey: true
`
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}
