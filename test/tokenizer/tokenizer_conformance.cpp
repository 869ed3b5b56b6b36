// Checks the C++ tokenizer against cases computed by the npm package
// tiktoken (reference.cjs): every encode case must give the same ids and
// every decode case the same text. Prints a summary line and the first
// mismatches; exits 1 on any mismatch, 2 on unreadable input.
#include "steer/io/file.h"
#include "steer/text/tokenizer.h"

#include <nlohmann/json.hpp>

#include <cstdio>

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: tokenizer-conformance CASES.jsonl\n");
    return 2;
  }
  auto text = steer::readFile(argv[1]);
  auto tok = steer::Tokenizer::create(steer::TokenizerLayout::kInstruct);
  if (!text.ok() || !tok.ok()) {
    std::fprintf(
        stderr, "%s\n",
        (!text.ok() ? text.status() : tok.status()).toString().c_str());
    return 2;
  }
  size_t encodes = 0, decodes = 0, bad = 0, line = 0;
  for (size_t pos = 0; pos < text->size();) {
    size_t eol = text->find('\n', pos);
    if (eol == std::string::npos)
      eol = text->size();
    std::string_view s(text->data() + pos, eol - pos);
    pos = eol + 1;
    ++line;
    if (s.empty())
      continue;
    nlohmann::json c = nlohmann::json::parse(s);
    if (c["kind"] == "encode") {
      ++encodes;
      auto ids = (*tok)->encode(c["text"].get<std::string>());
      std::vector<int32_t> want = c["ids"].get<std::vector<int32_t>>();
      if (!ids.ok() || *ids != want) {
        if (++bad <= 5)
          std::printf("line %zu: encode mismatch for %s\n", line,
                      c["text"].dump().substr(0, 200).c_str());
      }
    } else {
      ++decodes;
      auto got = (*tok)->decode(c["ids"].get<std::vector<int64_t>>());
      if (!got.ok() || *got != c["text"].get<std::string>()) {
        if (++bad <= 5)
          std::printf("line %zu: decode mismatch for ids %s\n", line,
                      c["ids"].dump().c_str());
      }
    }
  }
  std::printf("%zu encode cases, %zu decode cases, %zu mismatches\n", encodes,
              decodes, bad);
  return bad == 0 && encodes > 0 ? 0 : 1;
}
