// Package s3 implements backup.Sink on Amazon S3 and S3-compatible stores
// (MinIO, Ceph RGW, R2, ...) with github.com/aws/aws-sdk-go-v2.
//
// Credentials and region come from the SDK's default chain
// (config.LoadDefaultConfig): the AWS_* environment variables, the shared
// config and credentials files, web identity, ECS and EC2 instance roles.
//
// # Integrity
//
// Every object is sent with its SHA-256 in x-amz-checksum-sha256, so the
// store refuses a body that was damaged on the way (backup.ErrChecksum) and
// keeps the checksum with the object; Get and Stat ask for it back
// (x-amz-checksum-mode: ENABLED) and Get verifies the body as it is read.
// Objects of Config.MultipartThreshold bytes or more are uploaded in parts,
// each part with its own SHA-256 that the store checks; since S3 keeps only a
// checksum of the part checksums for such objects, the sink checks the whole
// body's SHA-256 itself before uploading and stores it in the object's
// metadata (key "tol-sha256") for Get and Stat.
//
// # Write once
//
// PutOptions.IfNotExists sends If-None-Match: * (on PutObject, or on
// CompleteMultipartUpload), which S3 answers with 412 Precondition Failed
// (backup.ErrExist) when the key exists. PutOptions.IfMatch sends If-Match
// with the ETag that Get and Stat return as ObjectInfo.Version; S3 answers 412
// (or 404 when the key is gone), both backup.ErrChanged. With
// Config.ObjectLockMode set, every object but a PutOptions.Mutable one is
// also put under S3 Object Lock retention, so that not even
// the bucket owner (COMPLIANCE) can delete or overwrite a version before
// Config.ObjectLockRetention has passed. The bucket must have been created
// with Object Lock enabled.
package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/treeoflife/treeoflife/backup"
	"github.com/treeoflife/treeoflife/backup/internal/sinkutil"
)

// Type names this backend in configuration and logs.
const Type = "s3"

var _ backup.Sink = (*Sink)(nil)

// Defaults for the zero fields of Config.
const (
	// DefaultMultipartThreshold is the body size from which Put uploads in
	// parts. Below it one PutObject carries the whole body, which is both
	// cheaper and the only way to get a full-object SHA-256 checked by S3.
	DefaultMultipartThreshold = 64 << 20

	// DefaultPartSize is the size of each part but the last.
	DefaultPartSize = 16 << 20

	// MinPartSize is S3's smallest part (but the last).
	MinPartSize = 5 << 20

	// MaxParts is S3's largest number of parts in one upload.
	MaxParts = 10000

	// DefaultMaxAttempts and DefaultMaxBackoff configure the SDK retryer;
	// see newRetryer for why.
	DefaultMaxAttempts = 3
	DefaultMaxBackoff  = 500 * time.Millisecond

	// Timeouts of one HTTP attempt; see newHTTPClient for why.
	dialTimeout           = 2 * time.Second
	tlsHandshakeTimeout   = 3 * time.Second
	responseHeaderTimeout = 5 * time.Second
)

// Server-side encryption settings for Config.SSE.
const (
	SSENone = ""
	SSES3   = "AES256"  // keys managed by S3 (SSE-S3)
	SSEKMS  = "aws:kms" // keys in AWS KMS (SSE-KMS); see Config.KMSKeyID
)

// Object Lock modes for Config.ObjectLockMode.
const (
	ObjectLockNone = ""
	// ObjectLockCompliance: nobody, not even the root account, can delete
	// the version or shorten its retention.
	ObjectLockCompliance = "COMPLIANCE"
	// ObjectLockGovernance: only users with s3:BypassGovernanceRetention
	// can.
	ObjectLockGovernance = "GOVERNANCE"
)

// Config configures a Sink. Only Bucket is required.
type Config struct {
	// Bucket is the bucket's name. The bucket must exist.
	Bucket string

	// Region is the bucket's region. Empty: the SDK's default chain
	// (AWS_REGION, the shared config file), or "us-east-1" with a custom
	// Endpoint and nothing else configured.
	Region string

	// Endpoint is the base URL of an S3-compatible store, for example
	// "http://127.0.0.1:9000" for a local MinIO. Empty means AWS.
	Endpoint string

	// UsePathStyle addresses buckets as ENDPOINT/BUCKET/KEY rather than
	// BUCKET.ENDPOINT/KEY. Most S3-compatible stores need it.
	UsePathStyle bool

	// Prefix is put before every key on the store, so that several logs or
	// tenants can share a bucket. Empty, or path elements that end in '/'
	// (such as "prod/tenant-42/"). Keys in ObjectInfo never include it.
	Prefix string

	// SSE selects server-side encryption: SSENone (the bucket's default),
	// SSES3 or SSEKMS.
	SSE string

	// KMSKeyID is the KMS key for SSEKMS. Empty means the account's AWS
	// managed key. Only valid with SSE == SSEKMS.
	KMSKeyID string

	// ObjectLockMode puts every object under Object Lock retention:
	// ObjectLockNone, ObjectLockCompliance or
	// ObjectLockGovernance. It requires ObjectLockRetention.
	ObjectLockMode string

	// ObjectLockRetention is how long, from the Put, each object version is
	// retained. Only valid with ObjectLockMode.
	ObjectLockRetention time.Duration

	// MultipartThreshold is the body size from which Put uploads in parts.
	// Zero means DefaultMultipartThreshold.
	MultipartThreshold int64

	// PartSize is the size of each part but the last, at least MinPartSize.
	// Zero means DefaultPartSize. A body too large for MaxParts parts of
	// this size gets larger parts.
	PartSize int64

	// MaxAttempts is how many times the SDK tries one request before Put,
	// Get, Stat or List returns its error. Zero means DefaultMaxAttempts.
	MaxAttempts int

	// AWS, when not nil, is the AWS configuration the sink uses (its
	// credentials, region, HTTP client, endpoint resolver...), instead of
	// loading the default chain (environment, shared files, instance role).
	// Region, Endpoint and UsePathStyle still apply when set, and the
	// sink's own retryer (MaxAttempts, short backoff) replaces the
	// config's, so that an outage is reported within seconds.
	AWS *aws.Config

	// Client, when not nil, is used as it is, for a caller that builds its
	// own *s3.Client (middleware, tracing, a custom resolver). Region,
	// Endpoint, UsePathStyle, MaxAttempts and AWS must then be unset: the
	// client's own configuration applies, retries included.
	Client *s3.Client
}

// Sink is a backup.Sink on an S3 bucket. Its methods are safe for concurrent
// use.
type Sink struct {
	cfg    Config
	client *s3.Client
}

// New checks cfg and returns a Sink. It loads the SDK's default
// configuration but sends no request: a wrong bucket or missing credentials
// show in the first call.
func New(ctx context.Context, cfg Config) (*Sink, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if cfg.Client != nil {
		return &Sink{cfg: cfg, client: cfg.Client}, nil
	}
	var awsCfg aws.Config
	if cfg.AWS != nil {
		awsCfg = cfg.AWS.Copy()
		awsCfg.Retryer = cfg.newRetryer
		if cfg.Region != "" {
			awsCfg.Region = cfg.Region
		}
	} else {
		opts := []func(*config.LoadOptions) error{config.WithRetryer(cfg.newRetryer), config.WithHTTPClient(newHTTPClient())}
		if cfg.Region != "" {
			opts = append(opts, config.WithRegion(cfg.Region))
		}
		var err error
		awsCfg, err = config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("s3: loading AWS configuration: %w", err)
		}
	}
	if awsCfg.Region == "" && cfg.Endpoint != "" {
		// S3-compatible stores ignore the region but SigV4 needs one.
		awsCfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.UsePathStyle
		// Multipart objects have composite checksums that the SDK cannot
		// validate; it would log a warning for each Get. The sink checks
		// those bodies itself (see Get).
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	return &Sink{cfg: cfg, client: client}, nil
}

func (c *Config) setDefaults() error {
	if c.Bucket == "" {
		return errors.New("s3: Config.Bucket is empty")
	}
	if c.Client != nil {
		switch {
		case c.AWS != nil:
			return errors.New("s3: Config.AWS is set with Config.Client; the client carries its own configuration")
		case c.Region != "" || c.Endpoint != "" || c.UsePathStyle:
			return errors.New("s3: Config.Region, Endpoint or UsePathStyle is set with Config.Client; configure the client instead")
		case c.MaxAttempts != 0:
			return errors.New("s3: Config.MaxAttempts is set with Config.Client; set the client's retryer instead")
		}
	}
	if c.Prefix != "" {
		if !strings.HasSuffix(c.Prefix, "/") || backup.ValidateKey(strings.TrimSuffix(c.Prefix, "/")) != nil {
			return fmt.Errorf("s3: Config.Prefix %q must be path elements ending in '/', like \"logs/\"", c.Prefix)
		}
	}
	switch c.SSE {
	case SSENone, SSES3:
		if c.KMSKeyID != "" {
			return fmt.Errorf("s3: Config.KMSKeyID is set but Config.SSE is %q, not %q", c.SSE, SSEKMS)
		}
	case SSEKMS:
	default:
		return fmt.Errorf("s3: Config.SSE %q is not %q, %q or %q", c.SSE, SSENone, SSES3, SSEKMS)
	}
	switch c.ObjectLockMode {
	case ObjectLockNone:
		if c.ObjectLockRetention != 0 {
			return errors.New("s3: Config.ObjectLockRetention is set but Config.ObjectLockMode is empty")
		}
	case ObjectLockCompliance, ObjectLockGovernance:
		if c.ObjectLockRetention <= 0 {
			return fmt.Errorf("s3: Config.ObjectLockMode is %s but Config.ObjectLockRetention is not positive", c.ObjectLockMode)
		}
	default:
		return fmt.Errorf("s3: Config.ObjectLockMode %q is not %q or %q", c.ObjectLockMode, ObjectLockCompliance, ObjectLockGovernance)
	}
	if c.MultipartThreshold == 0 {
		c.MultipartThreshold = DefaultMultipartThreshold
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.PartSize < MinPartSize {
		return fmt.Errorf("s3: Config.PartSize %d is less than S3's minimum %d", c.PartSize, MinPartSize)
	}
	if c.MultipartThreshold < 0 {
		return fmt.Errorf("s3: Config.MultipartThreshold %d is negative", c.MultipartThreshold)
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxAttempts < 0 {
		return fmt.Errorf("s3: Config.MaxAttempts %d is negative", c.MaxAttempts)
	}
	return nil
}

// newRetryer returns the SDK retryer; the SDK calls it once per client.
//
// The backup shipper above this sink retries every failed batch, forever,
// with its own backoff, from a cursor persisted on disk, and reports each
// failed attempt (BackupStatus.LastError, the lag metric). So the SDK only
// rides out a blip inside one call (a reset connection, a 500, a 503
// SlowDown), and must not hide an outage: with the SDK's defaults (3
// attempts, up to 20s apart) or this sink's former ones (5 attempts, up to
// 5s apart), a stopped server was reported 10 to 13 seconds late, while
// every call retried a refused connection. Three attempts at most 500ms
// apart return a refused or failing call within about a second (two
// jittered waits of at most 500ms), and a failure of the whole store within
// 2s; the shipper's backoff does the waiting after that. The standard
// retryer's client-side retry quota stays on: during a long outage it makes
// calls fail at once instead of each retrying in vain.
//
// 409 ConditionalRequestConflict (another conditional write of the same key
// was in flight) is retried too, as S3 documents; the retry then ends in
// success or in 412, i.e. backup.ErrExist. Retrying a conditional PutObject
// whose first attempt did succeed also ends in 412: Put's contract tells
// callers to compare Stat's SHA-256 after ErrExist.
func (c *Config) newRetryer() aws.Retryer {
	r := retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = c.MaxAttempts
		o.MaxBackoff = DefaultMaxBackoff
	})
	return retry.AddWithErrorCodes(r, "ConditionalRequestConflict")
}

// newHTTPClient returns the SDK's HTTP client with short timeouts for the
// parts of an attempt that take milliseconds when the store is up: opening a
// connection (the SDK default is 30s, so an unreachable host that drops
// packets held each of the retryer's attempts that long), the TLS handshake
// (10s by default) and waiting for the response headers once the body is
// sent (none by default: a store that accepted a connection and hangs held
// the attempt until the shipper's own 30s deadline). Sending the body has no
// timeout of its own, since a large part on a slow link takes as long as it
// takes; ctx bounds it.
func newHTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = dialTimeout }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.TLSHandshakeTimeout = tlsHandshakeTimeout
			tr.ResponseHeaderTimeout = responseHeaderTimeout
		})
}

// Client returns the SDK client, for operations outside backup.Sink (tests
// and tools that manage buckets or delete).
func (s *Sink) Client() *s3.Client { return s.client }

// Bucket returns the configured bucket.
func (s *Sink) Bucket() string { return s.cfg.Bucket }

func (s *Sink) storeKey(key string) string { return s.cfg.Prefix + key }

func checkKey(prefix, key string) error {
	if err := backup.ValidateKey(key); err != nil {
		return err
	}
	if len(prefix)+len(key) > backup.MaxKeyLen {
		return fmt.Errorf("%w: %d bytes with the prefix %q, more than %d", backup.ErrInvalidKey, len(prefix)+len(key), prefix, backup.MaxKeyLen)
	}
	return nil
}

func b64(sum []byte) *string { return aws.String(base64.StdEncoding.EncodeToString(sum)) }

// wrap maps an SDK error to the backup sentinels.
func wrap(op, key string, err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound": // NotFound: HEAD has no body to say more
			return fmt.Errorf("s3: %s %q: %w: %w", op, key, backup.ErrNotExist, err)
		case "PreconditionFailed":
			return fmt.Errorf("s3: %s %q: %w: %w", op, key, backup.ErrExist, err)
		case "BadDigest", "XAmzContentChecksumMismatch", "XAmzContentSHA256Mismatch", "InvalidDigest":
			return fmt.Errorf("s3: %s %q: %w: %w", op, key, backup.ErrChecksum, err)
		}
	}
	return fmt.Errorf("s3: %s %q: %w", op, key, err)
}

// Put implements backup.Sink.
func (s *Sink) Put(ctx context.Context, key string, body []byte, sum [sha256.Size]byte, opts backup.PutOptions) error {
	if err := checkKey(s.cfg.Prefix, key); err != nil {
		return fmt.Errorf("s3: put %q: %w", key, err)
	}
	if err := backup.ValidateMetadata(opts.Metadata); err != nil {
		return fmt.Errorf("s3: put %q: %w", key, err)
	}
	if err := backup.CheckPutOptions(opts); err != nil {
		return fmt.Errorf("s3: put %q: %w", key, err)
	}
	if int64(len(body)) >= s.cfg.MultipartThreshold && len(body) > 0 {
		return s.putMultipart(ctx, key, body, sum, opts)
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.cfg.Bucket),
		Key:           aws.String(s.storeKey(key)),
		Body:          bytes.NewReader(body), // seekable: the SDK rewinds it to retry
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String("application/octet-stream"),
		// S3 computes the body's SHA-256 and refuses the PUT with BadDigest if
		// it differs; the sink does not check sum itself, so that the
		// comparison happens where the bytes landed.
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
		ChecksumSHA256:    b64(sum[:]),
		Metadata:          maps.Clone(opts.Metadata),
	}
	if opts.IfNotExists {
		in.IfNoneMatch = aws.String("*")
	}
	if opts.IfMatch != "" {
		in.IfMatch = aws.String(opts.IfMatch)
	}
	if s.cfg.SSE != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(s.cfg.SSE)
		if s.cfg.KMSKeyID != "" {
			in.SSEKMSKeyId = aws.String(s.cfg.KMSKeyID)
		}
	}
	if s.cfg.ObjectLockMode != "" && !opts.Mutable {
		in.ObjectLockMode = types.ObjectLockMode(s.cfg.ObjectLockMode)
		in.ObjectLockRetainUntilDate = aws.Time(time.Now().Add(s.cfg.ObjectLockRetention))
	}
	if _, err := s.client.PutObject(ctx, in, payloadHash(sum)); err != nil {
		return wrapPut(key, err, opts)
	}
	return nil
}

// payloadHash gives the SDK the body's SHA-256, which the caller has, for
// the request's signature (x-amz-content-sha256), where it would otherwise
// hash the body again. The store checks it against the body as it does the
// checksum header: a wrong sum is refused (backup.ErrChecksum).
func payloadHash(sum [sha256.Size]byte) func(*s3.Options) {
	h := hex.EncodeToString(sum[:])
	set := middleware.FinalizeMiddlewareFunc("tolPayloadHash", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		return next.HandleFinalize(v4.SetPayloadHash(ctx, h), in)
	})
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			if _, ok := st.Finalize.Get((&v4.ComputePayloadSHA256{}).ID()); !ok {
				return nil // an unsigned payload: nothing is hashed
			}
			return st.Finalize.Insert(set, (&v4.ComputePayloadSHA256{}).ID(), middleware.Before)
		})
	}
}

// wrapPut is wrap for Put: with IfMatch, both 412 (another version) and
// 404 (no object) mean backup.ErrChanged.
func wrapPut(key string, err error, opts backup.PutOptions) error {
	err = wrap("put", key, err)
	if opts.IfMatch != "" && (errors.Is(err, backup.ErrExist) || errors.Is(err, backup.ErrNotExist)) {
		return fmt.Errorf("%w: %w", backup.ErrChanged, err)
	}
	return err
}

// putMultipart uploads body in parts, each with its SHA-256 checked by the
// store, and completes the upload conditionally if asked.
func (s *Sink) putMultipart(ctx context.Context, key string, body []byte, sum [sha256.Size]byte, opts backup.PutOptions) (err error) {
	// S3 keeps only a checksum of part checksums for a multipart object, so
	// the whole body's SHA-256 is checked here, before anything is sent.
	if err := sinkutil.CheckSum(body, sum); err != nil {
		return fmt.Errorf("s3: put %q: %w", key, err)
	}
	if opts.IfNotExists {
		// Not needed for correctness (CompleteMultipartUpload is
		// conditional too) but saves uploading every part only to be told
		// 412 at the end.
		if _, err := s.Stat(ctx, key); err == nil {
			return fmt.Errorf("s3: put %q: %w", key, backup.ErrExist)
		} else if !errors.Is(err, backup.ErrNotExist) {
			return fmt.Errorf("s3: put %q: %w", key, err)
		}
	}

	partSize := s.cfg.PartSize
	if n := (int64(len(body)) + partSize - 1) / partSize; n > MaxParts {
		partSize = (int64(len(body)) + MaxParts - 1) / MaxParts
	}

	create := &s3.CreateMultipartUploadInput{
		Bucket:            aws.String(s.cfg.Bucket),
		Key:               aws.String(s.storeKey(key)),
		ContentType:       aws.String("application/octet-stream"),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
		Metadata:          sinkutil.StoredMetadata(opts.Metadata, sum),
	}
	if s.cfg.SSE != "" {
		create.ServerSideEncryption = types.ServerSideEncryption(s.cfg.SSE)
		if s.cfg.KMSKeyID != "" {
			create.SSEKMSKeyId = aws.String(s.cfg.KMSKeyID)
		}
	}
	if s.cfg.ObjectLockMode != "" && !opts.Mutable {
		create.ObjectLockMode = types.ObjectLockMode(s.cfg.ObjectLockMode)
		create.ObjectLockRetainUntilDate = aws.Time(time.Now().Add(s.cfg.ObjectLockRetention))
	}
	up, err := s.client.CreateMultipartUpload(ctx, create)
	if err != nil {
		return wrap("put", key, err)
	}
	defer func() {
		if err == nil {
			return
		}
		// Abort so the store drops the parts (they are billed until then),
		// even if ctx is what failed.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket:   aws.String(s.cfg.Bucket),
			Key:      aws.String(s.storeKey(key)),
			UploadId: up.UploadId,
		})
	}()

	var parts []types.CompletedPart
	for off, n := int64(0), int32(1); off < int64(len(body)); off, n = off+partSize, n+1 {
		part := body[off:min(off+partSize, int64(len(body)))]
		psum := sha256.Sum256(part)
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:            aws.String(s.cfg.Bucket),
			Key:               aws.String(s.storeKey(key)),
			UploadId:          up.UploadId,
			PartNumber:        aws.Int32(n),
			Body:              bytes.NewReader(part),
			ContentLength:     aws.Int64(int64(len(part))),
			ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
			ChecksumSHA256:    b64(psum[:]),
		}, payloadHash(psum))
		if err != nil {
			return wrap("put", key, err)
		}
		parts = append(parts, types.CompletedPart{
			ETag:           out.ETag,
			PartNumber:     aws.Int32(n),
			ChecksumSHA256: b64(psum[:]),
		})
	}
	complete := &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.cfg.Bucket),
		Key:             aws.String(s.storeKey(key)),
		UploadId:        up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}
	if opts.IfNotExists {
		complete.IfNoneMatch = aws.String("*")
	}
	if opts.IfMatch != "" {
		complete.IfMatch = aws.String(opts.IfMatch)
	}
	if _, err := s.client.CompleteMultipartUpload(ctx, complete); err != nil {
		return wrapPut(key, err, opts)
	}
	return nil
}

// objectSum returns the full-object SHA-256 from the store's checksum
// header, or from the metadata for multipart objects (whose header holds a
// checksum of checksums, "<base64>-<parts>").
func objectSum(header *string, md map[string]string) []byte {
	if header != nil {
		if b, err := base64.StdEncoding.DecodeString(*header); err == nil && len(b) == sha256.Size {
			return b
		}
	}
	return sinkutil.SumFromMetadata(md)
}

// Get implements backup.Sink.
func (s *Sink) Get(ctx context.Context, key string) (io.ReadCloser, backup.ObjectInfo, error) {
	if err := checkKey(s.cfg.Prefix, key); err != nil {
		return nil, backup.ObjectInfo{}, fmt.Errorf("s3: get %q: %w", key, err)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket:       aws.String(s.cfg.Bucket),
		Key:          aws.String(s.storeKey(key)),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return nil, backup.ObjectInfo{}, wrap("get", key, err)
	}
	info := backup.ObjectInfo{
		Key:      key,
		Size:     aws.ToInt64(out.ContentLength),
		Metadata: sinkutil.UserMetadata(out.Metadata),
		SHA256:   objectSum(out.ChecksumSHA256, out.Metadata),
		ModTime:  aws.ToTime(out.LastModified),
		Version:  aws.ToString(out.ETag),
	}
	// The SDK validates single-part bodies against x-amz-checksum-sha256
	// too; this also covers multipart bodies and maps a mismatch to
	// backup.ErrChecksum.
	rc := sinkutil.VerifyingReader(out.Body, info.SHA256, info.Size, fmt.Sprintf("s3: get %q", key))
	return rc, info, nil
}

// Stat implements backup.Sink.
func (s *Sink) Stat(ctx context.Context, key string) (backup.ObjectInfo, error) {
	if err := checkKey(s.cfg.Prefix, key); err != nil {
		return backup.ObjectInfo{}, fmt.Errorf("s3: stat %q: %w", key, err)
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket:       aws.String(s.cfg.Bucket),
		Key:          aws.String(s.storeKey(key)),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return backup.ObjectInfo{}, wrap("stat", key, err)
	}
	return backup.ObjectInfo{
		Key:      key,
		Size:     aws.ToInt64(out.ContentLength),
		Metadata: sinkutil.UserMetadata(out.Metadata),
		SHA256:   objectSum(out.ChecksumSHA256, out.Metadata),
		ModTime:  aws.ToTime(out.LastModified),
		Version:  aws.ToString(out.ETag),
	}, nil
}

// List implements backup.Sink with ListObjectsV2, 1000 keys a page. S3
// returns keys in UTF-8 binary order, which is byte order.
func (s *Sink) List(ctx context.Context, prefix string) iter.Seq2[backup.ObjectInfo, error] {
	return func(yield func(backup.ObjectInfo, error) bool) {
		p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
			Bucket: aws.String(s.cfg.Bucket),
			Prefix: aws.String(s.storeKey(prefix)),
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				yield(backup.ObjectInfo{}, fmt.Errorf("s3: list %q: %w", prefix, err))
				return
			}
			for _, obj := range page.Contents {
				info := backup.ObjectInfo{
					Key:     strings.TrimPrefix(aws.ToString(obj.Key), s.cfg.Prefix),
					Size:    aws.ToInt64(obj.Size),
					ModTime: aws.ToTime(obj.LastModified),
				}
				if !yield(info, nil) {
					return
				}
			}
		}
	}
}

var _ backup.VersionLister = (*Sink)(nil)

// ListDeleted implements backup.VersionLister with ListObjectVersions, 1000
// entries a page: a key whose latest version is a delete marker while an
// older version holds data is a deleted object. On a bucket that never had
// versioning every object has the one version "null" and nothing is
// yielded. It needs s3:ListBucketVersions, which is a separate permission
// from the s3:ListBucket that List needs.
func (s *Sink) ListDeleted(ctx context.Context, prefix string) iter.Seq2[backup.ObjectInfo, error] {
	return func(yield func(backup.ObjectInfo, error) bool) {
		// A key's versions may span pages, and each page lists versions
		// and delete markers apart: collect, then decide.
		hidden := map[string]bool{}              // keys whose latest version is a delete marker
		stored := map[string]backup.ObjectInfo{} // newest version holding data, by key
		in := &s3.ListObjectVersionsInput{
			Bucket: aws.String(s.cfg.Bucket),
			Prefix: aws.String(s.storeKey(prefix)),
		}
		for {
			page, err := s.client.ListObjectVersions(ctx, in)
			if err != nil {
				yield(backup.ObjectInfo{}, fmt.Errorf("s3: list versions %q: %w", prefix, err))
				return
			}
			for _, m := range page.DeleteMarkers {
				if aws.ToBool(m.IsLatest) {
					hidden[strings.TrimPrefix(aws.ToString(m.Key), s.cfg.Prefix)] = true
				}
			}
			for _, v := range page.Versions {
				key := strings.TrimPrefix(aws.ToString(v.Key), s.cfg.Prefix)
				mod := aws.ToTime(v.LastModified)
				if old, ok := stored[key]; !ok || mod.After(old.ModTime) {
					stored[key] = backup.ObjectInfo{Key: key, Size: aws.ToInt64(v.Size), ModTime: mod}
				}
			}
			if !aws.ToBool(page.IsTruncated) {
				break
			}
			in.KeyMarker, in.VersionIdMarker = page.NextKeyMarker, page.NextVersionIdMarker
		}
		keys := make([]string, 0, len(hidden))
		for k := range hidden {
			if _, ok := stored[k]; ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !yield(stored[k], nil) {
				return
			}
		}
	}
}

// String names the sink for status, metrics and the local backup cursor:
// "s3://BUCKET/PREFIX" on AWS, "s3+ENDPOINT/BUCKET/PREFIX" (for example
// "s3+http://127.0.0.1:9000/logs/") on a custom Endpoint, or the client's
// base endpoint when Config.Client was given with one.
func (s *Sink) String() string {
	endpoint := s.cfg.Endpoint
	if endpoint == "" && s.cfg.Client != nil {
		endpoint = aws.ToString(s.cfg.Client.Options().BaseEndpoint)
	}
	if endpoint == "" {
		return "s3://" + s.cfg.Bucket + "/" + s.cfg.Prefix
	}
	return "s3+" + strings.TrimSuffix(endpoint, "/") + "/" + s.cfg.Bucket + "/" + s.cfg.Prefix
}
