package azblob

import (
	"context"
	"errors"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/treeoflife/treeoflife/backup"
)

var _ backup.Deleter = (*Sink)(nil)

// Delete implements backup.Deleter: it deletes the blob with its snapshots,
// then every earlier version of it (blob versioning). A version under an
// immutability policy or a legal hold refuses, and the error says so. Soft
// delete, when the account has it, keeps deleted data for its retention
// days whatever a client does: an account that holds keys to be erased
// should not have it.
func (s *Sink) Delete(ctx context.Context, key string) error {
	if err := checkKey(s.cfg.Prefix, key); err != nil {
		return fmt.Errorf("azblob: delete %q: %w", key, err)
	}
	name := s.cfg.Prefix + key
	pager := s.client.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{
		Prefix:  to.Ptr(name),
		Include: container.ListBlobsInclude{Versions: true},
	})
	var versions []string
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return wrap("delete (list versions)", key, err)
		}
		if page.Segment == nil {
			continue
		}
		for _, item := range page.Segment.BlobItems {
			if item.Name != nil && *item.Name == name && item.VersionID != nil && (item.IsCurrentVersion == nil || !*item.IsCurrentVersion) {
				versions = append(versions, *item.VersionID)
			}
		}
	}
	b := s.blob(key)
	_, err := b.Delete(ctx, &blob.DeleteOptions{DeleteSnapshots: to.Ptr(blob.DeleteSnapshotsOptionTypeInclude)})
	if err != nil {
		if werr := wrap("delete", key, err); !errors.Is(werr, backup.ErrNotExist) {
			return werr
		}
	}
	for _, v := range versions {
		vb, err := b.WithVersionID(v)
		if err != nil {
			return fmt.Errorf("azblob: delete %q version %s: %w", key, v, err)
		}
		if _, err := vb.Delete(ctx, nil); err != nil {
			if werr := wrap("delete version "+v, key, err); !errors.Is(werr, backup.ErrNotExist) {
				return werr
			}
		}
	}
	return nil
}
