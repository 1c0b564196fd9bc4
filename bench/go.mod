module github.com/treeoflife/treeoflife/bench

go 1.24.0

replace github.com/treeoflife/treeoflife => ../

require (
	github.com/rs/zerolog v1.35.1
	github.com/treeoflife/treeoflife v0.0.0-00010101000000-000000000000
	go.uber.org/zap v1.28.0
)

require (
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	go.uber.org/multierr v1.10.0 // indirect
	golang.org/x/crypto v0.47.0 // indirect
	golang.org/x/mod v0.31.0 // indirect
	golang.org/x/sys v0.40.0 // indirect
)
