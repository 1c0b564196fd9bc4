package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/treeoflife/treeoflife"
)

// errNotVerified is a receipt that does not verify: exit status 1.
var errNotVerified = errors.New("receipt does not verify")

const verifyReceiptHelp = `usage: treeoflife verify-receipt --key PUB [--key PUB2 ...] FILE

verify-receipt checks a receipt (from treeoflife prove) offline: the
checkpoint's signature by one of the keys, and the record's inclusion in
the tree it commits to. It prints what the receipt proves.

flags:
  --key PUB  a public key (vkey) the checkpoint may be signed by, or a file
             holding one; repeatable

exit status: 0 verified, 1 the receipt does not verify, 2 any other error.

examples:
  treeoflife verify-receipt --key audit.pub receipt-1234.json
`

// verifyReceipt checks a receipt offline against the public keys given
// and prints what it proves.
func verifyReceipt(_ context.Context, c *cli, args []string) error {
	w := c.stdout
	fs := newFlags("verify-receipt")
	var keys []string
	fs.Func("key", "a public key (vkey) the checkpoint may be signed by, or a file holding one; repeatable", func(s string) error {
		keys = append(keys, s)
		return nil
	})
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || len(keys) == 0 {
		return fmt.Errorf("%w: verify-receipt takes --key PUB (one or more) and a receipt file", errUsage)
	}
	vkeys := make([]string, len(keys))
	for i, k := range keys {
		vkeys[i] = strings.TrimSpace(k)
		if _, err := treeoflife.NewVerifiers(vkeys[i]); err != nil {
			b, ferr := os.ReadFile(k)
			if ferr != nil {
				return fmt.Errorf("%w: --key %q is neither a public key nor a readable file", errUsage, k)
			}
			vkeys[i] = strings.TrimSpace(string(b))
		}
	}
	known, err := treeoflife.NewVerifiers(vkeys...)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	b, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	rc, err := treeoflife.ParseReceipt(b)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", errNotVerified, pos[0], err)
	}
	cp, err := rc.Verify(known)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", errNotVerified, pos[0], err)
	}
	// The names of the known keys that signed (Verify has checked them).
	var signers []string
	if _, n, err := treeoflife.OpenCheckpoint([]byte(rc.Checkpoint), known); err == nil {
		for _, s := range n.Sigs {
			signers = append(signers, s.Name)
		}
	}
	fmt.Fprintf(w, "%s: OK, record %d is in the log\n", pos[0], rc.Seq)
	fmt.Fprintf(w, "  log         %s\n", cp.Origin)
	if cp.Tenant != "" {
		fmt.Fprintf(w, "  tenant      %s\n", cp.Tenant)
	}
	fmt.Fprintf(w, "  tree size   %d\n  merkle root %s\n  leaf hash   %s\n", cp.Size, cp.Root, rc.LeafHash)
	if !cp.Time.IsZero() {
		fmt.Fprintf(w, "  checkpoint  %s\n", cp.Time.Format("2006-01-02T15:04:05.999999999Z07:00"))
	}
	fmt.Fprintf(w, "  signed by   %s\n", strings.Join(signers, ", "))
	if rc.Record == nil {
		fmt.Fprintln(w, "  (the receipt holds no record: it proves the leaf hash)")
	}
	return nil
}
