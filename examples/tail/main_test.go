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
	want := `tail: seq=1 REVENUE Payment received amount=1000
tail: seq=2 REVENUE Payment received amount=2000
tail: seq=3 REVENUE Payment received amount=3000
tail: seq=4 REVENUE Payment received amount=4000
tail: seq=5 REVENUE Payment received amount=5000
followed 5 records
`
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}
