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
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

const want = `== revenue
net revenue: EUR 165.00, USD 99.00
refund: cus_42 -19.00 USD of payment 2 (duplicate)
verified 5 records
== security
failed logins: bob 3
admin grant: billing:admin to bob by alice (seq 6)
verified 7 records
== decisions
for human review: seq 2 escalate (confidence 0.55, prompt 1fe8da8e6c92…)
for human review: seq 3 approve_refund (confidence 0.71, prompt d2c901c2f765…)
verified 4 records
`
