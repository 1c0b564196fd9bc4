package main

import (
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(&out, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	want := `receipt for seq 1 issued
receipt verified: record 1 is in the tree of a checkpoint signed by payments-audit (covers it: true)
  Invoice paid: INV-1002 12900 EUR
altered record refused: true
unknown key refused: true
`
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}
