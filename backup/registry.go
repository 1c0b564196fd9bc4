package backup

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// A FromEnv function creates a Sink from the environment variables its
// backend documents (for example S3_BUCKET, S3_REGION, S3_ENDPOINT), with
// credentials from the SDK's standard chain.
type FromEnv func(ctx context.Context) (Sink, error)

var (
	providersMu sync.Mutex
	providers   = map[string]FromEnv{}
)

// Register makes a backend available to treeoflife.OptionsFromEnv under
// name (the value of BACKUP_PROVIDER). Backend packages call it from init,
// so a program links only the backends it imports:
//
//	import _ "github.com/treeoflife/treeoflife/backup/s3"
//
// Register panics if name is registered twice, as database/sql does.
func Register(name string, fn FromEnv) {
	providersMu.Lock()
	defer providersMu.Unlock()
	if _, dup := providers[name]; dup {
		panic("backup: Register called twice for " + name)
	}
	providers[name] = fn
}

// Open creates a Sink with the backend registered under name.
func Open(ctx context.Context, name string) (Sink, error) {
	providersMu.Lock()
	fn, ok := providers[name]
	names := make([]string, 0, len(providers))
	for n := range providers {
		names = append(names, n)
	}
	providersMu.Unlock()
	if !ok {
		slices.Sort(names)
		return nil, fmt.Errorf("backup: no backend %q registered (registered: %v); import its package, e.g. _ \"github.com/treeoflife/treeoflife/backup/%s\"", name, names, name)
	}
	return fn(ctx)
}
