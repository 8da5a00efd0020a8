# MobileNetCPU — the README's commands. `make help` lists them.
SWIFT ?= swift
APT_PACKAGES := libopenblas-dev liblapacke-dev zlib1g-dev pkg-config

.PHONY: help setup build release test clean

help:
	@echo "make setup    install OpenBLAS, LAPACKE, zlib and pkg-config with apt-get when missing"
	@echo "make build    debug build"
	@echo "make release  optimised build (.build/release/mobilenet)"
	@echo "make test     build (optimised) and run every test (no dataset or network needed)"

# Installs the system libraries the COpenBLAS module map links, only if a package is missing.
setup:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "setup: $(APT_PACKAGES) already installed"; \
	else \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  echo "setup: installing$$missing with apt-get (apt-get update first)"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing; \
	fi

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release

# Tests run optimised (-O in the debug configuration, so @testable still works) in their own build
# folder: the kernels are then tested as they run for users, and the suite takes ~30 s instead of
# minutes. Plain `swift test` works too, unoptimised.
test:
	$(SWIFT) test -Xswiftc -O --scratch-path .build-test

clean:
	rm -rf .build .build-test
