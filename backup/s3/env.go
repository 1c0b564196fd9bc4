package s3

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
// backup.Open("s3") and treeoflife.OptionsFromEnv use it:
//
//	S3_BUCKET                  Config.Bucket (required)
//	S3_REGION                  Config.Region (else AWS_REGION, the shared config)
//	S3_ENDPOINT                Config.Endpoint, for S3-compatible stores
//	S3_FORCE_PATH_STYLE        Config.UsePathStyle; default true when S3_ENDPOINT is set
//	S3_SSE, S3_KMS_KEY_ID      Config.SSE, Config.KMSKeyID
//	S3_OBJECT_LOCK_MODE        Config.ObjectLockMode (COMPLIANCE or GOVERNANCE)
//	S3_OBJECT_LOCK_RETENTION   Config.ObjectLockRetention, a Go duration such as 2160h
//
// Credentials are never read here: the SDK's default chain finds them
// (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, roles).
func ConfigFromEnv() (Config, error) {
	cfg := Config{
		Bucket:         os.Getenv("S3_BUCKET"),
		Region:         os.Getenv("S3_REGION"),
		Endpoint:       os.Getenv("S3_ENDPOINT"),
		SSE:            os.Getenv("S3_SSE"),
		KMSKeyID:       os.Getenv("S3_KMS_KEY_ID"),
		ObjectLockMode: os.Getenv("S3_OBJECT_LOCK_MODE"),
	}
	if cfg.Bucket == "" {
		return Config{}, fmt.Errorf("s3: S3_BUCKET is not set")
	}
	cfg.UsePathStyle = cfg.Endpoint != ""
	if v := os.Getenv("S3_FORCE_PATH_STYLE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("s3: S3_FORCE_PATH_STYLE=%q is not a boolean", v)
		}
		cfg.UsePathStyle = b
	}
	if v := os.Getenv("S3_OBJECT_LOCK_RETENTION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return Config{}, fmt.Errorf("s3: S3_OBJECT_LOCK_RETENTION=%q is not a duration such as 720h", v)
		}
		cfg.ObjectLockRetention = d
	}
	return cfg, nil
}
