package treeoflife_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"

	"golang.org/x/mod/sumdb/note"

	"github.com/treeoflife/treeoflife"
)

func ExampleImmutableLogger_Checkpoint() {
	dir, _ := os.MkdirTemp("", "treeoflife-example")
	defer os.RemoveAll(dir)
	skey, vkey, _ := treeoflife.GenerateSigningKey("payments-audit") // once; keep skey secret
	signer, _ := note.NewSigner(skey)                                // or SigningKeyFromEnv, LoadSigningKey

	logger, err := treeoflife.Open(dir, treeoflife.Options{Signer: signer})
	if err != nil {
		log.Fatal(err)
	}
	defer logger.Close()
	logger.Revenue("Payment received", treeoflife.Fields{"amount": 9900})
	logger.Revenue("Payment received", treeoflife.Fields{"amount": 1200})

	// A signed checkpoint of every record so far: an anchor to keep
	// off the host.
	signed, err := logger.Checkpoint(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	verifiers, _ := treeoflife.NewVerifiers(vkey)
	cp, _, err := treeoflife.OpenCheckpoint(signed, verifiers)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("checkpoint of", cp.Size, "records, root matches head:", cp.Root == logger.Head().Root)
	// Output:
	// checkpoint of 2 records, root matches head: true
}

func ExampleImmutableLogger_Receipt() {
	dir, _ := os.MkdirTemp("", "treeoflife-example")
	defer os.RemoveAll(dir)
	skey, vkey, _ := treeoflife.GenerateSigningKey("payments-audit")
	signer, _ := note.NewSigner(skey)
	logger, err := treeoflife.Open(dir, treeoflife.Options{Signer: signer})
	if err != nil {
		log.Fatal(err)
	}
	defer logger.Close()
	logger.Revenue("Payment received", treeoflife.Fields{"amount": 9900})
	rec, _ := logger.Revenue("Payment received", treeoflife.Fields{"amount": 1200, "invoice": "INV-7"})
	logger.Revenue("Payment received", treeoflife.Fields{"amount": 50})

	// The receipt of one record: its bytes, a signed checkpoint and an
	// inclusion proof, as JSON to hand over.
	rc, err := logger.Receipt(context.Background(), rec.Seq)
	if err != nil {
		log.Fatal(err)
	}
	doc, _ := json.Marshal(rc)

	// Whoever receives it checks it offline, with the public key alone.
	got, err := treeoflife.ParseReceipt(doc)
	if err != nil {
		log.Fatal(err)
	}
	verifiers, _ := treeoflife.NewVerifiers(vkey)
	if _, err := got.Verify(verifiers); err != nil {
		log.Fatal(err)
	}
	var entry struct {
		Metadata map[string]any `json:"metadata"`
	}
	json.Unmarshal(got.Record, &entry)
	fmt.Println("record", got.Seq, "verified:", entry.Metadata["invoice"], entry.Metadata["amount"])
	// Output:
	// record 1 verified: INV-7 1200
}
