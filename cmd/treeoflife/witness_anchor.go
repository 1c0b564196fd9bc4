package main

import (
	"context"
	"errors"

	"github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/witness"
)

// witnessAnchor is a witness's latest cosigned checkpoint of a log
// (GET /checkpoint/<origin>), as an anchor.
type witnessAnchor struct {
	url string
	c   *witness.Client
}

func newWitnessAnchor(url, key string) (treeoflife.Anchor, error) {
	if key == "" {
		return nil, errors.New("a witness anchor needs --witness-key, the witness's public key")
	}
	c, err := witness.NewClient(url, readKeyArg(key), nil)
	if err != nil {
		return nil, err
	}
	return witnessAnchor{url: url, c: c}, nil
}

func (a witnessAnchor) Latest(ctx context.Context, origin string) ([]byte, error) {
	return a.c.Latest(ctx, origin)
}

func (a witnessAnchor) String() string { return "witness " + a.url }
