package treeoflife

import (
	"context"
	"errors"

	"golang.org/x/mod/sumdb/tlog"
)

// ProveConsistency returns the RFC 6962 consistency proof between the trees
// of the log's first oldSize and newSize records.
func (l *ImmutableLogger) ProveConsistency(ctx context.Context, oldSize, newSize uint64) (tlog.TreeProof, error) {
	return nil, errors.New("treeoflife: consistency proofs are not implemented yet")
}
