package file

import (
	"context"
	"fmt"
	"os"

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
// backup.Open("file") and treeoflife.OptionsFromEnv use it:
//
//	BACKUP_DIR   Config.Dir (required)
func ConfigFromEnv() (Config, error) {
	dir := os.Getenv("BACKUP_DIR")
	if dir == "" {
		return Config{}, fmt.Errorf("file: BACKUP_DIR is not set")
	}
	return Config{Dir: dir}, nil
}
