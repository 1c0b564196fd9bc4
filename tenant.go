package treeoflife

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/treeoflife/treeoflife/backup"
	"github.com/treeoflife/treeoflife/internal/fileutil"
)

// Tenants (FORMAT.md, "Tenants"): one log per tenant under root/tenants/<id>/,
// each with its own chain, lock and data key, and a system log in
// root/_system that records erasures.
const (
	// MaxTenantIDLen is the longest tenant ID.
	MaxTenantIDLen = 64

	// DefaultMaxOpenTenants is the default Options.MaxOpenTenants.
	DefaultMaxOpenTenants = 64

	tenantsDir = "tenants"
	systemDir  = "_system"
)

// ValidateTenantID reports whether id may name a tenant: 1 to 64 ASCII
// letters, digits, '.', '_' and '-', starting with a letter or digit, with
// no "..", not ending in '.'. A tenant ID is a directory name, so anything
// that could leave the tenants directory ("../x", "a/b", ".", "..") or hide
// in it (".x") is refused, as are control characters, anything outside
// ASCII, and the device names Windows reserves (CON, PRN, AUX, NUL,
// COM0-9, LPT0-9, in any case, with or without an extension). The error
// wraps ErrInvalidTenant. IDs are case-sensitive, but a new tenant whose ID
// differs only in case from an existing one's is refused where a directory
// would be shared (Open, Tenants.Get).
func ValidateTenantID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty", ErrInvalidTenant)
	}
	if len(id) > MaxTenantIDLen {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrInvalidTenant, len(id), MaxTenantIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if i == 0 && !alnum {
			return fmt.Errorf("%w: %q must start with a letter or digit", ErrInvalidTenant, id)
		}
		if !alnum && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("%w: %q holds byte %#02x at %d; allowed are letters, digits, '.', '_' and '-'", ErrInvalidTenant, id, c, i)
		}
	}
	if strings.Contains(id, "..") {
		return fmt.Errorf("%w: %q contains \"..\"", ErrInvalidTenant, id)
	}
	if strings.HasSuffix(id, ".") {
		return fmt.Errorf("%w: %q ends in '.', which Windows drops from file names", ErrInvalidTenant, id)
	}
	base, _, _ := strings.Cut(id, ".")
	if windowsReserved(base) {
		return fmt.Errorf("%w: %q is a device name on Windows (%s), not a directory", ErrInvalidTenant, id, strings.ToUpper(base))
	}
	return nil
}

// windowsReserved reports whether name (before any extension) is one of
// the device names Windows reserves in every directory, in any case: CON,
// PRN, AUX, NUL, COM0-9 and LPT0-9.
func windowsReserved(name string) bool {
	switch strings.ToUpper(name) {
	case "CON", "PRN", "AUX", "NUL":
		return true
	}
	if len(name) == 4 && name[3] >= '0' && name[3] <= '9' {
		p := strings.ToUpper(name[:3])
		return p == "COM" || p == "LPT"
	}
	return false
}

// Tenant returns the tenant the log belongs to ("" for none).
func (l *ImmutableLogger) Tenant() string {
	if l == nil {
		return ""
	}
	return l.opts.Tenant
}

// useHeader applies what HEADER says to the opening logger: its tenant and
// its keys.
func (l *ImmutableLogger) useHeader(h *logHeader) error {
	switch {
	case h.Tenant == l.opts.Tenant:
	case l.opts.Tenant == "":
		l.opts.Tenant = h.Tenant
		l.tenantJSON, _ = appendJSONString(nil, h.Tenant) // valid: ASCII, checked by readHeader
	case h.Tenant == "":
		return fmt.Errorf("%w: %s was created without a tenant, not for %q", ErrInvalidTenant, l.dir, l.opts.Tenant)
	default:
		return fmt.Errorf("%w: %s belongs to tenant %q, not %q", ErrInvalidTenant, l.dir, h.Tenant, l.opts.Tenant)
	}
	return l.loadKeys(h)
}

// Tenants manages one log per tenant under a root directory: each tenant's
// log is opened on first use, kept open while in use, and closed when it
// has been idle longest and more than MaxOpenTenants are open. All methods
// are safe for concurrent use.
//
// Isolation is structural: a tenant's records are in its own directory,
// chained from its own log ID and sealed with its own data key, so reading
// or searching one tenant's log cannot return another's. The system log
// (System) records erasures.
//
// Use the *Tenants that OpenTenants returns: a nil or zero Tenants is
// closed, so its methods return ErrClosed instead of panicking.
type Tenants struct {
	root string
	opts Options // for each tenant: Tenant set per tenant, keys shared
	sys  *ImmutableLogger
	max  int

	mu      sync.Mutex
	open    map[string]*tenantEntry
	lru     list.List                // of *tenantEntry, most recently used first
	closing map[string]chan struct{} // evicted loggers being closed; closed when done
	erasing map[string]bool
	closed  bool
}

// live reports whether t came from OpenTenants: false for nil and for a zero
// Tenants, which act as closed.
func (t *Tenants) live() bool { return t != nil && t.sys != nil }

// tenantEntry is one tenant's logger in the pool.
type tenantEntry struct {
	id      string
	l       *ImmutableLogger
	err     error
	ready   chan struct{} // closed when Open has returned (l or err set)
	refs    int           // leases not yet closed; the opener holds one
	elem    *list.Element
	drained chan struct{} // Erase waits on it for refs to reach 0
}

// OpenTenants opens (or creates) the tenant logs under root and the system
// log root/_system. Every tenant log is opened with opts and its own Tenant;
// opts.Tenant must be empty. Encryption options apply to every tenant (and
// the system log): each gets its own data key wrapped by the same master
// keys; a Passphrase is derived once, with the salt in the system log's
// HEADER. The system log always uses DurabilitySync.
func OpenTenants(root string, opts Options) (*Tenants, error) {
	if opts.Tenant != "" {
		return nil, fmt.Errorf("%w: Tenant must be empty for OpenTenants, which sets it for each tenant", ErrInvalidOptions)
	}
	if _, err := opts.withDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(root, tenantsDir), 0o750); err != nil {
		return nil, fmt.Errorf("treeoflife: create tenants directory: %w", err)
	}
	sysOpts := opts
	sysOpts.Durability = DurabilitySync
	sys, err := openDir(filepath.Join(root, systemDir), sysOpts)
	if err != nil {
		return nil, fmt.Errorf("treeoflife: open system log: %w", err)
	}
	if sys.keys != nil {
		// One provider for all: a passphrase is derived once, and RotateKey
		// on any tenant's logger reaches every tenant's next Open.
		opts.EncryptionKey, opts.Passphrase, opts.Keys = nil, "", sys.keys.provider
	}
	t := &Tenants{
		root:    root,
		opts:    opts,
		sys:     sys,
		max:     opts.MaxOpenTenants,
		open:    make(map[string]*tenantEntry),
		closing: make(map[string]chan struct{}),
		erasing: make(map[string]bool),
	}
	if t.max == 0 {
		t.max = DefaultMaxOpenTenants
	}
	return t, nil
}

// A TenantLogger is a lease on one tenant's logger, from Tenants.Get. It is
// the tenant's *ImmutableLogger (every method but Close), kept open until
// the lease is closed: Tenants never closes a logger while a lease on it is
// open, so a holder cannot find it closed under its feet (except by
// Tenants.Close). Close the lease when done, as with a *sql.Conn; do not use
// it, or the logger taken from it, afterwards.
type TenantLogger struct {
	*ImmutableLogger
	t        *Tenants
	e        *tenantEntry
	released atomic.Bool
}

// Close ends the lease. The logger stays open for other callers until
// Tenants evicts it. A second Close returns ErrClosed, and so does Close on
// a nil or zero TenantLogger.
func (tl *TenantLogger) Close() error {
	if tl == nil || tl.t == nil || !tl.released.CompareAndSwap(false, true) {
		return ErrClosed
	}
	tl.t.release(tl.e)
	return nil
}

// Dir returns the directory of tenant id's log, root/tenants/<id>, after
// checking id. It need not exist.
func (t *Tenants) Dir(id string) (string, error) {
	if !t.live() {
		return "", ErrClosed
	}
	return tenantDir(t.root, id)
}

// tenantDir is the directory of tenant id's log under root,
// root/tenants/<id>.
func tenantDir(root, id string) (string, error) {
	if err := ValidateTenantID(id); err != nil {
		return "", err
	}
	return filepath.Join(root, tenantsDir, id), nil
}

// checkTenantCase refuses a new tenant (its directory, dir, does not exist
// yet) whose ID differs only in case from an existing tenant's: on a
// case-insensitive file system (macOS, Windows) the two would share a
// directory.
func checkTenantCase(root, id, dir string) error {
	if _, err := os.Lstat(dir); err == nil || !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	des, err := os.ReadDir(filepath.Join(root, tenantsDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("treeoflife: list tenants: %w", err)
	}
	for _, de := range des {
		if strings.EqualFold(de.Name(), id) && de.Name() != id {
			return fmt.Errorf("%w: %q differs only in case from tenant %q, and would share its directory on a case-insensitive file system", ErrInvalidTenant, id, de.Name())
		}
	}
	return nil
}

// System returns the system log, which records tenant erasures. It belongs
// to Tenants: do not close it.
func (t *Tenants) System() *ImmutableLogger {
	if t == nil {
		return nil
	}
	return t.sys
}

// Get returns a lease on tenant id's logger, opening (and, for a new tenant,
// creating) its log if it is not open. Close the lease when done. An
// invalid id is an error wrapping ErrInvalidTenant; an erased tenant's,
// ErrErased.
func (t *Tenants) Get(ctx context.Context, id string) (*TenantLogger, error) {
	if !t.live() {
		return nil, ErrClosed
	}
	dir, err := t.Dir(id)
	if err != nil {
		return nil, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return nil, ErrClosed
		}
		if t.erasing[id] {
			t.mu.Unlock()
			return nil, fmt.Errorf("%w: tenant %q is being erased", ErrErased, id)
		}
		if done, ok := t.closing[id]; ok {
			// Evicted and still closing: the directory's lock is not free yet.
			t.mu.Unlock()
			select {
			case <-done:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		e, ok := t.open[id]
		if ok {
			e.refs++
			t.lru.MoveToFront(e.elem)
			t.mu.Unlock()
			select {
			case <-e.ready:
			case <-ctx.Done():
				t.release(e)
				return nil, ctx.Err()
			}
			if e.err != nil {
				t.release(e)
				return nil, e.err
			}
			return &TenantLogger{ImmutableLogger: e.l, t: t, e: e}, nil
		}
		e = &tenantEntry{id: id, ready: make(chan struct{}), refs: 1}
		e.elem = t.lru.PushFront(e)
		t.open[id] = e
		t.mu.Unlock()

		opts := t.opts
		opts.Tenant = id
		var l *ImmutableLogger
		var err error
		if t.sys.keys != nil {
			opts.Keys, opts.tenantKeyed, err = t.tenantProvider(ctx, id, dir)
		}
		if err == nil {
			l, err = t.openMakingRoom(ctx, dir, opts, e)
		}
		if err != nil {
			err = fmt.Errorf("treeoflife: tenant %q: %w", id, err)
		}
		t.mu.Lock()
		e.l, e.err = l, err
		close(e.ready)
		if err != nil {
			t.removeLocked(e)
			t.mu.Unlock()
			return nil, err
		}
		if t.closed { // Close has taken the entry and closes the logger
			t.mu.Unlock()
			return nil, ErrClosed
		}
		victims := t.evictLocked()
		t.mu.Unlock()
		t.closeEvicted(victims)
		return &TenantLogger{ImmutableLogger: l, t: t, e: e}, nil
	}
}

// Log logs one entry to tenant id's log: Get, Log, Close.
func (t *Tenants) Log(ctx context.Context, id string, level Level, msg string, fields Fields) (Record, error) {
	tl, err := t.Get(ctx, id)
	if err != nil {
		return Record{}, err
	}
	defer tl.Close()
	return tl.Log(ctx, level, msg, fields)
}

// List returns the IDs of the tenants with a directory under root, sorted,
// erased ones included.
func (t *Tenants) List() ([]string, error) {
	if !t.live() {
		return nil, ErrClosed
	}
	des, err := os.ReadDir(filepath.Join(t.root, tenantsDir))
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, de := range des {
		if de.IsDir() && ValidateTenantID(de.Name()) == nil {
			ids = append(ids, de.Name())
		}
	}
	return ids, nil
}

// openMakingRoom opens the log in dir; when the process is out of file
// descriptors (EMFILE, or ENFILE for the system), it closes idle tenant
// loggers, least recently used first, and tries again, rather than pass
// the error to a caller while idle loggers hold descriptors. With none
// idle it waits briefly for a lease to end, a few times.
func (t *Tenants) openMakingRoom(ctx context.Context, dir string, opts Options, self *tenantEntry) (*ImmutableLogger, error) {
	for attempt := 0; ; attempt++ {
		var l *ImmutableLogger
		err := checkTenantCase(t.root, opts.Tenant, dir)
		if err == nil {
			l, err = openDir(dir, opts)
		}
		if err == nil || !(errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)) || attempt >= 20 {
			return l, err
		}
		t.mu.Lock()
		var victims []*tenantEntry
		for el := t.lru.Back(); el != nil && len(victims) < max(1, len(t.open)/4); {
			e := el.Value.(*tenantEntry)
			el = el.Prev()
			if e != self && e.refs == 0 {
				t.removeLocked(e)
				t.closing[e.id] = make(chan struct{})
				victims = append(victims, e)
			}
		}
		t.mu.Unlock()
		if len(victims) > 0 {
			t.sys.log.Warn("out of file descriptors; closing idle tenant logs to open another", "tenants", len(victims), "err", err)
			t.closeEvicted(victims)
			continue
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return nil, err
		}
	}
}

// release ends one lease on e, and evicts what the pool holds beyond its
// bound now that e may be idle.
func (t *Tenants) release(e *tenantEntry) {
	t.mu.Lock()
	e.refs--
	if e.refs == 0 && e.drained != nil {
		close(e.drained)
		e.drained = nil
	}
	var victims []*tenantEntry
	if !t.closed {
		victims = t.evictLocked()
	}
	t.mu.Unlock()
	t.closeEvicted(victims)
}

// evictLocked takes idle loggers, least recently used first, out of the
// pool until at most t.max are open, and marks them closing. Loggers with
// open leases are never taken: while every logger is leased, the pool holds
// more than t.max.
func (t *Tenants) evictLocked() []*tenantEntry {
	var out []*tenantEntry
	for el := t.lru.Back(); el != nil && len(t.open) > t.max; {
		e := el.Value.(*tenantEntry)
		el = el.Prev()
		if e.refs == 0 {
			t.removeLocked(e)
			t.closing[e.id] = make(chan struct{})
			out = append(out, e)
		}
	}
	return out
}

func (t *Tenants) removeLocked(e *tenantEntry) {
	if t.open[e.id] == e {
		delete(t.open, e.id)
		t.lru.Remove(e.elem)
	}
}

// closeEvicted closes loggers taken out of the pool, outside t.mu.
func (t *Tenants) closeEvicted(victims []*tenantEntry) {
	for _, e := range victims {
		if err := e.l.Close(); err != nil {
			t.sys.log.Error("closing an idle tenant log failed", "tenant", e.id, "err", err)
		}
		t.mu.Lock()
		close(t.closing[e.id])
		delete(t.closing, e.id)
		t.mu.Unlock()
	}
}

// openCount returns how many tenant loggers are open or opening.
func (t *Tenants) openCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.open)
}

// Erase crypto-shreds tenant id: it waits until every lease on the tenant's
// logger is closed (or ctx ends), closes the logger, and removes every
// wrapped data key from the tenant's HEADER (replaced atomically and
// fsynced), leaving the times they were erased. The tenant's log still
// verifies (VerifyDir on Dir(id)), but its records can no longer be
// decrypted: opening it fails with ErrErased, and so does Get.
//
// The system log records the erasure as two AUDIT entries: "tenant erasure
// started" before the keys are removed, and "tenant data keys erased" after,
// each with the tenant ID, its log ID and the head of its log as verified
// just before (size, chain, root, and whether it verified). Erase on an
// erased tenant records the entries again and changes nothing else: after
// an error, call it again.
//
// What is not erased: see FORMAT.md, "Erasure". In short: record sizes,
// timestamps and levels (frames and indexes), the tenant ID and the
// erasure records, and any copy of the old HEADER (backups, snapshots, the
// disk blocks it occupied), which with the master key still opens the
// records.
//
// With Options.Backup, Erase also puts the erased HEADER into the backup as
// its newest revision, which is what RestoreBackup restores; if that
// fails, Erase returns an error after the keys are erased, and calling it
// again retries. The earlier revisions stay: backup objects are write-once.
func (t *Tenants) Erase(ctx context.Context, id string) error {
	if !t.live() {
		return ErrClosed
	}
	dir, err := t.Dir(id)
	if err != nil {
		return err
	}
	if t.sys.keys == nil {
		return fmt.Errorf("treeoflife: Erase: the tenant logs are not encrypted (Options.EncryptionKey, Passphrase or Keys), so they cannot be crypto-shredded")
	}
	if _, err := os.Stat(filepath.Join(dir, headerFile)); err != nil {
		return fmt.Errorf("treeoflife: erase tenant %q: %w", id, err)
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrClosed
	}
	if t.erasing[id] {
		t.mu.Unlock()
		return fmt.Errorf("%w: tenant %q is already being erased", ErrErased, id)
	}
	t.erasing[id] = true // Get refuses the tenant from here on
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.erasing, id)
		t.mu.Unlock()
	}()
	if err := t.closeForErase(ctx, id); err != nil {
		return err
	}
	// No logger in this process holds the directory now; the lock keeps
	// other processes out while HEADER changes.
	lk, err := fileutil.LockFile(filepath.Join(dir, lockFile))
	if errors.Is(err, fileutil.ErrLocked) {
		return fmt.Errorf("%w: tenant %q: %s", ErrLocked, id, dir)
	}
	if err != nil {
		return fmt.Errorf("treeoflife: lock %s: %w", dir, err)
	}
	defer lk.Unlock()
	_, logID, err := readHeader(dir)
	if err != nil {
		return err
	}
	rep, verr := VerifyDir(ctx, dir)
	head := rep.Head
	if verr != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	fields := Fields{
		"tenantId": id,
		"logId":    checkpointOrigin(logID)[len("treeoflife/"):],
		"size":     head.Size,
		"chain":    head.Chain.String(),
		"root":     head.Root.String(),
		"verified": verr == nil,
	}
	if verr != nil {
		fields["verifyError"] = verr.Error()
	}
	if _, err := t.sys.Log(ctx, LevelAudit, "tenant erasure started", fields); err != nil {
		return fmt.Errorf("treeoflife: erase tenant %q: record in system log: %w", id, err)
	}
	ids, err := eraseDataKeys(dir, t.sys.opts.Clock(), func(h Hash) error {
		return recommitHeader(dir, logID, h, t.opts.Signer, t.sys.opts.Clock())
	})
	if err != nil {
		return fmt.Errorf("treeoflife: erase tenant %q: %w", id, err)
	}
	erased := make([]any, len(ids))
	for i, k := range ids {
		erased[i] = k
	}
	fields["dataKeysErased"] = erased
	var berr error
	if sinks := t.opts.backupSinks(); len(sinks) > 0 {
		// Copies of earlier HEADER revisions stay in the backup (its
		// objects are write-once), but a restore takes the newest.
		var errs []error
		for i, sink := range sinks {
			if err := publishHeader(ctx, sink, t.opts.BackupPrefix, dir); err != nil {
				errs = append(errs, &SinkError{Sink: SinkName(i, sink), Err: err})
			}
		}
		berr = errors.Join(errs...)
		fields["backupHeaderUpdated"] = berr == nil
		if berr != nil {
			fields["backupError"] = berr.Error()
		}
	}
	kerr := t.destroyTenantKey(ctx, id, fields)
	if kerr != nil {
		fields["tenantKeyError"] = kerr.Error() // calling Erase again retries
	}
	if _, err := t.sys.Log(ctx, LevelAudit, "tenant data keys erased", fields); err != nil {
		return fmt.Errorf("treeoflife: erase tenant %q: keys erased, but recording it in the system log failed: %w", id, err)
	}
	// Sign the record now (with Options.Signer), not at the next interval.
	if _, err := t.sys.Checkpoint(ctx); err != nil {
		return fmt.Errorf("treeoflife: erase tenant %q: keys erased and recorded, but the system log's checkpoint failed: %w", id, err)
	}
	if kerr != nil {
		return fmt.Errorf("treeoflife: erase tenant %q: data keys erased, but its tenant key is not destroyed everywhere: %w", id, kerr)
	}
	if berr != nil {
		return fmt.Errorf("treeoflife: erase tenant %q: keys erased, but the backup still holds the HEADER before erasure: %w", id, berr)
	}
	return nil
}

// destroyTenantKey destroys tenant id's tenant key in the local key store
// and the backup's, checks that neither holds it any more, and records
// what it did in fields. A tenant made before tenant keys has none: its
// data keys are wrapped by the master key, so earlier HEADER revisions in
// the backup stay readable with it, which fields say.
func (t *Tenants) destroyTenantKey(ctx context.Context, id string, fields Fields) error {
	kf, err := readTenantKey(t.root, id)
	if err != nil {
		return err
	}
	sinks := t.opts.backupSinks()
	for _, sink := range sinks {
		if kf != nil {
			break
		}
		if kf, err = downloadTenantKey(ctx, sink, t.opts.BackupPrefix, id); err != nil {
			return err
		}
	}
	if kf == nil {
		fields["tenantKey"] = "none: the data keys were wrapped by the master key (a tenant made before tenant keys); earlier HEADER revisions in a backup still open with it"
		return nil
	}
	fields["tenantKeyId"] = kf.KeyID
	if _, err := destroyTenantKey(t.root, id); err != nil {
		return err
	}
	if _, err := os.Stat(tenantKeyPath(t.root, id)); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("tenant key file %s still exists after its removal: %v", tenantKeyPath(t.root, id), err)
	}
	confirmed := []any{"local"}
	var errs []error
	for i, sink := range sinks {
		name := SinkName(i, sink)
		if err := deleteTenantKey(ctx, sink, tenantKeyObject(t.opts.BackupPrefix, id)); err != nil {
			errs = append(errs, &SinkError{Sink: name, Err: err})
			continue
		}
		confirmed = append(confirmed, "backup")
		if len(sinks) > 1 {
			confirmed[len(confirmed)-1] = "backup " + name
		}
	}
	fields["tenantKeyDestroyed"] = confirmed
	return errors.Join(errs...)
}

// deleteTenantKey deletes the tenant key object key from sink, every
// stored version of it, and checks that none is left.
func deleteTenantKey(ctx context.Context, sink backup.Sink, key string) error {
	d, ok := sink.(backup.Deleter)
	if !ok {
		return fmt.Errorf("the backup sink %T cannot delete objects (backup.Deleter), so it keeps the tenant key", sink)
	}
	if err := d.Delete(ctx, key); err != nil {
		return err
	}
	if _, err := sink.Stat(ctx, key); !errors.Is(err, backup.ErrNotExist) {
		return fmt.Errorf("the backup still holds %s after its deletion: %v", key, err)
	}
	if vl, ok := sink.(backup.VersionLister); ok {
		for info, err := range vl.ListDeleted(ctx, key) {
			if err != nil {
				return fmt.Errorf("checking that no version of %s is left: %w", key, err)
			}
			if info.Key == key {
				return fmt.Errorf("the backup still holds an earlier version of %s", key)
			}
		}
	}
	return nil
}

// closeForErase waits for the tenant's leases to be closed and closes its
// logger. t.erasing[id] is set, so no new lease starts meanwhile.
func (t *Tenants) closeForErase(ctx context.Context, id string) error {
	for {
		t.mu.Lock()
		if done, ok := t.closing[id]; ok {
			t.mu.Unlock()
			select {
			case <-done:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		e, ok := t.open[id]
		if !ok {
			t.mu.Unlock()
			return nil
		}
		if e.refs > 0 {
			if e.drained == nil {
				e.drained = make(chan struct{})
			}
			drained := e.drained
			t.mu.Unlock()
			select {
			case <-drained:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		t.removeLocked(e)
		t.mu.Unlock()
		// refs is 0, so Open has returned and e.l is set.
		if err := e.l.Close(); err != nil && !errors.Is(err, ErrClosed) {
			return fmt.Errorf("treeoflife: erase tenant %q: close its log: %w", id, err)
		}
		return nil
	}
}

// Close closes every open tenant logger, then the system log. Leases still
// open find their logger closed (ErrClosed). A second Close returns
// ErrClosed, and so does Close on a nil or zero Tenants.
func (t *Tenants) Close() error {
	if !t.live() {
		return ErrClosed
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrClosed
	}
	t.closed = true
	entries := make([]*tenantEntry, 0, len(t.open))
	for _, e := range t.open {
		entries = append(entries, e)
	}
	clear(t.open)
	t.lru.Init()
	var closing []chan struct{}
	for _, ch := range t.closing {
		closing = append(closing, ch)
	}
	t.mu.Unlock()
	var errs []error
	for _, e := range entries {
		<-e.ready
		if e.l != nil {
			if err := e.l.Close(); err != nil && !errors.Is(err, ErrClosed) {
				errs = append(errs, fmt.Errorf("tenant %q: %w", e.id, err))
			}
		}
	}
	for _, ch := range closing {
		<-ch
	}
	if err := t.sys.Close(); err != nil {
		errs = append(errs, fmt.Errorf("system log: %w", err))
	}
	return errors.Join(errs...)
}
