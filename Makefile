# Every target installs the npm dependencies first when node_modules is missing or older than
# the lockfile, so each one works on a fresh clone with only Node.js, npm and make.

BUN := node_modules/.bin/bun
TSC := node_modules/.bin/tsc
BUN_VERSION := $(shell node -p "require('./package.json').devDependencies.bun")
COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
SOURCES := $(shell find src -name '*.ts') package.json package-lock.json tsconfig.json
RUNTIMES := .cache/bun-runtimes/$(BUN_VERSION)
BINARIES := dist/chatmail-maildir-linux-x64 dist/chatmail-maildir-linux-arm64

# A compiled binary must not pick up a .env or bunfig.toml from whatever directory a timer
# starts it in.
COMPILE_FLAGS := --compile --no-compile-autoload-dotenv --no-compile-autoload-bunfig \
	--define BUILD_COMMIT='"$(COMMIT)"'

.PHONY: all build dist test demo lint bench clean

all: build

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# Bun cross-compiles by embedding the runtime of the target. Take it from the npm registry
# (the @oven/bun-linux-* packages) instead of letting bun download it from elsewhere.
$(RUNTIMES)/%/bin/bun: | node_modules/.installed
	rm -rf $(RUNTIMES)/$* && mkdir -p $(RUNTIMES)/$*
	cd $(RUNTIMES) && npm pack --silent @oven/$*@$(BUN_VERSION) >/dev/null
	tar -xzf $(RUNTIMES)/oven-$*-$(BUN_VERSION).tgz -C $(RUNTIMES)/$* --strip-components=1
	rm -f $(RUNTIMES)/oven-$*-$(BUN_VERSION).tgz
	chmod +x $@

# The x64 binary uses Bun's baseline build, which needs no AVX2: cheap VPS CPUs often lack it.
dist/chatmail-maildir-linux-x64: $(SOURCES) node_modules/.installed $(RUNTIMES)/bun-linux-x64-baseline/bin/bun
	@mkdir -p dist
	$(BUN) build $(COMPILE_FLAGS) --define BUILD_TARGET='"linux-x64"' \
		--target=bun-linux-x64-baseline --compile-executable-path=$(RUNTIMES)/bun-linux-x64-baseline/bin/bun \
		src/cli.ts src/walk-worker.ts --outfile $@

dist/chatmail-maildir-linux-arm64: $(SOURCES) node_modules/.installed $(RUNTIMES)/bun-linux-aarch64/bin/bun
	@mkdir -p dist
	$(BUN) build $(COMPILE_FLAGS) --define BUILD_TARGET='"linux-arm64"' \
		--target=bun-linux-arm64 --compile-executable-path=$(RUNTIMES)/bun-linux-aarch64/bin/bun \
		src/cli.ts src/walk-worker.ts --outfile $@

build: $(BINARIES)

# The benchmark runs the binary of this machine only.
ifeq ($(shell uname -m),aarch64)
HOST_BINARY := dist/chatmail-maildir-linux-arm64
HOST_BUILD_FLAGS := --target=bun-linux-arm64 --compile-executable-path=$(RUNTIMES)/bun-linux-aarch64/bin/bun
HOST_RUNTIME := $(RUNTIMES)/bun-linux-aarch64/bin/bun
else
HOST_BINARY := dist/chatmail-maildir-linux-x64
HOST_BUILD_FLAGS := --target=bun-linux-x64-baseline --compile-executable-path=$(RUNTIMES)/bun-linux-x64-baseline/bin/bun
HOST_RUNTIME := $(RUNTIMES)/bun-linux-x64-baseline/bin/bun
endif

# The walker alone, compiled like the binary, for timing walker changes against du and find.
dist/walk-bench: scripts/walk-bench.ts $(SOURCES) node_modules/.installed $(HOST_RUNTIME)
	@mkdir -p dist
	$(BUN) build $(COMPILE_FLAGS) $(HOST_BUILD_FLAGS) --entry-naming "[name].[ext]" scripts/walk-bench.ts src/walk-worker.ts --outfile $@

# Generates the benchmark trees once into .cache/bench/ and times the subcommands against du
# and find; writes BENCHMARKS.md. Takes several minutes; not part of test or CI.
bench: $(HOST_BINARY) dist/walk-bench
	$(BUN) scripts/bench.ts --binary $(HOST_BINARY) --walk-bench dist/walk-bench

dist: build
	cd dist && sha256sum chatmail-maildir-linux-x64 chatmail-maildir-linux-arm64 > SHA256SUMS

test: build
	$(BUN) test --timeout 120000

demo: build
	bash scripts/demo.sh

lint: node_modules/.installed
	$(TSC) --noEmit -p .

clean:
	rm -rf dist .cache
