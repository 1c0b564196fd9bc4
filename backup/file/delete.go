package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/treeoflife/treeoflife/backup"
)

var _ backup.Deleter = (*Sink)(nil)

// Delete implements backup.Deleter: it removes the object's file and
// fsyncs its directory. A file system keeps no versions.
func (s *Sink) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("file: delete %q: %w", key, err)
	}
	if err := backup.ValidateKey(key); err != nil {
		return fmt.Errorf("file: delete %q: %w", key, err)
	}
	p := s.path(key)
	if err := os.Remove(p); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("file: delete %q: %w", key, err)
	}
	d, err := os.Open(filepath.Dir(p))
	if err != nil {
		return fmt.Errorf("file: delete %q: %w", key, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("file: delete %q: sync directory: %w", key, err)
	}
	return nil
}
