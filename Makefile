# The two commands a newcomer needs are in the README: `go run ./examples/quickstart`
# and `make test`. CI runs .ci/run, which runs `make test`.

.PHONY: test bench quickstart

# Installs pinned tools and servers (staticcheck, MinIO, fake-gcs-server) into
# the Go build cache, runs gofmt, go vet, staticcheck, and go test -race
# against real servers on 127.0.0.1.
test:
	bash scripts/test.sh

# The benchmark: treeoflife against log/slog, zap and zerolog. See bench/README.md.
bench:
	cd bench && go run ./cmd/tolbench $(ARGS)

quickstart:
	go run ./examples/quickstart
