package gcs

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/treeoflife/treeoflife/backup"
)

func init() {
	backup.Register(Type, func(ctx context.Context) (backup.Sink, error) {
		cfg, err := ConfigFromEnv()
		if err != nil {
			return nil, err
		}
		return New(ctx, cfg)
	})
}

// ConfigFromEnv returns a Config from the environment, as
// backup.Open("gcs") and treeoflife.OptionsFromEnv use it:
//
//	GCS_BUCKET           Config.Bucket (required)
//	GCS_PROJECT_ID       accepted for compatibility; objects need no project
//	GCS_ENDPOINT         Config.Endpoint, for an emulator (or STORAGE_EMULATOR_HOST)
//	GCS_TEMPORARY_HOLD   Config.TemporaryHold ("true" or "false")
//	GCS_RETENTION_MODE   Config.RetentionMode (Unlocked or Locked)
//	GCS_RETENTION        Config.Retention, a Go duration such as 2160h
//
// Credentials are never read here: Application Default Credentials find
// them (GOOGLE_APPLICATION_CREDENTIALS, gcloud, the metadata server).
func ConfigFromEnv() (Config, error) {
	cfg := Config{
		Bucket:        os.Getenv("GCS_BUCKET"),
		Endpoint:      os.Getenv("GCS_ENDPOINT"),
		RetentionMode: os.Getenv("GCS_RETENTION_MODE"),
	}
	if cfg.Bucket == "" {
		return Config{}, fmt.Errorf("gcs: GCS_BUCKET is not set")
	}
	if v := os.Getenv("GCS_TEMPORARY_HOLD"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("gcs: GCS_TEMPORARY_HOLD=%q is not a boolean", v)
		}
		cfg.TemporaryHold = b
	}
	if v := os.Getenv("GCS_RETENTION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return Config{}, fmt.Errorf("gcs: GCS_RETENTION=%q is not a duration such as 720h", v)
		}
		cfg.Retention = d
	}
	return cfg, nil
}
