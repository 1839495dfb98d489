# exorec — the two commands a new machine needs: `make demo` and `make test`.
SHELL := /bin/bash
SWIFT ?= swift
APT_PACKAGES := libwebsockets-dev libwebsockets-evlib-ev libev-dev libsndfile1-dev pkg-config sox python3-pip ffmpeg curl
PY_PACKAGES := websockets soundfile numpy uvloop bagit
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps demo test bench build release clean

## Install the system libraries and the Python outside checks when any is missing.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@python3 -c "import websockets, soundfile, numpy, pyexotel, bagit" 2>/dev/null || python3 -m pip install -q $(PY_PACKAGES) pyexotel==1.0.3

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product exorec

## Run the main job on the embedded default.
demo: release
	.build/release/exorec demo

## Run the tests.
# Two passes: some suites run after the rest, alone. The client-against-simulator rate-limit tests
# pace 500 requests on a fast shared clock, where a second of CPU starvation from 500 other tests
# running in parallel on two cores is twenty seconds of platform time, more than any limiter margin
# should have to absorb; the process-level pipeline tests run three exorec processes each.
ALONE_TESTS = ClientAgainstSimulatorTests|PipelineProcessTests
test: build
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --skip '$(ALONE_TESTS)'
	$(SWIFT) test --skip-build --filter '$(ALONE_TESTS)' 

## Side-by-side benchmark against the Python baseline and the C floor (docs/PERFORMANCE.md).
bench: release
	python3 tools/bench.py

clean:
	rm -rf .build
