package azblob

import (
	"context"
	"fmt"
	"iter"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/treeoflife/treeoflife/backup"
)

var _ backup.VersionLister = (*Sink)(nil)

// ListDeleted implements backup.VersionLister by listing every version and
// soft-deleted blob (include=versions,deleted). With blob versioning,
// deleting a blob leaves its versions with none current; with soft delete,
// it leaves the blob marked Deleted. A name with entries but none live is a
// deleted object. Without either (as on Azurite, which supports neither) a
// deleted blob leaves nothing, and nothing is yielded.
func (s *Sink) ListDeleted(ctx context.Context, prefix string) iter.Seq2[backup.ObjectInfo, error] {
	return func(yield func(backup.ObjectInfo, error) bool) {
		pager := s.client.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{
			Prefix:     to.Ptr(s.cfg.Prefix + prefix),
			MaxResults: to.Ptr(int32(listPageSize)),
			Include:    container.ListBlobsInclude{Versions: true, Deleted: true},
		})
		var d deletedKeys
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				yield(backup.ObjectInfo{}, fmt.Errorf("azblob: list versions %q: %w", prefix, err))
				return
			}
			if page.Segment == nil {
				continue
			}
			for _, item := range page.Segment.BlobItems {
				if item.Name == nil {
					continue
				}
				if oi, ok := d.add(strings.TrimPrefix(*item.Name, s.cfg.Prefix), item); ok {
					if !yield(oi, nil) {
						return
					}
				}
			}
		}
		if oi, ok := d.flush(); ok {
			yield(oi, nil)
		}
	}
}

// deletedKeys decides, from the listing of versions in name order, which
// names have no live blob. Entries of one name come together.
type deletedKeys struct {
	cur        backup.ObjectInfo
	live, have bool
}

// live reports whether item is a blob that Get would read: not soft
// deleted, and either the current version or a blob in an account without
// versioning (no version ID).
func live(item *container.BlobItem) bool {
	if item.Deleted != nil && *item.Deleted {
		return false
	}
	if item.Snapshot != nil && *item.Snapshot != "" {
		return false
	}
	return item.VersionID == nil || (item.IsCurrentVersion != nil && *item.IsCurrentVersion)
}

// add takes the next entry, under key, and returns the previous name's
// ObjectInfo if that name turned out to be deleted.
func (d *deletedKeys) add(key string, item *container.BlobItem) (backup.ObjectInfo, bool) {
	var out backup.ObjectInfo
	var done bool
	if !d.have || key != d.cur.Key {
		out, done = d.flush()
		d.cur, d.live, d.have = backup.ObjectInfo{Key: key}, false, true
	}
	if live(item) {
		d.live = true
	}
	if p := item.Properties; p != nil && p.LastModified != nil && p.LastModified.After(d.cur.ModTime) {
		d.cur.ModTime = *p.LastModified
		if p.ContentLength != nil {
			d.cur.Size = *p.ContentLength
		}
	}
	return out, done
}

// flush returns the current name's ObjectInfo if it is deleted.
func (d *deletedKeys) flush() (backup.ObjectInfo, bool) {
	if d.have && !d.live {
		return d.cur, true
	}
	return backup.ObjectInfo{}, false
}
