// Package gcs implements backup.Sink on Google Cloud Storage with
// cloud.google.com/go/storage.
//
// Credentials come from Application Default Credentials
// (GOOGLE_APPLICATION_CREDENTIALS, gcloud's user credentials, the metadata
// server). For an emulator such as fake-gcs-server, set Config.Endpoint, or
// leave it empty and set STORAGE_EMULATOR_HOST as the storage library
// documents; both send requests there without authentication.
//
// # Integrity
//
// GCS has no SHA-256 of its own. Put checks the caller's SHA-256 against the
// body, then sends the body's CRC32C (Writer.CRC32C with SendCRC32C) so that
// GCS refuses a body damaged on the way, and keeps the SHA-256 in the
// object's metadata (key "tol-sha256"). Get checks the CRC32C (the storage
// library does, when a whole object is read) and the SHA-256 (the sink does)
// as the body is read.
//
// # Write once
//
// PutOptions.IfNotExists writes with the precondition DoesNotExist
// (ifGenerationMatch=0), which GCS answers with 412 (backup.ErrExist) when
// the object exists. PutOptions.IfMatch writes with the precondition
// GenerationMatch on the generation that Get and Stat return as
// ObjectInfo.Version (412: backup.ErrChanged). Config.TemporaryHold and
// Config.Retention put every object but a PutOptions.Mutable one under a hold
// or an object retention so that it cannot be deleted or replaced; the bucket
// must allow object retention for the latter.
package gcs

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"iter"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/treeoflife/treeoflife/backup"
	"github.com/treeoflife/treeoflife/backup/internal/sinkutil"
)

// Type names this backend in configuration and logs.
const Type = "gcs"

var _ backup.Sink = (*Sink)(nil)

// Defaults for the zero fields of Config.
const (
	// DefaultMaxAttempts and DefaultMaxBackoff configure the library's
	// retries; see New for why.
	DefaultMaxAttempts = 3
	DefaultMaxBackoff  = 500 * time.Millisecond

	// maxChunkSize bounds the buffer the storage library allocates per
	// upload; bodies up to it go in one retryable request.
	maxChunkSize = 16 << 20
)

// Retention modes for Config.RetentionMode.
const (
	RetentionNone     = ""
	RetentionUnlocked = "Unlocked" // can be shortened or removed by an admin
	RetentionLocked   = "Locked"   // can only be extended
)

// Config configures a Sink. Only Bucket is required.
type Config struct {
	// Bucket is the bucket's name. The bucket must exist.
	Bucket string

	// Prefix is put before every key on the store, so that several logs or
	// tenants can share a bucket. Empty, or path elements that end in '/'
	// (such as "prod/tenant-42/"). Keys in ObjectInfo never include it.
	Prefix string

	// Endpoint is the base URL of a GCS emulator, for example
	// "http://127.0.0.1:4443" for fake-gcs-server. The sink then talks to
	// ENDPOINT/storage/v1/ without authentication. Empty means GCS itself,
	// or STORAGE_EMULATOR_HOST when that is set.
	Endpoint string

	// TemporaryHold places a temporary hold on every object: it cannot be
	// deleted or replaced until the hold is released.
	TemporaryHold bool

	// RetentionMode puts every object under an object retention
	// configuration: RetentionNone, RetentionUnlocked or RetentionLocked.
	// It requires Retention.
	RetentionMode string

	// Retention is how long, from the Put, each object is retained. Only
	// valid with RetentionMode.
	Retention time.Duration

	// MaxAttempts is how many times the library tries one request before
	// the sink returns its error. Zero means DefaultMaxAttempts.
	MaxAttempts int

	// ClientOptions are passed to storage.NewClient after the sink's own,
	// for example option.WithCredentialsFile.
	ClientOptions []option.ClientOption
}

// Sink is a backup.Sink on a GCS bucket. Its methods are safe for concurrent
// use. Close releases its connections.
type Sink struct {
	cfg    Config
	client *storage.Client
	bucket *storage.BucketHandle

	// putStore is the bucket without the library's retries, which Put
	// makes itself, with backoff; see New.
	putStore *storage.BucketHandle
	backoff  gax.Backoff
}

// New checks cfg and returns a Sink. It sends no request: a wrong bucket or
// missing credentials show in the first call.
func New(ctx context.Context, cfg Config) (*Sink, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	var opts []option.ClientOption
	if cfg.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(cfg.Endpoint+"/storage/v1/"), option.WithoutAuthentication())
	}
	opts = append(opts, cfg.ClientOptions...)
	client, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("gcs: %w", err)
	}
	// The backup shipper above this sink retries every failed batch,
	// forever, with its own backoff, from a cursor persisted on disk, and
	// reports each failed attempt (BackupStatus.LastError, the lag metric).
	// So the library only rides out a blip inside one call, and must not
	// hide an outage: its defaults (waits of up to 30s, for up to 32s per
	// upload chunk) or this sink's former ones (5 attempts up to 5s apart)
	// reported a stopped server 10 seconds or more late. Three attempts,
	// with jittered waits of at most 100ms then 200ms between them (the cap
	// of 500ms matters only with more attempts), return a refused or
	// failing call within a second, and a failure of the whole store within
	// 2s; the shipper's backoff does the waiting after that.
	//
	// The library ignores WithMaxAttempts for uploads: it retries a Writer's
	// request until ctx is done (or, for an upload in several chunks, for
	// 32s per chunk). So uploads are not retried by the library (the
	// bucket handle puts use, RetryNever) but by Put itself, with the same
	// attempts and waits as every other call.
	//
	// RetryAlways, not the default RetryIdempotent: the default would not
	// retry an unconditional Put, yet resending the same bytes to the same
	// name leaves the same object. A conditional Put is retried under either
	// policy; one whose first attempt succeeded then ends in 412, which
	// Put's contract tells callers to resolve by comparing Stat's SHA-256.
	backoff := gax.Backoff{Initial: 100 * time.Millisecond, Max: DefaultMaxBackoff, Multiplier: 2}
	bucket := client.Bucket(cfg.Bucket).Retryer(
		storage.WithPolicy(storage.RetryAlways),
		storage.WithMaxAttempts(cfg.MaxAttempts),
		storage.WithBackoff(backoff),
	)
	return &Sink{
		cfg:      cfg,
		client:   client,
		bucket:   bucket,
		putStore: client.Bucket(cfg.Bucket).Retryer(storage.WithPolicy(storage.RetryNever)),
		backoff:  backoff,
	}, nil
}

func (c *Config) setDefaults() error {
	if c.Bucket == "" {
		return errors.New("gcs: Config.Bucket is empty")
	}
	if c.Prefix != "" {
		if !strings.HasSuffix(c.Prefix, "/") || backup.ValidateKey(strings.TrimSuffix(c.Prefix, "/")) != nil {
			return fmt.Errorf("gcs: Config.Prefix %q must be path elements ending in '/', like \"logs/\"", c.Prefix)
		}
	}
	if c.Endpoint != "" {
		e := strings.TrimSuffix(c.Endpoint, "/")
		e = strings.TrimSuffix(e, "/storage/v1")
		if !strings.Contains(e, "://") {
			e = "http://" + e // as the library treats STORAGE_EMULATOR_HOST
		}
		c.Endpoint = e
	}
	switch c.RetentionMode {
	case RetentionNone:
		if c.Retention != 0 {
			return errors.New("gcs: Config.Retention is set but Config.RetentionMode is empty")
		}
	case RetentionUnlocked, RetentionLocked:
		if c.Retention <= 0 {
			return fmt.Errorf("gcs: Config.RetentionMode is %s but Config.Retention is not positive", c.RetentionMode)
		}
	default:
		return fmt.Errorf("gcs: Config.RetentionMode %q is not %q or %q", c.RetentionMode, RetentionUnlocked, RetentionLocked)
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxAttempts < 0 {
		return fmt.Errorf("gcs: Config.MaxAttempts %d is negative", c.MaxAttempts)
	}
	return nil
}

// Close closes the storage client.
func (s *Sink) Close() error { return s.client.Close() }

// Client returns the storage client, for operations outside backup.Sink
// (tests and tools that manage buckets or delete).
func (s *Sink) Client() *storage.Client { return s.client }

// Bucket returns the configured bucket's name.
func (s *Sink) Bucket() string { return s.cfg.Bucket }

func (s *Sink) object(key string) *storage.ObjectHandle {
	return s.bucket.Object(s.cfg.Prefix + key)
}

func checkKey(prefix, key string) error {
	if err := backup.ValidateKey(key); err != nil {
		return err
	}
	if len(prefix)+len(key) > backup.MaxKeyLen {
		return fmt.Errorf("%w: %d bytes with the prefix %q, more than %d", backup.ErrInvalidKey, len(prefix)+len(key), prefix, backup.MaxKeyLen)
	}
	return nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// wrap maps a storage error to the backup sentinels.
func wrap(op, key string, err error) error {
	if errors.Is(err, storage.ErrObjectNotExist) {
		return fmt.Errorf("gcs: %s %q: %w: %w", op, key, backup.ErrNotExist, err)
	}
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		switch {
		case gerr.Code == http.StatusPreconditionFailed:
			return fmt.Errorf("gcs: %s %q: %w: %w", op, key, backup.ErrExist, err)
		case gerr.Code == http.StatusNotFound && op != "put":
			return fmt.Errorf("gcs: %s %q: %w: %w", op, key, backup.ErrNotExist, err)
		case gerr.Code == http.StatusBadRequest && strings.Contains(strings.ToLower(gerr.Message), "crc32c"):
			return fmt.Errorf("gcs: %s %q: %w: %w", op, key, backup.ErrChecksum, err)
		}
	}
	return fmt.Errorf("gcs: %s %q: %w", op, key, err)
}

// Put implements backup.Sink.
func (s *Sink) Put(ctx context.Context, key string, body []byte, sum [sha256.Size]byte, opts backup.PutOptions) error {
	if err := checkKey(s.cfg.Prefix, key); err != nil {
		return fmt.Errorf("gcs: put %q: %w", key, err)
	}
	if err := backup.ValidateMetadata(opts.Metadata); err != nil {
		return fmt.Errorf("gcs: put %q: %w", key, err)
	}
	if err := backup.CheckPutOptions(opts); err != nil {
		return fmt.Errorf("gcs: put %q: %w", key, err)
	}
	// GCS cannot check a SHA-256, so the sink does, before deriving the
	// CRC32C that GCS checks from the same bytes.
	if err := sinkutil.CheckSum(body, sum); err != nil {
		return fmt.Errorf("gcs: put %q: %w", key, err)
	}
	return s.put(ctx, key, body, crc32.Checksum(body, castagnoli), sum, opts)
}

// put uploads body with the given CRC32C, which GCS checks, trying up to
// Config.MaxAttempts times while the error is one the library would retry.
func (s *Sink) put(ctx context.Context, key string, body []byte, crc uint32, sum [sha256.Size]byte, opts backup.PutOptions) error {
	bo := s.backoff // a copy: its state is this call's
	for attempt := 1; ; attempt++ {
		err := s.putOnce(ctx, key, body, crc, sum, opts)
		if err == nil || attempt >= s.cfg.MaxAttempts || !storage.ShouldRetry(err) || ctx.Err() != nil {
			return err
		}
		if serr := gax.Sleep(ctx, bo.Pause()); serr != nil {
			return fmt.Errorf("%w (then %w)", err, serr)
		}
	}
}

// putOnce makes one attempt at uploading body.
func (s *Sink) putOnce(ctx context.Context, key string, body []byte, crc uint32, sum [sha256.Size]byte, opts backup.PutOptions) error {
	obj := s.putStore.Object(s.cfg.Prefix + key)
	if opts.IfNotExists {
		obj = obj.If(storage.Conditions{DoesNotExist: true})
	}
	if opts.IfMatch != "" {
		gen, err := strconv.ParseInt(opts.IfMatch, 10, 64)
		if err != nil || gen <= 0 {
			return fmt.Errorf("gcs: put %q: %w: version %q is not a generation", key, backup.ErrChanged, opts.IfMatch)
		}
		obj = obj.If(storage.Conditions{GenerationMatch: gen})
	}
	// Cancel the write on any early return: closing the Writer would
	// commit what was written so far.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := obj.NewWriter(wctx)
	w.ContentType = "application/octet-stream"
	w.Metadata = sinkutil.StoredMetadata(opts.Metadata, sum)
	w.CRC32C = crc
	w.SendCRC32C = true
	// One request for bodies up to maxChunkSize, with a buffer just large
	// enough that the library can resend it on a retry.
	w.ChunkSize = min(len(body)+1, maxChunkSize)
	if s.cfg.TemporaryHold && !opts.Mutable {
		w.TemporaryHold = true
	}
	if s.cfg.RetentionMode != "" && !opts.Mutable {
		w.Retention = &storage.ObjectRetention{Mode: s.cfg.RetentionMode, RetainUntil: time.Now().Add(s.cfg.Retention)}
	}
	if _, err := w.Write(body); err != nil {
		return wrapPut(key, err, opts)
	}
	if err := w.Close(); err != nil {
		return wrapPut(key, err, opts)
	}
	return nil
}

// wrapPut is wrap for Put: with IfMatch, a failed precondition (or a
// missing object) is backup.ErrChanged.
func wrapPut(key string, err error, opts backup.PutOptions) error {
	err = wrap("put", key, err)
	if opts.IfMatch != "" && (errors.Is(err, backup.ErrExist) || errors.Is(err, backup.ErrNotExist)) {
		return fmt.Errorf("%w: %w", backup.ErrChanged, err)
	}
	return err
}

func info(key string, attrs *storage.ObjectAttrs) backup.ObjectInfo {
	return backup.ObjectInfo{
		Key:      key,
		Size:     attrs.Size,
		Metadata: sinkutil.UserMetadata(attrs.Metadata),
		SHA256:   sinkutil.SumFromMetadata(attrs.Metadata),
		ModTime:  attrs.Updated,
		Version:  strconv.FormatInt(attrs.Generation, 10),
	}
}

// Get implements backup.Sink. It reads the object's attributes, then the
// body of that same generation, so the two always match.
func (s *Sink) Get(ctx context.Context, key string) (io.ReadCloser, backup.ObjectInfo, error) {
	if err := checkKey(s.cfg.Prefix, key); err != nil {
		return nil, backup.ObjectInfo{}, fmt.Errorf("gcs: get %q: %w", key, err)
	}
	attrs, err := s.object(key).Attrs(ctx)
	if err != nil {
		return nil, backup.ObjectInfo{}, wrap("get", key, err)
	}
	r, err := s.object(key).Generation(attrs.Generation).NewReader(ctx)
	if err != nil {
		// The generation read above was replaced in between; to the caller
		// that is the same as a Get that ran a moment later.
		return nil, backup.ObjectInfo{}, wrap("get", key, err)
	}
	oi := info(key, attrs)
	return sinkutil.VerifyingReader(r, oi.SHA256, oi.Size, fmt.Sprintf("gcs: get %q", key)), oi, nil
}

// Stat implements backup.Sink.
func (s *Sink) Stat(ctx context.Context, key string) (backup.ObjectInfo, error) {
	if err := checkKey(s.cfg.Prefix, key); err != nil {
		return backup.ObjectInfo{}, fmt.Errorf("gcs: stat %q: %w", key, err)
	}
	attrs, err := s.object(key).Attrs(ctx)
	if err != nil {
		return backup.ObjectInfo{}, wrap("stat", key, err)
	}
	return info(key, attrs), nil
}

// List implements backup.Sink. GCS lists names in lexicographic (byte)
// order, a page at a time.
func (s *Sink) List(ctx context.Context, prefix string) iter.Seq2[backup.ObjectInfo, error] {
	return func(yield func(backup.ObjectInfo, error) bool) {
		q := &storage.Query{Prefix: s.cfg.Prefix + prefix}
		if err := q.SetAttrSelection([]string{"Name", "Size", "Updated"}); err != nil {
			yield(backup.ObjectInfo{}, fmt.Errorf("gcs: list %q: %w", prefix, err))
			return
		}
		it := s.bucket.Objects(ctx, q)
		for {
			attrs, err := it.Next()
			if errors.Is(err, iterator.Done) {
				return
			}
			if err != nil {
				yield(backup.ObjectInfo{}, fmt.Errorf("gcs: list %q: %w", prefix, err))
				return
			}
			oi := backup.ObjectInfo{
				Key:     strings.TrimPrefix(attrs.Name, s.cfg.Prefix),
				Size:    attrs.Size,
				ModTime: attrs.Updated,
			}
			if !yield(oi, nil) {
				return
			}
		}
	}
}

var _ backup.VersionLister = (*Sink)(nil)

// ListDeleted implements backup.VersionLister by listing every generation
// (Query.Versions): in a bucket with object versioning, deleting an object
// makes its live generation noncurrent (ObjectAttrs.Deleted is set), so a
// name with generations but none live is a deleted object. Without
// versioning a deleted object leaves no generation (or only a soft-deleted
// copy, which this does not list), and nothing is yielded.
func (s *Sink) ListDeleted(ctx context.Context, prefix string) iter.Seq2[backup.ObjectInfo, error] {
	return func(yield func(backup.ObjectInfo, error) bool) {
		q := &storage.Query{Prefix: s.cfg.Prefix + prefix, Versions: true}
		if err := q.SetAttrSelection([]string{"Name", "Size", "Updated", "Deleted", "Generation"}); err != nil {
			yield(backup.ObjectInfo{}, fmt.Errorf("gcs: list versions %q: %w", prefix, err))
			return
		}
		// Generations of one name come together, in name order: decide
		// for each name when the next one begins.
		var cur backup.ObjectInfo
		live, have := false, false
		flush := func() bool {
			if have && !live {
				return yield(cur, nil)
			}
			return true
		}
		it := s.bucket.Objects(ctx, q)
		for {
			attrs, err := it.Next()
			if errors.Is(err, iterator.Done) {
				flush()
				return
			}
			if err != nil {
				yield(backup.ObjectInfo{}, fmt.Errorf("gcs: list versions %q: %w", prefix, err))
				return
			}
			key := strings.TrimPrefix(attrs.Name, s.cfg.Prefix)
			if !have || key != cur.Key {
				if !flush() {
					return
				}
				cur, live, have = backup.ObjectInfo{Key: key}, false, true
			}
			if attrs.Deleted.IsZero() {
				live = true
			}
			if attrs.Updated.After(cur.ModTime) {
				cur.Size, cur.ModTime = attrs.Size, attrs.Updated
			}
		}
	}
}

// String names the sink for status, metrics and the local backup cursor:
// "gs://BUCKET/PREFIX" on GCS, "gs+ENDPOINT/BUCKET/PREFIX" (for example
// "gs+http://127.0.0.1:4443/logs/") on an emulator.
func (s *Sink) String() string {
	if s.cfg.Endpoint == "" {
		return "gs://" + s.cfg.Bucket + "/" + s.cfg.Prefix
	}
	return "gs+" + strings.TrimSuffix(s.cfg.Endpoint, "/") + "/" + s.cfg.Bucket + "/" + s.cfg.Prefix
}
