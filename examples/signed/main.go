// Command signed makes a log sign its checkpoints, then hands out a receipt
// for one record that anyone can check offline with nothing but the log's
// public key: the record, a signed checkpoint and an RFC 6962 inclusion
// proof.
//
//	go run ./examples/signed
//
// A real service generates its key pair once (GenerateSigningKey, or
// `treeoflife keygen`), keeps the private key in a secret store and loads
// it with SigningKeyFromEnv or LoadSigningKey; here a new pair is made on
// each run. The log goes to a new temporary directory, removed on exit.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/treeoflife/treeoflife"
)

func main() {
	dir, err := os.MkdirTemp("", "treeoflife-signed")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := run(os.Stdout, dir); err != nil {
		log.Fatal(err)
	}
}

func run(w io.Writer, dir string) error {
	ctx := context.Background()
	skey, vkey, err := treeoflife.GenerateSigningKey("payments-audit")
	if err != nil {
		return err
	}
	signer, err := note.NewSigner(skey) // what SigningKeyFromEnv returns
	if err != nil {
		return err
	}

	// The service: every checkpoint is signed (every CheckpointInterval
	// while records arrive, at each seal, at Close and on Checkpoint).
	logger, err := treeoflife.Open(dir, treeoflife.Options{Signer: signer})
	if err != nil {
		return err
	}
	var invoice treeoflife.Record
	for i, amount := range []int{4900, 12900, 990} {
		rec, err := logger.Revenue("Invoice paid", treeoflife.Fields{"invoice": fmt.Sprintf("INV-%d", 1001+i), "amount": amount, "currency": "EUR"})
		if err != nil {
			return err
		}
		if i == 1 {
			invoice = rec
		}
	}
	// The receipt of INV-1002, against a signed checkpoint of the log.
	rc, err := logger.Receipt(ctx, invoice.Seq)
	if err != nil {
		return err
	}
	doc, err := json.Marshal(rc) // what `treeoflife prove` writes to receipt.json
	if err != nil {
		return err
	}
	if err := logger.Close(); err != nil {
		return err
	}
	fmt.Fprintf(w, "receipt for seq %d issued\n", invoice.Seq)

	// The customer or auditor: the receipt and the public key, no access
	// to the log.
	got, err := treeoflife.ParseReceipt(doc)
	if err != nil {
		return err
	}
	verifiers, err := treeoflife.NewVerifiers(vkey)
	if err != nil {
		return err
	}
	cp, err := got.Verify(verifiers)
	if err != nil {
		return err
	}
	var entry struct {
		Message  string         `json:"message"`
		Metadata map[string]any `json:"metadata"`
	}
	if err := json.Unmarshal(got.Record, &entry); err != nil {
		return err
	}
	fmt.Fprintf(w, "receipt verified: record %d is in the tree of a checkpoint signed by %s (covers it: %v)\n", got.Seq, signer.Name(), cp.Size > got.Seq)
	fmt.Fprintf(w, "  %s: %v %v %v\n", entry.Message, entry.Metadata["invoice"], entry.Metadata["amount"], entry.Metadata["currency"])

	// A receipt whose record was altered (a lower amount) fails.
	forged := *got
	forged.Record = []byte(strings.Replace(string(got.Record), `"amount":12900`, `"amount":1290`, 1))
	_, err = forged.Verify(verifiers)
	fmt.Fprintln(w, "altered record refused:", errors.Is(err, treeoflife.ErrProof))

	// So does one checked against a key that did not sign it.
	_, other, err := treeoflife.GenerateSigningKey("payments-audit")
	if err != nil {
		return err
	}
	otherVerifiers, err := treeoflife.NewVerifiers(other)
	if err != nil {
		return err
	}
	_, err = got.Verify(otherVerifiers)
	var unverified *note.UnverifiedNoteError
	fmt.Fprintln(w, "unknown key refused:", errors.As(err, &unverified))
	return nil
}
