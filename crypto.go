package treeoflife

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/scrypt"

	"github.com/treeoflife/treeoflife/internal/sha256x2"
)

// Encryption (FORMAT.md, "Encryption").
//
// Keys form a two-level hierarchy. Each log has its own data keys: random
// AES-256 keys that seal its records, numbered from 1 in its HEADER. A data
// key is stored in HEADER only wrapped (encrypted) by a master key that
// never touches the disk: Options.EncryptionKey, a key derived from
// Options.Passphrase, or a key held by a KeyProvider (a Keyring, or a KMS).
// The newest data key is the active one; older ones stay for reading.
//
// A sealed record's payload is an envelope:
//
//	0x02 || data key ID (4) || nonce (12) || AES-256-GCM ciphertext || tag (16)
//
// with additional data logID (16) || seq (8) || tenant length (1) || tenant
// || the envelope's first 5 bytes, so that a sealed record opens only at its
// own position in its own tenant's log. Version 0x01 envelopes, written
// before, have the additional data without the tenant and still open. The
// hash chain covers the envelope, so Verify needs no key.

// KeySize is the size of every key: AES-256.
const KeySize = 32

const (
	// The first byte of a sealed payload (an entry starts with '{'): records
	// are sealed as version 2, which binds the tenant; version 1 records,
	// written before, still open.
	sealedVersion      = 0x02
	sealedVersion1     = 0x01
	envelopeHeaderSize = 1 + 4
	nonceSize          = 12
	tagSize            = 16
	envelopeOverhead   = envelopeHeaderSize + nonceSize + tagSize
	recordAADSize      = 16 + 8 + 1 + MaxTenantIDLen + envelopeHeaderSize

	cipherName = "AES-256-GCM"
	kdfName    = "scrypt"

	maxWrappedKey   = 4096 // bytes of a wrapped data key (KMS ciphertexts included)
	maxMasterKeyID  = 2048 // characters of a master key ID (a KMS key ARN fits)
	maxDataKeys     = 1 << 16
	dataKeyAADLabel = "treeoflife data key\x00"
	keyIDLabel      = "treeoflife master key id"
)

// Scrypt parameters for new passphrase logs (N = 2^17, r = 8, p = 1, as
// OWASP recommends: about 128 MiB and 0.2-0.5 s per derivation, once per
// Open). HEADER records the parameters a log was created with, and they are
// what Open uses: logs created with N = 2^15 open as before. Variables so
// that tests can make them cheaper.
var (
	scryptN = 1 << 17
	scryptR = 8
	scryptP = 1
)

// dataKeyMaxRecords is how many records a data key seals before the logger
// starts a new one. With random 96-bit nonces, NIST SP 800-38D allows at
// most 2^32 messages per key; 2^30 keeps the chance of a nonce collision
// below 2^-37.
var dataKeyMaxRecords uint64 = 1 << 30

// dataKeyHardLimit is how many records a data key may seal at all: if
// starting a new data key keeps failing past dataKeyMaxRecords, records are
// refused (ErrKeyExhausted) this far below the 2^32 limit rather than seal
// more under one key.
var dataKeyHardLimit uint64 = 1<<32 - 1<<24

// legacySealing makes new data keys wrapped and records sealed as before
// the tenant was bound (legacy wrapping additional data, version 1
// envelopes). Only tests set it, to write logs in the earlier format.
var legacySealing bool

// wrapAAD is the additional data a new data key is wrapped with.
func wrapAAD(logID [16]byte, id uint32, tenant string) []byte {
	if legacySealing {
		return legacyDataKeyAAD(logID, id)
	}
	return dataKeyAAD(logID, id, tenant)
}

// A KeyProvider holds master keys and wraps (encrypts) and unwraps data keys
// with them, so that master keys never leave it: Keyring holds keys in
// memory; a KMS client implements it with the KMS's encrypt and decrypt
// calls. Its methods must be safe for concurrent use. Open calls them with
// context.Background(); RotateKey and RotateDataKey pass their context.
type KeyProvider interface {
	// ActiveKeyID names the master key that wraps new data keys. The ID is
	// stored in HEADER, so it must name the same key in every process and
	// must not be secret.
	ActiveKeyID() string

	// WrapKey encrypts dataKey under master key keyID with authenticated
	// additional data aad (AES-GCM additional data, or a KMS encryption
	// context): UnwrapKey must refuse the result with any other aad. It must
	// not keep dataKey.
	WrapKey(ctx context.Context, keyID string, dataKey, aad []byte) ([]byte, error)

	// UnwrapKey returns the data key that WrapKey wrapped. It returns an
	// error wrapping ErrKeyRequired when it does not hold keyID, and one
	// wrapping ErrWrongKey when wrapped does not open under keyID with aad.
	UnwrapKey(ctx context.Context, keyID string, wrapped, aad []byte) ([]byte, error)
}

// Keyring is the static KeyProvider: master keys held in memory, one of them
// active (it wraps new data keys), the others kept to unwrap the data keys
// they wrapped before. A key's ID is its fingerprint (KeyID), so HEADER
// names keys without revealing them, and a wrong key is told apart from a
// right one at Open. It wraps with AES-256-GCM: nonce (12) || ciphertext ||
// tag. It is safe for concurrent use.
type Keyring struct {
	mu     sync.RWMutex
	keys   map[string]cipher.AEAD
	active string
}

var _ KeyProvider = (*Keyring)(nil)

// NewKeyring returns a keyring holding active, which wraps new data keys,
// and older keys, which only unwrap. Every key is KeySize bytes; the keyring
// does not keep the caller's slices.
func NewKeyring(active []byte, older ...[]byte) (*Keyring, error) {
	k := &Keyring{keys: make(map[string]cipher.AEAD)}
	id, err := k.Add(active)
	if err != nil {
		return nil, err
	}
	for _, o := range older {
		if _, err := k.Add(o); err != nil {
			return nil, err
		}
	}
	k.active = id
	return k, nil
}

// Add adds key for unwrapping (and for SetActive) and returns its ID. Adding
// a key twice does nothing.
func (k *Keyring) Add(key []byte) (string, error) {
	if len(key) != KeySize {
		return "", fmt.Errorf("%w: key is %d bytes; AES-256 needs %d", ErrInvalidOptions, len(key), KeySize)
	}
	aead, err := newGCM(key)
	if err != nil {
		return "", err
	}
	id := KeyID(key)
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.keys[id]; !ok {
		k.keys[id] = aead
	}
	return id, nil
}

// SetActive makes the key with this ID (added before) the one that wraps new
// data keys.
func (k *Keyring) SetActive(id string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.keys[id]; !ok {
		return fmt.Errorf("%w: the keyring holds no key %s", ErrKeyRequired, id)
	}
	k.active = id
	return nil
}

// ActiveKeyID returns the ID of the key that wraps new data keys.
func (k *Keyring) ActiveKeyID() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.active
}

// IDs returns the IDs of the keys held, sorted.
func (k *Keyring) IDs() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	ids := make([]string, 0, len(k.keys))
	for id := range k.keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (k *Keyring) key(id string) (cipher.AEAD, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	aead, ok := k.keys[id]
	if !ok {
		return nil, fmt.Errorf("%w: master key %s is not in the keyring", ErrKeyRequired, id)
	}
	return aead, nil
}

// WrapKey implements KeyProvider.
func (k *Keyring) WrapKey(_ context.Context, keyID string, dataKey, aad []byte) ([]byte, error) {
	aead, err := k.key(keyID)
	if err != nil {
		return nil, err
	}
	out := make([]byte, nonceSize, nonceSize+len(dataKey)+tagSize)
	rand.Read(out)
	return aead.Seal(out, out[:nonceSize], dataKey, aad), nil
}

// UnwrapKey implements KeyProvider.
func (k *Keyring) UnwrapKey(_ context.Context, keyID string, wrapped, aad []byte) ([]byte, error) {
	aead, err := k.key(keyID)
	if err != nil {
		return nil, err
	}
	if len(wrapped) < nonceSize+tagSize {
		return nil, fmt.Errorf("%w: wrapped key is %d bytes, too short", ErrWrongKey, len(wrapped))
	}
	dk, err := aead.Open(nil, wrapped[:nonceSize], wrapped[nonceSize:], aad)
	if err != nil {
		return nil, fmt.Errorf("%w: wrapped data key does not open under master key %s", ErrWrongKey, keyID)
	}
	return dk, nil
}

// KeyID returns the ID a Keyring gives key: the first 8 bytes of
// HMAC-SHA256(key, "treeoflife master key id"), in hex. It identifies the
// key and checks it (a wrong key has another ID) without revealing it.
func KeyID(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(keyIDLabel))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// KeyFromEnv reads a KeySize-byte key from the environment variable name,
// in hex (64 digits) or base64 (standard or URL alphabet, padded or not),
// for Options.EncryptionKey. The error names the variable, never its value.
func KeyFromEnv(name string) ([]byte, error) {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return nil, fmt.Errorf("%w: environment variable %s is not set", ErrKeyRequired, name)
	}
	if k, err := hex.DecodeString(v); err == nil && len(k) == KeySize {
		return k, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(v); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: environment variable %s does not hold a %d-byte key in hex or base64", ErrInvalidOptions, name, KeySize)
}

// PassphraseKey returns the master key that Options.Passphrase gives the
// log in dir (scrypt with the salt and parameters in its HEADER), for a
// Keyring: after RotateKey on a passphrase log, reopen it with
// NewKeyring(newKey, passphraseKey).
func PassphraseKey(dir, passphrase string) ([]byte, error) {
	h, _, err := readHeader(dir)
	if err != nil {
		return nil, err
	}
	if h.Encryption == nil || h.Encryption.KDF == nil {
		return nil, fmt.Errorf("treeoflife: %s was not created with a passphrase", dir)
	}
	return h.Encryption.KDF.derive(passphrase)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// The encryption part of HEADER (FORMAT.md, "HEADER").
type headerEncryption struct {
	Cipher   string          `json:"cipher"`
	KDF      *headerKDF      `json:"kdf,omitempty"`
	DataKeys []headerDataKey `json:"dataKeys"`
}

// headerKDF is how the master key is derived from Options.Passphrase.
type headerKDF struct {
	Name string `json:"name"`
	Salt []byte `json:"salt"`
	N    int    `json:"n"`
	R    int    `json:"r"`
	P    int    `json:"p"`
}

// headerDataKey is one data key: wrapped by master key MasterKeyID, or
// erased (Wrapped absent, ErasedAt set). From is the log size when it became
// active.
type headerDataKey struct {
	ID          uint32     `json:"id"`
	From        uint64     `json:"from"`
	MasterKeyID string     `json:"masterKeyId"`
	Wrapped     []byte     `json:"wrapped,omitempty"`
	ErasedAt    *time.Time `json:"erasedAt,omitempty"`
}

// check is the strict part of reading HEADER: every bound is checked before
// anything is derived or unwrapped.
func (e *headerEncryption) check() error {
	if e.Cipher != cipherName {
		return fmt.Errorf("cipher %q (this library seals with %s)", e.Cipher, cipherName)
	}
	if e.KDF != nil {
		if err := e.KDF.check(); err != nil {
			return err
		}
	}
	if len(e.DataKeys) == 0 || len(e.DataKeys) > maxDataKeys {
		return fmt.Errorf("%d data keys", len(e.DataKeys))
	}
	var from uint64
	for i, k := range e.DataKeys {
		switch {
		case k.ID != uint32(i+1):
			return fmt.Errorf("data key %d has ID %d", i+1, k.ID)
		case k.From < from:
			return fmt.Errorf("data key %d starts at record %d, before its predecessor", k.ID, k.From)
		case k.MasterKeyID == "" || len(k.MasterKeyID) > maxMasterKeyID:
			return fmt.Errorf("data key %d has a malformed masterKeyId", k.ID)
		case (len(k.Wrapped) == 0) != (k.ErasedAt != nil):
			return fmt.Errorf("data key %d must have exactly one of wrapped and erasedAt", k.ID)
		case len(k.Wrapped) > maxWrappedKey:
			return fmt.Errorf("data key %d: wrapped key of %d bytes", k.ID, len(k.Wrapped))
		}
		from = k.From
	}
	return nil
}

func (k *headerKDF) check() error {
	if k.Name != kdfName {
		return fmt.Errorf("kdf %q", k.Name)
	}
	if len(k.Salt) < 16 || len(k.Salt) > 64 {
		return fmt.Errorf("scrypt salt of %d bytes", len(k.Salt))
	}
	// Bounded so that a forged HEADER cannot make Open allocate or spin
	// without limit: at most 1 GiB (128·N·r) of scrypt memory.
	if k.N < 1<<10 || k.N > 1<<20 || k.N&(k.N-1) != 0 || k.R < 1 || k.R > 32 || k.P < 1 || k.P > 16 || 128*k.N*k.R > 1<<30 {
		return fmt.Errorf("scrypt parameters N=%d r=%d p=%d out of range", k.N, k.R, k.P)
	}
	return nil
}

func (k *headerKDF) derive(passphrase string) ([]byte, error) {
	if err := k.check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotLog, err)
	}
	return scrypt.Key([]byte(passphrase), k.Salt, k.N, k.R, k.P, KeySize)
}

// encrypted reports whether the options ask for encryption.
func (o *Options) encrypted() bool {
	return o.EncryptionKey != nil || o.Passphrase != "" || o.Keys != nil
}

// checkKeys is the encryption and tenant part of withDefaults.
func (o *Options) checkKeys() error {
	n := 0
	for _, set := range []bool{o.EncryptionKey != nil, o.Passphrase != "", o.Keys != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("%w: set at most one of EncryptionKey, Passphrase and Keys", ErrInvalidOptions)
	}
	if o.EncryptionKey != nil && len(o.EncryptionKey) != KeySize {
		return fmt.Errorf("%w: EncryptionKey is %d bytes; AES-256 needs %d", ErrInvalidOptions, len(o.EncryptionKey), KeySize)
	}
	if n > 0 && o.MaxEntrySize > maxFramePayload-envelopeOverhead {
		return fmt.Errorf("%w: MaxEntrySize %d leaves no room for the %d-byte envelope of a sealed record", ErrInvalidOptions, o.MaxEntrySize, envelopeOverhead)
	}
	if o.Tenant != "" {
		if err := ValidateTenantID(o.Tenant); err != nil {
			return fmt.Errorf("Tenant: %w", err)
		}
	}
	if o.MaxOpenTenants < 0 {
		return fmt.Errorf("%w: MaxOpenTenants %d is negative", ErrInvalidOptions, o.MaxOpenTenants)
	}
	return nil
}

// keyProvider returns the provider the options name; kdf is the log's
// passphrase parameters (nil when it has none).
func (o *Options) keyProvider(kdf *headerKDF) (KeyProvider, *Keyring, error) {
	switch {
	case o.Keys != nil:
		kr, _ := o.Keys.(*Keyring)
		return o.Keys, kr, nil
	case o.EncryptionKey != nil:
		kr, err := NewKeyring(o.EncryptionKey)
		return kr, kr, err
	}
	if kdf == nil {
		return nil, nil, fmt.Errorf("%w: the log was not created with a passphrase; give its key", ErrWrongKey)
	}
	key, err := kdf.derive(o.Passphrase)
	if err != nil {
		return nil, nil, err
	}
	defer clear(key)
	kr, err := NewKeyring(key)
	return kr, kr, err
}

// dataKey is one of a log's data keys, as Open found it.
type dataKey struct {
	id       uint32
	master   string                   // ID of the master key that wraps it
	aead     cipher.AEAD              // nil when it cannot be used; err says why
	err      error                    // ErrErased or ErrKeyRequired, with details
	env      [envelopeHeaderSize]byte // 0x02 || id: how sealed payloads start
	rotateAt atomic.Uint64            // record count at which a new data key is due
	stopAt   uint64                   // record count from which it seals nothing (dataKeyHardLimit)
}

func newDataKey(hk *headerDataKey) *dataKey {
	dk := &dataKey{id: hk.ID, master: hk.MasterKeyID}
	dk.env[0] = sealedVersion
	if legacySealing {
		dk.env[0] = sealedVersion1
	}
	binary.BigEndian.PutUint32(dk.env[1:], hk.ID)
	dk.rotateAt.Store(hk.From + dataKeyMaxRecords)
	dk.stopAt = hk.From + dataKeyHardLimit
	return dk
}

// logKeys is the key state of an encrypted log.
type logKeys struct {
	dir      string
	logID    [16]byte
	tenant   []byte // tenant length (1) || tenant: the record additional data's fixed part after the seq
	provider KeyProvider
	keyring  *Keyring // provider, when it is a Keyring: RotateKey adds to it

	data     atomic.Pointer[[]*dataKey] // by ID-1; replaced, never modified
	active   atomic.Pointer[dataKey]
	rotating atomic.Bool // a rotation at dataKeyMaxRecords is under way
	newKey   bool        // at Open: the active master key wraps none of the data keys yet

	mu     sync.Mutex // serialises changes to HEADER
	hdr    logHeader  // as on disk
	closed bool

	// commit records the hash of a new HEADER revision in the log's
	// checkpoint before the revision replaces HEADER (rewriteHeader).
	commit func(Hash) error
}

// sealState is the part of an encoder that sealing uses: filled in by
// prepareSeal in the caller's goroutine, used by sealInto.
type sealState struct {
	key      *dataKey // nil: the log is not encrypted
	overhead int      // envelopeOverhead when key is set
	nonce    []byte   // this record's nonce, in nonces
	nonces   *[nonceBatch * nonceSize]byte
	used     int // bytes of nonces used
	aad      [recordAADSize]byte
}

// nonceBatch is how many nonces an encoder reads from crypto/rand at once:
// one read per 64 records rather than one per record. Every nonce is used
// once; the bytes are fresh random bytes all the same.
const nonceBatch = 64

// dataKeyAAD is the additional data data key id of the log is wrapped
// with: "treeoflife data key" || 0x00 || logID (16) || id (4) || tenant
// length (1) || tenant, so that a wrapped key is accepted only for its own
// log, number and tenant.
func dataKeyAAD(logID [16]byte, id uint32, tenant string) []byte {
	b := legacyDataKeyAAD(logID, id)
	b = append(b, byte(len(tenant)))
	return append(b, tenant...)
}

// legacyDataKeyAAD is dataKeyAAD without the tenant, as data keys were
// wrapped before the tenant was bound (see unwrapDataKey).
func legacyDataKeyAAD(logID [16]byte, id uint32) []byte {
	b := make([]byte, 0, len(dataKeyAADLabel)+16+4+1+MaxTenantIDLen)
	b = append(b, dataKeyAADLabel...)
	b = append(b, logID[:]...)
	return binary.BigEndian.AppendUint32(b, id)
}

// unwrapDataKey unwraps data key hk of the log logID for tenant.
//
// It tries the additional data with the tenant first and, only when the
// provider refuses it (ErrWrongKey), the legacy additional data without it,
// so that logs whose keys were wrapped before keep opening. The fallback
// does not weaken the binding: a key wrapped with a tenant in its
// additional data never unwraps without it, so editing HEADER's tenant (to
// pass one tenant's log off as another's) makes both attempts fail; only a
// key genuinely wrapped the old way takes the fallback. For such a key the
// tenant is still checked in every entry read (entryDecoder.decode).
func unwrapDataKey(p KeyProvider, logID [16]byte, tenant string, hk *headerDataKey) ([]byte, error) {
	raw, err := p.UnwrapKey(context.Background(), hk.MasterKeyID, hk.Wrapped, dataKeyAAD(logID, hk.ID, tenant))
	if err != nil && errors.Is(err, ErrWrongKey) {
		if old, oerr := p.UnwrapKey(context.Background(), hk.MasterKeyID, hk.Wrapped, legacyDataKeyAAD(logID, hk.ID)); oerr == nil {
			return old, nil
		}
	}
	return raw, err
}

// tenantAAD returns tenant length (1) || tenant, the part of a record's
// additional data (version 2) that follows its seq.
func tenantAAD(tenant string) []byte {
	return append([]byte{byte(len(tenant))}, tenant...)
}

// recordAAD fills in the additional data of the record at seq whose
// envelope starts with env, and returns it: logID (16) || seq (8) || env
// for version 1, logID (16) || seq (8) || tenant (tenantAAD) || env for
// version 2.
func recordAAD(aad *[recordAADSize]byte, logID *[16]byte, seq uint64, tenant []byte, env []byte) []byte {
	copy(aad[:16], logID[:])
	binary.BigEndian.PutUint64(aad[16:24], seq)
	n := 24
	if env[0] != sealedVersion1 {
		n += copy(aad[n:], tenant)
	}
	n += copy(aad[n:], env[:envelopeHeaderSize])
	return aad[:n]
}

// initHeader fills in the HEADER of a new log: its tenant and, when
// encrypted, the KDF parameters and a first data key wrapped by the active
// master key.
func (l *ImmutableLogger) initHeader(h *logHeader, id [16]byte) error {
	h.Tenant = l.opts.Tenant
	if !l.opts.encrypted() {
		return nil
	}
	enc := &headerEncryption{Cipher: cipherName}
	if l.opts.Passphrase != "" {
		enc.KDF = &headerKDF{Name: kdfName, Salt: make([]byte, 16), N: scryptN, R: scryptR, P: scryptP}
		rand.Read(enc.KDF.Salt)
	}
	p, kr, err := l.opts.keyProvider(enc.KDF)
	if err != nil {
		return err
	}
	raw := make([]byte, KeySize)
	rand.Read(raw)
	defer clear(raw)
	master := p.ActiveKeyID()
	wrapped, err := p.WrapKey(context.Background(), master, raw, wrapAAD(id, 1, h.Tenant))
	if err != nil {
		return fmt.Errorf("treeoflife: wrap data key 1 with master key %s: %w", master, err)
	}
	enc.DataKeys = []headerDataKey{{ID: 1, From: 0, MasterKeyID: master, Wrapped: wrapped}}
	h.Encryption = enc
	l.keys = &logKeys{provider: p, keyring: kr} // loadKeys uses it: no second derivation
	return nil
}

// loadKeys sets up the keys of an encrypted log from its HEADER: it unwraps
// every data key it can. It fails when the log could not be written: no key
// given (ErrKeyRequired), none of the keys opens it (ErrWrongKey), its keys
// are erased (ErrErased), or the active data key's master key is missing.
func (l *ImmutableLogger) loadKeys(h *logHeader) error {
	enc := h.Encryption
	if enc == nil {
		if l.opts.encrypted() {
			return fmt.Errorf("%w: %s holds a log created without encryption, which is chosen when a log is created (EncryptionKey, Passphrase, Keys)", ErrInvalidOptions, l.dir)
		}
		return nil
	}
	if erasedAll(enc) {
		return fmt.Errorf("%w: %s: every data key of this log was erased; its records can no longer be decrypted", ErrErased, l.dir)
	}
	if !l.opts.encrypted() {
		return fmt.Errorf("%w: %s is encrypted; give Options.EncryptionKey, Passphrase or Keys (Verify and VerifyDir need no key)", ErrKeyRequired, l.dir)
	}
	k := l.keys
	if k == nil {
		p, kr, err := l.opts.keyProvider(enc.KDF)
		if err != nil {
			return err
		}
		k = &logKeys{provider: p, keyring: kr}
	}
	k.dir, k.logID, k.hdr, k.tenant = l.dir, l.logID, *h, tenantAAD(h.Tenant)
	keys := make([]*dataKey, len(enc.DataKeys))
	usable := 0
	var masters []string
	activeMaster := k.provider.ActiveKeyID()
	k.newKey = true
	for i := range enc.DataKeys {
		hk := &enc.DataKeys[i]
		dk := newDataKey(hk)
		keys[i] = dk
		if hk.MasterKeyID == activeMaster {
			k.newKey = false
		}
		if !slices.Contains(masters, hk.MasterKeyID) {
			masters = append(masters, hk.MasterKeyID)
		}
		if hk.ErasedAt != nil {
			dk.err = fmt.Errorf("%w: data key %d was erased at %s", ErrErased, hk.ID, hk.ErasedAt.UTC().Format(time.RFC3339))
			continue
		}
		raw, err := unwrapDataKey(k.provider, l.logID, h.Tenant, hk)
		switch {
		case errors.Is(err, ErrKeyRequired):
			dk.err = fmt.Errorf("%w: data key %d is wrapped by master key %s, which was not given", ErrKeyRequired, hk.ID, hk.MasterKeyID)
			continue
		case err != nil && errors.Is(err, ErrWrongKey):
			return fmt.Errorf("treeoflife: %s: data key %d: %w", l.dir, hk.ID, err)
		case err != nil: // the provider failed (a KMS outage?): not a verdict on the key
			return fmt.Errorf("treeoflife: %s: unwrapping data key %d with master key %s: %w", l.dir, hk.ID, hk.MasterKeyID, err)
		case len(raw) != KeySize:
			return fmt.Errorf("%w: %s: data key %d unwraps to %d bytes", ErrWrongKey, l.dir, hk.ID, len(raw))
		}
		dk.aead, err = newGCM(raw)
		clear(raw)
		if err != nil {
			return err
		}
		usable++
	}
	if usable == 0 {
		return fmt.Errorf("%w: %s: none of the keys given unwraps its data keys, which are wrapped by master key %s", ErrWrongKey, l.dir, strings.Join(masters, ", "))
	}
	active := keys[len(keys)-1]
	if active.aead == nil {
		return fmt.Errorf("treeoflife: %s: the active data key cannot be used: %w", l.dir, active.err)
	}
	k.data.Store(&keys)
	k.active.Store(active)
	l.keys = k
	return nil
}

func erasedAll(enc *headerEncryption) bool {
	for _, k := range enc.DataKeys {
		if k.ErasedAt == nil {
			return false
		}
	}
	return true
}

// startKeys runs at the end of Open, when the log's size is known: it
// starts a new data key when the provider's active master key wraps none
// yet (rotation by configuration) or the active one has sealed its share.
func (k *logKeys) startKeys(size uint64) error {
	if k.newKey || size >= k.active.Load().rotateAt.Load() {
		return k.rotate(context.Background(), size)
	}
	return nil
}

// rotate adds a data key, wrapped by the provider's active master key, and
// makes it the active one. HEADER listing it is durable before any record is
// sealed with it.
func (k *logKeys) rotate(ctx context.Context, from uint64) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return ErrClosed
	}
	old := *k.data.Load()
	id := uint32(len(old) + 1)
	if len(old) >= maxDataKeys {
		return fmt.Errorf("treeoflife: %s already has %d data keys", k.dir, len(old))
	}
	raw := make([]byte, KeySize)
	rand.Read(raw)
	defer clear(raw)
	master := k.provider.ActiveKeyID()
	wrapped, err := k.provider.WrapKey(ctx, master, raw, wrapAAD(k.logID, id, k.hdr.Tenant))
	if err != nil {
		return fmt.Errorf("treeoflife: wrap data key %d with master key %s: %w", id, master, err)
	}
	hk := headerDataKey{ID: id, From: from, MasterKeyID: master, Wrapped: wrapped}
	h := k.hdr
	enc := *h.Encryption
	enc.DataKeys = append(slices.Clip(enc.DataKeys), hk)
	h.Encryption = &enc
	if err := rewriteHeader(k.dir, &h, k.commit); err != nil {
		return fmt.Errorf("treeoflife: write %s/%s: %w", k.dir, headerFile, err)
	}
	k.hdr = h
	dk := newDataKey(&hk)
	if dk.aead, err = newGCM(raw); err != nil {
		return err
	}
	keys := append(slices.Clip(old), dk)
	k.data.Store(&keys)
	k.active.Store(dk)
	return nil
}

// revision is the revision of HEADER as on disk.
func (k *logKeys) revision() uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.hdr.Revision
}

// close stops HEADER changes; Close calls it before it releases the
// directory's lock.
func (k *logKeys) close() {
	k.mu.Lock()
	k.closed = true
	k.mu.Unlock()
}

// prepareSeal picks the data key and a fresh random nonce for one record, in
// the caller's goroutine. The record is sealed by sealInto, once its
// sequence number is known.
func (k *logKeys) prepareSeal(e *encoder) {
	e.key = k.active.Load()
	e.overhead = envelopeOverhead
	if e.nonces == nil || e.used == len(e.nonces) {
		if e.nonces == nil {
			e.nonces = new([nonceBatch * nonceSize]byte)
		}
		rand.Read(e.nonces[:]) // never fails (Go 1.24)
		e.used = 0
	}
	e.nonce = e.nonces[e.used : e.used+nonceSize : e.used+nonceSize]
	e.used += nonceSize
}

// sealInto writes the envelope of record seq, whose entry is e.buf
// followed by the seq digits and '}', into the frame fr after its header,
// and returns the record's leaf hash. fr has exactly the room the envelope
// takes (appendSealed reserved it in the record's chunk), so nothing is
// allocated or moved.
func (k *logKeys) sealInto(fr []byte, e *encoder, seq uint64) Hash {
	dst := fr[frameHeaderSize:frameHeaderSize]
	dst = append(dst, e.key.env[:]...)
	dst = append(dst, e.nonce...)
	e.buf = strconv.AppendUint(e.buf, seq, 10)
	e.buf = append(e.buf, '}')
	aad := recordAAD(&e.aad, &k.logID, seq, k.tenant, e.key.env[:])
	dst = e.key.aead.Seal(dst, e.nonce, e.buf, aad)
	// The leaf hash's input, 0x00 || payload, in one slice: the header's
	// last byte is its checksum's, which finishFrame writes later and
	// which the checksum does not cover.
	fr[frameHeaderSize-1] = leafHashPrefix
	return sha256x2.Sum(fr[frameHeaderSize-1 : frameHeaderSize+len(dst)])
}

// open returns the entry sealed in payload, the record at seq, appended to
// dst.
func (k *logKeys) open(seq uint64, p, dst []byte) ([]byte, error) {
	if len(p) < envelopeOverhead || (p[0] != sealedVersion && p[0] != sealedVersion1) {
		return nil, fmt.Errorf("%w: record %d is not a sealed record", ErrDecrypt, seq)
	}
	id := binary.BigEndian.Uint32(p[1:envelopeHeaderSize])
	keys := *k.data.Load()
	if id == 0 || uint64(id) > uint64(len(keys)) {
		return nil, fmt.Errorf("%w: record %d names data key %d, which HEADER does not list", ErrDecrypt, seq, id)
	}
	dk := keys[id-1]
	if dk.aead == nil {
		return nil, fmt.Errorf("treeoflife: record %d: %w", seq, dk.err)
	}
	var aad [recordAADSize]byte
	out, err := dk.aead.Open(dst, p[envelopeHeaderSize:envelopeHeaderSize+nonceSize], p[envelopeHeaderSize+nonceSize:], recordAAD(&aad, &k.logID, seq, k.tenant, p))
	if err != nil {
		return nil, fmt.Errorf("%w: record %d does not authenticate under data key %d: it was modified, or moved from another position or log", ErrDecrypt, seq, id)
	}
	return out, nil
}

// openPayload returns the entry JSON stored in payload, the record at seq:
// payload itself for an unencrypted log (no copy), else the decrypted entry
// appended to dst. Errors wrap ErrDecrypt (modified, cut or moved record),
// ErrErased or ErrKeyRequired (its data key is erased or was not given).
func (l *ImmutableLogger) openPayload(seq uint64, payload []byte, dst []byte) ([]byte, error) {
	if l.keys == nil {
		return payload, nil
	}
	return l.keys.open(seq, payload, dst)
}

// payloadLevelTime is entryLevelTime for a stored payload: it decrypts a
// sealed one first, into *scratch. A record that does not open (its key
// erased or not given) has level 0 and time 0.
func (l *ImmutableLogger) payloadLevelTime(seq uint64, payload []byte, scratch *[]byte) (Level, int64) {
	if l.keys == nil {
		return entryLevelTime(payload)
	}
	pt, err := l.keys.open(seq, payload, (*scratch)[:0])
	if err != nil {
		return 0, 0
	}
	*scratch = pt
	return entryLevelTime(pt)
}

// dataKeyDue starts a new data key once the active one has sealed
// dataKeyMaxRecords records. One caller does it; the others carry on with
// the old key meanwhile.
func (l *ImmutableLogger) dataKeyDue(dk *dataKey) {
	k := l.keys
	if !k.rotating.CompareAndSwap(false, true) {
		return
	}
	defer k.rotating.Store(false)
	if k.active.Load() != dk {
		return
	}
	if err := k.rotate(context.Background(), l.Head().Size); err != nil {
		if !errors.Is(err, ErrClosed) {
			l.log.Error("starting a new data key failed; records are still sealed with the old one", "dataKey", dk.id, "err", err)
		}
		dk.rotateAt.Add(1 << 20) // try again later, not on every record
	}
}

// RotateKey makes newKey (KeySize bytes) the active master key: it is added
// to the logger's Keyring, a new data key is wrapped with it, and new records
// are sealed with that data key. Older records keep their data keys, wrapped
// by the older master keys, and the hash chain is untouched. Keys are never
// written to disk: to reopen the log, give the keyring with every master key
// still needed, e.g. Options{Keys: NewKeyring(newKey, oldKey)}
// (PassphraseKey gives a passphrase log's key). It needs a log opened with
// EncryptionKey, Passphrase or a *Keyring; with another KeyProvider, change
// its active key and call RotateDataKey.
//
// Under Tenants, rotate the master key on the system log
// (Tenants.System().RotateKey): the Keyring is shared, so new tenant keys
// are wrapped by the new key, and older ones still unwrap with the older
// keys, which the Keyring keeps (give them all at the next OpenTenants). A
// tenant's own logger refuses RotateKey: its data keys are wrapped by its
// tenant key (see Tenants.Erase); RotateDataKey starts a new data key. A
// tenant log made before tenant keys existed still has its data keys
// wrapped by the master key, and RotateKey on it works as on any log.
func (l *ImmutableLogger) RotateKey(ctx context.Context, newKey []byte) error {
	if !l.live() {
		return ErrClosed
	}
	k := l.keys
	if k == nil {
		return fmt.Errorf("treeoflife: RotateKey: %s is not encrypted", l.dir)
	}
	if l.opts.tenantKeyed {
		return fmt.Errorf("%w: RotateKey: tenant %q's data keys are wrapped by its own tenant key, not by the master key; RotateDataKey starts a new data key", ErrInvalidOptions, l.opts.Tenant)
	}
	if k.keyring == nil {
		return fmt.Errorf("%w: RotateKey needs a Keyring; with another KeyProvider, change its active key and call RotateDataKey", ErrInvalidOptions)
	}
	id, err := k.keyring.Add(newKey)
	if err != nil {
		return err
	}
	if err := k.keyring.SetActive(id); err != nil {
		return err
	}
	return k.rotate(ctx, l.Head().Size)
}

// RotateDataKey starts a new data key for the log, wrapped by the key
// provider's active master key; new records are sealed with it. The logger
// also does this by itself after 2^30 records under one data key.
func (l *ImmutableLogger) RotateDataKey(ctx context.Context) error {
	if !l.live() {
		return ErrClosed
	}
	if l.keys == nil {
		return fmt.Errorf("treeoflife: RotateDataKey: %s is not encrypted", l.dir)
	}
	return l.keys.rotate(ctx, l.Head().Size)
}

// Encrypted reports whether the log seals its records.
func (l *ImmutableLogger) Encrypted() bool { return l != nil && l.keys != nil }

// eraseDataKeys removes every wrapped data key from the HEADER of the log in
// dir (whose lock the caller holds), replacing it with the time of erasure,
// and returns the IDs of the keys erased now. HEADER is replaced atomically
// and fsynced.
func eraseDataKeys(dir string, now time.Time, commit func(Hash) error) ([]uint32, error) {
	h, _, err := readHeader(dir)
	if err != nil {
		return nil, err
	}
	if h.Encryption == nil {
		return nil, fmt.Errorf("treeoflife: %s is not encrypted, so it cannot be crypto-shredded", dir)
	}
	enc := *h.Encryption
	enc.DataKeys = slices.Clone(enc.DataKeys)
	var ids []uint32
	t := now.UTC()
	for i := range enc.DataKeys {
		k := &enc.DataKeys[i]
		if k.ErasedAt == nil {
			clear(k.Wrapped)
			k.Wrapped, k.ErasedAt = nil, &t
			ids = append(ids, k.ID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	h.Encryption = &enc
	return ids, rewriteHeader(dir, &h, commit)
}
