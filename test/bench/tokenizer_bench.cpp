// Tokenizer throughput on a text file, printed in MB/s; the npm tiktoken
// number on the same file comes from tokenizer_bench.cjs in the same run
// (scripts/bench-tokenizer.sh prints the ratio).
//
//   steer-bench-tokenizer FILE
#include "steer/io/file.h"
#include "steer/text/tokenizer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: steer-bench-tokenizer FILE\n");
    return 2;
  }
  auto text = steer::readFile(argv[1]);
  auto tok = steer::Tokenizer::create(steer::TokenizerLayout::kBase);
  if (!text.ok() || !tok.ok())
    return 2;
  size_t tokens = 0;
  std::vector<double> times;
  for (int rep = 0; rep < 5; ++rep) {
    auto a = std::chrono::steady_clock::now();
    auto ids = (*tok)->encode(*text);
    auto b = std::chrono::steady_clock::now();
    if (!ids.ok())
      return 2;
    tokens = ids->size();
    times.push_back(std::chrono::duration<double>(b - a).count());
  }
  std::sort(times.begin(), times.end());
  double t = times[2];
  std::printf(
      "steer %.2f MB/s %.0f tokens/s (%zu bytes, %zu tokens, median of 5; "
      "scalar code, no kernel path)\n",
      text->size() / t / 1e6, tokens / t, text->size(), tokens);
  return 0;
}
