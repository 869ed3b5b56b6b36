# Steer: the two Quick start commands and the steps they are made of.
#
#   make demo   install what is missing, build, run the main job
#   make test   install what is missing, build, run every test
#
# Every step is idempotent: a second run installs nothing and rebuilds only
# what changed.
BUILD_DIR ?= build
CMAKE_ARGS ?=
CTEST_ARGS ?=

SAN_DIR ?= build-sanitize

.PHONY: all setup configure build demo test test-sanitize clean

all: build

setup:
	@bash scripts/setup.sh

configure: setup
	@test -f $(BUILD_DIR)/build.ninja || \
	  cmake -G Ninja -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)

build: configure
	@cmake --build $(BUILD_DIR)

demo: build
	@bash scripts/demo.sh $(BUILD_DIR)

test: build
	@cd $(BUILD_DIR) && ctest --no-tests=error --output-on-failure -j2 $(CTEST_ARGS)

# The unit tests and the lit suite again, built with AddressSanitizer and
# UBSan (CI runs it after make test; see docs/building.md for its time).
# allow_user_poisoning=0: LLVM's headers poison their allocators' memory in
# an ASan build, and Debian's uninstrumented libMLIR then writes to it: a
# false "use-after-poison" in every MLIR tool. Steer's own code stays checked.
test-sanitize: setup
	@test -f $(SAN_DIR)/build.ninja || \
	  cmake -G Ninja -S . -B $(SAN_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DSTEER_SANITIZE=address,undefined $(CMAKE_ARGS)
	@cmake --build $(SAN_DIR)
	@cd $(SAN_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allow_user_poisoning=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --no-tests=error --output-on-failure -j2 -L "unit|lit" $(CTEST_ARGS)

clean:
	rm -rf $(BUILD_DIR) $(SAN_DIR)
