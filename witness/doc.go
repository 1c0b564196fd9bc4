// Package witness is a transparency log witness and its client: it implements
// the add-checkpoint protocol of c2sp.org/tlog-witness with Ed25519
// cosignatures of c2sp.org/tlog-cosignature (cosignature/v1), over
// checkpoints of c2sp.org/tlog-checkpoint signed as c2sp.org/signed-note
// notes.
//
// A witness holds, for each log it is configured with, the latest checkpoint
// it cosigned. It cosigns a new checkpoint only if a trusted key of the log
// signed it and a consistency proof shows that the tree it commits to extends
// the recorded one. A client that sees a quorum of cosignatures on a
// checkpoint knows the log showed the witnesses the same append-only history:
// a log that shows different trees to different parties (a split view) or
// rewrites its past must convince the witnesses too.
//
// # Keys
//
// GenerateKey makes an Ed25519 key pair. The verifier key is the vkey form of
// tlog-cosignature, "<name>+<key ID>+<base64(0x04 || public key)>", the key ID
// being SHA-256(name || 0x0A || 0x04 || public key)[:4]. The private key has
// the note private-key form with the same 0x04 type byte, which
// golang.org/x/mod/sumdb/note refuses: a cosigning key cannot sign plain
// notes. NewCosigner and NewCosignatureVerifier make the note.Signer and
// note.Verifier, so the note package signs and opens cosigned checkpoints.
// A signature is an 8-byte big-endian POSIX timestamp followed by the Ed25519
// signature of
//
//	cosignature/v1
//	time <timestamp>
//	<the checkpoint text, extension lines included>
//
// # The HTTP interface
//
// NewHandler serves
//
//	POST /add-checkpoint
//
// whose body is "old <size>\n", at most 63 lines each holding a base64
// consistency proof hash, an empty line, then the signed checkpoint. The
// checks run in the order of the specification, each with its status:
//
//   - 413: the body exceeds Config.MaxRequestBytes;
//   - 400: the body or the checkpoint is malformed (ParseCheckpoint), or a
//     proof from size 0 is not empty;
//   - 404: no Config.Logs entry matches the origin;
//   - 403: no trusted key of the log signed the checkpoint (signatures by
//     unknown keys are ignored, an invalid one by a trusted key is refused);
//   - 400: the old size exceeds the checkpoint's;
//   - 409: the old size is not the size the witness recorded for the origin
//     (zero if none). The body is that size in decimal and a newline, with
//     Content-Type text/x.tlog.size, so a client can retry from it;
//   - 409: the checkpoint has the recorded size but another root hash: a
//     fork (the body is a plain text message);
//   - 422: the consistency proof from the recorded tree to the new one does
//     not verify (tlog.CheckTree), which is also how a fork at a larger size
//     shows.
//
// A checkpoint smaller than the recorded one (a rollback) gets the 400 for an
// old size above the checkpoint size when the client sends the witness's size,
// and the 409 with the witness's size otherwise. Only when every check passes
// does the witness sign, record the checkpoint and answer 200 with its
// cosignature line ("— <name> <base64>\n"). Requests for one origin are
// serialised by a mutex held from the read of the recorded size to the end of
// the write, so two requests can never both advance from the same size.
//
// # The checkpoint extension
//
//	GET /checkpoint/<origin>
//
// is not part of C2SP. <origin> is the origin line path-escaped as one URL
// segment (url.PathEscape). The answer is the latest checkpoint the witness
// cosigned for that origin, as a note carrying the log signatures that
// verified and the witness's cosignature, or 404 if it cosigned none.
// Auditors use it as an anchor: a log's checkpoint that is not consistent with
// a witness's latest one is evidence of a fork. Client.Latest fetches it and
// checks the cosignature.
//
// # State
//
// Config.StateDir (mode 0700) holds a LOCK file, locked while a Witness is
// open, and one file per origin named after the hex SHA-256 of the origin
// with the suffix ".state", so that any origin gives a safe name. A state file
// is the line "treeoflife-witness-state/v1" followed by the cosigned
// checkpoint exactly as GET /checkpoint/ serves it. It is parsed strictly on
// load: at most 64 KiB, the header, a well-formed note whose text is a
// checkpoint for the origin the file is named for, and a signature line with
// the witness's name and key ID. A file that fails any of these is reported
// (ErrDamagedState) and the origin is refused until an operator repairs it:
// a damaged file is never taken for "no state", which would let the witness
// cosign a rollback. A new format gets a new header version.
//
// The file is replaced by writing a temporary file beside it, fsyncing it,
// renaming it over the old one and fsyncing the directory, all before the
// 200 answer: after a crash the file holds the previous or the new checkpoint,
// and a cosignature the witness returned is never forgotten. If a write or
// fsync fails, the witness answers 500 and refuses the origin until it is
// restarted and reads back what the disk holds, rather than guess what the
// page cache and the disk agree on. Nothing is written for a refused request.
//
// # What a witness can and cannot do
//
// A witness never sees log entries, only checkpoints and proofs, and its key
// signs nothing but checkpoints it verified. A compromised witness (its key
// or its state) can cosign anything: a fork, a rolled-back tree, a checkpoint
// the log never signed. It can also refuse to cosign, or lose its state and
// accept a fork it would have refused. It cannot make a log's signature, so a
// checkpoint it cosigned without the log's signature is worth nothing to a
// verifier that checks the log key; and it cannot hide a fork from a verifier
// that requires cosignatures from a quorum of independent witnesses of which
// it is only one. That is why clients should require several witnesses, and
// why a witness's cosignature says nothing about extension lines: it attests
// only the origin, size and root hash.
package witness
