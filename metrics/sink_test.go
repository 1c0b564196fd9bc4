package metrics_test

import (
	"context"
	"testing"

	"github.com/treeoflife/treeoflife/backup/file"
)

func newFileSink(t *testing.T) (*file.Sink, error) {
	return file.New(context.Background(), file.Config{Dir: t.TempDir()})
}
