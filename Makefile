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

.PHONY: all setup configure build demo test clean

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

clean:
	rm -rf $(BUILD_DIR)
