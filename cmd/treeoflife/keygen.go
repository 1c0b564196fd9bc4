package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/treeoflife/treeoflife"
)

const keygenHelp = `usage: treeoflife keygen --name NAME --out FILE

keygen writes a new checkpoint signing key (Ed25519, a signed-note key) to
FILE, created with mode 0600 (never over an existing file), and prints the
public key, which verifiers and witnesses are given. The private key is
never printed.

flags:
  --name NAME  the key's name, in every signature (e.g. example.com/audit)
  --out FILE   the file to create

examples:
  treeoflife keygen --name example.com/audit --out /etc/audit/checkpoint.key > audit.pub
`

// keygen writes a new checkpoint signing key to a file of its own (mode
// 0600, never over an existing file) and prints the public key, which
// verifiers and witnesses are given. The private key is never printed.
func keygen(_ context.Context, c *cli, args []string) error {
	w := c.stdout
	fs := newFlags("keygen")
	name := fs.String("name", "", "the key's `NAME`, in every signature (e.g. example.com/audit)")
	out := fs.String("out", "", "write the private key to `FILE`")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 || *name == "" || *out == "" {
		return fmt.Errorf("%w: keygen takes --name NAME --out FILE", errUsage)
	}
	skey, vkey, err := treeoflife.GenerateSigningKey(*name)
	if err == nil {
		// GenerateKey takes any name; a verifier refuses some (spaces, "+").
		_, err = treeoflife.NewVerifiers(vkey)
	}
	if err != nil {
		return fmt.Errorf("%w: key name %q is not allowed in a signed note", errUsage, *name)
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists; refusing to overwrite a key", *out)
	}
	if err != nil {
		return err
	}
	_, err = io.WriteString(f, skey+"\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(*out) // a partial key is no key
		return fmt.Errorf("write %s: %w", *out, err)
	}
	fmt.Fprintln(w, vkey)
	return nil
}
