// Command tenants keeps one log per customer with OpenTenants, then erases
// one customer (crypto-shredding, for a GDPR erasure request): its log
// still verifies, but can no longer be read, while the other tenants' logs
// are untouched.
//
//	go run ./examples/tenants
//
// Erasure needs encryption: it destroys the tenant's data keys. The master
// key is generated for the run here (use KeyFromEnv in a service). The logs
// go to a new temporary directory, removed on exit.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/treeoflife/treeoflife"
)

func main() {
	dir, err := os.MkdirTemp("", "treeoflife-tenants")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	key := make([]byte, treeoflife.KeySize)
	if _, err := rand.Read(key); err != nil {
		log.Fatal(err)
	}
	if err := run(os.Stdout, dir, key); err != nil {
		log.Fatal(err)
	}
}

func run(w io.Writer, root string, key []byte) error {
	ctx := context.Background()
	tenants, err := treeoflife.OpenTenants(root, treeoflife.Options{EncryptionKey: key})
	if err != nil {
		return err
	}
	defer tenants.Close()

	// Log per tenant: each has its own directory, chain, lock and data key.
	orders := map[string][]int{"acme": {1200, 800, 450}, "globex": {9900, 100}}
	for _, id := range []string{"acme", "globex"} {
		for _, amount := range orders[id] {
			if _, err := tenants.Log(ctx, id, treeoflife.LevelRevenue, "Order paid", treeoflife.Fields{"amount": amount, "email": id + "-buyer@example.com"}); err != nil {
				return err
			}
		}
	}
	ids, err := tenants.List()
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "tenants:", ids)

	// A lease on one tenant's logger: the whole logger API, for that tenant
	// only. Close the lease, not the logger.
	count := func(id string) (int, error) {
		tl, err := tenants.Get(ctx, id)
		if err != nil {
			return 0, err
		}
		defer tl.Close()
		es, err := tl.Read(ctx, treeoflife.Filter{})
		return len(es), err
	}
	for _, id := range ids {
		n, err := count(id)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %s: %d records readable\n", id, n)
	}

	// Erase acme: its data keys are destroyed, and the erasure is recorded
	// in the system log.
	if err := tenants.Erase(ctx, "acme"); err != nil {
		return err
	}
	fmt.Fprintln(w, "acme erased")

	// The erased log still verifies: the chain covers the sealed bytes.
	acmeDir, err := tenants.Dir("acme")
	if err != nil {
		return err
	}
	rep, err := treeoflife.VerifyDir(ctx, acmeDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  acme: verifies, %d records\n", rep.Head.Size)
	// But nobody can read it any more, not even with the master key.
	_, err = count("acme")
	fmt.Fprintln(w, "  acme: reading fails with ErrErased:", errors.Is(err, treeoflife.ErrErased))
	n, err := count("globex")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  globex: %d records readable\n", n)

	erasures, err := tenants.System().Read(ctx, treeoflife.Filter{Search: "acme"})
	if err != nil {
		return err
	}
	for _, e := range erasures {
		fmt.Fprintf(w, "system log: %s %s (tenantId %v, size %v)\n", e.Level, e.Message, e.Metadata["tenantId"], e.Metadata["size"])
	}
	return nil
}
