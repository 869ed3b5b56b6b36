//===- artifact_edit.cpp - Rewrites an artifact's manifest (tests only) ---===//
//
// steer-artifact-edit ART --print
//   prints the manifest in protobuf text format;
// steer-artifact-edit ART --manifest FILE -o OUT
//   writes OUT: ART's header and data section with the manifest of FILE (text
//   format), its length, offset and xxh64 recomputed: an edit anyone could
//   make to a file whose checksum is not a signature. Tests use it to show
//   that the runtime executes what the manifest says and refuses what it
//   cannot apply. The input is trusted (it is the test's own), so this tool
//   checks little.
//
//===----------------------------------------------------------------------===//
#include "schema/artifact.pb.h"

#include <google/protobuf/text_format.h>
#include <xxhash.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace {

std::string slurp(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

uint64_t u64(const std::string &b, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}

void put64(std::string &b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    b[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

int usage() {
  std::cerr << "usage: steer-artifact-edit ART --print\n"
               "       steer-artifact-edit ART --manifest FILE -o OUT\n";
  return 2;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 3)
    return usage();
  const std::string bytes = slurp(argv[1]);
  if (bytes.size() < 40)
    return usage();
  const uint64_t n = u64(bytes, 16), data = u64(bytes, 24);
  steer::schema::Manifest m;
  if (!m.ParseFromArray(bytes.data() + 40, static_cast<int>(n))) {
    std::cerr << "steer-artifact-edit: the manifest does not parse\n";
    return 1;
  }
  if (std::strcmp(argv[2], "--print") == 0) {
    std::string text;
    google::protobuf::TextFormat::PrintToString(m, &text);
    std::cout << text;
    return 0;
  }
  if (argc != 6 || std::strcmp(argv[2], "--manifest") != 0 ||
      std::strcmp(argv[4], "-o") != 0)
    return usage();
  steer::schema::Manifest edited;
  if (!google::protobuf::TextFormat::ParseFromString(slurp(argv[3]), &edited)) {
    std::cerr << "steer-artifact-edit: " << argv[3] << " does not parse\n";
    return 1;
  }
  std::string body;
  edited.SerializeToString(&body);
  const uint64_t newData = (40 + body.size() + 63) / 64 * 64;
  std::string out = bytes.substr(0, 40);
  put64(out, 16, body.size());
  put64(out, 24, newData);
  put64(out, 32, XXH64(body.data(), body.size(), 0));
  out += body;
  out.resize(newData, '\0');
  out += bytes.substr(data);
  std::ofstream(argv[5], std::ios::binary) << out;
  return 0;
}
