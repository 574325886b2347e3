# The two commands a newcomer needs are `make demo` and `make test`; the rest are for developers.
VENV    ?= .venv
PYTHON  ?= python3
BIN      = $(VENV)/bin
STAMP    = $(VENV)/.installed-stamp
# Debian packages the test suite needs (installed only when missing).
TEST_DEBS = chromium systemd iproute2 faketime poppler-utils openssh-server nftables python3 python3-venv
# ... and the OS image's build (image/build.sh) and boot test (tests/image/).
IMAGE_DEBS = mmdebstrap qemu-user-static binfmt-support arch-test debian-archive-keyring \
	dosfstools mtools fdisk zstd libarchive13 systemd systemd-container iproute2 dnsmasq-base \
	qemu-system-arm
IMAGE_OUT ?= build/image
# make test's pytest-xdist workers: most of the suite waits on real processes (boxes, registries,
# Chromium, sshd), so more workers than the 2 cores of a test machine still pay off.
TEST_WORKERS ?= 3
# Whole files per worker: the tests of a file may share a module-scoped box or office and
# build on its state (the mDNS tests share one file, so they never see each other).
XDIST    = -n $(TEST_WORKERS) --dist loadfile

.PHONY: setup demo test soak bench lint clean image image-amd64 image-test image-lock

$(STAMP): pyproject.toml
	scripts/system-packages.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: $(STAMP)

demo: setup
	$(BIN)/python scripts/demo.py

test: setup
	scripts/system-packages.sh $(TEST_DEBS)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest $(XDIST)
	@echo "== the unit tests again with the clock a year ahead (no test may depend on today's date)"
	FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f '+365d' $(BIN)/pytest $(XDIST) -q -p no:cacheprovider tests/unit

soak: setup
	$(BIN)/pytest -m soak

bench: setup
	scripts/system-packages.sh gcc libc6-dev iproute2 ethtool
	@for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy --strict image/*.py tests/image

# The box's OS image for the Raspberry Pi 4 (arm64), into $(IMAGE_OUT)/arm64; as root.
image: setup
	scripts/system-packages.sh $(IMAGE_DEBS)
	image/build.sh arm64 $(IMAGE_OUT)/arm64

# Its amd64 twin (the same recipe without the Pi's kernel and firmware; the tests boot it).
image-amd64: setup
	scripts/system-packages.sh $(IMAGE_DEBS)
	image/build.sh amd64 $(IMAGE_OUT)/amd64

# Builds amd64 twice (byte-identical?) and arm64, checks both, boots amd64 in a container and
# arm64 on QEMU (tests/image/; in this order, so the amd64 tests run while arm64 builds).
image-test: setup
	scripts/system-packages.sh $(IMAGE_DEBS)
	$(BIN)/ruff check image tests/image
	$(BIN)/mypy --strict image/*.py tests/image
	$(BIN)/pytest -m image tests/image/test_lock.py tests/image/test_docs.py \
		tests/image/test_boot.py tests/image/test_build.py tests/image/test_arm64_qemu.py

# Moves the image to today's Debian and PyPI versions: review the diff of image/lock/.
image-lock: setup
	scripts/system-packages.sh debian-archive-keyring
	python3 image/debs.py lock amd64
	python3 image/debs.py lock arm64
	python3 image/debs.py lock-tools
	$(BIN)/python image/wheels.py lock amd64
	$(BIN)/python image/wheels.py lock arm64

clean:
	rm -rf $(VENV) build artifacts .pytest_cache .mypy_cache .ruff_cache
