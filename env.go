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
//	ENABLE_CLOUD_BACKUP   1, true, yes or on to ship to a backup; 0, false, no, off or empty
//	                      to leave it off (case-insensitive); any other value is an error
//	BACKUP_PROVIDER       "s3", "gcs" or "azure" (or "file"): the backend, whose package the program imports
//	S3_BUCKET, S3_REGION, S3_ENDPOINT        read by backup/s3
//	GCS_BUCKET, GCS_PROJECT_ID               read by backup/gcs
//	AZURE_STORAGE_CONTAINER, AZURE_STORAGE_CONNECTION_STRING (or AZURE_STORAGE_ACCOUNT
//	with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN)   read by backup/azblob
//	BACKUP_BATCH_SIZE     records per backup object
//	BACKUP_PREFIX         key prefix in the bucket
//
// Credentials come only from the SDKs' standard chains (environment,
// shared configuration, instance roles), or for Azure from the Azure tools'
// variables above, never from code. The backend's package must be imported
// for its side effect, so that a program links only the SDK it uses:
//
//	import _ "github.com/treeoflife/treeoflife/backup/s3"
func OptionsFromEnv(ctx context.Context) (Options, error) {
	var o Options
	enabled, err := envBool("ENABLE_CLOUD_BACKUP")
	if err != nil || !enabled {
		return o, err
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

// envBool reads a boolean environment variable: 1, true, yes or on, or 0,
// false, no, off or empty (unset), in any case. Anything else is an error
// wrapping ErrInvalidOptions that names the variable, so that a typo does not
// silently leave a feature off.
func envBool(name string) (bool, error) {
	v := os.Getenv(name)
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true, nil
	case "", "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%w: %s=%q is not one of 1, true, yes, on, 0, false, no, off", ErrInvalidOptions, name, v)
}
