package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/treeoflife/treeoflife/witness"
)

const witnessHelp = `usage: treeoflife witness keygen --out FILE NAME
       treeoflife witness serve --state DIR [--addr ADDR] --key-file FILE|--key-env VAR --log ORIGIN=VKEY...

witness runs a C2SP tlog-witness (package witness): a server that
cosigns a log's checkpoints only if each is consistent with the last it
saw, so that a log cannot be rolled back or forked unnoticed.

keygen writes a new cosigning key to FILE (created 0600) and prints its
verifier key. serve runs the witness until interrupted.

serve flags:
  --state DIR       the state directory (created 0700 if missing)
  --addr ADDR       listen on ADDR (default 127.0.0.1:7380)
  --key-file FILE   read the private key from FILE
  --key-env VAR     read the private key from the environment variable VAR
  --log ORIGIN=VKEY witness the log ORIGIN signed by VKEY (repeatable;
                    ORIGIN may end in *)

examples:
  treeoflife witness keygen --out witness.key witness.example.com
  treeoflife witness serve --state /var/lib/witness --key-file witness.key --log 'treeoflife/*=audit+1234+AB...'
`

// witnessCmd runs "treeoflife witness keygen|serve".
func witnessCmd(ctx context.Context, c *cli, args []string) error {
	stdout, stderr := c.stdout, c.stderr
	if len(args) == 0 {
		return fmt.Errorf("%w: witness needs a subcommand (keygen or serve)", errUsage)
	}
	switch args[0] {
	case "keygen":
		return witnessKeygen(args[1:], stdout)
	case "serve":
		return witnessServe(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown witness subcommand %q", errUsage, args[0])
}

// witnessKeygen writes a new cosigning key to the --out file and prints its
// verifier key. The private key is never printed.
func witnessKeygen(args []string, stdout io.Writer) error {
	fs := newFlags("witness keygen")
	out := fs.String("out", "", "write the private key to `FILE` (created, mode 0600; must not exist)")
	if err := parse(fs, args); err != nil {
		return err
	}
	// The name may come before the flags: parse what follows it.
	name := fs.Arg(0)
	if fs.NArg() > 1 {
		if err := parse(fs, fs.Args()[1:]); err != nil {
			return err
		}
		if fs.NArg() != 0 {
			return fmt.Errorf("%w: witness keygen takes one name", errUsage)
		}
	}
	if name == "" {
		return fmt.Errorf("%w: witness keygen needs the witness name", errUsage)
	}
	if *out == "" {
		return fmt.Errorf("%w: witness keygen needs --out FILE", errUsage)
	}
	skey, vkey, err := witness.GenerateKey(name)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, skey+"\n"); err != nil {
		f.Close()
		return err
	}
	// The key is worth nothing if it is lost after the vkey was published.
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, vkey)
	return err
}

// logFlags collects repeated --log ORIGIN=VKEY flags, grouping the keys of
// an origin.
type logFlags []witness.Log

var _ flag.Value = (*logFlags)(nil)

func (l *logFlags) String() string { return "" }

func (l *logFlags) Set(s string) error {
	// Split at the first "=": a vkey's base64 may end in "=".
	origin, vkey, ok := strings.Cut(s, "=")
	if !ok || origin == "" || vkey == "" {
		return errors.New("want ORIGIN=VKEY")
	}
	for i := range *l {
		if (*l)[i].Origin == origin {
			(*l)[i].Keys = append((*l)[i].Keys, vkey)
			return nil
		}
	}
	*l = append(*l, witness.Log{Origin: origin, Keys: []string{vkey}})
	return nil
}

// witnessServe serves the witness HTTP interface until ctx is cancelled or
// the process gets SIGTERM.
func witnessServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("witness serve")
	state := fs.String("state", "", "the state `DIR` (created 0700 if missing)")
	addr := fs.String("addr", "127.0.0.1:7380", "listen on `ADDR`")
	keyFile := fs.String("key-file", "", "read the private key from `FILE`")
	keyEnv := fs.String("key-env", "", "read the private key from the environment variable `VAR`")
	var logs logFlags
	fs.Var(&logs, "log", "witness the log `ORIGIN=VKEY` (repeatable; ORIGIN may end in *)")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() != 0:
		return fmt.Errorf("%w: witness serve takes no arguments", errUsage)
	case *state == "":
		return fmt.Errorf("%w: witness serve needs --state DIR", errUsage)
	case (*keyFile == "") == (*keyEnv == ""):
		return fmt.Errorf("%w: witness serve needs one of --key-file and --key-env", errUsage)
	case len(logs) == 0:
		return fmt.Errorf("%w: witness serve needs at least one --log ORIGIN=VKEY", errUsage)
	}
	var skey string
	if *keyFile != "" {
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			return err
		}
		skey = strings.TrimSpace(string(b))
	} else {
		skey = strings.TrimSpace(os.Getenv(*keyEnv))
		if skey == "" {
			return fmt.Errorf("%s is not set", *keyEnv)
		}
	}
	signer, err := witness.NewCosigner(skey)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	w, err := witness.New(witness.Config{StateDir: *state, Signer: signer, Logs: logs, Logger: logger})
	if err != nil {
		return err
	}
	defer w.Close()

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	// Timeouts bound what a slow or idle client can hold; a request is one
	// small body and one fsync.
	srv := &http.Server{
		Handler:           witness.NewHandler(w),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
