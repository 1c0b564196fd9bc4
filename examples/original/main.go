// Command original runs the three use cases the library was first built
// for, each on a log of its own:
//
//   - revenue: payments and refunds with amounts, and the net revenue per
//     currency read back from the log;
//
//   - security audit: logins, failed logins, password changes and
//     permission grants, and who needs a second look;
//
//   - AI-agent decisions: the model, a hash of the prompt (not the prompt),
//     the decision and its confidence as metadata, and the decisions a
//     human should review.
//
//     go run ./examples/original
//
// The logs go to a new temporary directory, removed on exit.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/treeoflife/treeoflife"
)

func main() {
	dir, err := os.MkdirTemp("", "treeoflife-original")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := run(os.Stdout, dir); err != nil {
		log.Fatal(err)
	}
}

func run(w io.Writer, dir string) error {
	for _, part := range []struct {
		name string
		run  func(context.Context, io.Writer, *treeoflife.ImmutableLogger) error
	}{
		{"revenue", revenue},
		{"security", security},
		{"decisions", decisions},
	} {
		logger, err := treeoflife.Open(filepath.Join(dir, part.name), treeoflife.Options{})
		if err != nil {
			return err
		}
		ctx := context.Background()
		fmt.Fprintf(w, "== %s\n", part.name)
		err = part.run(ctx, w, logger)
		if err == nil {
			_, err = logger.Verify(ctx)
		}
		if err == nil {
			fmt.Fprintf(w, "verified %d records\n", logger.Head().Size)
		}
		if cerr := logger.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", part.name, err)
		}
	}
	return nil
}

func query(ctx context.Context, logger *treeoflife.ImmutableLogger, doc string) ([]treeoflife.Entry, error) {
	q, err := treeoflife.ParseQuery(doc)
	if err != nil {
		return nil, err
	}
	return logger.Query(ctx, q, treeoflife.Filter{})
}

// revenue: amounts in minor units (cents), refunds negative and linked to
// their payment.
func revenue(ctx context.Context, w io.Writer, logger *treeoflife.ImmutableLogger) error {
	type payment struct {
		customer, currency string
		amount             int
	}
	var seqs []uint64
	for _, p := range []payment{{"cus_42", "USD", 9900}, {"cus_7", "EUR", 4500}, {"cus_42", "USD", 1900}, {"cus_9", "EUR", 12000}} {
		rec, err := logger.Revenue("Payment received", treeoflife.Fields{"customer": p.customer, "amount": p.amount, "currency": p.currency, "method": "card"})
		if err != nil {
			return err
		}
		seqs = append(seqs, rec.Seq)
	}
	if _, err := logger.Revenue("Refund issued", treeoflife.Fields{"customer": "cus_42", "amount": -1900, "currency": "USD", "payment": seqs[2], "reason": "duplicate"}); err != nil {
		return err
	}

	net := map[string]float64{}
	for e, err := range logger.Entries(ctx, treeoflife.Filter{Levels: []treeoflife.Level{treeoflife.LevelRevenue}}) {
		if err != nil {
			return err
		}
		net[e.Metadata["currency"].(string)] += e.Metadata["amount"].(float64)
	}
	fmt.Fprintf(w, "net revenue: EUR %.2f, USD %.2f\n", net["EUR"]/100, net["USD"]/100)
	refunds, err := query(ctx, logger, `{"metadata.amount": {"$lt": 0}}`)
	if err != nil {
		return err
	}
	for _, e := range refunds {
		fmt.Fprintf(w, "refund: %v %.2f %v of payment %v (%v)\n", e.Metadata["customer"], e.Metadata["amount"].(float64)/100, e.Metadata["currency"], e.Metadata["payment"], e.Metadata["reason"])
	}
	return nil
}

// security: who did what, from where; failures included.
func security(ctx context.Context, w io.Writer, logger *treeoflife.ImmutableLogger) error {
	events := []struct {
		level  treeoflife.Level
		msg    string
		fields treeoflife.Fields
	}{
		{treeoflife.LevelAudit, "User login", treeoflife.Fields{"userId": "alice", "ip": "203.0.113.7", "mfa": true}},
		{treeoflife.LevelSecurity, "Login failed", treeoflife.Fields{"userId": "bob", "ip": "198.51.100.23", "reason": "bad password"}},
		{treeoflife.LevelSecurity, "Login failed", treeoflife.Fields{"userId": "bob", "ip": "198.51.100.23", "reason": "bad password"}},
		{treeoflife.LevelSecurity, "Login failed", treeoflife.Fields{"userId": "bob", "ip": "198.51.100.23", "reason": "bad password"}},
		{treeoflife.LevelAudit, "User login", treeoflife.Fields{"userId": "bob", "ip": "198.51.100.23", "mfa": false}},
		{treeoflife.LevelSecurity, "Password changed", treeoflife.Fields{"userId": "bob", "by": "bob"}},
		{treeoflife.LevelSecurity, "Permission granted", treeoflife.Fields{"userId": "bob", "permission": "billing:admin", "by": "alice"}},
	}
	for _, e := range events {
		if _, err := logger.Log(ctx, e.level, e.msg, e.fields); err != nil {
			return err
		}
	}
	failed, err := query(ctx, logger, `{"message": "Login failed"}`)
	if err != nil {
		return err
	}
	perUser := map[string]int{}
	for _, e := range failed {
		perUser[e.Metadata["userId"].(string)]++
	}
	fmt.Fprintf(w, "failed logins: bob %d\n", perUser["bob"])
	// Admin grants: what a reviewer looks at first.
	grants, err := query(ctx, logger, `{"level": "SECURITY", "metadata.permission": {"$regex": ":admin$"}}`)
	if err != nil {
		return err
	}
	for _, e := range grants {
		fmt.Fprintf(w, "admin grant: %v to %v by %v (seq %d)\n", e.Metadata["permission"], e.Metadata["userId"], e.Metadata["by"], e.Seq)
	}
	return nil
}

// decisions: what an AI agent decided, on which model and input, and how
// sure it was. The prompt itself is not logged, only its hash, so the log
// can prove which input was used without holding personal data.
func decisions(ctx context.Context, w io.Writer, logger *treeoflife.ImmutableLogger) error {
	for _, d := range []struct {
		prompt, decision string
		confidence       float64
	}{
		{"refund request #5512: item arrived broken", "approve_refund", 0.97},
		{"refund request #5513: changed my mind after 40 days", "deny_refund", 0.88},
		{"loan application #311", "escalate", 0.55},
		{"refund request #5514: not as described", "approve_refund", 0.71},
	} {
		sum := sha256.Sum256([]byte(d.prompt))
		if _, err := logger.Audit("Agent decision", treeoflife.Fields{
			"agent":      "support-agent",
			"model":      "model-2026-10",
			"promptHash": hex.EncodeToString(sum[:]),
			"decision":   d.decision,
			"confidence": d.confidence,
		}); err != nil {
			return err
		}
	}
	review, err := query(ctx, logger, `{"metadata.agent": "support-agent", "metadata.confidence": {"$lt": 0.8}}`)
	if err != nil {
		return err
	}
	for _, e := range review {
		fmt.Fprintf(w, "for human review: seq %d %v (confidence %v, prompt %.12s…)\n", e.Seq, e.Metadata["decision"], e.Metadata["confidence"], e.Metadata["promptHash"])
	}
	return nil
}
