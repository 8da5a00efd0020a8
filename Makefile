# MobileNetCPU — the README's commands. `make help` lists them.
SWIFT ?= swift
APT_PACKAGES := libopenblas-dev liblapacke-dev zlib1g-dev libturbojpeg0-dev libpng-dev libcurl4-openssl-dev pkg-config \
  gcc g++ python3-venv libopenmpi-dev openmpi-bin iproute2

.PHONY: help setup build release test test-swift test-c test-python test-multihost bench-ranks run bench bench-compare bench-boundary fuzz format lint \
  install python onnx-proto clean

# Vector code for this machine: the kernels' channel loops compile to AVX2 + FMA ("haswell", any
# x86-64 from 2013 on, AMD Zen included) when /proc/cpuinfo lists those features, and to AVX-512
# ("skylake-avx512": Intel from 2017, AMD Zen 4) when it lists AVX-512 F/CD/BW/DQ/VL too; plain x86-64
# (SSE2) or the host's default otherwise. LLVM's tuning for AVX-512 CPUs still prefers 256-bit
# vectors in loops (`prefer-256-bit`, against clock throttling on early Xeons), so it is turned off:
# on this project's loops the 16-wide code measured faster (docs/performance.md, "Vector width and
# OpenBLAS's kernels").
# Results are the same bits at every width: Swift neither reassociates nor contracts these loops.
# `make CPU_FLAGS= release` builds portable code, `make CPU_FLAGS='$(HASWELL_FLAGS)' release` AVX2 only.
HASWELL_FEATURES := avx2 fma bmi1 bmi2 movbe f16c
AVX512_FEATURES := avx512f avx512cd avx512bw avx512dq avx512vl
HASWELL_FLAGS := -Xswiftc -target-cpu -Xswiftc haswell -Xswiftc -DENGINE_AVX2
AVX512_FLAGS := -Xswiftc -target-cpu -Xswiftc skylake-avx512 -Xswiftc -DENGINE_AVX512 \
  $(foreach f,-Xcc -Xclang -Xcc -target-feature -Xcc -Xclang -Xcc -prefer-256-bit,-Xswiftc $(f))
CPU_FLAGS ?= $(shell f=/proc/cpuinfo; [ -r $$f ] || exit 0; for x in $(HASWELL_FEATURES); do grep -qw $$x $$f || exit 0; done; \
  for x in $(AVX512_FEATURES); do grep -qw $$x $$f || { echo "$(HASWELL_FLAGS)"; exit 0; }; done; echo "$(AVX512_FLAGS)")

# The default job of `make run`: the seed's recipe for its network (about 35 s of training on 2 cores).
RUN_ARGS ?= --model seed --optimizer adam --lr 1e-3 --batch-size 20 --steps 10000 --normalize seed --no-augment --schedule constant

help:
	@echo "make setup    install OpenBLAS, LAPACKE, libjpeg-turbo, libpng, a C compiler and Python's venv with apt-get when missing"
	@echo "make build    debug build"
	@echo "make release  optimised build (.build/release/mobilenet)"
	@echo "make test     build (optimised) and run every test: Swift, the C API, Python (no dataset needed)"
	@echo "make bench    speed of MobileNet-CIFAR against its baseline, per layer, beside OpenBLAS"
	@echo "make bench-compare  the same beside PyTorch and TensorFlow (installs them under ~/.cache)"
	@echo "make install  the C library, header and pkg-config file into PREFIX (default /usr/local)"
	@echo "make python   make install PREFIX=.build-python/prefix, then the Python package into the venv .build-python/venv"
	@echo "make bench-boundary  a training step called from C and from Python against the same step from Swift"
	@echo "make test-multihost  two hosts made of network namespaces, one process each, against one process (root)"
	@echo "make bench-ranks  data-parallel scaling: 2 processes x 1 thread against 1 x 2, and a model for more hosts"
	@echo "make format   format the Swift sources with swift-format (.swift-format)"
	@echo "make lint     check that they are formatted and follow its rules (CI runs it)"
	@echo "make fuzz     run libFuzzer on every reader of untrusted bytes (FUZZ_RUNS executions each)"
	@echo "make run      set up, build, train SeedNet on CIFAR-10 (\$$CIFAR10_DIR or ./data; else the synthetic set), show its cost"

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
	$(SWIFT) build -c release $(CPU_FLAGS)

# Tests run optimised (-O in the debug configuration, so @testable still works) in their own build
# folder: the kernels are then tested as they run for users, and the suite takes ~30 s instead of
# minutes. They use the same CPU_FLAGS as the release build. Plain `swift test` works too, unoptimised.
test: test-swift test-c test-python test-multihost

test-swift: setup
	$(SWIFT) test -Xswiftc -O $(CPU_FLAGS) --scratch-path .build-test

# The C API as users get it: installed, then the examples built with the system's C and C++
# compilers through pkg-config and run, and every kind of misuse under AddressSanitizer.
TEST_PREFIX := $(abspath .build-test/prefix)
test-c: setup
	$(MAKE) --no-print-directory install PREFIX=$(TEST_PREFIX)
	@set -e; export PKG_CONFIG_PATH=$(TEST_PREFIX)/lib/pkgconfig; out=.build-test/capi; mkdir -p $$out; \
	cc -std=c99 -Wall -Wextra -Werror examples/c/train_seednet.c $$(pkg-config --cflags --libs mobilenetcpu) -o $$out/train_seednet_c; \
	c++ -std=c++17 -Wall -Wextra -Werror examples/cpp/train_seednet.cpp $$(pkg-config --cflags --libs mobilenetcpu) -o $$out/train_seednet_cpp; \
	cc -std=c99 -g -fsanitize=address,undefined -fno-sanitize-recover=all Tests/CAPI/misuse.c \
	  $$(pkg-config --cflags --libs mobilenetcpu) -o $$out/misuse; \
	echo "C example:"; $$out/train_seednet_c; echo "C++ example:"; $$out/train_seednet_cpp; \
	echo "misuse of the C API (AddressSanitizer):"; $$out/misuse $$out

# The Python package installed from python/ into a venv (NumPy, and ONNX with ONNX Runtime to check
# the exported models, from PyPI) with the library of test-c, tested against the CLI that
# test-swift built.
VENV_PACKAGES := numpy onnx onnxruntime
# Two hosts on this machine (ip netns and a veth pair), one process each, mpirun over TCP between them
# (scripts/multihost-test). It needs root for the namespaces; elsewhere it says so and stops.
test-multihost: test-swift
	@if [ "$$(id -u)" -ne 0 ]; then echo "test-multihost: needs root (ip netns); run it as root"; exit 1; fi
	scripts/multihost-test .build-test/debug/mobilenet

# Data-parallel scaling on this machine and a model of more hosts (bench/ranks.py; docs/performance.md).
bench-ranks: release
	python3 bench/ranks.py --binary .build/release/mobilenet

test-python: test-c
	@[ -x .build-python/venv/bin/python ] || python3 -m venv .build-python/venv
	.build-python/venv/bin/pip install --quiet --disable-pip-version-check $(VENV_PACKAGES) ./python
	cd .build-test && PKG_CONFIG_PATH=$(TEST_PREFIX)/lib/pkgconfig MOBILENETCPU_LIBRARY= \
	  MOBILENETCPU_CLI=$(abspath .build-test/debug/mobilenet) ../.build-python/venv/bin/python -m unittest discover -s ../python/tests

# Trains the default model on CIFAR-10 when it is at $CIFAR10_DIR or ./data (any official layout or
# archive), otherwise on the built-in synthetic set with a notice; then prints the cost comparison.
run: setup release
	@mkdir -p runs; data="$${CIFAR10_DIR:-data}"; \
	if [ ! -e "$$data" ]; then \
	  echo "notice: no CIFAR-10 at $$data: training on the built-in synthetic shapes instead."; \
	  echo "        Get CIFAR-10 with: .build/release/mobilenet download --to data   (then run make run again)"; \
	  data=synthetic; \
	fi; \
	.build/release/mobilenet train --data "$$data" $(RUN_ARGS) --log runs/seed.jsonl --checkpoint runs/seed.safetensors && \
	.build/release/mobilenet summary --model seed

# Speed of MobileNet-CIFAR α = 1.0 at batch 128, layer by layer, and against its baseline.
BENCH_ARGS ?= --model mobilenet --alpha 1 --stem cifar --batch-size 128 --compare-standard
bench: setup release
	.build/release/mobilenet bench $(BENCH_ARGS)

# Ours beside PyTorch (NCHW, channels-last), TensorFlow and, for inference, ONNX Runtime on our
# exported model, alternating rounds; not run by CI. PyTorch and TensorFlow live in their own virtual
# environments under ~/.cache, made here when missing; ONNX Runtime in the venv of `make python`.
bench-compare: setup release python
	@[ -x ~/.cache/torch-venv/bin/python ] || (python3 -m venv ~/.cache/torch-venv && ~/.cache/torch-venv/bin/pip install torch numpy)
	@[ -x ~/.cache/tf-venv/bin/python ] || (python3 -m venv ~/.cache/tf-venv && ~/.cache/tf-venv/bin/pip install tensorflow-cpu)
	python3 bench/compare.py $(COMPARE_ARGS)

# libFuzzer on each reader of untrusted bytes (Fuzz/) for FUZZ_RUNS executions or FUZZ_SECONDS,
# starting from its folder of Tests/Corpus, with
# AddressSanitizer. New inputs go to .build-fuzz/corpus; a crash stops with its input in
# .build-fuzz/crashes, to be added to Tests/Corpus/<reader>/crash-<what> (make test replays those).
# The coverage flags are explicit because --sanitize=fuzzer alone left the library's modules without
# the counters libFuzzer reads (it found no coverage at all); --disable-dead-strip keeps them linked.
FUZZ_RUNS ?= 10000000
FUZZ_SECONDS ?= 3600
FUZZ_READERS ?= Pickle Archive Records Images Safetensors Metadata
fuzz: setup
	@for r in $(FUZZ_READERS); do \
	  (cd Fuzz && $(SWIFT) build -c release --sanitize=fuzzer --sanitize=address --disable-dead-strip \
	    -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp --product Fuzz$$r) || exit 1; \
	done
	@mkdir -p .build-fuzz/crashes
	@for r in $(FUZZ_READERS); do \
	  corpus=$$(echo $$r | tr A-Z a-z); mkdir -p .build-fuzz/corpus/$$corpus; \
	  echo "fuzz: $$r, $(FUZZ_RUNS) runs or $(FUZZ_SECONDS) s, whichever ends first"; \
	  Fuzz/.build/release/Fuzz$$r -runs=$(FUZZ_RUNS) -max_total_time=$(FUZZ_SECONDS) -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
	    -artifact_prefix=.build-fuzz/crashes/$$corpus- .build-fuzz/corpus/$$corpus Tests/Corpus/$$corpus || exit 1; \
	done

# The C API as one shared library with the Swift runtime linked in (-static-stdlib, so it needs only
# the system's libraries; that link needs libcurl's development files), its header, and a pkg-config
# file whose flags carry an rpath: `cc prog.c $(pkg-config --cflags --libs mobilenetcpu)` runs as built.
PREFIX ?= /usr/local
VERSION := $(shell sed -n 's/^\#define MNC_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)/\2/p' include/mobilenetcpu.h | paste -sd.)
install: setup
	$(SWIFT) build -c release --product mobilenetcpu -Xswiftc -static-stdlib $(CPU_FLAGS) --scratch-path .build-install
	install -d $(PREFIX)/lib/pkgconfig $(PREFIX)/include
	install -m 755 .build-install/release/libmobilenetcpu.so $(PREFIX)/lib/libmobilenetcpu.so
	install -m 644 include/mobilenetcpu.h $(PREFIX)/include/mobilenetcpu.h
	sed -e 's|@PREFIX@|$(abspath $(PREFIX))|' -e 's|@VERSION@|$(VERSION)|' mobilenetcpu.pc.in > $(PREFIX)/lib/pkgconfig/mobilenetcpu.pc
	@echo "installed libmobilenetcpu $(VERSION) in $(abspath $(PREFIX)); pkg-config finds it with PKG_CONFIG_PATH=$(abspath $(PREFIX))/lib/pkgconfig"

# The Python package in a venv, on a library installed beside it: `. .build-python/venv/bin/activate`
# and then `import mobilenetcpu` finds it through MOBILENETCPU_LIBRARY, which activate sets.
python: setup
	$(MAKE) --no-print-directory install PREFIX=$(abspath .build-python/prefix)
	@[ -x .build-python/venv/bin/python ] || python3 -m venv .build-python/venv
	.build-python/venv/bin/pip install --quiet --disable-pip-version-check $(VENV_PACKAGES) ./python
	@grep -q MOBILENETCPU_LIBRARY .build-python/venv/bin/activate || \
	  echo 'export MOBILENETCPU_LIBRARY=$(abspath .build-python/prefix)/lib/libmobilenetcpu.so' >> .build-python/venv/bin/activate
	@echo "ready: . .build-python/venv/bin/activate && python python/examples/train_cifar10.py CIFAR10_BIN_DIR"

# The cost of the boundary, measured side by side in one process: C and Python against Swift.
bench-boundary: python
	@cc -O2 bench/boundary.c $$(PKG_CONFIG_PATH=$(abspath .build-python/prefix)/lib/pkgconfig pkg-config --cflags --libs mobilenetcpu) \
	  -o .build-python/boundary
	.build-python/boundary 128 && .build-python/boundary 20 15 20
	MOBILENETCPU_LIBRARY=$(abspath .build-python/prefix)/lib/libmobilenetcpu.so .build-python/venv/bin/python bench/boundary.py --batch 128
	MOBILENETCPU_LIBRARY=$(abspath .build-python/prefix)/lib/libmobilenetcpu.so .build-python/venv/bin/python bench/boundary.py \
	  --batch 20 --rounds 15 --steps 20

# Regenerates Sources/ONNX/onnx.pb.swift from proto/onnx.proto (the onnx PyPI package's; see
# proto/README.md) with protoc (Debian's protobuf-compiler, installed here when missing) and
# swift-protobuf's plugin, built from the package's own dependency. The normal build needs neither.
onnx-proto:
	@command -v protoc >/dev/null || { sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq protobuf-compiler; }
	$(SWIFT) build -c release --product protoc-gen-swift --scratch-path .build-protoc
	protoc --plugin=protoc-gen-swift=.build-protoc/release/protoc-gen-swift --swift_out=Sources/ONNX --proto_path=proto \
	  proto/onnx.proto

# swift-format (in the Swift toolchain) with the project's .swift-format.
FORMAT_PATHS := Sources Tests Fuzz/Sources Package.swift Fuzz/Package.swift
format:
	$(SWIFT) format format --configuration .swift-format --recursive --in-place $(FORMAT_PATHS)

lint:
	$(SWIFT) format lint --configuration .swift-format --strict --recursive $(FORMAT_PATHS)

clean:
	rm -rf .build .build-test .build-fuzz .build-install .build-python .build-protoc Fuzz/.build
