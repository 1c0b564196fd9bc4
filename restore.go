package treeoflife

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/treeoflife/treeoflife/backup"
	"github.com/treeoflife/treeoflife/internal/fileutil"
)

// SeqRange is the records First..Last, inclusive.
type SeqRange struct {
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
}

// CloudStatus is the result of VerifyCloudBackup, with the original
// system's fields.
type CloudStatus struct {
	SyncStatus     string     `json:"sync_status"` // "synced" or "out_of_sync"
	SyncPercentage float64    `json:"sync_percentage"`
	LocalBlocks    uint64     `json:"local_blocks"` // durable records in the local log
	CloudBlocks    uint64     `json:"cloud_blocks"` // of those, records whose backup copy verified
	Missing        []SeqRange `json:"missing,omitempty"`
	Mismatched     []SeqRange `json:"mismatched,omitempty"` // backup objects that differ from the local log or do not verify
}

// batchRef is one batch object in a backup.
type batchRef struct {
	key         string
	first, last uint64
}

func listBatches(ctx context.Context, sink backup.Sink, root string) ([]batchRef, error) {
	var refs []batchRef
	for info, err := range sink.List(ctx, root+"batches/") {
		if err != nil {
			return nil, fmt.Errorf("treeoflife: list backup batches: %w", err)
		}
		if f, l, ok := parseBatchKey(root, info.Key); ok {
			refs = append(refs, batchRef{key: info.Key, first: f, last: l})
		}
	}
	slices.SortFunc(refs, func(a, b batchRef) int {
		if a.first != b.first {
			return compareU64(a.first, b.first)
		}
		return compareU64(a.last, b.last)
	})
	return refs, nil
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func getObject(ctx context.Context, sink backup.Sink, key string) ([]byte, error) {
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		rc, _, err := sink.Get(ctx, key)
		if err == nil {
			var b []byte
			b, err = io.ReadAll(rc)
			rc.Close()
			if err == nil {
				return b, nil
			}
		}
		if errors.Is(err, backup.ErrNotExist) || errors.Is(err, backup.ErrChecksum) || ctx.Err() != nil {
			return nil, err
		}
		last = err
		t := time.NewTimer(time.Duration(100<<attempt) * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	return nil, last
}

// VerifyCloudBackup downloads every batch in the backup and checks it
// against the local log: each record's chain value is recomputed from the
// downloaded bytes and must equal the local one, so a copy that merely
// exists but was altered is reported, as is one that is missing.
func (l *ImmutableLogger) VerifyCloudBackup(ctx context.Context) (CloudStatus, error) {
	if l.shipper == nil {
		return CloudStatus{}, errors.New("treeoflife: no backup configured (Options.Backup)")
	}
	if err := l.Sync(ctx); err != nil {
		return CloudStatus{}, err
	}
	v, _ := l.durableView()
	s := l.shipper
	refs, err := listBatches(ctx, s.sink, s.root)
	if err != nil {
		return CloudStatus{}, err
	}
	st := CloudStatus{LocalBlocks: v.Size}
	next := uint64(0)
	for _, r := range refs {
		if r.first >= v.Size {
			break
		}
		if r.first < next {
			st.Mismatched = appendRange(st.Mismatched, r.first, min(r.last, v.Size-1)) // overlaps a verified batch
			continue
		}
		if r.first > next {
			st.Missing = appendRange(st.Missing, next, r.first-1)
		}
		ok, err := verifyBatch(ctx, s.sink, v, r)
		if err != nil {
			return st, err
		}
		last := min(r.last, v.Size-1)
		if ok {
			st.CloudBlocks += last - r.first + 1
		} else {
			st.Mismatched = appendRange(st.Mismatched, r.first, last)
		}
		next = r.last + 1
	}
	if next < v.Size {
		st.Missing = appendRange(st.Missing, next, v.Size-1)
	}
	st.SyncPercentage = 100
	if st.LocalBlocks > 0 {
		st.SyncPercentage = float64(st.CloudBlocks) * 100 / float64(st.LocalBlocks)
	}
	st.SyncStatus = "out_of_sync"
	if st.CloudBlocks == st.LocalBlocks && len(st.Missing) == 0 && len(st.Mismatched) == 0 {
		st.SyncStatus = "synced"
	}
	return st, nil
}

func appendRange(rs []SeqRange, first, last uint64) []SeqRange {
	if n := len(rs); n > 0 && rs[n-1].Last+1 == first {
		rs[n-1].Last = last
		return rs
	}
	return append(rs, SeqRange{First: first, Last: last})
}

// verifyBatch reports whether the batch r holds exactly the local records:
// well-formed frames, the right sequence numbers, and chain values that
// link from the local record before it and equal the local ones.
func verifyBatch(ctx context.Context, sink backup.Sink, v *readView, r batchRef) (bool, error) {
	body, err := getObject(ctx, sink, r.key)
	if errors.Is(err, backup.ErrChecksum) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var local []Hash
	from := r.first
	if from > 0 {
		from--
	}
	var prev Hash
	if r.first == 0 {
		prev = genesisChain(v.LogID)
	}
	err = readFrames(v, from, min(r.last+1, v.Size), func(fr *frame) error {
		if fr.Seq < r.first {
			prev = fr.Chain
		} else {
			local = append(local, fr.Chain)
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	i := 0
	ok := true
	werr := walkBatch(body, func(fr *frame) error {
		if fr.Seq != r.first+uint64(i) || i >= len(local) {
			ok = false
			return io.EOF
		}
		leaf := leafHash(fr.Payload)
		prev = chainHash(&prev, &leaf)
		if prev != local[i] || fr.Chain != local[i] {
			ok = false
			return io.EOF
		}
		i++
		return nil
	})
	if werr != nil && werr != io.EOF {
		ok = false
	}
	return ok && i == len(local), nil
}

// RestoreOptions configure RestoreFromCloud.
type RestoreOptions struct {
	// Prefix is the BackupPrefix the log was shipped with.
	Prefix string

	// LogID selects the log under Prefix (hex, as LogID returns). It may be
	// empty when Prefix holds one log for Tenant; finding it then lists
	// every object under Prefix, which takes a while in a large bucket.
	LogID string

	// Tenant is the log's Options.Tenant ("" for none).
	Tenant string

	// Records, when non-zero, restores only records 0..Records-1: a
	// point-in-time restore by position.
	Records uint64

	// UpToTime, when set, stops before the first entry stamped after it: a
	// point-in-time restore by time. It needs readable (unencrypted, or
	// Options.EncryptionKey given) entries.
	UpToTime time.Time

	// Parallel is how many batches are downloaded at once. Default 8.
	Parallel int

	// Options configure the restored log (SegmentSize, Compress, keys...).
	// Backup is ignored: see RestoreFromCloud. An encrypted log is restored
	// through a logger, so it needs its key here, as Open does; to check a
	// backup without one, use VerifyBackup.
	Options Options
}

// RestoreFromCloud rebuilds the log directory dir from a backup: the newest
// HEADER revision, then the batches, downloaded in parallel with retries and
// appended in order. Every record's chain value is recomputed from the
// downloaded bytes and must be the one that was shipped, and the result
// must match the newest backup checkpoint it passes, and a complete restore
// must reach every checkpoint; otherwise it stops with a *TamperError naming
// the object. If dir already holds part of the same log (an interrupted
// restore), it continues from there.
//
// A complete restore records the backup location and how far it goes in
// dir, so that opening the restored log with the same Options.Backup
// continues shipping where the lost machine stopped (once its lease has
// expired, if it did not close). A point-in-time restore does not: a log
// that continues from an earlier point is a different history, and must
// ship elsewhere.
func RestoreFromCloud(ctx context.Context, sink backup.Sink, dir string, opts RestoreOptions) (Head, error) {
	root, err := findBackupRoot(ctx, sink, opts)
	if err != nil {
		return Head{}, err
	}
	hb, err := latestHeader(ctx, sink, root)
	if err != nil {
		return Head{}, err
	}
	if err := prepareRestoreDir(dir, hb); err != nil {
		return Head{}, err
	}
	lopts := opts.Options
	lopts.Backup = nil
	lopts.Durability = DurabilityBuffered
	lopts.Tenant = opts.Tenant
	l, err := Open(dir, lopts)
	if err != nil {
		return Head{}, err
	}
	head, rerr := restoreInto(ctx, sink, root, l, opts)
	cerr := l.Close()
	if rerr != nil {
		return head, rerr
	}
	if cerr != nil {
		return head, cerr
	}
	if opts.Records == 0 && opts.UpToTime.IsZero() {
		if err := writeBackupCursor(dir, backupCursor{Root: root, Shipped: head.Size}); err != nil {
			return head, err
		}
	}
	return head, nil
}

func findBackupRoot(ctx context.Context, sink backup.Sink, opts RestoreOptions) (string, error) {
	if opts.LogID != "" {
		return backupRoot(opts.Prefix, opts.LogID, opts.Tenant), nil
	}
	prefix := strings.Trim(opts.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	tenant := opts.Tenant
	if tenant == "" {
		tenant = "_"
	}
	var roots []string
	for info, err := range sink.List(ctx, prefix) {
		if err != nil {
			return "", fmt.Errorf("treeoflife: restore: list %q: %w", prefix, err)
		}
		rest := strings.TrimPrefix(info.Key, prefix)
		parts := strings.Split(rest, "/")
		if len(parts) == 4 && parts[2] == "headers" && parts[1] == tenant {
			if r := prefix + parts[0] + "/" + parts[1] + "/"; !slices.Contains(roots, r) {
				roots = append(roots, r)
			}
		}
	}
	switch len(roots) {
	case 0:
		return "", fmt.Errorf("treeoflife: restore: no log for tenant %q under %q: %w", opts.Tenant, prefix, backup.ErrNotExist)
	case 1:
		return roots[0], nil
	}
	return "", fmt.Errorf("treeoflife: restore: %d logs under %q (%s); set RestoreOptions.LogID", len(roots), prefix, strings.Join(roots, ", "))
}

// latestHeader returns the newest HEADER revision in the backup at root,
// checked to belong to the log the root names.
func latestHeader(ctx context.Context, sink backup.Sink, root string) ([]byte, error) {
	var key string
	var newest uint64
	for info, err := range sink.List(ctx, root+"headers/") {
		if err != nil {
			return nil, fmt.Errorf("treeoflife: restore: list %sheaders/: %w", root, err)
		}
		if r, ok := parseHeaderKey(root, info.Key); ok && (key == "" || r > newest) {
			key, newest = info.Key, r
		}
	}
	if key == "" {
		return nil, fmt.Errorf("treeoflife: restore: no HEADER under %sheaders/: %w", root, backup.ErrNotExist)
	}
	b, err := getObject(ctx, sink, key)
	if err != nil {
		return nil, fmt.Errorf("treeoflife: restore: read %s: %w", key, err)
	}
	h, _, err := parseHeader(b, key)
	if err != nil {
		return nil, err
	}
	if h.Revision != newest || !strings.HasSuffix("/"+root, "/"+h.LogID+"/"+cmp.Or(h.Tenant, "_")+"/") {
		return nil, fmt.Errorf("%w: %s holds revision %d of log %s (tenant %q), not what its key says", ErrNotLog, key, h.Revision, h.LogID, h.Tenant)
	}
	return b, nil
}

// prepareRestoreDir creates dir with the backed-up HEADER, or accepts a dir
// that already holds the same log (an interrupted restore), taking the
// backup's HEADER if it is a later revision.
func prepareRestoreDir(dir string, header []byte) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("treeoflife: restore: %w", err)
	}
	name := filepath.Join(dir, headerFile)
	existing, err := os.ReadFile(name)
	if err == nil {
		if bytes.Equal(existing, header) {
			return nil
		}
		local, _, lerr := parseHeader(existing, name)
		cloud, _, _ := parseHeader(header, "backup")
		switch {
		case lerr != nil || local.LogID != cloud.LogID || local.Revision == cloud.Revision:
			return fmt.Errorf("%w: %s holds a different log than the backup", ErrNotLog, dir)
		case local.Revision > cloud.Revision:
			return nil // keys added here since (the restored log was opened with a new master key)
		}
		return fileutil.WriteFileAtomic(name, header, 0o444)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := checkEmpty(dir); err != nil {
		return err
	}
	return fileutil.WriteFileAtomic(name, header, 0o444)
}

// backupScan reads a backup's batches in order, several downloads at once.
type backupScan struct {
	sink        backup.Sink
	root        string
	refs        []batchRef
	checkpoints map[uint64]string // checkpoint keys by size
}

// errStop ends a backupScan.each early without an error.
var errStop = errors.New("stop")

// openBackupScan lists the batches at root, which must tile the log from
// record 0, and the checkpoints.
func openBackupScan(ctx context.Context, sink backup.Sink, root string) (*backupScan, error) {
	refs, err := listBatches(ctx, sink, root)
	if err != nil {
		return nil, err
	}
	next := uint64(0)
	for _, r := range refs {
		if r.first != next {
			return nil, &TamperError{Seq: next, Offset: -1, Reason: fmt.Sprintf("backup has no batch starting at seq %d (next is %s)", next, r.key)}
		}
		next = r.last + 1
	}
	b := &backupScan{sink: sink, root: root, refs: refs, checkpoints: map[uint64]string{}}
	for info, err := range sink.List(ctx, root+"checkpoints/") {
		if err != nil {
			return nil, fmt.Errorf("treeoflife: list backup checkpoints: %w", err)
		}
		rest := strings.TrimPrefix(info.Key, root+"checkpoints/")
		n, err := strconv.ParseUint(rest, 10, 64)
		if err != nil || len(rest) != 20 {
			return nil, &TamperError{Segment: info.Key, Seq: 0, Offset: -1, Reason: "backup checkpoint with a malformed key"}
		}
		b.checkpoints[n] = info.Key
	}
	return b, nil
}

type fetched struct {
	body []byte
	err  error
}

// each calls fn for every record from start on, in order, downloading up
// to parallel batches ahead. It stops at the end of the backup, when fn
// returns errStop (each then returns nil), or at fn's first error. Damaged
// frames are reported as a TamperError naming the batch.
func (b *backupScan) each(ctx context.Context, start uint64, parallel int, fn func(key string, fr *frame) error) error {
	var todo []batchRef
	for _, r := range b.refs {
		if r.last >= start {
			todo = append(todo, r)
		}
	}
	if parallel <= 0 {
		parallel = 8
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]chan fetched, len(todo))
	for i := range results {
		results[i] = make(chan fetched, 1)
	}
	sem := make(chan struct{}, parallel)
	go func() {
		for i, r := range todo {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() {
				body, err := getObject(ctx, b.sink, r.key)
				results[i] <- fetched{body, err}
			}()
		}
	}()
	for i, r := range todo {
		var f fetched
		select {
		case f = <-results[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		<-sem
		if errors.Is(f.err, backup.ErrChecksum) {
			return &TamperError{Segment: r.key, Seq: r.first, Offset: -1, Reason: "backup batch does not match the checksum stored with it: " + f.err.Error()}
		}
		if f.err != nil {
			return fmt.Errorf("treeoflife: read backup batch %s: %w", r.key, f.err)
		}
		next := r.first
		err := walkBatch(f.body, func(fr *frame) error {
			if fr.Seq != next || fr.Seq > r.last {
				return &TamperError{Segment: r.key, Seq: next, Offset: fr.Offset, Reason: fmt.Sprintf("backup batch holds seq %d where %d belongs", fr.Seq, next)}
			}
			next++
			if fr.Seq < start {
				return nil
			}
			return fn(r.key, fr)
		})
		if err == nil && next != r.last+1 {
			err = &TamperError{Segment: r.key, Seq: next, Offset: int64(len(f.body)), Reason: fmt.Sprintf("backup batch ends at seq %d; its key says %d", next, r.last+1)}
		}
		if errors.Is(err, errStop) {
			return nil
		}
		if err != nil {
			var fe *frameError
			if errors.As(err, &fe) {
				err = &TamperError{Segment: r.key, Seq: next, Offset: fe.Offset, Reason: "damaged backup batch: " + fe.Reason}
			}
			return err
		}
	}
	return nil
}

// checkHead checks head, computed from the batches, against the
// checkpoint of cpSize records, the newest the scan passed (chain value
// cpChain there; none if cpSize is 0), and, when whole (the scan read every
// batch), that no checkpoint covers more records than the batches hold: the
// shipper puts a checkpoint only after its batches, so one beyond them
// means records were removed from the end.
func (b *backupScan) checkHead(ctx context.Context, logID [16]byte, head Head, cpSize uint64, cpChain Hash, whole bool) error {
	var newest uint64
	for n := range b.checkpoints {
		newest = max(newest, n)
	}
	if whole && newest > head.Size {
		return &TamperError{Segment: b.checkpoints[newest], Seq: head.Size, Offset: -1, Reason: fmt.Sprintf("the backup's checkpoint covers %d records but its batches end at %d: records were removed", newest, head.Size)}
	}
	if cpSize == 0 {
		return nil
	}
	var root *Hash
	if cpSize == head.Size {
		root = &head.Root
	}
	return b.checkCheckpoint(ctx, logID, cpSize, cpChain, root)
}

// checkCheckpoint compares the backup's checkpoint of size records with
// the chain value (and, when root is not nil, the Merkle root) computed from
// its batches.
func (b *backupScan) checkCheckpoint(ctx context.Context, logID [16]byte, size uint64, chain Hash, root *Hash) error {
	key := b.checkpoints[size]
	body, err := getObject(ctx, b.sink, key)
	if errors.Is(err, backup.ErrChecksum) {
		return &TamperError{Segment: key, Seq: size, Offset: -1, Reason: "backup checkpoint does not match the checksum stored with it"}
	}
	if err != nil {
		return fmt.Errorf("treeoflife: read backup checkpoint %s: %w", key, err)
	}
	cp, err := parseBackupCheckpoint(logID, body)
	switch {
	case err != nil || cp.Size != size:
		return &TamperError{Segment: key, Seq: size, Offset: -1, Reason: "backup checkpoint is malformed or belongs to another log"}
	case cp.Chain != chain:
		return &TamperError{Segment: key, Seq: size, Offset: -1, Reason: "the backup's batches differ from its checkpoint at this size"}
	case root != nil && cp.Head().Root != *root:
		return &TamperError{Segment: key, Seq: size, Offset: -1, Reason: "the backup's Merkle root differs from its checkpoint"}
	}
	return nil
}

func restoreInto(ctx context.Context, sink backup.Sink, root string, l *ImmutableLogger, opts RestoreOptions) (Head, error) {
	scan, err := openBackupScan(ctx, sink, root)
	if err != nil {
		return l.Head(), err
	}
	limit := opts.Records
	var upTo int64
	if !opts.UpToTime.IsZero() {
		upTo = opts.UpToTime.UnixNano()
	}
	var scratch []byte // decrypted entries, for their level and time
	var cpSize uint64  // the newest checkpoint passed, and the chain there
	var cpChain Hash
	err = scan.each(ctx, l.Head().Size, opts.Parallel, func(key string, fr *frame) error {
		if limit > 0 && fr.Seq >= limit {
			return errStop
		}
		level, t := l.payloadLevelTime(fr.Seq, fr.Payload, &scratch)
		if upTo != 0 && t > upTo {
			return errStop
		}
		if err := l.appendStored(fr.Payload, level, t, fr.Chain, key, fr.Offset); err != nil {
			return err
		}
		if _, ok := scan.checkpoints[fr.Seq+1]; ok {
			cpSize, cpChain = fr.Seq+1, fr.Chain
		}
		return nil
	})
	if err != nil {
		return l.Head(), err
	}
	if err := l.Sync(ctx); err != nil {
		return l.Head(), err
	}
	head := l.Head()
	return head, scan.checkHead(ctx, l.logID, head, cpSize, cpChain, limit == 0 && upTo == 0)
}

// VerifyBackup checks a backup without a local copy and without any key:
// it downloads every batch (Parallel at once), recomputes every record's
// chain value from genesis and the Merkle root, and compares them with the
// backup's newest checkpoint, which must not cover more records than the
// batches hold. It returns the backup's head, or a *TamperError naming the
// object at fault. opts selects the log as for RestoreFromCloud; Records
// limits the check to a prefix; UpToTime, which needs the entries' times,
// and Options are not used.
func VerifyBackup(ctx context.Context, sink backup.Sink, opts RestoreOptions) (Head, error) {
	rep, err := VerifyBackupWith(ctx, sink, opts, VerifyOptions{})
	return rep.Head, err
}

// VerifyBackupWith is VerifyBackup that also checks the backup against
// trusted checkpoints, as VerifyDirWith checks a directory: with
// vopts.Verifiers, the backup's newest checkpoint is trusted when one of
// them signed it (a trusted key's signature that does not verify is
// tampering); each anchor's newest checkpoint must lie on the backup's
// batches; under RequireSigned every record of the backup must be covered
// by a trusted checkpoint. An auditor runs it with the log's public key and
// no encryption key.
func VerifyBackupWith(ctx context.Context, sink backup.Sink, opts RestoreOptions, vopts VerifyOptions) (VerifyReport, error) {
	var rep VerifyReport
	if (len(vopts.Anchors) > 0 || vopts.RequireSigned) && vopts.Verifiers == nil {
		return rep, fmt.Errorf("%w: VerifyOptions.Anchors and RequireSigned need Verifiers", ErrInvalidOptions)
	}
	root, err := findBackupRoot(ctx, sink, opts)
	if err != nil {
		return rep, err
	}
	hb, err := latestHeader(ctx, sink, root)
	if err != nil {
		return rep, err
	}
	_, logID, err := parseHeader(hb, root+"headers/")
	if err != nil {
		return rep, err
	}
	scan, err := openBackupScan(ctx, sink, root)
	if err != nil {
		return rep, err
	}
	origin := checkpointOrigin(logID)
	var pins []pin
	if vopts.Verifiers != nil {
		var newest uint64
		var key string
		for n, k := range scan.checkpoints {
			if key == "" || n > newest {
				newest, key = n, k
			}
		}
		if key != "" {
			b, err := getObject(ctx, sink, key)
			if err != nil {
				return rep, fmt.Errorf("treeoflife: read backup checkpoint %s: %w", key, err)
			}
			cr := CheckpointReport{Source: key, Size: newest}
			_, n, err := OpenCheckpoint(b, vopts.Verifiers)
			if err := signatureError(err, key); err != nil {
				return rep, err
			}
			if n != nil {
				cr.Trusted, cr.Signers = true, sigNames(n.Sigs)
				rep.Anchored = newest
			}
			rep.Checkpoints = append(rep.Checkpoints, cr)
		}
	}
	anchored, err := rep.addAnchors(ctx, vopts, origin)
	if err != nil {
		return rep, err
	}
	pins = append(pins, anchored...)
	v := newVerifier("", logID)
	v.pins = sortPins(pins)
	if err := v.checkPins("", 0, -1); err != nil {
		return rep, err
	}
	var cpSize uint64
	var cpChain Hash
	err = scan.each(ctx, 0, opts.Parallel, func(key string, fr *frame) error {
		if opts.Records > 0 && fr.Seq >= opts.Records {
			return errStop
		}
		leaf := leafHash(fr.Payload)
		c := chainHash(&v.chain, &leaf)
		if c != fr.Chain {
			return &TamperError{Segment: key, Seq: fr.Seq, Offset: fr.Offset, Reason: "chain value mismatch in backup: the record or its predecessor was modified"}
		}
		v.chain = c
		v.frontier.append(leaf)
		v.size++
		if _, ok := scan.checkpoints[v.size]; ok {
			cpSize, cpChain = v.size, c
		}
		if v.next < len(v.pins) && v.pins[v.next].size <= v.size {
			return v.checkPins(key, fr.Seq, fr.Offset)
		}
		return nil
	})
	rep.Head = v.head()
	if err != nil {
		return rep, err
	}
	if err := scan.checkHead(ctx, logID, rep.Head, cpSize, cpChain, opts.Records == 0); err != nil {
		return rep, err
	}
	if len(v.pins) > 0 && opts.Records == 0 {
		if p := v.pins[len(v.pins)-1]; p.size > rep.Head.Size {
			return rep, &TamperError{Seq: rep.Head.Size, Offset: -1,
				Reason: fmt.Sprintf("the backup ends after %d records but %s records %d (batches removed from the end)", rep.Head.Size, p.source, p.size)}
		}
	}
	rep.Unanchored = rep.Head.Size - min(rep.Anchored, rep.Head.Size)
	if vopts.RequireSigned && rep.Unanchored > 0 {
		return rep, fmt.Errorf("%w: backup records %d to %d (%d records) follow the newest trusted checkpoint, of size %d",
			ErrUnanchored, rep.Anchored, rep.Head.Size-1, rep.Unanchored, rep.Anchored)
	}
	return rep, nil
}

// appendStored appends a payload copied from a backup, whose entry has the
// level and time given (for the index). Its chain value must come out as
// want; if not, nothing is appended and the error locates the record in the
// backup object src.
func (l *ImmutableLogger) appendStored(payload []byte, level Level, t int64, want Hash, src string, off int64) error {
	leaf := leafHash(payload)
	l.mu.Lock()
	defer l.mu.Unlock()
	c, coff, err := l.reserveLocked(int64(frameHeaderSize+len(payload)), l.opts.Clock())
	if err != nil {
		return err
	}
	if chainHash(&l.chain, &leaf) != want {
		c.data = c.data[:coff]
		return &TamperError{Segment: src, Seq: l.size, Offset: off, Reason: "chain value mismatch in backup: the record or its predecessor was modified"}
	}
	c.data = append(c.data, payload...)
	l.commitLocked(c, coff, leaf, level, t)
	return nil
}

// parseBackupCheckpoint parses a checkpoint object of the backup (signed or
// not; signatures are checked by VerifyOptions, not here) of the log logID.
func parseBackupCheckpoint(logID [16]byte, b []byte) (*Checkpoint, error) {
	text, _, err := splitCheckpoint(b)
	if err != nil {
		return nil, err
	}
	c, err := ParseCheckpoint(text)
	if err != nil {
		return nil, err
	}
	if c.Origin != checkpointOrigin(logID) {
		return nil, fmt.Errorf("%w: checkpoint of another log (%s)", ErrBadCheckpoint, c.Origin)
	}
	return c, nil
}
