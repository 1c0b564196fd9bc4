package azblob

import (
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/stretchr/testify/require"

	"github.com/treeoflife/treeoflife/backup"
)

// TestDeletedKeys feeds deletedKeys a listing with versions and soft
// deletes as Azure returns it (in name order, the entries of one name
// together), which Azurite cannot produce.
func TestDeletedKeys(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	item := func(name string, version string, current, deleted bool, size int64, mod time.Duration) *container.BlobItem {
		it := &container.BlobItem{
			Name:       to.Ptr(name),
			Deleted:    to.Ptr(deleted),
			Properties: &container.BlobProperties{ContentLength: to.Ptr(size), LastModified: to.Ptr(t0.Add(mod))},
		}
		if version != "" {
			it.VersionID = to.Ptr(version)
			it.IsCurrentVersion = to.Ptr(current)
		}
		return it
	}
	listing := []*container.BlobItem{
		item("b/1", "v1", true, false, 5, 0),            // live, versioned
		item("b/2", "v1", false, false, 5, 0),           // deleted: versions,
		item("b/2", "v2", false, false, 7, time.Hour),   // none current
		item("b/3", "v1", false, false, 5, 0),           // deleted and put again
		item("b/3", "v2", true, false, 5, 2*time.Hour),  //
		item("b/4", "", false, true, 9, 3*time.Hour),    // soft deleted, no versioning
		item("b/5", "", false, false, 1, 0),             // live, no versioning
		item("b/6", "v9", false, false, 3, 4*time.Hour), // deleted, last in the listing
	}
	var d deletedKeys
	var got []backup.ObjectInfo
	for _, it := range listing {
		if oi, ok := d.add(*it.Name, it); ok {
			got = append(got, oi)
		}
	}
	if oi, ok := d.flush(); ok {
		got = append(got, oi)
	}
	require.Equal(t, []backup.ObjectInfo{
		{Key: "b/2", Size: 7, ModTime: t0.Add(time.Hour)},
		{Key: "b/4", Size: 9, ModTime: t0.Add(3 * time.Hour)},
		{Key: "b/6", Size: 3, ModTime: t0.Add(4 * time.Hour)},
	}, got)
}
