package treeoflife_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/treeoflife/treeoflife"
)

func ExampleOpenTenants() {
	root, _ := os.MkdirTemp("", "treeoflife-example")
	defer os.RemoveAll(root)
	key := make([]byte, treeoflife.KeySize) // in a service: KeyFromEnv
	rand.Read(key)

	tenants, err := treeoflife.OpenTenants(root, treeoflife.Options{EncryptionKey: key})
	if err != nil {
		log.Fatal(err)
	}
	defer tenants.Close()
	ctx := context.Background()
	tenants.Log(ctx, "acme", treeoflife.LevelAudit, "User login", treeoflife.Fields{"userId": "u1"})
	tenants.Log(ctx, "acme", treeoflife.LevelRevenue, "Order paid", treeoflife.Fields{"amount": 1200})
	tenants.Log(ctx, "globex", treeoflife.LevelAudit, "User login", treeoflife.Fields{"userId": "u9"})

	// A lease on one tenant's logger; close the lease, not the logger.
	tl, err := tenants.Get(ctx, "acme")
	if err != nil {
		log.Fatal(err)
	}
	es, _ := tl.Read(ctx, treeoflife.Filter{})
	tl.Close()
	fmt.Println("acme:", len(es), "records")

	// Crypto-shredding: the log still verifies, but cannot be read.
	if err := tenants.Erase(ctx, "acme"); err != nil {
		log.Fatal(err)
	}
	dir, _ := tenants.Dir("acme")
	rep, err := treeoflife.VerifyDir(ctx, dir)
	fmt.Println("acme after Erase: verifies", err == nil, rep.Head.Size, "records")
	_, err = tenants.Get(ctx, "acme")
	fmt.Println("acme after Erase: ErrErased", errors.Is(err, treeoflife.ErrErased))
	// Output:
	// acme: 2 records
	// acme after Erase: verifies true 2 records
	// acme after Erase: ErrErased true
}
