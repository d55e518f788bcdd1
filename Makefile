# SPDX-License-Identifier: GPL-2.0-or-later
# Quick start: `make run` (install deps, build, serve on 127.0.0.1:8006) and
# `make check` (install deps, build, run every test).
BUILD ?= build
PORT ?= 8006
BIND ?= 127.0.0.1

.PHONY: all deps build webui run check bench fuzz format clean qemu hap-check hap-stage ohos

all: build

deps:
	@scripts/install-deps.sh run

build: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD)
	@ninja -C $(BUILD)

# The browser UI (webui/ -> webui/dist; npm ci only when the lockfile changed).
webui:
	@scripts/build-webui.sh --no-e2e

# The daemon prints the link to open (http://127.0.0.1:PORT/?token=...) and its WebSocket port
# (WS_PORT, default 8007, or a free one when 8007 is taken: a second instance). Host paths in requests
# (ISOs, kernels, shared folders) may point into your home directory (ALLOW_PATH).
ALLOW_PATH ?= $(HOME)
run: build webui
	$(BUILD)/qemu-hmos serve --bind $(BIND) --port $(PORT) $(if $(WS_PORT),--ws-port $(WS_PORT)) --ui-dir webui/dist \
	  $(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(foreach p,$(ALLOW_PATH),--allow-path $(p))

# QEMU_BUILD=no skips building QEMU 10 when its cache is missing (its tests then skip, saying so).
# When it is missing (a fresh machine) the build runs in the background (nice 19) while the suites
# that do not need it run; tests/run_all.py waits for it before the qemu10 suite. The packages of
# every step come in one apt run first: nothing runs apt beside the build.
QEMU_BUILD ?= yes
# OHOS=no leaves out the HarmonyOS cross build's suite (tests/ohos: make ohos, cached, and its checks).
OHOS ?= yes
check:
	@scripts/install-deps.sh test fuzz $(if $(filter no,$(OHOS)),,ohos) $(if $(filter no,$(QEMU_BUILD)),,qemu)
	@[ "$(QEMU_BUILD)" = no ] || qemu-build/build.sh --start
	@[ "$(OHOS)" = no ] || sh scripts/ohos/build.sh --start
	@scripts/fetch-test-guest.sh
	@scripts/build-debian-guest.sh >/dev/null
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD)
	@ninja -C $(BUILD)
	@scripts/build-webui.sh
	@python3 tests/run_all.py --build $(BUILD) $(if $(filter no,$(OHOS)),--no-ohos)

# What CI proves of the HarmonyOS app without a device (make check runs both as its hap and napi
# suites): hap-wrapper/check (ArkTS type-check and lint, JSON5, resources, permissions) and the N-API
# module loaded in Node.js (tests/hap). See hap-wrapper/README.md.
hap-check: build
	@sh hap-wrapper/check/run.sh
	@sh tests/hap/run.sh $(BUILD)

# Put what is built elsewhere into hap-wrapper/ for DevEco Studio / hvigorw (hap-wrapper/README.md):
# the web UI into the app's resfile/ (unpacked into the app's sandbox at install).
HAP_WEBUI = hap-wrapper/entry/src/main/resources/resfile/webui
hap-stage: webui
	@rm -rf $(HAP_WEBUI) && mkdir -p $(dir $(HAP_WEBUI)) && cp -r webui/dist $(HAP_WEBUI)
	@echo "hap-stage: $(HAP_WEBUI) ($$(find $(HAP_WEBUI) -type f | wc -l) files)"

bench:
	@scripts/install-deps.sh bench
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD)
	@ninja -C $(BUILD)
	@python3 bench/run.py --build $(BUILD)

# Every C folder, subfolders included (bridge/rdp-ws/worker, ...).
format:
	@find common server bridge tests/unit tests/ohos scripts/ohos/standin hap-wrapper/entry/src/main/cpp -name '*.[ch]' -print0 | xargs -0 clang-format -i

clean:
	rm -rf $(BUILD)

# QEMU 10 as shared libraries (JIT and TCI variants, libqemu-img.so) for the HarmonyOS child
# process, cached in /var/cache/qemu-hmos/qemu-build/<hash>/; see qemu-build/README.md. make check
# builds it when missing (in the background, beside the other suites; once, then a no-op) and tests it.
qemu:
	@qemu-build/build.sh

FUZZ_SECONDS ?= 30
# Every fuzz target on its committed corpus (which it never changes), FUZZ_SECONDS each; make
# check runs the same script as its "fuzz" suite.
fuzz:
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/run-fuzz.sh

# The HarmonyOS app's native libraries, cross-built for aarch64-unknown-linux-ohos into
# build-ohos/libs/arm64-v8a (+ manifest.json): with OHOS_NDK_HOME the NDK's toolchain, else a
# stand-in from Debian's clang-19 and musl (scripts/ohos/README.md).
ohos:
	@scripts/install-deps.sh ohos
	@sh scripts/ohos/build.sh
