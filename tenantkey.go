package treeoflife

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/treeoflife/treeoflife/backup"
	"github.com/treeoflife/treeoflife/internal/fileutil"
)

// A tenant key is a tenant's own key-encryption key. Under Tenants with
// encryption, a tenant's data keys are wrapped by its tenant key, and the
// tenant key by the master key, in a small mutable key store: the file
// ROOT/keys/<id>.json and, with a backup, the object
// <BackupPrefix>/tenant-keys/<id>, put without retention. Erase deletes
// both, so that the data keys in the tenant's write-once HEADER revisions,
// in the backup too, can no longer be unwrapped by anyone, the master key's
// holder included, while every other tenant keeps its keys. FORMAT.md,
// "Tenant keys", describes the file.

const (
	tenantKeysDir    = "keys"
	tenantKeyObjects = "tenant-keys/"
	tenantKeyVersion = 1
)

// tenantKeyFile is the stored form of a tenant key.
type tenantKeyFile struct {
	Version     int       `json:"version"`
	Tenant      string    `json:"tenantId"`
	KeyID       string    `json:"keyId"`       // KeyID of the tenant key: the MasterKeyID its data keys name
	MasterKeyID string    `json:"masterKeyId"` // the master key that wraps it
	Wrapped     []byte    `json:"wrapped"`
	Created     time.Time `json:"created"`
}

// tenantKeyAAD binds a wrapped tenant key to its tenant and ID, so that a
// key file copied to another tenant does not unwrap there.
func tenantKeyAAD(tenant, keyID string) []byte {
	return []byte("treeoflife tenant key\x00" + tenant + "\x00" + keyID)
}

func tenantKeyPath(root, id string) string {
	return filepath.Join(root, tenantKeysDir, id+".json")
}

// tenantKeyObject is the key of tenant id's key object in a backup.
func tenantKeyObject(prefix, id string) string {
	p := strings.Trim(prefix, "/")
	if p != "" {
		p += "/"
	}
	return p + tenantKeyObjects + id
}

// newTenantKey makes a tenant key for id, wrapped by the master key
// provider p.
func newTenantKey(ctx context.Context, p KeyProvider, id string, now time.Time) (*tenantKeyFile, []byte, error) {
	raw := make([]byte, KeySize)
	rand.Read(raw)
	kf := &tenantKeyFile{Version: tenantKeyVersion, Tenant: id, KeyID: KeyID(raw), MasterKeyID: p.ActiveKeyID(), Created: now.UTC()}
	w, err := p.WrapKey(ctx, kf.MasterKeyID, raw, tenantKeyAAD(id, kf.KeyID))
	if err != nil {
		clear(raw)
		return nil, nil, fmt.Errorf("treeoflife: tenant %q: wrap its tenant key with master key %s: %w", id, kf.MasterKeyID, err)
	}
	kf.Wrapped = w
	return kf, raw, nil
}

// unwrap returns the tenant key, checked to be the one the file names.
func (kf *tenantKeyFile) unwrap(ctx context.Context, p KeyProvider) ([]byte, error) {
	raw, err := p.UnwrapKey(ctx, kf.MasterKeyID, kf.Wrapped, tenantKeyAAD(kf.Tenant, kf.KeyID))
	if err != nil {
		return nil, fmt.Errorf("treeoflife: tenant %q: unwrap its tenant key %s with master key %s: %w", kf.Tenant, kf.KeyID, kf.MasterKeyID, err)
	}
	if len(raw) != KeySize || KeyID(raw) != kf.KeyID {
		clear(raw)
		return nil, fmt.Errorf("%w: tenant %q: the tenant key does not match its ID %s", ErrWrongKey, kf.Tenant, kf.KeyID)
	}
	return raw, nil
}

func parseTenantKey(b []byte, id string) (*tenantKeyFile, error) {
	var kf tenantKeyFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kf); err != nil {
		return nil, fmt.Errorf("treeoflife: tenant %q: damaged tenant key: %w", id, err)
	}
	if kf.Version != tenantKeyVersion {
		return nil, fmt.Errorf("%w: tenant %q: tenant key version %d", ErrUnsupportedVersion, id, kf.Version)
	}
	if kf.Tenant != id {
		return nil, fmt.Errorf("treeoflife: tenant %q: the tenant key file is tenant %q's", id, kf.Tenant)
	}
	return &kf, nil
}

// readTenantKey reads tenant id's key file; nil, nil when there is none.
func readTenantKey(root, id string) (*tenantKeyFile, error) {
	b, err := os.ReadFile(tenantKeyPath(root, id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("treeoflife: tenant %q: read its tenant key: %w", id, err)
	}
	return parseTenantKey(b, id)
}

func writeTenantKey(root string, kf *tenantKeyFile) error {
	b, err := json.Marshal(kf)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(root, tenantKeysDir), 0o700); err != nil {
		return fmt.Errorf("treeoflife: create the tenant key store: %w", err)
	}
	if err := fileutil.WriteFileAtomic(tenantKeyPath(root, kf.Tenant), b, 0o600); err != nil {
		return fmt.Errorf("treeoflife: tenant %q: write its tenant key: %w", kf.Tenant, err)
	}
	return nil
}

// uploadTenantKey puts the key file in the backup's key store, mutable so
// that Erase can delete it.
func uploadTenantKey(ctx context.Context, sink backup.Sink, prefix string, kf *tenantKeyFile) error {
	b, err := json.Marshal(kf)
	if err != nil {
		return err
	}
	if err := sink.Put(ctx, tenantKeyObject(prefix, kf.Tenant), b, sha256.Sum256(b), backup.PutOptions{Mutable: true}); err != nil {
		return fmt.Errorf("treeoflife: tenant %q: put its tenant key in the backup: %w", kf.Tenant, err)
	}
	return nil
}

// downloadTenantKey reads tenant id's key from the backup's key store; nil,
// nil when there is none.
func downloadTenantKey(ctx context.Context, sink backup.Sink, prefix, id string) (*tenantKeyFile, error) {
	rc, _, err := sink.Get(ctx, tenantKeyObject(prefix, id))
	if errors.Is(err, backup.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("treeoflife: tenant %q: get its tenant key from the backup: %w", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("treeoflife: tenant %q: get its tenant key from the backup: %w", id, err)
	}
	return parseTenantKey(b, id)
}

// destroyTenantKey removes tenant id's key file: overwritten with zeros and
// fsynced first (on a file system that rewrites in place, the bytes are
// gone), then removed, and the directory fsynced. It reports whether there
// was one.
func destroyTenantKey(root, id string) (bool, error) {
	p := tenantKeyPath(root, id)
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("treeoflife: tenant %q: destroy its tenant key: %w", id, err)
	}
	fi, err := f.Stat()
	if err == nil {
		_, err = f.WriteAt(make([]byte, fi.Size()), 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Remove(p)
	}
	if err == nil {
		err = fileutil.SyncDir(filepath.Dir(p))
	}
	if err != nil {
		return true, fmt.Errorf("treeoflife: tenant %q: destroy its tenant key: %w", id, err)
	}
	return true, nil
}

// tenantProvider returns the key provider of tenant id's log: its tenant
// key, unwrapped by the master key, from the local key store, else from
// the backup's (a restored tenant); for a new tenant a new tenant key, put
// in the backup's key store (when there is a backup) before the local one,
// so that no record is ever shipped under a key the backup lacks. A tenant
// whose log was made before tenant keys existed (its data keys wrapped by
// the master key directly) keeps the master key: keyed is then false.
func (t *Tenants) tenantProvider(ctx context.Context, id, dir string) (p KeyProvider, keyed bool, err error) {
	master := t.opts.Keys
	kf, err := readTenantKey(t.root, id)
	if err != nil {
		return nil, false, err
	}
	if kf == nil && isLogDir(dir) {
		h, logID, err := readHeader(dir)
		if err != nil {
			return nil, false, err
		}
		if h.Encryption == nil || wrappedByMaster(h.Encryption, master, logID, id) {
			return master, false, nil
		}
		for _, sink := range t.opts.backupSinks() {
			if kf, err = downloadTenantKey(ctx, sink, t.opts.BackupPrefix, id); err != nil {
				return nil, false, err
			}
			if kf != nil {
				if err := writeTenantKey(t.root, kf); err != nil {
					return nil, false, err
				}
				break
			}
		}
		if kf == nil {
			return nil, false, fmt.Errorf("%w: tenant %q: its tenant key is in neither %s nor the backup: the tenant was erased, or its key store was lost", ErrErased, id, tenantKeyPath(t.root, id))
		}
	}
	var raw []byte
	if kf == nil {
		kf, raw, err = newTenantKey(ctx, master, id, t.sys.opts.Clock())
		if err != nil {
			return nil, false, err
		}
		for _, sink := range t.opts.backupSinks() { // every sink holds a complete backup
			if err := uploadTenantKey(ctx, sink, t.opts.BackupPrefix, kf); err != nil {
				clear(raw)
				return nil, false, err
			}
		}
		if err := writeTenantKey(t.root, kf); err != nil {
			clear(raw)
			return nil, false, err
		}
	} else if raw, err = kf.unwrap(ctx, master); err != nil {
		return nil, false, err
	}
	defer clear(raw)
	kr, err := NewKeyring(raw)
	if err != nil {
		return nil, false, err
	}
	return kr, true, nil
}

// wrappedByMaster reports whether the newest data key of a log that is
// not erased unwraps with the master key provider p: a tenant log made
// before tenant keys.
func wrappedByMaster(enc *headerEncryption, p KeyProvider, logID [16]byte, tenant string) bool {
	for i := len(enc.DataKeys) - 1; i >= 0; i-- {
		hk := &enc.DataKeys[i]
		if hk.ErasedAt != nil || len(hk.Wrapped) == 0 {
			continue
		}
		raw, err := unwrapDataKey(p, logID, tenant, hk)
		clear(raw)
		return err == nil
	}
	return false
}

// withTenantKey turns opts, which give the master key, into the options of
// a tenant's log whose data keys are wrapped by the tenant key kf: the
// tenant key, unwrapped by the master key, in a Keyring of its own. A
// Passphrase derives the master key with the KDF of the Tenants root's
// system log (kdfDir), as OpenTenants does.
func withTenantKey(ctx context.Context, opts Options, kf *tenantKeyFile, kdfDir string) (Options, error) {
	var kdf *headerKDF
	if opts.Passphrase != "" && kdfDir == "" {
		return opts, fmt.Errorf("%w: tenant %q: restoring a tenant of a passphrase-encrypted Tenants needs the master key itself: Options.Keys or EncryptionKey, from PassphraseKey on its system log", ErrInvalidOptions, kf.Tenant)
	}
	if opts.Passphrase != "" {
		h, _, err := readHeader(kdfDir)
		if err != nil {
			return opts, fmt.Errorf("treeoflife: tenant %q: a passphrase needs the KDF of %s: %w", kf.Tenant, kdfDir, err)
		}
		if h.Encryption != nil {
			kdf = h.Encryption.KDF
		}
	}
	master, _, err := opts.keyProvider(kdf)
	if err != nil {
		return opts, err
	}
	raw, err := kf.unwrap(ctx, master)
	if err != nil {
		return opts, err
	}
	defer clear(raw)
	kr, err := NewKeyring(raw)
	if err != nil {
		return opts, err
	}
	opts.EncryptionKey, opts.Passphrase, opts.Keys, opts.tenantKeyed = nil, "", kr, true
	return opts, nil
}
