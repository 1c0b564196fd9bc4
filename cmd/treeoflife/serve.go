package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/dashboard"
)

const serveHelp = `usage: treeoflife serve [--addr HOST:PORT] [--token-env VAR | --user U --password-env VAR] [--key PUB]... DIR|ROOT

serve runs the web dashboard of the log in DIR (or of every log under a
tenants ROOT, with a switcher) until interrupted: an overview (head,
checkpoint, records per level and over time, disk, verification), a live
stream, search and query with JSONL/CSV export, each record with its
inclusion proof checked in the browser, and a verification page. It reads
the log as another process writes it: it takes no lock, holds no key and
never writes to the directory. The records of an encrypted log are not
shown (sizes and levels only).

It listens on 127.0.0.1 unless --addr says otherwise. Put it behind a TLS
proxy, with a token, before exposing it beyond this host.

flags:
  --addr HOST:PORT     where to listen (default 127.0.0.1:8080)
  --token-env VAR      require the bearer token in the environment variable
                       VAR ("Authorization: Bearer TOKEN", or the login form)
  --user U             require HTTP basic auth as user U, with the password
  --password-env VAR   in the environment variable VAR
  --key PUB            a trusted public key (vkey) or a file holding one, for
                       the checkpoints' signatures; repeatable
  --timeout D          bound of each request but the stream (default 5s)

examples:
  treeoflife serve /var/log/audit
  treeoflife serve --addr 127.0.0.1:9000 --key audit.pub /var/log/audit
  TOL_DASHBOARD_TOKEN=$(openssl rand -hex 16) treeoflife serve --token-env TOL_DASHBOARD_TOKEN /var/log/tenants
`

func serve(ctx context.Context, c *cli, args []string) error {
	fs := newFlags("serve")
	addr := fs.String("addr", "127.0.0.1:8080", "listen on `HOST:PORT`")
	tokenEnv := fs.String("token-env", "", "bearer token in environment variable `VAR`")
	user := fs.String("user", "", "basic auth `user`")
	passEnv := fs.String("password-env", "", "basic auth password in environment variable `VAR`")
	timeout := fs.Duration("timeout", 5*time.Second, "request bound")
	var keys listFlag
	fs.Var(&keys, "key", "trusted public `key` (vkey, or a file holding one); repeatable")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: serve takes one log directory or tenants root", errUsage)
	}
	opts := dashboard.Options{QueryTimeout: *timeout}
	if *tokenEnv != "" {
		if opts.Token = os.Getenv(*tokenEnv); opts.Token == "" {
			return fmt.Errorf("%w: --token-env %s: the variable is empty or unset", errUsage, *tokenEnv)
		}
	}
	if (*user == "") != (*passEnv == "") {
		return fmt.Errorf("%w: --user and --password-env go together", errUsage)
	}
	if *user != "" {
		opts.User = *user
		if opts.Password = os.Getenv(*passEnv); opts.Password == "" {
			return fmt.Errorf("%w: --password-env %s: the variable is empty or unset", errUsage, *passEnv)
		}
	}
	if len(keys) > 0 {
		var vkeys []string
		for _, k := range keys {
			vkeys = append(vkeys, readKeyArg(k))
		}
		vs, err := treeoflife.NewVerifiers(vkeys...)
		if err != nil {
			return fmt.Errorf("%w: --key: %v", errUsage, err)
		}
		opts.Verifiers = vs
	}
	dir := fs.Arg(0)
	var h http.Handler
	if isTenantsRoot(dir) {
		h = dashboard.New(dashboard.ReaderRoot(dir), opts)
	} else {
		r, err := openReader(dir)
		if err != nil {
			return err
		}
		defer r.Close()
		h = dashboard.New(r, opts)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	fmt.Fprintf(c.stdout, "serving the dashboard of %s at http://%s/\n", dir, ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if srv.Shutdown(sctx) != nil {
		srv.Close() // the live streams do not end by themselves
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
