# The two commands a newcomer needs are in the README: `go run ./examples/quickstart`
# and `make test`. CI runs .ci/run, which runs `make test`.

.PHONY: test bench soak quickstart

# Installs pinned tools and servers (staticcheck, MinIO, fake-gcs-server) into
# the Go build cache, runs gofmt, go vet, staticcheck, and go test -race
# against real servers on 127.0.0.1.
test:
	bash scripts/test.sh

# The benchmark: treeoflife against log/slog, zap and zerolog, and its backup,
# restore and read rows against a MinIO it starts itself. See bench/README.md.
# MinIO is the pinned one of scripts/tools.sh (built once, as for make test);
# TOL_MINIO_BIN, when set, names another.
bench:
	minio="$${TOL_MINIO_BIN:-$$(bash scripts/tools.sh minio)}" && \
		cd bench && go run ./cmd/tolbench -minio "$$minio" $(ARGS)

# The soak (bench/README.md, "Soak"): one logger for 30 minutes at 20,000
# entries/s with backup to the same MinIO, killed every 5 minutes; checks
# that memory, files and goroutines stay flat and every record arrives.
# ARGS as for bench, e.g. ARGS='-soak 2h -soak-kill-every 10m'.
soak:
	minio="$${TOL_MINIO_BIN:-$$(bash scripts/tools.sh minio)}" && \
		cd bench && go run ./cmd/tolbench -minio "$$minio" -soak 30m $(ARGS)

quickstart:
	go run ./examples/quickstart
