// Time-to-ready of a checkpoint: Steer's loader (config + memory-mapped,
// validated safetensors) against a baseline that reads every weight byte
// into memory, as a copying loader must. Run on checkpoints of different
// sizes: Steer's time follows the header size, the baseline the file size.
// Also the scan for non-finite weights that Engine::create runs before a
// first forward (every weight byte read once, in parallel), against the
// same copying baseline: the scan should cost no more than reading the bytes.
//
//   steer-bench-load DIR [DIR...]
#include "steer/exec/engine.h"
#include "steer/exec/kernels.h"
#include "steer/io/file.h"
#include "steer/model/checkpoint.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <unistd.h>
#include <vector>

namespace {

double seconds(std::chrono::steady_clock::time_point a,
               std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

template <typename F> double medianOf(int n, F f) {
  std::vector<double> t;
  for (int i = 0; i < n; ++i) {
    auto a = std::chrono::steady_clock::now();
    f();
    t.push_back(seconds(a, std::chrono::steady_clock::now()));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

/// The baseline: read each file completely into an owned buffer.
uint64_t copyAll(const steer::Checkpoint &c) {
  uint64_t total = 0;
  std::vector<char> buf;
  for (const auto &f : c.files()) {
    buf.resize(f->fileSize());
    int fd = ::open(f->path().c_str(), O_RDONLY);
    uint64_t got = 0;
    while (got < buf.size()) {
      ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
      if (n <= 0)
        break;
      got += static_cast<uint64_t>(n);
    }
    ::close(fd);
    total += got;
  }
  return total;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: steer-bench-load DIR [DIR...]\n");
    return 2;
  }
  // The finite scan is baseline code (no per-ISA kernel); the path is
  // printed so every benchmark's output says what ran.
  std::printf("kernel path %s (the finite scan is compiled for the baseline "
              "ISA)\n",
              steer::kernels::isaName(steer::kernels::activeIsa()));
  std::printf("%-34s %10s %10s %8s %12s %12s %8s %12s %8s\n", "checkpoint",
              "weights", "header", "files", "steer open", "copy load",
              "ratio", "finite scan", "vs copy");
  for (int i = 1; i < argc; ++i) {
    auto probe = steer::Checkpoint::open(argv[i]);
    if (!probe.ok()) {
      std::fprintf(stderr, "%s\n", probe.status().toString().c_str());
      return 2;
    }
    uint64_t weights = 0, header = 0;
    for (const auto &f : (*probe)->files()) {
      weights += f->fileSize();
      header += f->headerBytes();
    }
    copyAll(**probe); // Warm the page cache for both measurements.
    double open = medianOf(7, [&] {
      auto c = steer::Checkpoint::open(argv[i]);
      if (!c.ok())
        std::abort();
    });
    double copy = medianOf(3, [&] { copyAll(**probe); });
    double scan = medianOf(3, [&] {
      if (!steer::checkWeightsFinite(**probe).ok())
        std::abort();
    });
    std::printf("%-34s %8.1fMB %8.1fKB %8zu %10.3fms %10.1fms %7.0fx "
                "%10.1fms %7.2fx\n",
                argv[i], weights / 1e6, header / 1e3, (*probe)->files().size(),
                open * 1e3, copy * 1e3, copy / open, scan * 1e3, scan / copy);
  }
  return 0;
}
