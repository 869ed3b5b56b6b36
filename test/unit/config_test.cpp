// Tests that config.json parsing matches the reference's fields, defaults
// and validation, and that errors name the file and the field.
#include "steer/model/config.h"
#include "steer/model/layout.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace steer {
namespace {

const std::string kGoldenF32 =
    std::string(STEER_SOURCE_DIR) + "/test/golden/tiny-f32/checkpoint";

TEST(Config, LoadsGoldenCheckpoint) {
  StatusOr<ModelConfig> c = loadModelConfig(kGoldenF32);
  ASSERT_TRUE(c.ok()) << c.status().toString();
  EXPECT_EQ(c->nLayers, 2);
  EXPECT_EQ(c->nHead, 4);
  EXPECT_EQ(c->nEmbd, 64);
  EXPECT_EQ(c->kvHeads(), 2);
  EXPECT_EQ(c->headDim(), 16);
  EXPECT_EQ(c->diffBlockSize, 8);
  EXPECT_EQ(c->normOrder, NormOrder::kPost);
  EXPECT_EQ(c->mlpType, MlpType::kSwiGLU);
  ASSERT_TRUE(c->clipQkv.has_value());
  EXPECT_DOUBLE_EQ(*c->clipQkv, 10.0);
  EXPECT_EQ(c->vocabSize, 512);
  EXPECT_EQ(c->maskTokenId, 511);
  EXPECT_EQ(c->eosTokenId, 507);
  ASSERT_TRUE(c->concepts.has_value());
  EXPECT_EQ(c->concepts->nConcepts, 48);
  EXPECT_EQ(c->concepts->nUnknownConcepts, 80);
  EXPECT_EQ(c->concepts->factorizeRank, 16);
  EXPECT_EQ(c->concepts->paddedCount(40), 48);
  EXPECT_TRUE(c->ignoredKeys.empty());
}

TEST(Config, DefaultsAreTheReferences) {
  StatusOr<ModelConfig> c = parseModelConfig("{}", "x.json");
  ASSERT_TRUE(c.ok()) << c.status().toString();
  EXPECT_EQ(c->nLayers, 32);
  EXPECT_EQ(c->nEmbd, 4096);
  EXPECT_EQ(c->diffBlockSize, 64);
  EXPECT_EQ(c->kvHeads(), 4);
  EXPECT_DOUBLE_EQ(c->ropeBase, 500000.0);
  EXPECT_EQ(c->vocabSize, 100281);
  EXPECT_EQ(c->mlpHidden(), 4 * 4096);
  EXPECT_FALSE(c->interpretable);
}

TEST(Config, RoundTripsThroughJson) {
  StatusOr<ModelConfig> a = loadModelConfig(kGoldenF32);
  ASSERT_TRUE(a.ok());
  StatusOr<ModelConfig> b = parseModelConfig(modelConfigToJson(*a), "rt.json");
  ASSERT_TRUE(b.ok()) << b.status().toString();
  EXPECT_EQ(modelConfigToJson(*a), modelConfigToJson(*b));
}

struct BadCase {
  const char *json;
  const char *expect; // substring of the error
};
void PrintTo(const BadCase &c, std::ostream *os) { *os << c.json; }

class BadConfig : public testing::TestWithParam<BadCase> {};

TEST_P(BadConfig, IsRejectedWithFieldName) {
  StatusOr<ModelConfig> c = parseModelConfig(GetParam().json, "bad.json");
  ASSERT_FALSE(c.ok());
  std::string msg = c.status().toString();
  EXPECT_NE(msg.find("bad.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find(GetParam().expect), std::string::npos) << msg;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadConfig,
    testing::Values(
        BadCase{"{\"n_layers\": 2,\n \"n_head\": }", "bad.json:2:"},
        BadCase{"[1, 2]", "top level"},
        BadCase{R"({"model_type": "llama"})", "model_type"},
        BadCase{R"({"n_head": 6, "n_kv_heads": 4, "n_embd": 96})",
                "n_head (6) must be divisible by n_kv_heads (4)"},
        BadCase{R"({"n_embd": 100, "n_head": 3})", "divisible by n_head"},
        BadCase{R"({"n_layers": "two"})", "'n_layers' must be an integer"},
        BadCase{R"({"norm_order": "middle"})", "\"pre\" or \"post\""},
        BadCase{R"({"mlp_type": "moe"})", "mlp_type"},
        BadCase{R"({"n_kv_heads": 0})", "n_kv_heads"},
        BadCase{R"({"mask_token_id": 100281})",
                "mask_token_id' is 100281, outside the vocabulary"},
        BadCase{R"({"interpretable": true})", "no 'concept' object"},
        BadCase{R"({"n_embd": 64, "n_head": 4, "interpretable": true,
                    "concept": {"concept_dim": 64, "n_concepts": 8,
                                "topk_known": 9}})",
                "topk_known"},
        BadCase{R"({"n_embd": 64, "n_head": 4, "interpretable": true,
                    "concept": {"concept_dim": 64, "colour": 1}})",
                "unknown field 'concept.colour'"},
        BadCase{R"({"n_embd": 64, "n_head": 4, "interpretable": true,
                    "concept": {"concept_dim": 32}})",
                "concept_dim (32) must equal n_embd (64)"},
        BadCase{R"({"clip_qkv": -1})", "clip_qkv"},
        // Found by fuzz-config: a number nlohmann cannot represent throws
        // out_of_range, not parse_error.
        BadCase{R"({"norm_eps": 55555E55555})", "not readable JSON"}));

TEST(Config, UnknownTopLevelKeysAreReportedNotFatal) {
  StatusOr<ModelConfig> c = parseModelConfig(
      R"({"transformers_version": "4.0", "my_note": 1})", "x.json");
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->ignoredKeys.size(), 1u);
  EXPECT_EQ(c->ignoredKeys[0], "my_note");
}

TEST(Layout, GoldenTensorNamesAndShapes) {
  StatusOr<ModelConfig> c = loadModelConfig(kGoldenF32);
  ASSERT_TRUE(c.ok());
  std::vector<TensorSpec> specs = expectedTensors(*c);
  // 1 embedding + 8 per block x 2 + ln_f + 2 known + 4 unknown.
  EXPECT_EQ(specs.size(), 24u);
  auto find = [&](const std::string &name) -> const TensorSpec * {
    for (const TensorSpec &s : specs)
      if (s.name == name)
        return &s;
    return nullptr;
  };
  const TensorSpec *qkv = find("transformer.blocks.1.attn.c_attn.weight");
  ASSERT_NE(qkv, nullptr);
  EXPECT_EQ(qkv->shape, (std::vector<int64_t>{128, 64}));
  EXPECT_EQ(find("transformer.blocks.0.mlp.c_fc.weight")->shape,
            (std::vector<int64_t>{512, 64}));
  EXPECT_EQ(find("unknown_head.embedding_basis.weight")->shape,
            (std::vector<int64_t>{64, 16}));
  EXPECT_EQ(find("known_head.concept_predictor.weight")->shape,
            (std::vector<int64_t>{48, 64}));
  EXPECT_EQ(tokEmbName(*c), "transformer.tok_emb.weight");
}

} // namespace
} // namespace steer
