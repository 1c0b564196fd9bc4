// Package backuptest is a conformance suite for implementations of
// backup.Sink. Every sink in this module runs it, and so can a sink written
// elsewhere:
//
//	func TestSink(t *testing.T) {
//		backuptest.RunSinkTests(t, func(t *testing.T) backup.Sink {
//			return newMySink(t)
//		})
//	}
//
// The suite writes only under a random key prefix per subtest, so it can run
// against a bucket that holds other data, and run again, without cleaning
// up. It deletes nothing.
package backuptest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/treeoflife/treeoflife/backup"
)

// ListObjects is how many objects the pagination test puts and lists: more
// than one page of S3 (1000 keys) or GCS (1000 objects).
const ListObjects = 1050

// RunSinkTests runs the conformance suite against sinks made by newSink,
// which is called once per subtest and may call t.Skip or t.Fatal. The sink
// must start out able to read and write (its bucket exists). Subtests do not
// run in parallel with one another; several run many goroutines against one
// sink.
func RunSinkTests(t *testing.T, newSink func(t *testing.T) backup.Sink) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s backup.Sink, prefix string)
	}{
		{"PutGetRoundTrip", testPutGetRoundTrip},
		{"EmptyObject", testEmptyObject},
		{"Overwrite", testOverwrite},
		{"Missing", testMissing},
		{"ConditionalCreate", testConditionalCreate},
		{"ConditionalCreateRace", testConditionalCreateRace},
		{"ConditionalReplace", testConditionalReplace},
		{"ConditionalReplaceRace", testConditionalReplaceRace},
		{"WrongChecksum", testWrongChecksum},
		{"InvalidArguments", testInvalidArguments},
		{"SlashKeys", testSlashKeys},
		{"ListPagination", testListPagination},
		{"ListStopEarly", testListStopEarly},
		{"ConcurrentPuts", testConcurrentPuts},
		{"CanceledContext", testCanceledContext},
		{"Delete", testDelete},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSink(t)
			tc.fn(t, s, randomPrefix(t))
		})
	}
}

func randomPrefix(t *testing.T) string {
	var b [6]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return "backuptest-" + hex.EncodeToString(b[:]) + "/"
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func put(t *testing.T, s backup.Sink, key string, body []byte, opts backup.PutOptions) {
	t.Helper()
	require.NoError(t, s.Put(ctx(t), key, body, sha256.Sum256(body), opts), "Put(%q)", key)
}

// get reads the whole object and checks what every Get must satisfy.
func get(t *testing.T, s backup.Sink, key string) ([]byte, backup.ObjectInfo) {
	t.Helper()
	rc, info, err := s.Get(ctx(t), key)
	require.NoError(t, err, "Get(%q)", key)
	body, err := io.ReadAll(rc)
	require.NoError(t, err, "reading %q", key)
	require.NoError(t, rc.Close(), "closing %q", key)
	require.Equal(t, key, info.Key, "Get(%q).Key", key)
	require.Equal(t, int64(len(body)), info.Size, "Get(%q).Size", key)
	checkSum(t, info, body)
	return body, info
}

func checkSum(t *testing.T, info backup.ObjectInfo, body []byte) {
	t.Helper()
	if info.SHA256 != nil {
		sum := sha256.Sum256(body)
		require.Equal(t, sum[:], info.SHA256, "%q: SHA256", info.Key)
	}
}

func body(n int, seed string) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%s record %d\n", seed, i)
	}
	return b.Bytes()[:n]
}

func testPutGetRoundTrip(t *testing.T, s backup.Sink, prefix string) {
	key := prefix + "segment-00000001"
	data := body(10_000, "round trip")
	want := bytes.Clone(data)
	md := map[string]string{"first-seq": "1", "last-seq": "42", "log-id": "abc-DEF 123"}
	wantMD := map[string]string{"first-seq": "1", "last-seq": "42", "log-id": "abc-DEF 123"}

	start := time.Now()
	put(t, s, key, data, backup.PutOptions{Metadata: md, IfNotExists: true})
	// Put must not retain what it was given.
	data[0] ^= 0xff
	md["first-seq"] = "changed"

	got, info := get(t, s, key)
	require.Equal(t, want, got)
	require.Equal(t, wantMD, info.Metadata)
	require.NotNil(t, info.SHA256, "Get should report the SHA-256 that Put sent")
	require.False(t, info.ModTime.IsZero(), "ModTime")
	// Stores keep their own clocks; allow for skew and second granularity.
	require.WithinRange(t, info.ModTime, start.Add(-10*time.Minute), time.Now().Add(10*time.Minute))

	st, err := s.Stat(ctx(t), key)
	require.NoError(t, err)
	require.Equal(t, key, st.Key)
	require.Equal(t, int64(len(want)), st.Size)
	require.Equal(t, wantMD, st.Metadata)
	require.Equal(t, info.SHA256, st.SHA256)
}

func testEmptyObject(t *testing.T, s backup.Sink, prefix string) {
	key := prefix + "empty"
	put(t, s, key, nil, backup.PutOptions{})
	got, info := get(t, s, key)
	require.Empty(t, got)
	require.Empty(t, info.Metadata)
	st, err := s.Stat(ctx(t), key)
	require.NoError(t, err)
	require.Equal(t, int64(0), st.Size)
}

func testOverwrite(t *testing.T, s backup.Sink, prefix string) {
	key := prefix + "checkpoint"
	put(t, s, key, []byte("first"), backup.PutOptions{Metadata: map[string]string{"n": "1"}})
	put(t, s, key, []byte("second, longer"), backup.PutOptions{Metadata: map[string]string{"m": "2"}})
	got, info := get(t, s, key)
	require.Equal(t, "second, longer", string(got))
	require.Equal(t, map[string]string{"m": "2"}, info.Metadata)
}

func testMissing(t *testing.T, s backup.Sink, prefix string) {
	for _, key := range []string{prefix + "nope", prefix + "no/such/dir/key"} {
		rc, _, err := s.Get(ctx(t), key)
		require.ErrorIs(t, err, fs.ErrNotExist, "Get(%q)", key)
		require.ErrorIs(t, err, backup.ErrNotExist, "Get(%q)", key)
		require.Nil(t, rc, "Get(%q) reader on error", key)

		_, err = s.Stat(ctx(t), key)
		require.ErrorIs(t, err, fs.ErrNotExist, "Stat(%q)", key)
		require.ErrorIs(t, err, backup.ErrNotExist, "Stat(%q)", key)
	}
	// A key that is a prefix of existing keys is not an object itself.
	put(t, s, prefix+"dir/child", []byte("x"), backup.PutOptions{})
	_, err := s.Stat(ctx(t), prefix+"dir")
	require.ErrorIs(t, err, fs.ErrNotExist, "Stat of a key's parent")
}

// testDelete: a sink that is a backup.Deleter removes a mutable object
// for good, replaced versions and all, leaves its neighbours, and takes a
// key that holds nothing.
func testDelete(t *testing.T, s backup.Sink, prefix string) {
	d, ok := s.(backup.Deleter)
	if !ok {
		t.Skipf("%T is not a backup.Deleter", s)
	}
	key := prefix + "keys/tenant-a"
	put(t, s, key, []byte("version 1"), backup.PutOptions{Mutable: true})
	put(t, s, key, []byte("version 2"), backup.PutOptions{Mutable: true})
	put(t, s, prefix+"keys/tenant-ab", []byte("neighbour"), backup.PutOptions{Mutable: true})
	require.NoError(t, d.Delete(ctx(t), key))
	_, err := s.Stat(ctx(t), key)
	require.ErrorIs(t, err, backup.ErrNotExist)
	rc, _, err := s.Get(ctx(t), key)
	require.ErrorIs(t, err, backup.ErrNotExist)
	require.Nil(t, rc)
	if vl, ok := s.(backup.VersionLister); ok {
		for info, err := range vl.ListDeleted(ctx(t), prefix+"keys/") {
			require.NoError(t, err)
			require.NotEqual(t, key, info.Key, "an earlier version of a deleted key is still stored")
		}
	}
	_, err = s.Stat(ctx(t), prefix+"keys/tenant-ab")
	require.NoError(t, err, "the neighbour whose key extends the deleted one stays")
	require.NoError(t, d.Delete(ctx(t), key), "deleting nothing")
	require.NoError(t, d.Delete(ctx(t), prefix+"never/put"))
}

func testConditionalCreate(t *testing.T, s backup.Sink, prefix string) {
	key := prefix + "batch-1"
	first := []byte("first content")
	put(t, s, key, first, backup.PutOptions{IfNotExists: true, Metadata: map[string]string{"v": "1"}})

	second := []byte("second content that must not land")
	err := s.Put(ctx(t), key, second, sha256.Sum256(second), backup.PutOptions{IfNotExists: true, Metadata: map[string]string{"v": "2"}})
	require.ErrorIs(t, err, backup.ErrExist)
	require.ErrorIs(t, err, fs.ErrExist)

	got, info := get(t, s, key)
	require.Equal(t, first, got, "the first content must be unchanged")
	require.Equal(t, map[string]string{"v": "1"}, info.Metadata)
}

func testConditionalCreateRace(t *testing.T, s backup.Sink, prefix string) {
	key := prefix + "contended"
	const writers = 8
	var (
		wg     sync.WaitGroup
		wins   atomic.Int32
		winner atomic.Int32
		errs   = make([]error, writers)
	)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := body(4096, fmt.Sprintf("writer %d", i))
			err := s.Put(ctx(t), key, b, sha256.Sum256(b), backup.PutOptions{IfNotExists: true})
			if err == nil {
				wins.Add(1)
				winner.Store(int32(i))
				return
			}
			if !errors.Is(err, backup.ErrExist) {
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "writer %d", i)
	}
	require.Equal(t, int32(1), wins.Load(), "exactly one conditional Put must win")
	got, _ := get(t, s, key)
	require.Equal(t, body(4096, fmt.Sprintf("writer %d", winner.Load())), got)
}

func testConditionalReplace(t *testing.T, s backup.Sink, prefix string) {
	key := prefix + "lease"
	first := []byte(`{"token":"a"}`)
	put(t, s, key, first, backup.PutOptions{IfNotExists: true, Mutable: true})
	_, info := get(t, s, key)
	require.NotEmpty(t, info.Version, "Get reports the version")
	st, err := s.Stat(ctx(t), key)
	require.NoError(t, err)
	require.Equal(t, info.Version, st.Version, "Get and Stat report the same version")

	second := []byte(`{"token":"b"}`)
	put(t, s, key, second, backup.PutOptions{IfMatch: info.Version, Mutable: true, Metadata: map[string]string{"v": "2"}})
	got, now := get(t, s, key)
	require.Equal(t, second, got)
	require.Equal(t, map[string]string{"v": "2"}, now.Metadata)
	require.NotEqual(t, info.Version, now.Version, "a replaced object has a new version")

	// The first version is gone: a Put that expects it changes nothing.
	third := []byte(`{"token":"c"}`)
	err = s.Put(ctx(t), key, third, sha256.Sum256(third), backup.PutOptions{IfMatch: info.Version, Mutable: true})
	require.ErrorIs(t, err, backup.ErrChanged)
	got, _ = get(t, s, key)
	require.Equal(t, second, got, "a failed IfMatch leaves the object unchanged")

	// A key with no object does not match any version.
	err = s.Put(ctx(t), prefix+"none", third, sha256.Sum256(third), backup.PutOptions{IfMatch: now.Version})
	require.ErrorIs(t, err, backup.ErrChanged)
	_, err = s.Stat(ctx(t), prefix+"none")
	require.ErrorIs(t, err, backup.ErrNotExist, "a failed IfMatch stores nothing")

	err = s.Put(ctx(t), key, third, sha256.Sum256(third), backup.PutOptions{IfMatch: now.Version, IfNotExists: true})
	require.Error(t, err, "IfMatch and IfNotExists exclude each other")
	require.NotErrorIs(t, err, backup.ErrChanged)
	got, _ = get(t, s, key)
	require.Equal(t, second, got)
}

func testConditionalReplaceRace(t *testing.T, s backup.Sink, prefix string) {
	key := prefix + "contended-lease"
	put(t, s, key, []byte("start"), backup.PutOptions{IfNotExists: true, Mutable: true})
	st, err := s.Stat(ctx(t), key)
	require.NoError(t, err)
	const writers = 8
	var (
		wg     sync.WaitGroup
		wins   atomic.Int32
		winner atomic.Int32
		errs   = make([]error, writers)
	)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := body(512, fmt.Sprintf("replacer %d", i))
			err := s.Put(ctx(t), key, b, sha256.Sum256(b), backup.PutOptions{IfMatch: st.Version, Mutable: true})
			if err == nil {
				wins.Add(1)
				winner.Store(int32(i))
				return
			}
			if !errors.Is(err, backup.ErrChanged) {
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "writer %d", i)
	}
	require.Equal(t, int32(1), wins.Load(), "exactly one compare-and-swap must win")
	got, _ := get(t, s, key)
	require.Equal(t, body(512, fmt.Sprintf("replacer %d", winner.Load())), got)
}

func testWrongChecksum(t *testing.T, s backup.Sink, prefix string) {
	key := prefix + "damaged"
	data := body(2000, "sent")
	wrong := sha256.Sum256([]byte("something else"))
	for _, ifNotExists := range []bool{false, true} {
		err := s.Put(ctx(t), key, data, wrong, backup.PutOptions{IfNotExists: ifNotExists})
		require.ErrorIs(t, err, backup.ErrChecksum, "Put with a wrong checksum (IfNotExists=%v)", ifNotExists)
		_, err = s.Stat(ctx(t), key)
		require.ErrorIs(t, err, backup.ErrNotExist, "a refused Put must store nothing")
	}
}

func testInvalidArguments(t *testing.T, s backup.Sink, prefix string) {
	data := []byte("x")
	sum := sha256.Sum256(data)
	for _, key := range []string{
		"", "/abs", prefix + "../escape", prefix + "a/../b", "..", prefix + "a//b",
		prefix + "./a", prefix + "trailing/", prefix + ".hidden", prefix + "sp ace",
		prefix + `back\slash`, prefix + "nul\x00", prefix + "ünicode",
	} {
		err := s.Put(ctx(t), key, data, sum, backup.PutOptions{})
		require.ErrorIs(t, err, backup.ErrInvalidKey, "Put(%q)", key)
	}
	for _, md := range []map[string]string{
		{"Upper": "x"}, {"": "x"}, {"under_score": "x"}, {"1digit": "x"},
		{backup.ReservedMetadataPrefix + "x": "y"}, {"k": "new\nline"}, {"k": "ünicode"},
		{"k": string(make([]byte, backup.MaxMetadataLen))},
	} {
		err := s.Put(ctx(t), prefix+"md", data, sum, backup.PutOptions{Metadata: md})
		require.ErrorIs(t, err, backup.ErrInvalidMetadata, "Put with metadata %q", md)
	}
	_, err := s.Stat(ctx(t), prefix+"md")
	require.ErrorIs(t, err, backup.ErrNotExist)
}

func listAll(t *testing.T, s backup.Sink, prefix string) []backup.ObjectInfo {
	t.Helper()
	var out []backup.ObjectInfo
	for info, err := range s.List(ctx(t), prefix) {
		require.NoError(t, err, "List(%q)", prefix)
		out = append(out, info)
	}
	return out
}

func keys(infos []backup.ObjectInfo) []string {
	out := make([]string, len(infos))
	for i, info := range infos {
		out[i] = info.Key
	}
	return out
}

func testSlashKeys(t *testing.T, s backup.Sink, prefix string) {
	// Chosen so that byte order and a naive directory walk disagree:
	// '-' (0x2d) < '/' (0x2f) < 'c' (0x63).
	names := []string{"a/b/c", "a/b-c", "a/bc", "a/b/d/e", "a/b/d/f", "z", "a/b/c2"}
	for _, n := range names {
		put(t, s, prefix+n, []byte("body of "+n), backup.PutOptions{Metadata: map[string]string{"name": n}})
	}
	for _, n := range names {
		got, info := get(t, s, prefix+n)
		require.Equal(t, "body of "+n, string(got))
		require.Equal(t, n, info.Metadata["name"])
	}

	want := func(ns ...string) []string {
		out := make([]string, len(ns))
		for i, n := range ns {
			out[i] = prefix + n
		}
		return out
	}
	require.Equal(t, want("a/b-c", "a/b/c", "a/b/c2", "a/b/d/e", "a/b/d/f", "a/bc", "z"), keys(listAll(t, s, prefix)))
	require.Equal(t, want("a/b-c", "a/b/c", "a/b/c2", "a/b/d/e", "a/b/d/f", "a/bc"), keys(listAll(t, s, prefix+"a/b")))
	require.Equal(t, want("a/b/c", "a/b/c2", "a/b/d/e", "a/b/d/f"), keys(listAll(t, s, prefix+"a/b/")))
	require.Equal(t, want("a/b/c", "a/b/c2"), keys(listAll(t, s, prefix+"a/b/c")))
	require.Equal(t, want("a/b/d/e", "a/b/d/f"), keys(listAll(t, s, prefix+"a/b/d")))
	require.Empty(t, listAll(t, s, prefix+"a/b/d/g"))
	require.Empty(t, listAll(t, s, prefix+"nothing/here"))

	for _, info := range listAll(t, s, prefix) {
		require.Equal(t, int64(len("body of ")+len(info.Key)-len(prefix)), info.Size, "List size of %q", info.Key)
		require.False(t, info.ModTime.IsZero(), "List ModTime of %q", info.Key)
	}
}

// putMany puts n objects named prefix+name(i) using a few goroutines.
func putMany(t *testing.T, s backup.Sink, n int, name func(int) string) {
	t.Helper()
	const workers = 16
	var (
		wg   sync.WaitGroup
		next atomic.Int64
		mu   sync.Mutex
		errs []error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				b := []byte(name(i))
				if err := s.Put(ctx(t), name(i), b, sha256.Sum256(b), backup.PutOptions{IfNotExists: true}); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
}

func testListPagination(t *testing.T, s backup.Sink, prefix string) {
	name := func(i int) string { return fmt.Sprintf("%spage/%06d", prefix, i) }
	putMany(t, s, ListObjects, name)
	// Neighbours that share the string prefix "page" but not "page/".
	put(t, s, prefix+"page-after", []byte("x"), backup.PutOptions{})
	put(t, s, prefix+"pag", []byte("x"), backup.PutOptions{})

	got := listAll(t, s, prefix+"page/")
	require.Equal(t, ListObjects, len(got), "List(%q) count", prefix+"page/")
	for i, info := range got {
		require.Equal(t, name(i), info.Key, "List must yield every key once, in byte order")
		require.Equal(t, int64(len(name(i))), info.Size)
	}
	require.Equal(t, ListObjects+1, len(listAll(t, s, prefix+"page")))
	require.Equal(t, ListObjects+2, len(listAll(t, s, prefix)))
	require.Equal(t, 50, len(listAll(t, s, prefix+"page/0010"))) // 001000..001049
}

func testListStopEarly(t *testing.T, s backup.Sink, prefix string) {
	name := func(i int) string { return fmt.Sprintf("%sstop/%03d", prefix, i) }
	putMany(t, s, 20, name)
	var seen []string
	for info, err := range s.List(ctx(t), prefix+"stop/") {
		require.NoError(t, err)
		seen = append(seen, info.Key)
		if len(seen) == 5 {
			break
		}
	}
	require.Equal(t, []string{name(0), name(1), name(2), name(3), name(4)}, seen)
}

func testConcurrentPuts(t *testing.T, s backup.Sink, prefix string) {
	const n = 64
	name := func(i int) string { return fmt.Sprintf("%sconcurrent/%d/batch", prefix, i) }
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := body(1000+i*37, name(i))
			errs[i] = s.Put(ctx(t), name(i), b, sha256.Sum256(b), backup.PutOptions{
				IfNotExists: i%2 == 0,
				Metadata:    map[string]string{"i": fmt.Sprint(i)},
			})
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))

	var mu sync.Mutex
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc, info, err := s.Get(ctx(t), name(i))
			if err == nil {
				var b []byte
				b, err = io.ReadAll(rc)
				rc.Close()
				if err == nil && (!bytes.Equal(b, body(1000+i*37, name(i))) || info.Metadata["i"] != fmt.Sprint(i)) {
					err = fmt.Errorf("%q: wrong body or metadata", name(i))
				}
			}
			mu.Lock()
			errs[i] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))

	got := keys(listAll(t, s, prefix+"concurrent/"))
	want := make([]string, n)
	for i := range n {
		want[i] = name(i)
	}
	slices.Sort(want)
	require.Equal(t, want, got)
}

func testCanceledContext(t *testing.T, s backup.Sink, prefix string) {
	c, cancel := context.WithCancel(t.Context())
	cancel()
	data := []byte("never stored")
	err := s.Put(c, prefix+"canceled", data, sha256.Sum256(data), backup.PutOptions{})
	require.ErrorIs(t, err, context.Canceled)
	_, err = s.Stat(c, prefix+"canceled")
	require.ErrorIs(t, err, context.Canceled)
	for _, err := range s.List(c, prefix) {
		require.ErrorIs(t, err, context.Canceled)
	}
	_, err = s.Stat(ctx(t), prefix+"canceled")
	require.ErrorIs(t, err, backup.ErrNotExist)
}
