// Package treeoflife is an embeddable, tamper-evident, append-only log for
// business and audit records.
//
// A service opens a log directory, logs from any number of goroutines, and
// closes it on shutdown:
//
//	logger, err := treeoflife.Open("/var/lib/myapp/audit", treeoflife.Options{})
//	if err != nil { ... }
//	defer logger.Close()
//	rec, err := logger.Revenue("Payment received", treeoflife.Fields{"amount": 9900, "currency": "USD"})
//	...
//	rep, err := logger.Verify(ctx) // err: nil, or a *TamperError saying where
//
// Every record is an entry (JSON with the keys id, timestamp, level,
// message, metadata, hostname, pid, tenantId and seq) stored in a frame in a
// segment file. Each record's chain value hashes the previous chain value
// with the record's bytes, and an RFC 6962 Merkle tree is kept over all
// records, so that changing, inserting, deleting or reordering any record,
// or removing or renaming a segment, is found by Verify. Verify reads the
// files on disk, not memory, and needs no key; VerifyDir does the same for
// an auditor's copy of a log.
//
// # Durability
//
// With the default DurabilitySync a call returns after its record is
// fsynced; concurrent calls share fsyncs (group commit), so throughput grows
// with the number of writers. With DurabilityBuffered a call returns once the
// record is chained and queued; the writer fsyncs every FlushInterval, and
// Sync forces it. Either way, after a crash Open repairs a torn last write
// (keeping the cut bytes in repair/) and every acknowledged record is there.
// Damage anywhere else is reported, never repaired. After a write or fsync
// error the logger fails closed: it acknowledges nothing more until it is
// closed and opened again (after a failed fsync the kernel may have dropped
// the data, so a retry could acknowledge records that are not on disk). A
// full disk is the exception: the partial write is cut off, new records are
// refused with ErrDiskFull, the records already accepted are kept in order,
// and logging resumes by itself once space is available (see ErrDiskFull).
//
// # Concurrency
//
// All methods are safe for concurrent use. Callers validate, encode, hash
// and frame entries in their own goroutines and hold the logger's lock only
// to take a sequence number and link the chain; one writer goroutine writes,
// fsyncs and indexes (a Buffered call that finds 256 KiB queued writes it
// itself).
// Memory does not grow with the log: the logger keeps the chain value and
// the Merkle frontier (at most 64 hashes), and pending records are bounded.
// One process may open a directory at a time (an flock on LOCK).
//
// # Reading
//
// Read returns a page of the newest matching entries, Search finds text,
// Query takes MongoDB-style query documents (see Query), Entries streams
// every match in constant memory, Tail follows new records, and Stats
// counts. All read the files on disk through per-block indexes (time range
// and levels of every 256 records). OpenReader reads a log that another
// process writes.
//
// # Encryption and tenants
//
// With Options.EncryptionKey, Passphrase or Keys, every record is sealed
// with AES-256-GCM under a data key that HEADER stores wrapped by the master
// key. The chain covers the sealed bytes, so Verify needs no key.
// OpenTenants keeps one log per tenant, and Tenants.Erase crypto-shreds a
// tenant by destroying its data keys.
//
// # Backup
//
// With Options.Backup (a backup.Sink: backup/s3, backup/gcs, backup/azblob,
// backup/file), a shipper uploads fsynced records in write-once batches;
// SyncBackup waits for them, VerifyBackup re-verifies the cloud copy against
// the local chain, and RestoreBackup rebuilds a log directory from it.
// Options.Backups adds sinks (regions, providers): each gets a complete
// backup from a shipper of its own, so that one slow or failed sink holds
// up nothing else; BackupStatus.Sinks, VerifyReport.Backups and
// RestoreOptions.Fallback work per sink.
//
// # Signed checkpoints, witnesses and proofs
//
// Verify alone cannot catch someone who rewrites the whole directory
// consistently. With Options.Signer (GenerateSigningKey, SigningKeyFromEnv,
// LoadSigningKey) every checkpoint is a C2SP signed note, written every
// CheckpointInterval while records arrive, at every seal, at Close and by
// Checkpoint; each is cosigned by Options.Witnesses (package witness, C2SP
// tlog-witness) and put into the backup, off the host. VerifyWith,
// VerifyDirWith and VerifyBackupWith take VerifyOptions: the public keys to
// trust and the Anchors (AnchorFile, BackupAnchor, a witness) whose newest
// checkpoint the log must agree with, so that a log cut, rolled back or
// rewritten on its host is found. ProveInclusion, ProveConsistency and
// Receipt make RFC 6962 proofs that anyone verifies offline with the public
// key (VerifyInclusion, VerifyConsistency, Receipt.Verify). README.md lists
// what each configuration defends against.
//
// # log/slog, scoped loggers and contexts
//
// NewSlogHandler returns a slog.Handler that stores every slog record as an
// entry: attributes become the metadata, groups nested objects, and slog
// levels map to Levels, with SlogAudit, SlogSecurity, SlogRevenue,
// SlogSystem and SlogCritical for the levels slog lacks:
//
//	sl := slog.New(treeoflife.NewSlogHandler(logger, nil))
//	sl.Log(ctx, treeoflife.SlogAudit, "user login", "user", id)
//
// slog drops what a handler returns, so the handler counts failures and
// passes each to SlogOptions.OnError; records that must not be lost
// silently belong on the error-returning methods (Audit, Log, ...). The
// handler passes testing/slogtest.
//
// With returns a ScopedLogger whose fields, encoded once, go into every
// record it logs (a request ID, a user); a call's own field replaces the
// scoped one of the same key.
//
// Every level method has a Context variant (AuditContext, InfoContext, ...).
// A context that is done before the record is sequenced stops the call and
// writes nothing. Once sequenced, a record is stored whatever the context
// does: a Sync call that stops waiting for the fsync returns a
// *NotWaitedError with the record's Seq, so that it is not logged twice. In
// an HTTP handler, pass context.WithoutCancel(r.Context()), so that a client
// that disconnects does not cancel the audit record.
//
// # Metrics, health, alerts and scheduled verification
//
// Metrics returns the logger's counters (records and bytes written by
// level, fsync latency and group-commit histograms, checkpoint, backup
// lag, the last verification, the failed-closed state, disk usage)
// without importing Prometheus; package metrics turns them into a
// prometheus.Collector. Health summarises them as ok, degraded or failed,
// with reasons, against Options.HealthBackupLag and DiskUsageThreshold;
// HealthHandler serves it as /livez and /readyz. Options.OnAlert is called,
// once per condition until it clears, when a verification finds
// tampering, the backup fails or lags, the disk passes its threshold, or a
// write error fails the logger closed. Options.VerifyInterval verifies the
// log in the background: the new records every interval, every segment
// every FullVerifyEvery intervals, using at most a tenth of one core.
//
// # Format
//
// The on-disk format is specified byte by byte in FORMAT.md, with a golden
// log and its expected hashes in testdata/, so that logs can be verified by
// tools other than this package.
package treeoflife
