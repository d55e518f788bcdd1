# SPDX-License-Identifier: GPL-2.0-or-later
# Quick start: `make run` (install deps, build, serve on 127.0.0.1:8006) and
# `make check` (install deps, build, run every test).
BUILD ?= build
PORT ?= 8006
BIND ?= 127.0.0.1

.PHONY: all deps build webui run check bench fuzz format clean

all: build

deps:
	@scripts/install-deps.sh run

build: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD)
	@ninja -C $(BUILD)

# The browser UI (webui/ -> webui/dist; npm ci only when the lockfile changed).
webui:
	@scripts/build-webui.sh --no-e2e

run: build webui
	$(BUILD)/qemu-hmos serve --bind $(BIND) --port $(PORT) --ui-dir webui/dist $(if $(DATA_DIR),--data-dir $(DATA_DIR))

check:
	@scripts/install-deps.sh test
	@scripts/fetch-test-guest.sh
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD)
	@ninja -C $(BUILD)
	@scripts/build-webui.sh
	@python3 tests/run_all.py --build $(BUILD)

bench:
	@scripts/install-deps.sh bench
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD)
	@ninja -C $(BUILD)
	@python3 bench/run.py --build $(BUILD)

format:
	@clang-format -i server/*.c server/*.h tests/unit/*.c

clean:
	rm -rf $(BUILD)

FUZZ_SECONDS ?= 30
fuzz:
	@scripts/install-deps.sh fuzz
	@[ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz -Dfuzzing=true
	@ninja -C build-fuzz
	@for f in qmp vm_config ticket guac dl_checksum; do mkdir -p build-fuzz/corpus/$$f; \
	  build-fuzz/tests/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 build-fuzz/corpus/$$f \
	    tests/fuzz/corpus/$$f || exit 1; done
