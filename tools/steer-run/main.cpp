//===- steer-run - Run Steerling checkpoints and Steer artifacts ----------===//
//
// A thin main over the runtime library; it links no LLVM or MLIR. Exit
// status: 0 on success, 2 on bad input or a failed run (the message names the
// file, field and position).
//
//===----------------------------------------------------------------------===//
#include "steer/backend/backend.h"

#include <CLI/CLI.hpp>

#include <cstdio>

namespace {

int runDevices() {
  auto cpu = steer::createCpuBackend();
  steer::DeviceInfo info = cpu->device();
  std::printf("cpu:  %s (%s)\n", info.name.c_str(), info.detail.c_str());
  auto cuda = steer::probeCudaDevices();
  if (!cuda.ok()) {
    std::printf("cuda: not available: %s\n",
                std::string(cuda.status().message()).c_str());
    return 0;
  }
  for (const steer::DeviceInfo &d : *cuda)
    std::printf("cuda: %s (%s, %.1f GiB)\n", d.name.c_str(), d.detail.c_str(),
                d.memoryBytes / 1073741824.0);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"steer-run: run Steerling checkpoints and Steer artifacts"};
  app.require_subcommand(1);
  CLI::App *devices =
      app.add_subcommand("devices", "list the devices this machine can run on");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    // Help and version exit 0; every usage error is bad input: exit 2.
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (*devices)
    return runDevices();
  return 2;
}
