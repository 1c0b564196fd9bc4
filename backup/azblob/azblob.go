// Package azblob implements backup.Sink on Azure Blob Storage with
// github.com/Azure/azure-sdk-for-go/sdk/storage/azblob.
//
// Each object is a block blob in one container. Credentials come from
// Config: a connection string, an account name and key (Shared Key), a SAS
// token, or an azcore.TokenCredential (Microsoft Entra ID, for example
// azidentity.NewDefaultAzureCredential, which this package does not import so
// that programs that use a key do not link it). ConfigFromEnv reads the
// variables the Azure tools use: AZURE_STORAGE_CONNECTION_STRING,
// AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN.
//
// # Integrity
//
// Azure keeps no SHA-256 of a blob. Put checks the caller's SHA-256 against
// the body, then sends the body's MD5 as Content-MD5, which the store checks
// (a mismatch is refused, with Md5Mismatch or, on Azurite, InvalidOperation:
// backup.ErrChecksum) and keeps as the blob's Content-MD5, and keeps the SHA-256 in the blob's metadata (key
// "tol_sha256"). Get checks the SHA-256 as the body is read. Each Put is one
// Put Blob request, so a body is stored whole or not at all; bodies larger
// than blockblob.MaxUploadBlobBytes (256 MiB) are refused (a batch of the
// backup shipper is far smaller).
//
// # Metadata
//
// Azure metadata names must be C# identifiers, which may not contain '-'.
// Since backup metadata keys are lower-case letters, digits and '-' (see
// backup.ValidateMetadata), the sink stores each '-' as '_' and turns it back
// on the way out; the mapping is one to one.
//
// # Write once
//
// PutOptions.IfNotExists sends If-None-Match: *, which the store answers
// with 409 BlobAlreadyExists (backup.ErrExist) when the blob exists.
// PutOptions.IfMatch sends If-Match with the ETag that Get and Stat return as
// ObjectInfo.Version; a blob of another version, or none, fails the
// condition (412 ConditionNotMet, or 404 BlobNotFound): backup.ErrChanged.
//
// Config.ImmutabilityMode and Config.ImmutabilityPeriod put every blob but a
// PutOptions.Mutable one under a version-level immutability policy (WORM),
// and Config.LegalHold under a legal hold, so that it cannot be deleted or
// overwritten until the policy expires or the hold is cleared. The container
// must have version-level immutability support enabled (which turns on blob
// versioning). To keep every batch for seven years, set ImmutabilityMode to
// ImmutabilityLocked and ImmutabilityPeriod to 7*365*24h plus the leap days
// (61368h).
//
// # Versions
//
// Sink implements backup.VersionLister: on a storage account with blob
// versioning (or blob soft delete), deleting a blob keeps its earlier
// versions, and ListDeleted yields the keys that have versions but no
// current blob.
//
// # Azurite
//
// The Azure Storage emulator Azurite, against which this package is tested,
// supports everything above except blob versions, blob soft delete,
// version-level WORM, immutability policies and legal holds. There,
// ListDeleted yields nothing (a deleted blob is gone). Azurite accepts the
// immutability and legal-hold headers of Put Blob but neither stores nor
// enforces them, and answers 501 to Set Immutability Policy and Set Legal
// Hold; so after the first protected Put the sink reads the blob's
// properties back, and on a store that did not apply them it fails that Put
// and refuses every later protected one with ErrNotProtected, rather than
// ship backups that anyone could delete. Connect to Azurite with its
// well-known development account devstoreaccount1 and an Endpoint such as
// http://127.0.0.1:10000/devstoreaccount1.
package azblob

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/treeoflife/treeoflife/backup"
	"github.com/treeoflife/treeoflife/backup/internal/sinkutil"
)

// Type names this backend in configuration and logs: BACKUP_PROVIDER=azure.
const Type = "azure"

var _ backup.Sink = (*Sink)(nil)

// Defaults for the zero fields of Config.
const (
	// DefaultMaxAttempts and DefaultMaxBackoff configure the SDK's retries;
	// see New for why.
	DefaultMaxAttempts = 3
	DefaultMaxBackoff  = 500 * time.Millisecond

	// Timeouts of one HTTP attempt, as in backup/s3.
	dialTimeout           = 2 * time.Second
	tlsHandshakeTimeout   = 3 * time.Second
	responseHeaderTimeout = 5 * time.Second

	// listPageSize is how many blobs one List request asks for, as S3
	// and GCS return (Azure's maximum is 5000).
	listPageSize = 1000
)

// Immutability policy modes for Config.ImmutabilityMode.
const (
	ImmutabilityNone     = ""
	ImmutabilityUnlocked = "Unlocked" // can be shortened or removed by an admin
	ImmutabilityLocked   = "Locked"   // can only be extended
)

// Config configures a Sink. Container is required, and one way to
// authenticate: ConnectionString, Account with AccountKey, SASToken (with
// Account or Endpoint), or Credential (with Account or Endpoint).
type Config struct {
	// Container is the container's name. The container must exist.
	Container string

	// Prefix is put before every key on the store, so that several logs or
	// tenants can share a container. Empty, or path elements that end in
	// '/' (such as "prod/tenant-42/"). Keys in ObjectInfo never include it.
	Prefix string

	// ConnectionString is a storage account connection string
	// ("DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...;"),
	// with the account's key or a SAS. It excludes the other credentials
	// and Endpoint (a BlobEndpoint in it sets that).
	ConnectionString string

	// Account is the storage account's name.
	Account string

	// AccountKey is the account's key (base64), for Shared Key
	// authentication. Requires Account.
	AccountKey string

	// SASToken is a shared access signature ("sv=...&sig=..."), with or
	// without the leading '?'.
	SASToken string

	// Credential authenticates with Microsoft Entra ID, for example
	// azidentity.NewDefaultAzureCredential(nil).
	Credential azcore.TokenCredential

	// Endpoint is the blob service's URL. Empty means
	// https://ACCOUNT.blob.core.windows.net; for Azurite it is
	// http://127.0.0.1:10000/devstoreaccount1.
	Endpoint string

	// ImmutabilityMode puts every blob under a version-level immutability
	// policy: ImmutabilityNone, ImmutabilityUnlocked or ImmutabilityLocked.
	// It requires ImmutabilityPeriod.
	ImmutabilityMode string

	// ImmutabilityPeriod is how long, from the Put, each blob is immutable.
	// Only valid with ImmutabilityMode.
	ImmutabilityPeriod time.Duration

	// LegalHold puts every blob under a legal hold: it cannot be deleted or
	// overwritten until the hold is cleared.
	LegalHold bool

	// MaxAttempts is how many times the SDK tries one request before the
	// sink returns its error. Zero means DefaultMaxAttempts.
	MaxAttempts int
}

// Sink is a backup.Sink on an Azure Blob Storage container. Its methods are
// safe for concurrent use.
type Sink struct {
	cfg    Config
	client *container.Client

	// protection is the outcome of checking, after the first protected
	// Put, that the store applied the immutability policy and legal hold;
	// see checkProtection.
	protectionOK  atomic.Bool
	protectionErr atomic.Pointer[error]
}

// New checks cfg and returns a Sink. It sends no request: a wrong container
// or credential shows in the first call.
func New(ctx context.Context, cfg Config) (*Sink, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	client, err := cfg.newClient()
	if err != nil {
		return nil, fmt.Errorf("azblob: %w", err)
	}
	return &Sink{cfg: cfg, client: client}, nil
}

func (c *Config) setDefaults() error {
	if c.Container == "" {
		return errors.New("azblob: Config.Container is empty")
	}
	if c.Prefix != "" {
		if !strings.HasSuffix(c.Prefix, "/") || backup.ValidateKey(strings.TrimSuffix(c.Prefix, "/")) != nil {
			return fmt.Errorf("azblob: Config.Prefix %q must be path elements ending in '/', like \"logs/\"", c.Prefix)
		}
	}
	c.SASToken = strings.TrimPrefix(c.SASToken, "?")
	c.Endpoint = strings.TrimSuffix(c.Endpoint, "/")
	creds := 0
	for _, set := range []bool{c.ConnectionString != "", c.AccountKey != "", c.SASToken != "", c.Credential != nil} {
		if set {
			creds++
		}
	}
	switch {
	case creds == 0:
		return errors.New("azblob: no credential: set Config.ConnectionString, Config.AccountKey, Config.SASToken or Config.Credential")
	case creds > 1:
		return errors.New("azblob: set only one of Config.ConnectionString, Config.AccountKey, Config.SASToken and Config.Credential")
	case c.ConnectionString != "" && (c.Endpoint != "" || c.Account != ""):
		return errors.New("azblob: Config.ConnectionString excludes Config.Account and Config.Endpoint (put a BlobEndpoint in the connection string)")
	case c.AccountKey != "" && c.Account == "":
		return errors.New("azblob: Config.AccountKey needs Config.Account")
	case c.ConnectionString == "" && c.Endpoint == "" && c.Account == "":
		return errors.New("azblob: Config.Account or Config.Endpoint is needed to find the blob service")
	}
	if c.Endpoint == "" && c.ConnectionString == "" {
		c.Endpoint = "https://" + c.Account + ".blob.core.windows.net"
	}
	switch c.ImmutabilityMode {
	case ImmutabilityNone:
		if c.ImmutabilityPeriod != 0 {
			return errors.New("azblob: Config.ImmutabilityPeriod is set but Config.ImmutabilityMode is empty")
		}
	case ImmutabilityUnlocked, ImmutabilityLocked:
		if c.ImmutabilityPeriod <= 0 {
			return fmt.Errorf("azblob: Config.ImmutabilityMode is %s but Config.ImmutabilityPeriod is not positive", c.ImmutabilityMode)
		}
	default:
		return fmt.Errorf("azblob: Config.ImmutabilityMode %q is not %q or %q", c.ImmutabilityMode, ImmutabilityUnlocked, ImmutabilityLocked)
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxAttempts < 0 {
		return fmt.Errorf("azblob: Config.MaxAttempts %d is negative", c.MaxAttempts)
	}
	return nil
}

// newClient returns the SDK's container client for c, with short retries.
//
// The backup shipper above this sink retries every failed batch, forever,
// with its own backoff, from a cursor persisted on disk, and reports each
// failed attempt (BackupStatus.LastError, the lag metric). So the SDK only
// rides out a blip inside one call (a reset connection, a 500, a 503), and
// must not hide an outage: its defaults (4 tries, waits of 4s growing to
// 60s, a minute per try) would report a stopped store minutes late. Three
// attempts with jittered waits of at most 500ms return a refused or failing
// call within about a second, as backup/s3 and backup/gcs do; the shipper's
// backoff does the waiting after that. The HTTP client has the short
// connect, TLS and response-header timeouts of backup/s3.
//
// A conditional Put that the SDK retries after its first attempt did
// succeed ends in backup.ErrExist: Put's contract tells callers to compare
// Stat's SHA-256 then.
func (c *Config) newClient() (*container.Client, error) {
	retries := int32(c.MaxAttempts - 1)
	if retries == 0 {
		retries = -1 // the SDK reads 0 as its default of 3
	}
	opts := &container.ClientOptions{ClientOptions: azcore.ClientOptions{
		Retry: policy.RetryOptions{
			MaxRetries:    retries,
			RetryDelay:    100 * time.Millisecond,
			MaxRetryDelay: DefaultMaxBackoff,
		},
		Transport: newHTTPClient(),
	}}
	if c.ConnectionString != "" {
		return container.NewClientFromConnectionString(c.ConnectionString, c.Container, opts)
	}
	u := c.Endpoint + "/" + c.Container
	switch {
	case c.AccountKey != "":
		cred, err := container.NewSharedKeyCredential(c.Account, c.AccountKey)
		if err != nil {
			return nil, err
		}
		return container.NewClientWithSharedKeyCredential(u, cred, opts)
	case c.SASToken != "":
		return container.NewClientWithNoCredential(u+"?"+c.SASToken, opts)
	default:
		return container.NewClient(u, c.Credential, opts)
	}
}

func newHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = tlsHandshakeTimeout
	tr.ResponseHeaderTimeout = responseHeaderTimeout
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: tr}
}

// Client returns the SDK's container client, for operations outside
// backup.Sink (tests and tools that create containers or delete).
func (s *Sink) Client() *container.Client { return s.client }

// Container returns the configured container's name.
func (s *Sink) Container() string { return s.cfg.Container }

func (s *Sink) blob(key string) *blockblob.Client {
	return s.client.NewBlockBlobClient(s.cfg.Prefix + key)
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

// wrap maps an SDK error to the backup sentinels.
func wrap(op, key string, err error) error {
	var rerr *azcore.ResponseError
	if errors.As(err, &rerr) {
		switch {
		case rerr.ErrorCode == string(bloberror.BlobNotFound),
			rerr.StatusCode == http.StatusNotFound && rerr.ErrorCode == "": // HEAD may have no code
			return fmt.Errorf("azblob: %s %q: %w: %w", op, key, backup.ErrNotExist, err)
		case rerr.ErrorCode == string(bloberror.BlobAlreadyExists),
			rerr.ErrorCode == string(bloberror.ConditionNotMet):
			return fmt.Errorf("azblob: %s %q: %w: %w", op, key, backup.ErrExist, err)
		case rerr.ErrorCode == string(bloberror.MD5Mismatch),
			rerr.ErrorCode == string(bloberror.CRC64Mismatch),
			rerr.ErrorCode == string(bloberror.InvalidMD5),
			// Azurite's answer to a wrong Content-MD5: 400
			// InvalidOperation "Provided contentMD5 doesn't match."
			rerr.ErrorCode == string(bloberror.InvalidOperation) && strings.Contains(strings.ToLower(err.Error()), "md5"):
			return fmt.Errorf("azblob: %s %q: %w: %w", op, key, backup.ErrChecksum, err)
		}
	}
	return fmt.Errorf("azblob: %s %q: %w", op, key, err)
}

// Metadata names: Azure allows C# identifiers only, so '-' is stored as
// '_', which backup metadata keys never contain.
func toAzure(md map[string]string) map[string]*string {
	out := make(map[string]*string, len(md))
	for k, v := range md {
		out[strings.ReplaceAll(k, "-", "_")] = to.Ptr(v)
	}
	return out
}

func fromAzure(md map[string]*string) map[string]string {
	out := make(map[string]string, len(md))
	for k, v := range md {
		if v != nil {
			out[strings.ReplaceAll(strings.ToLower(k), "_", "-")] = *v
		}
	}
	return out
}

// Put implements backup.Sink.
func (s *Sink) Put(ctx context.Context, key string, body []byte, sum [sha256.Size]byte, opts backup.PutOptions) error {
	if err := checkKey(s.cfg.Prefix, key); err != nil {
		return fmt.Errorf("azblob: put %q: %w", key, err)
	}
	if err := backup.ValidateMetadata(opts.Metadata); err != nil {
		return fmt.Errorf("azblob: put %q: %w", key, err)
	}
	if err := backup.CheckPutOptions(opts); err != nil {
		return fmt.Errorf("azblob: put %q: %w", key, err)
	}
	if int64(len(body)) > blockblob.MaxUploadBlobBytes {
		return fmt.Errorf("azblob: put %q: body of %d bytes is larger than one Put Blob (%d)", key, len(body), int64(blockblob.MaxUploadBlobBytes))
	}
	// Azure cannot check a SHA-256, so the sink does, before deriving the
	// MD5 that Azure checks from the same bytes.
	if err := sinkutil.CheckSum(body, sum); err != nil {
		return fmt.Errorf("azblob: put %q: %w", key, err)
	}
	m := md5.Sum(body)
	return s.put(ctx, key, body, m[:], sum, opts)
}

// put uploads body with the given Content-MD5, which Azure checks.
func (s *Sink) put(ctx context.Context, key string, body []byte, contentMD5 []byte, sum [sha256.Size]byte, opts backup.PutOptions) error {
	uo := &blockblob.UploadOptions{
		Metadata:                toAzure(sinkutil.StoredMetadata(opts.Metadata, sum)),
		TransactionalValidation: blob.TransferValidationTypeMD5(contentMD5),
		HTTPHeaders: &blob.HTTPHeaders{
			BlobContentType: to.Ptr("application/octet-stream"),
			BlobContentMD5:  contentMD5,
		},
	}
	switch {
	case opts.IfNotExists:
		uo.AccessConditions = &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}}
	case opts.IfMatch != "":
		uo.AccessConditions = &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: to.Ptr(azcore.ETag(opts.IfMatch))}}
	}
	protect := !opts.Mutable && (s.cfg.ImmutabilityMode != "" || s.cfg.LegalHold)
	if protect {
		if perr := s.protectionErr.Load(); perr != nil {
			return fmt.Errorf("azblob: put %q: %w", key, *perr)
		}
		if s.cfg.ImmutabilityMode != "" {
			uo.ImmutabilityPolicyMode = to.Ptr(blob.ImmutabilityPolicySetting(s.cfg.ImmutabilityMode))
			uo.ImmutabilityPolicyExpiryTime = to.Ptr(time.Now().Add(s.cfg.ImmutabilityPeriod))
		}
		if s.cfg.LegalHold {
			uo.LegalHold = to.Ptr(true)
		}
	}
	// The SDK resends the body on a retry: it must be seekable.
	_, err := s.blob(key).Upload(ctx, streaming.NopCloser(bytes.NewReader(body)), uo)
	if err == nil {
		if protect && !s.protectionOK.Load() {
			return s.checkProtection(ctx, key)
		}
		return nil
	}
	err = wrap("put", key, err)
	if opts.IfMatch != "" && (errors.Is(err, backup.ErrExist) || errors.Is(err, backup.ErrNotExist)) {
		return fmt.Errorf("%w: %w", backup.ErrChanged, err)
	}
	return err
}

// checkProtection reads back the properties of the first blob put under
// an immutability policy or legal hold. A store that accepted the request
// but did not apply them (Azurite ignores the headers) would otherwise hold
// the backup unprotected without a word: then this Put and every later
// protected one fail, the later ones before sending anything, so that the
// shipper reports the problem (BackupStatus.LastError) instead of shipping.
func (s *Sink) checkProtection(ctx context.Context, key string) error {
	p, err := s.blob(key).GetProperties(ctx, nil)
	if err != nil {
		return fmt.Errorf("azblob: put %q: checking that the store applied the immutability policy and legal hold: %w", key, wrap("stat", key, err))
	}
	var missing []string
	if s.cfg.ImmutabilityMode != "" && p.ImmutabilityPolicyExpiresOn == nil {
		missing = append(missing, "immutability policy")
	}
	if s.cfg.LegalHold && (p.LegalHold == nil || !*p.LegalHold) {
		missing = append(missing, "legal hold")
	}
	if len(missing) > 0 {
		perr := fmt.Errorf("%w: the store accepted but did not apply the %s (the Azurite emulator does not support them)", ErrNotProtected, strings.Join(missing, " and "))
		s.protectionErr.Store(&perr)
		return fmt.Errorf("azblob: put %q: %w", key, perr)
	}
	s.protectionOK.Store(true)
	return nil
}

// ErrNotProtected means the Sink is configured with an immutability policy
// or a legal hold that the store did not apply to a blob it stored. The
// Sink then refuses every Put that is not PutOptions.Mutable.
var ErrNotProtected = errors.New("azblob: blob not protected")

func info(key string, size *int64, modTime *time.Time, etag *azcore.ETag, md map[string]*string) backup.ObjectInfo {
	stored := fromAzure(md)
	oi := backup.ObjectInfo{
		Key:      key,
		Metadata: sinkutil.UserMetadata(stored),
		SHA256:   sinkutil.SumFromMetadata(stored),
	}
	if size != nil {
		oi.Size = *size
	}
	if modTime != nil {
		oi.ModTime = *modTime
	}
	if etag != nil {
		oi.Version = string(*etag)
	}
	return oi
}

// Get implements backup.Sink. One Get Blob request returns the body and
// the properties of the same blob, so the two always match.
func (s *Sink) Get(ctx context.Context, key string) (io.ReadCloser, backup.ObjectInfo, error) {
	if err := checkKey(s.cfg.Prefix, key); err != nil {
		return nil, backup.ObjectInfo{}, fmt.Errorf("azblob: get %q: %w", key, err)
	}
	resp, err := s.blob(key).DownloadStream(ctx, nil)
	if err != nil {
		return nil, backup.ObjectInfo{}, wrap("get", key, err)
	}
	oi := info(key, resp.ContentLength, resp.LastModified, resp.ETag, resp.Metadata)
	return sinkutil.VerifyingReader(resp.Body, oi.SHA256, oi.Size, fmt.Sprintf("azblob: get %q", key)), oi, nil
}

// Stat implements backup.Sink.
func (s *Sink) Stat(ctx context.Context, key string) (backup.ObjectInfo, error) {
	if err := checkKey(s.cfg.Prefix, key); err != nil {
		return backup.ObjectInfo{}, fmt.Errorf("azblob: stat %q: %w", key, err)
	}
	p, err := s.blob(key).GetProperties(ctx, nil)
	if err != nil {
		return backup.ObjectInfo{}, wrap("stat", key, err)
	}
	return info(key, p.ContentLength, p.LastModified, p.ETag, p.Metadata), nil
}

// List implements backup.Sink. Azure lists blob names in byte order (of
// their UTF-8), a page at a time.
func (s *Sink) List(ctx context.Context, prefix string) iter.Seq2[backup.ObjectInfo, error] {
	return func(yield func(backup.ObjectInfo, error) bool) {
		pager := s.client.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{
			Prefix:     to.Ptr(s.cfg.Prefix + prefix),
			MaxResults: to.Ptr(int32(listPageSize)),
		})
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				yield(backup.ObjectInfo{}, fmt.Errorf("azblob: list %q: %w", prefix, err))
				return
			}
			if page.Segment == nil {
				continue
			}
			for _, item := range page.Segment.BlobItems {
				if item.Name == nil {
					continue
				}
				oi := backup.ObjectInfo{Key: strings.TrimPrefix(*item.Name, s.cfg.Prefix)}
				if p := item.Properties; p != nil {
					oi = info(oi.Key, p.ContentLength, p.LastModified, p.ETag, nil)
					oi.Metadata = nil
				}
				if !yield(oi, nil) {
					return
				}
			}
		}
	}
}

// String names the sink for status, metrics and the local backup cursor:
// "azblob+" and the container's URL without its query (which may hold a
// SAS), then the prefix: for example
// "azblob+https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX".
func (s *Sink) String() string {
	u, _, _ := strings.Cut(s.client.URL(), "?")
	return "azblob+" + strings.TrimSuffix(u, "/") + "/" + s.cfg.Prefix
}
