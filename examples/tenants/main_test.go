package main

import (
	"crypto/rand"
	"strings"
	"testing"

	"github.com/treeoflife/treeoflife"
)

func TestRun(t *testing.T) {
	key := make([]byte, treeoflife.KeySize)
	rand.Read(key)
	var out strings.Builder
	if err := run(&out, t.TempDir(), key); err != nil {
		t.Fatal(err)
	}
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

const want = `tenants: [acme globex]
  acme: 3 records readable
  globex: 2 records readable
acme erased
  acme: verifies, 3 records
  acme: reading fails with ErrErased: true
  globex: 2 records readable
system log: AUDIT tenant erasure started (tenantId acme, size 3)
system log: AUDIT tenant data keys erased (tenantId acme, size 3)
`
