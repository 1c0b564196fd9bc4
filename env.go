package treeoflife

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/treeoflife/treeoflife/backup"
)

// OptionsFromEnv returns Options configured from the environment variables
// the original system documented:
//
//	ENABLE_CLOUD_BACKUP   "true" or "1" to ship to a backup
//	BACKUP_PROVIDER       "s3" or "gcs" (or "file"): the backend, whose package the program imports
//	S3_BUCKET, S3_REGION, S3_ENDPOINT        read by backup/s3
//	GCS_BUCKET, GCS_PROJECT_ID               read by backup/gcs
//	BACKUP_BATCH_SIZE     records per backup object
//	BACKUP_PREFIX         key prefix in the bucket
//
// Credentials come only from the SDKs' standard chains (environment,
// shared configuration, instance roles), never from code. The backend's
// package must be imported for its side effect, so that a program links
// only the SDK it uses:
//
//	import _ "github.com/treeoflife/treeoflife/backup/s3"
func OptionsFromEnv(ctx context.Context) (Options, error) {
	var o Options
	if !envBool("ENABLE_CLOUD_BACKUP") {
		return o, nil
	}
	provider := strings.ToLower(strings.TrimSpace(os.Getenv("BACKUP_PROVIDER")))
	if provider == "" {
		return o, fmt.Errorf("%w: ENABLE_CLOUD_BACKUP is set but BACKUP_PROVIDER is empty", ErrInvalidOptions)
	}
	sink, err := backup.Open(ctx, provider)
	if err != nil {
		return o, fmt.Errorf("%w: BACKUP_PROVIDER=%s: %v", ErrInvalidOptions, provider, err)
	}
	o.Backup = sink
	o.BackupPrefix = os.Getenv("BACKUP_PREFIX")
	if v := os.Getenv("BACKUP_BATCH_SIZE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return o, fmt.Errorf("%w: BACKUP_BATCH_SIZE=%q is not a positive integer", ErrInvalidOptions, v)
		}
		o.BackupBatchSize = n
	}
	return o, nil
}

func envBool(name string) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(os.Getenv(name)))
	return err == nil && b
}
