// Command encryption keeps an encrypted log, rotates its master key, and
// reads the records sealed under the old and the new key.
//
//	TOL_ENCRYPTION_KEY=$(openssl rand -hex 32) TOL_NEW_ENCRYPTION_KEY=$(openssl rand -hex 32) go run ./examples/encryption
//
// Without those variables it generates both keys for the run. Keys are 32
// bytes in hex or base64 (KeyFromEnv); they never touch the disk. The log
// goes to a new temporary directory, removed on exit.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/treeoflife/treeoflife"
)

func main() {
	oldKey, err := keyFromEnv("TOL_ENCRYPTION_KEY")
	if err != nil {
		log.Fatal(err)
	}
	newKey, err := keyFromEnv("TOL_NEW_ENCRYPTION_KEY")
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "treeoflife-encryption")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := run(os.Stdout, dir, oldKey, newKey); err != nil {
		log.Fatal(err)
	}
}

// keyFromEnv reads a key with KeyFromEnv, or makes one when the variable
// is not set.
func keyFromEnv(name string) ([]byte, error) {
	if os.Getenv(name) != "" {
		return treeoflife.KeyFromEnv(name)
	}
	fmt.Fprintf(os.Stderr, "%s is not set: using a new random key for this run\n", name)
	key := make([]byte, treeoflife.KeySize)
	_, err := rand.Read(key)
	return key, err
}

func run(w io.Writer, dir string, oldKey, newKey []byte) error {
	ctx := context.Background()

	// Every record is sealed with AES-256-GCM under the log's data key,
	// which HEADER stores wrapped by the master key.
	logger, err := treeoflife.Open(dir, treeoflife.Options{EncryptionKey: oldKey})
	if err != nil {
		return err
	}
	for _, card := range []string{"4242", "1881"} {
		if _, err := logger.Revenue("Card charged", treeoflife.Fields{"last4": card, "amount": 2500}); err != nil {
			return err
		}
	}
	// Rotation: new records get a new data key wrapped by newKey; the old
	// records keep theirs, wrapped by oldKey.
	if err := logger.RotateKey(ctx, newKey); err != nil {
		return err
	}
	if _, err := logger.Revenue("Card charged", treeoflife.Fields{"last4": "0005", "amount": 900}); err != nil {
		return err
	}
	if err := logger.Close(); err != nil {
		return err
	}
	fmt.Fprintln(w, "3 records logged, the key rotated after the second")

	// From now on the service opens the log with a keyring: newKey is the
	// active one, oldKey is kept for the records it sealed.
	kr, err := treeoflife.NewKeyring(newKey, oldKey)
	if err != nil {
		return err
	}
	logger, err = treeoflife.Open(dir, treeoflife.Options{Keys: kr})
	if err != nil {
		return err
	}
	defer logger.Close()
	es, err := logger.Read(ctx, treeoflife.Filter{})
	if err != nil {
		return err
	}
	for _, e := range es {
		fmt.Fprintf(w, "  seq=%d %s last4=%v amount=%v\n", e.Seq, e.Message, e.Metadata["last4"], e.Metadata["amount"])
	}

	// Verification needs no key: the chain covers the sealed bytes.
	rep, err := treeoflife.VerifyDir(ctx, dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "verified without a key: %d records\n", rep.Head.Size)

	// A reader without the key can count, but not read.
	r, err := treeoflife.OpenReader(dir)
	if err != nil {
		return err
	}
	defer r.Close()
	st, err := r.Stats(ctx)
	if err != nil {
		return err
	}
	_, err = r.Read(ctx, treeoflife.Filter{})
	fmt.Fprintf(w, "a reader without the key: %d records, reading them fails with ErrKeyRequired: %v\n", st.TotalEntries, errors.Is(err, treeoflife.ErrKeyRequired))

	// Opening with a key the log has never seen fails.
	stranger := make([]byte, treeoflife.KeySize)
	if _, err := rand.Read(stranger); err != nil {
		return err
	}
	if err := logger.Close(); err != nil {
		return err
	}
	_, err = treeoflife.Open(dir, treeoflife.Options{EncryptionKey: stranger})
	fmt.Fprintln(w, "a wrong key fails with ErrWrongKey:", errors.Is(err, treeoflife.ErrWrongKey))
	return nil
}
