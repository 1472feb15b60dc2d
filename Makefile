# Capstan: two commands on a fresh Debian 12 machine.
#   make serve   build and run a single-node server on 127.0.0.1:2379 (data in ./data)
#   make check   build and run every test
# Both install the Debian packages they lack first (as root, or through sudo).

BUILD_DIR ?= build
DATA_DIR  ?= data/default.etcd
JOBS      ?= $(shell nproc)

BUILD_PACKAGES := build-essential cmake ninja-build pkg-config ccache \
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
  liblmdb-dev libxxhash-dev libjemalloc-dev libboost-dev libboost-system-dev \
  libgtest-dev libgmock-dev libbenchmark-dev libspdlog-dev libfmt-dev libcli11-dev \
  nlohmann-json3-dev libssl-dev
# Real etcd and real clients are the reference the tests compare against.
TEST_PACKAGES := etcd-server etcd-client python3-etcd3 python3-protobuf golang-go golang-etcd-server-dev

# The libFuzzer build (fuzz/): clang with its sanitizer and fuzzer runtimes.
FUZZ_PACKAGES := clang libclang-rt-14-dev
FUZZ_BUILD_DIR ?= build-fuzz
# Seconds each fuzz target runs: `make check` (through ctest), `make fuzz`, `make soak`.
CHECK_FUZZ_SECONDS ?= 10
FUZZ_SECONDS ?= 60
SOAK_FUZZ_SECONDS ?= 600

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build serve check unit soak deps test-deps fuzz-deps fuzz-build fuzz clean format

all: build

# Installs only what is missing, so a ready machine pays one dpkg-query.
define ensure_packages
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

deps:
	$(call ensure_packages,$(BUILD_PACKAGES))

test-deps: deps
	$(call ensure_packages,$(TEST_PACKAGES))

fuzz-deps:
	$(call ensure_packages,$(BUILD_PACKAGES) $(FUZZ_PACKAGES))

$(BUILD_DIR)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCAPSTAN_FUZZ_BIN_DIR=$(abspath $(FUZZ_BUILD_DIR))/bin

$(FUZZ_BUILD_DIR)/build.ninja: CMakeLists.txt
	cmake -S . -B $(FUZZ_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAPSTAN_FUZZ=ON \
	  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++

# The fuzz targets (docs/reliability.md, "Fuzzing"), with ASan, UBSan and libFuzzer.
fuzz-build: fuzz-deps $(FUZZ_BUILD_DIR)/build.ninja
	cmake --build $(FUZZ_BUILD_DIR) -j $(JOBS)

# Each fuzz target for FUZZ_SECONDS (60) seconds.
fuzz: fuzz-build
	cd $(FUZZ_BUILD_DIR) && FUZZ_SECONDS=$(FUZZ_SECONDS) ctest --output-on-failure -L fuzz

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

serve: build
	@mkdir -p $(dir $(DATA_DIR))
	$(BUILD_DIR)/bin/capstan --name default --data-dir $(DATA_DIR) \
	  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
	  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
	  --initial-cluster default=http://127.0.0.1:2380

# The fuzz targets run as tests fuzz.* (label fuzz) for CHECK_FUZZ_SECONDS each.
check: test-deps build fuzz-build
	cd $(BUILD_DIR) && FUZZ_SECONDS=$(CHECK_FUZZ_SECONDS) ctest --output-on-failure -j $(JOBS) --timeout 900

unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L unit

# Long randomized runs: 20,000 Raft simulation seeds per cluster size, then
# each fuzz target for SOAK_FUZZ_SECONDS (600) seconds.
soak: build fuzz-build
	RAFT_SIM_SEEDS=20000 $(BUILD_DIR)/bin/raft_tests --gtest_filter='Simulation.*'
	cd $(FUZZ_BUILD_DIR) && FUZZ_SECONDS=$(SOAK_FUZZ_SECONDS) ctest --output-on-failure -L fuzz

format:
	find raft storage watch api kube-adapter bench tests -name '*.h' -o -name '*.cc' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) $(FUZZ_BUILD_DIR)
