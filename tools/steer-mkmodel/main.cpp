//===- steer-mkmodel - Write a Steerling checkpoint with random weights ---===//
//
// For demos before a trained model exists, for shape coverage in tests and
// for multi-gigabyte benchmark checkpoints. Runtime only.
//
//===----------------------------------------------------------------------===//
#include "steer/io/file.h"
#include "steer/model/random_checkpoint.h"

#include <CLI/CLI.hpp>

#include "../common/flags.h"

#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
  CLI::App app{"steer-mkmodel: write a Steerling-format checkpoint with "
               "seeded random weights"};
  std::string preset = "tiny", configPath, out, dtype = "bf16";
  uint64_t seed = 0;
  double shardMiB = 0;
  auto *presetOpt = app.add_option("--preset", preset, "tiny, small or mid")
                        ->capture_default_str();
  app.add_option("--config", configPath,
                 "a config.json to use instead of a preset")
      ->excludes(presetOpt);
  app.add_option("-o,--output", out, "checkpoint directory to write")
      ->required();
  app.add_option("--seed", seed, "random seed")
      ->capture_default_str()
      ->check(steer::tools::unsigned64());
  app.add_option("--dtype", dtype, "f32, f16 or bf16")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}))
      ->capture_default_str();
  app.add_option("--shard-mib", shardMiB,
                 "split weights into shards of at most this many MiB")
      ->check(CLI::Range(0.001, 1048576.0));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    // Help and version exit 0; every usage error is bad input: exit 2.
    return app.exit(e) == 0 ? 0 : 2;
  }

  // Never over an existing checkpoint (or anything else): random weights
  // written over real ones, or beside stale shards, would be silent data
  // loss and a checkpoint that means something else.
  if (struct stat st; ::stat(out.c_str(), &st) == 0) {
    bool empty = S_ISDIR(st.st_mode);
    if (DIR *d = empty ? ::opendir(out.c_str()) : nullptr) {
      while (dirent *e = ::readdir(d))
        if (std::strcmp(e->d_name, ".") != 0 &&
            std::strcmp(e->d_name, "..") != 0)
          empty = false;
      ::closedir(d);
    }
    if (!empty) {
      std::fprintf(stderr,
                   "steer-mkmodel: error: refusing to write %s: it exists and "
                   "is not an empty directory; give a new path\n",
                   out.c_str());
      return 2;
    }
  }
  steer::StatusOr<steer::ModelConfig> config =
      configPath.empty() ? steer::presetConfig(preset)
                         : [&]() -> steer::StatusOr<steer::ModelConfig> {
    auto text = steer::readFile(configPath);
    if (!text.ok())
      return text.status();
    return steer::parseModelConfig(*text, configPath);
  }();
  if (!config.ok()) {
    std::fprintf(stderr, "steer-mkmodel: %s\n",
                 config.status().toString().c_str());
    return 2;
  }
  steer::RandomCheckpointOptions options;
  options.seed = seed;
  options.dtype = dtype == "f32"   ? steer::DType::kF32
                  : dtype == "f16" ? steer::DType::kF16
                                   : steer::DType::kBF16;
  options.shardBytes = static_cast<uint64_t>(shardMiB * 1024 * 1024);
  if (isatty(STDERR_FILENO))
    options.progress = [](uint64_t done, uint64_t total) {
      std::fprintf(stderr, "\rwriting weights: %5.1f%% of %.1f MiB",
                   100.0 * done / std::max<uint64_t>(total, 1),
                   total / 1048576.0);
      if (done == total)
        std::fputc('\n', stderr);
    };
  if (steer::Status s = steer::writeRandomCheckpoint(*config, out, options);
      !s.ok()) {
    std::fprintf(stderr, "steer-mkmodel: %s\n", s.toString().c_str());
    return 2;
  }
  std::printf("wrote %s: a Steerling-format checkpoint with RANDOM weights "
              "(seed %llu); its outputs mean nothing\n",
              out.c_str(), static_cast<unsigned long long>(seed));
  return 0;
}
