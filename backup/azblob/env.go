package azblob

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
// backup.Open("azure") and treeoflife.OptionsFromEnv use it:
//
//	AZURE_STORAGE_CONTAINER            Config.Container (required)
//	AZURE_STORAGE_CONNECTION_STRING    Config.ConnectionString
//	AZURE_STORAGE_ACCOUNT              Config.Account
//	AZURE_STORAGE_KEY                  Config.AccountKey
//	AZURE_STORAGE_SAS_TOKEN            Config.SASToken
//	AZURE_STORAGE_ENDPOINT             Config.Endpoint, e.g. for Azurite
//	AZURE_STORAGE_IMMUTABILITY_MODE    Config.ImmutabilityMode (Unlocked or Locked)
//	AZURE_STORAGE_IMMUTABILITY_PERIOD  Config.ImmutabilityPeriod, a Go duration such as 61368h
//	AZURE_STORAGE_LEGAL_HOLD           Config.LegalHold ("true" or "false")
//
// The credential variables are those of the Azure CLI and tools: a
// connection string, or an account with its key or a SAS token. With a
// connection string, the account variables are ignored (the Azure CLI does
// the same).
func ConfigFromEnv() (Config, error) {
	cfg := Config{
		Container:        os.Getenv("AZURE_STORAGE_CONTAINER"),
		ConnectionString: os.Getenv("AZURE_STORAGE_CONNECTION_STRING"),
		ImmutabilityMode: os.Getenv("AZURE_STORAGE_IMMUTABILITY_MODE"),
	}
	if cfg.Container == "" {
		return Config{}, fmt.Errorf("azblob: AZURE_STORAGE_CONTAINER is not set")
	}
	if cfg.ConnectionString == "" {
		cfg.Account = os.Getenv("AZURE_STORAGE_ACCOUNT")
		cfg.AccountKey = os.Getenv("AZURE_STORAGE_KEY")
		cfg.Endpoint = os.Getenv("AZURE_STORAGE_ENDPOINT")
		if cfg.AccountKey == "" {
			cfg.SASToken = os.Getenv("AZURE_STORAGE_SAS_TOKEN")
		}
		if cfg.AccountKey == "" && cfg.SASToken == "" {
			return Config{}, fmt.Errorf("azblob: set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN")
		}
	}
	if v := os.Getenv("AZURE_STORAGE_LEGAL_HOLD"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("azblob: AZURE_STORAGE_LEGAL_HOLD=%q is not a boolean", v)
		}
		cfg.LegalHold = b
	}
	if v := os.Getenv("AZURE_STORAGE_IMMUTABILITY_PERIOD"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return Config{}, fmt.Errorf("azblob: AZURE_STORAGE_IMMUTABILITY_PERIOD=%q is not a duration such as 61368h", v)
		}
		cfg.ImmutabilityPeriod = d
	}
	return cfg, nil
}
