// Tests that the writer produces the safetensors layout byte for byte, that
// it is deterministic, and that random checkpoints match the layout.
#include "steer/io/file.h"
#include "steer/io/safetensors_writer.h"
#include "steer/model/layout.h"
#include "steer/model/random_checkpoint.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <cstring>

namespace steer {
namespace {

std::string tempDir() {
  char tmpl[] = "/tmp/steer-test-XXXXXX";
  const char *d = ::mkdtemp(tmpl);
  return d ? d : "/tmp";
}

nlohmann::json header(const std::string &bytes) {
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  return nlohmann::json::parse(bytes.substr(8, n));
}

TEST(SafetensorsWriter, Layout) {
  SafetensorsWriter w;
  float a[3] = {1.f, 2.f, 3.f};
  ASSERT_TRUE(w.add("b", DType::kF32, {3}, std::string((char *)a, 12)).ok());
  ASSERT_TRUE(
      w.add("a", DType::kBF16, {1, 2}, std::string("\x80\x3f\x00\x40", 4))
          .ok());
  w.setMetadata("format", "pt");
  std::string path = tempDir() + "/x.safetensors";
  ASSERT_TRUE(w.write(path).ok());
  StatusOr<std::string> bytes = readFile(path);
  ASSERT_TRUE(bytes.ok());
  uint64_t n = 0;
  std::memcpy(&n, bytes->data(), 8);
  EXPECT_EQ((8 + n) % 8, 0u);
  EXPECT_EQ(bytes->size(), 8 + n + 16);
  nlohmann::json h = header(*bytes);
  EXPECT_EQ(h["__metadata__"]["format"], "pt");
  // Name order: "a" first.
  EXPECT_EQ(h["a"]["data_offsets"], nlohmann::json({0, 4}));
  EXPECT_EQ(h["b"]["data_offsets"], nlohmann::json({4, 16}));
  EXPECT_EQ(h["b"]["dtype"], "F32");
  EXPECT_EQ(h["a"]["shape"], nlohmann::json({1, 2}));
  float back[3];
  std::memcpy(back, bytes->data() + 8 + n + 4, 12);
  EXPECT_EQ(back[2], 3.f);
}

TEST(SafetensorsWriter, RejectsWrongSizeAndDuplicates) {
  SafetensorsWriter w;
  EXPECT_EQ(w.add("t", DType::kF32, {2}, "abc").code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(w.add("t", DType::kF32, {1}, "abcd").ok());
  EXPECT_FALSE(w.add("t", DType::kF32, {1}, "abcd").ok());
  EXPECT_FALSE(w.add("__metadata__", DType::kF32, {1}, "abcd").ok());
}

TEST(RandomCheckpoint, DeterministicAndMatchesLayout) {
  StatusOr<ModelConfig> c = presetConfig("tiny");
  ASSERT_TRUE(c.ok());
  c->vocabSize = 600; // Keep the test small.
  c->padTokenId = 596, c->bosTokenId = 597, c->eosTokenId = 595;
  c->endofchunkTokenId = 598, c->maskTokenId = 599;
  std::string d1 = tempDir(), d2 = tempDir();
  RandomCheckpointOptions opt;
  opt.seed = 7;
  ASSERT_TRUE(writeRandomCheckpoint(*c, d1, opt).ok());
  ASSERT_TRUE(writeRandomCheckpoint(*c, d2, opt).ok());
  StatusOr<std::string> a = readFile(d1 + "/model.safetensors");
  StatusOr<std::string> b = readFile(d2 + "/model.safetensors");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  nlohmann::json h = header(*a);
  for (const TensorSpec &s : expectedTensors(*c)) {
    ASSERT_TRUE(h.contains(s.name)) << s.name;
    EXPECT_EQ(h[s.name]["shape"].get<std::vector<int64_t>>(), s.shape);
    EXPECT_EQ(h[s.name]["dtype"], "BF16");
  }
  StatusOr<ModelConfig> back = loadModelConfig(d1);
  ASSERT_TRUE(back.ok()) << back.status().toString();
  EXPECT_EQ(modelConfigToJson(*back), modelConfigToJson(*c));
}

TEST(RandomCheckpoint, ShardsWithIndex) {
  StatusOr<ModelConfig> c = presetConfig("tiny");
  ASSERT_TRUE(c.ok());
  std::string d = tempDir();
  RandomCheckpointOptions opt;
  opt.dtype = DType::kF32;
  opt.shardBytes = 8 << 20;
  ASSERT_TRUE(writeRandomCheckpoint(*c, d, opt).ok());
  StatusOr<std::string> idx = readFile(d + "/model.safetensors.index.json");
  ASSERT_TRUE(idx.ok());
  nlohmann::json index = nlohmann::json::parse(*idx);
  std::set<std::string> files;
  for (auto &[k, v] : index["weight_map"].items())
    files.insert(v.get<std::string>());
  EXPECT_GE(files.size(), 2u);
  EXPECT_EQ(index["weight_map"].size(), expectedTensors(*c).size());
}

} // namespace
} // namespace steer
