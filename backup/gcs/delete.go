package gcs

import (
	"context"
	"errors"
	"fmt"

	"cloud.google.com/go/storage"
	"github.com/treeoflife/treeoflife/backup"
	"google.golang.org/api/iterator"
)

var _ backup.Deleter = (*Sink)(nil)

// Delete implements backup.Deleter: it deletes every generation of the
// object, live and noncurrent. A generation under a retention policy,
// object retention or a hold refuses, and the error says so.
func (s *Sink) Delete(ctx context.Context, key string) error {
	if err := checkKey(s.cfg.Prefix, key); err != nil {
		return fmt.Errorf("gcs: delete %q: %w", key, err)
	}
	name := s.cfg.Prefix + key
	q := &storage.Query{Prefix: name, Versions: true}
	if err := q.SetAttrSelection([]string{"Name", "Generation"}); err != nil {
		return fmt.Errorf("gcs: delete %q: %w", key, err)
	}
	var gens []int64
	it := s.bucket.Objects(ctx, q)
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return wrap("delete (list generations)", key, err)
		}
		if attrs.Name == name {
			gens = append(gens, attrs.Generation)
		}
	}
	for _, g := range gens {
		err := s.bucket.Object(name).Generation(g).Delete(ctx)
		if err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
			return wrap("delete", key, err)
		}
	}
	return nil
}
