// Package file implements backup.Sink on a local directory: a second disk, an
// NFS mount, or a directory that another tool copies off the machine.
//
// # Layout
//
// The object with key "a/b/c" is the file DIR/a/b/c: each '/' in a key is a
// subdirectory. Since a path cannot be both a file and a directory, this sink
// cannot hold both "a/b" and "a/b/c"; the second Put fails. Names beginning
// with '.' are the sink's temporary files (keys may not have such elements;
// see backup.ValidateKey) and are never listed.
//
// Each object file holds a header and then the body, so that the body, its
// metadata and its checksum become visible in one atomic step:
//
//	magic     8 bytes  "TOLOBJ1\n"
//	hdrlen    4 bytes  big-endian length of the JSON header, at most 64 KiB
//	header    hdrlen bytes of JSON: {"size":N,"sha256":"<hex>","metadata":{...}}
//	body      size bytes
//
// A file whose length is not 12+hdrlen+size, or whose header does not parse,
// is reported as corrupt, never repaired. Get verifies the body against the
// header's SHA-256 as it is read.
//
// # Durability
//
// Put writes a temporary file in the target directory, fsyncs it, then
// publishes it with rename (replace) or link (IfNotExists: link fails with
// EEXIST if the name is taken, so exactly one of two racing Puts wins), and
// fsyncs the directory. Directories that Put creates are fsynced into their
// parents. Object files are made read-only (0444).
//
// A Put with PutOptions.IfMatch holds an exclusive lock on the file ".lock"
// in the object's directory while it compares the version and renames, so
// that a compare-and-swap is atomic among processes sharing the directory
// (an unconditional Put, which replaces whatever is there, does not take it).
// An object's version is a digest of its header, which holds the body's
// SHA-256 and the metadata.
package file

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/treeoflife/treeoflife/backup"
	"github.com/treeoflife/treeoflife/backup/internal/sinkutil"
	"github.com/treeoflife/treeoflife/internal/fileutil"
)

// Type names this backend in configuration and logs.
const Type = "file"

var _ backup.Sink = (*Sink)(nil)

// Permissions of what the sink creates: directories for the owner and its
// group only (a backup holds audit records, which are not for every local
// user), objects read-only for the same.
const (
	DefaultDirPerm  fs.FileMode = 0o750
	DefaultFilePerm fs.FileMode = 0o440
)

const (
	magic        = "TOLOBJ1\n"
	maxHeaderLen = 64 << 10
	prefixLen    = 12 // len(magic) + 4-byte header length
)

// Config configures a Sink.
type Config struct {
	// Dir is the directory that holds the objects. New creates it (and its
	// parents) if it does not exist.
	Dir string
}

// Sink is a backup.Sink on a local directory. Its methods are safe for
// concurrent use, also by several processes sharing the directory.
type Sink struct {
	dir string
}

// New returns a Sink that stores objects under cfg.Dir.
func New(ctx context.Context, cfg Config) (*Sink, error) {
	if cfg.Dir == "" {
		return nil, errors.New("file: Config.Dir is empty")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("file: Config.Dir: %w", err)
	}
	if err := os.MkdirAll(dir, DefaultDirPerm); err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	return &Sink{dir: dir}, nil
}

// Dir returns the sink's directory.
func (s *Sink) Dir() string { return s.dir }

type header struct {
	Size     int64             `json:"size"`
	SHA256   string            `json:"sha256"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

func (s *Sink) path(key string) string {
	return filepath.Join(s.dir, filepath.FromSlash(key))
}

// Put implements backup.Sink.
func (s *Sink) Put(ctx context.Context, key string, body []byte, sum [sha256.Size]byte, opts backup.PutOptions) error {
	if err := sinkutil.CheckPut(key, opts.Metadata); err != nil {
		return fmt.Errorf("file: put %q: %w", key, err)
	}
	if err := backup.CheckPutOptions(opts); err != nil {
		return fmt.Errorf("file: put %q: %w", key, err)
	}
	// There is no store on the other side to check the checksum, so the sink
	// does: a body damaged in memory since the caller hashed it is refused.
	if err := sinkutil.CheckSum(body, sum); err != nil {
		return fmt.Errorf("file: put %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("file: put %q: %w", key, err)
	}

	hdr, err := json.Marshal(header{Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:]), Metadata: opts.Metadata})
	if err != nil {
		return fmt.Errorf("file: put %q: %w", key, err)
	}
	if len(hdr) > maxHeaderLen {
		return fmt.Errorf("file: put %q: %w: header is %d bytes", key, backup.ErrInvalidMetadata, len(hdr))
	}

	final := s.path(key)
	dir := filepath.Dir(final)
	if err := s.mkdirAll(dir); err != nil {
		return fmt.Errorf("file: put %q: %w", key, err)
	}

	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("file: put %q: %w", key, err)
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			tmp.Close()
		}
		// Best effort: after a link the temporary name is a second link to
		// the published object, after a rename it is gone. A leftover is
		// hidden from List and harmless.
		os.Remove(tmpName)
	}()

	var pre [prefixLen]byte
	copy(pre[:], magic)
	binary.BigEndian.PutUint32(pre[len(magic):], uint32(len(hdr)))
	for _, b := range [][]byte{pre[:], hdr, body} {
		// os.File.Write returns an error on a short write.
		if _, err := tmp.Write(b); err != nil {
			return fmt.Errorf("file: put %q: %w", key, err)
		}
	}
	if err := tmp.Chmod(DefaultFilePerm); err != nil {
		return fmt.Errorf("file: put %q: %w", key, err)
	}
	// The data must be on disk before the name points at it, or a crash can
	// leave a published name with a torn body.
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("file: put %q: %w", key, err)
	}
	err = tmp.Close()
	tmp = nil
	if err != nil {
		return fmt.Errorf("file: put %q: %w", key, err)
	}

	if opts.IfNotExists {
		// link(2) fails with EEXIST if final exists, atomically, so two
		// racing conditional Puts cannot both win (rename would replace).
		if err := os.Link(tmpName, final); err != nil {
			if errors.Is(err, fs.ErrExist) {
				if fi, statErr := os.Lstat(final); statErr == nil && fi.IsDir() {
					return fmt.Errorf("file: put %q: a directory has that name", key)
				}
				return fmt.Errorf("file: put %q: %w", key, backup.ErrExist)
			}
			return fmt.Errorf("file: put %q: %w", key, err)
		}
	} else if opts.IfMatch != "" {
		if err := s.replace(ctx, key, tmpName, final, opts.IfMatch); err != nil {
			return fmt.Errorf("file: put %q: %w", key, err)
		}
	} else {
		if err := os.Rename(tmpName, final); err != nil {
			return fmt.Errorf("file: put %q: %w", key, err)
		}
	}
	// The new name is durable only once its directory is.
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("file: put %q: %w", key, err)
	}
	return nil
}

// replace renames tmpName over final under the directory's lock, if the
// object there is version ifMatch.
func (s *Sink) replace(ctx context.Context, key, tmpName, final, ifMatch string) error {
	lk, err := lockDir(ctx, filepath.Dir(final))
	if err != nil {
		return err
	}
	defer lk.Unlock()
	f, info, err := s.open(key)
	if err != nil {
		if errors.Is(err, backup.ErrNotExist) || errors.Is(err, errNotObject) {
			return fmt.Errorf("%w: no object", backup.ErrChanged)
		}
		return err
	}
	f.Close()
	if info.Version != ifMatch {
		return fmt.Errorf("%w: version %s, not %s", backup.ErrChanged, info.Version, ifMatch)
	}
	return os.Rename(tmpName, final)
}

// lockDir takes the exclusive lock of dir's replacing Puts, waiting for it
// until ctx ends.
func lockDir(ctx context.Context, dir string) (*fileutil.Lock, error) {
	wait := time.Millisecond
	for {
		lk, err := fileutil.LockFile(filepath.Join(dir, ".lock"))
		if !errors.Is(err, fileutil.ErrLocked) {
			return lk, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 20*time.Millisecond)
	}
}

// mkdirAll creates dir and its missing parents below s.dir, fsyncing each
// parent after a child is created in it.
func (s *Sink) mkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s: not a directory", dir)
		}
		return nil
	}
	if dir == s.dir || len(dir) < len(s.dir) {
		return os.MkdirAll(dir, DefaultDirPerm)
	}
	parent := filepath.Dir(dir)
	if err := s.mkdirAll(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, DefaultDirPerm); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // created by a concurrent Put
		}
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

// notExist reports whether err from opening or stat-ing a key's file means
// that there is no object: the file is missing, or a path element is a file
// (ENOTDIR).
func notExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// open opens the object file and reads its header.
func (s *Sink) open(key string) (*os.File, backup.ObjectInfo, error) {
	if err := backup.ValidateKey(key); err != nil {
		return nil, backup.ObjectInfo{}, err
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		if notExist(err) {
			return nil, backup.ObjectInfo{}, backup.ErrNotExist
		}
		return nil, backup.ObjectInfo{}, err
	}
	info, err := readHeader(f, key)
	if err != nil {
		f.Close()
		return nil, backup.ObjectInfo{}, err
	}
	return f, info, nil
}

// errNotObject marks a directory where an object was looked for.
var errNotObject = errors.New("is a directory")

// readHeader reads and checks the header of an object file, leaving f
// positioned at the start of the body.
func readHeader(f *os.File, key string) (backup.ObjectInfo, error) {
	fi, err := f.Stat()
	if err != nil {
		return backup.ObjectInfo{}, err
	}
	if fi.IsDir() {
		return backup.ObjectInfo{}, errNotObject
	}
	var pre [prefixLen]byte
	if _, err := io.ReadFull(f, pre[:]); err != nil {
		return backup.ObjectInfo{}, fmt.Errorf("corrupt object file: %w", err)
	}
	if string(pre[:len(magic)]) != magic {
		return backup.ObjectInfo{}, fmt.Errorf("corrupt object file: bad magic %q", pre[:len(magic)])
	}
	n := int64(binary.BigEndian.Uint32(pre[len(magic):]))
	// Check the length against the file before allocating.
	if n > maxHeaderLen || n > fi.Size()-prefixLen {
		return backup.ObjectInfo{}, fmt.Errorf("corrupt object file: header length %d", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(f, buf); err != nil {
		return backup.ObjectInfo{}, fmt.Errorf("corrupt object file: %w", err)
	}
	var h header
	dec := json.NewDecoder(bytes.NewReader(buf))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return backup.ObjectInfo{}, fmt.Errorf("corrupt object file: header: %w", err)
	}
	sum, err := hex.DecodeString(h.SHA256)
	if err != nil || len(sum) != sha256.Size {
		return backup.ObjectInfo{}, fmt.Errorf("corrupt object file: header sha256 %q", h.SHA256)
	}
	if h.Size < 0 || prefixLen+n+h.Size != fi.Size() {
		return backup.ObjectInfo{}, fmt.Errorf("corrupt object file: %d bytes, header says %d-byte body after %d", fi.Size(), h.Size, prefixLen+n)
	}
	if len(h.Metadata) == 0 {
		h.Metadata = nil
	}
	version := sha256.Sum256(buf)
	return backup.ObjectInfo{
		Key:      key,
		Size:     h.Size,
		Metadata: h.Metadata,
		SHA256:   sum,
		ModTime:  fi.ModTime(),
		Version:  hex.EncodeToString(version[:16]),
	}, nil
}

// Get implements backup.Sink.
func (s *Sink) Get(ctx context.Context, key string) (io.ReadCloser, backup.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, backup.ObjectInfo{}, fmt.Errorf("file: get %q: %w", key, err)
	}
	f, info, err := s.open(key)
	if err != nil {
		if errors.Is(err, errNotObject) {
			err = backup.ErrNotExist
		}
		return nil, backup.ObjectInfo{}, fmt.Errorf("file: get %q: %w", key, err)
	}
	name := fmt.Sprintf("file: get %q", key)
	return sinkutil.VerifyingReader(f, info.SHA256, info.Size, name), info, nil
}

// Stat implements backup.Sink.
func (s *Sink) Stat(ctx context.Context, key string) (backup.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return backup.ObjectInfo{}, fmt.Errorf("file: stat %q: %w", key, err)
	}
	f, info, err := s.open(key)
	if err != nil {
		if errors.Is(err, errNotObject) {
			err = backup.ErrNotExist
		}
		return backup.ObjectInfo{}, fmt.Errorf("file: stat %q: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return backup.ObjectInfo{}, fmt.Errorf("file: stat %q: %w", key, err)
	}
	return info, nil
}

// List implements backup.Sink. It walks the directories that can hold keys
// with the prefix, visiting each directory's entries in an order that makes
// the keys come out in byte order (a directory "a" sorts as "a/").
func (s *Sink) List(ctx context.Context, prefix string) iter.Seq2[backup.ObjectInfo, error] {
	return func(yield func(backup.ObjectInfo, error) bool) {
		base := ""
		if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
			base = prefix[:i]
			if backup.ValidateKey(base) != nil {
				return // no valid key has this prefix
			}
		}
		_, err := s.walk(ctx, base, prefix, yield)
		if err != nil {
			yield(backup.ObjectInfo{}, fmt.Errorf("file: list %q: %w", prefix, err))
		}
	}
}

// walk yields the objects under the directory for key prefix dirKey (""
// for the root) whose keys begin with prefix. It returns false if yield asked
// to stop.
func (s *Sink) walk(ctx context.Context, dirKey, prefix string, yield func(backup.ObjectInfo, error) bool) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	entries, err := os.ReadDir(s.path(dirKey))
	if err != nil {
		if notExist(err) {
			return true, nil
		}
		return false, err
	}
	type entry struct {
		name  string // name + "/" for a directory
		isDir bool
	}
	list := make([]entry, 0, len(entries))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue // temporary files
		}
		if e.IsDir() {
			list = append(list, entry{e.Name() + "/", true})
		} else {
			list = append(list, entry{e.Name(), false})
		}
	}
	slices.SortFunc(list, func(a, b entry) int { return strings.Compare(a.name, b.name) })

	for _, e := range list {
		key := path.Join(dirKey, strings.TrimSuffix(e.name, "/"))
		if e.isDir {
			// Descend only if some key below can begin with prefix.
			if !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				continue
			}
			more, err := s.walk(ctx, key, prefix, yield)
			if err != nil || !more {
				return more, err
			}
			continue
		}
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		info, err := s.statFile(key)
		if err != nil {
			if notExist(err) {
				continue // removed since ReadDir
			}
			return false, fmt.Errorf("%q: %w", key, err)
		}
		if !yield(info, nil) {
			return false, nil
		}
	}
	return true, nil
}

func (s *Sink) statFile(key string) (backup.ObjectInfo, error) {
	f, err := os.Open(s.path(key))
	if err != nil {
		return backup.ObjectInfo{}, err
	}
	defer f.Close()
	return readHeader(f, key)
}

// String names the sink for status, metrics and the local backup cursor:
// "file://" and its absolute directory.
func (s *Sink) String() string { return "file://" + filepath.ToSlash(s.dir) }
