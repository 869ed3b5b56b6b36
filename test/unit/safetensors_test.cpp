// Tests that the safetensors reader maps the golden files without copying,
// and rejects each kind of malformed file with the file, tensor and problem.
#include "steer/io/safetensors.h"
#include "steer/model/checkpoint.h"

#include <gtest/gtest.h>

#include <cstring>

namespace steer {
namespace {

const std::string kGolden = std::string(STEER_SOURCE_DIR) + "/test/golden";

/// A safetensors image with `header` as its JSON and `data` after it.
std::string image(const std::string &header, const std::string &data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

Status parseError(const std::string &bytes) {
  auto r =
      SafetensorsFile::parse(reinterpret_cast<const uint8_t *>(bytes.data()),
                             bytes.size(), "t.safetensors");
  return r.ok() ? okStatus() : r.status();
}

TEST(Safetensors, MapsGoldenCheckpointZeroCopy) {
  auto f = SafetensorsFile::open(kGolden +
                                 "/tiny-bf16/checkpoint/model.safetensors");
  ASSERT_TRUE(f.ok()) << f.status().toString();
  const TensorView *emb = (*f)->find("transformer.tok_emb.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->dtype, DType::kBF16);
  EXPECT_EQ(emb->shape, (std::vector<int64_t>{512, 96}));
  EXPECT_EQ(emb->bytes, 512u * 96 * 2);
  EXPECT_EQ((*f)->tensors().size(), 32u);
  EXPECT_EQ((*f)->metadata().at("format"), "pt");
  EXPECT_EQ((*f)->headerBytes(), 3264u);
  // The view points into the mapping: its file offset and address agree.
  const TensorView *first = (*f)->find("known_head.concept_embedding.weight");
  EXPECT_EQ(emb->data - first->data,
            static_cast<ptrdiff_t>(emb->fileOffset - first->fileOffset));
}

TEST(Safetensors, GoldenOutputsHaveIntegerIds) {
  auto f = SafetensorsFile::open(kGolden + "/tiny-f32/golden.safetensors");
  ASSERT_TRUE(f.ok()) << f.status().toString();
  const TensorView *ids = (*f)->find("forward.ids");
  ASSERT_NE(ids, nullptr);
  EXPECT_EQ(ids->dtype, DType::kI64);
}

struct Bad {
  const char *name;
  std::string bytes;
  StatusCode code;
  const char *expect;
};

class BadSafetensors : public testing::TestWithParam<Bad> {};

TEST_P(BadSafetensors, IsRejected) {
  Status s = parseError(GetParam().bytes);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), GetParam().code) << s.toString();
  EXPECT_NE(s.toString().find("t.safetensors"), std::string::npos);
  EXPECT_NE(s.toString().find(GetParam().expect), std::string::npos)
      << s.toString();
}

const std::string kF32x2 = std::string(8, '\0');

INSTANTIATE_TEST_SUITE_P(
    Cases, BadSafetensors,
    testing::Values(
        Bad{"Short", "abc", StatusCode::kDataLoss, "too short"},
        // Header length 2, but only one header byte present.
        Bad{"HeaderPastEnd", image("{}", "").substr(0, 9),
            StatusCode::kDataLoss, "runs past the end"},
        Bad{"HugeHeader",
            std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}",
            StatusCode::kDataLoss, "exceeds the"},
        Bad{"NotJson", image("{\"a\": [1,", ""), StatusCode::kDataLoss,
            "not valid JSON"},
        Bad{"NotUtf8", image("{\"\xff\": 1}", ""), StatusCode::kDataLoss,
            "not valid UTF-8 (byte 10)"},
        Bad{"NotObject", image("[]", ""), StatusCode::kDataLoss,
            "must be a JSON object"},
        Bad{"UnknownDtype",
            image(
                R"({"t":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})",
                "ab"),
            StatusCode::kUnsupported,
            "tensor 't': dtype F8_E4M3 is not supported"},
        Bad{"SizeMismatch",
            image(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                  kF32x2),
            StatusCode::kDataLoss, "hold 8 bytes but F32 x shape needs 12"},
        Bad{"OffsetPastEnd",
            image(R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
                  kF32x2),
            StatusCode::kDataLoss, "run past the data section (8 bytes)"},
        Bad{"Backwards",
            image(R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})",
                  kF32x2),
            StatusCode::kDataLoss, "run backwards"},
        Bad{"Overlap",
            image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                  R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                  kF32x2),
            StatusCode::kDataLoss, "tensors 'a' and 'b' overlap"},
        Bad{"NegativeShape",
            image(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})",
                  ""),
            StatusCode::kDataLoss, "non-negative integers"},
        Bad{"OverflowShape",
            image(
                R"({"t":{"dtype":"F32","shape":[281474976710656,281474976710656],"data_offsets":[0,0]}})",
                ""),
            StatusCode::kDataLoss, "too large"},
        Bad{"MissingField",
            image(R"({"t":{"dtype":"F32","shape":[2]}})", kF32x2),
            StatusCode::kDataLoss, "needs 'dtype', 'shape' and 'data_offsets'"},
        Bad{"NumberOverflow",
            image(R"({"t":{"dtype":"F32","shape":[1e99999]}})", ""),
            StatusCode::kDataLoss, "header cannot be read"},
        Bad{"BadMetadata", image(R"({"__metadata__":{"k":1}})", ""),
            StatusCode::kDataLoss, "must be a string"}),
    [](const testing::TestParamInfo<Bad> &info) { return info.param.name; });

TEST(Checkpoint, OpensBothGoldenCheckpoints) {
  for (const char *name : {"tiny-f32", "tiny-bf16"}) {
    auto c = Checkpoint::open(kGolden + "/" + name + "/checkpoint");
    ASSERT_TRUE(c.ok()) << c.status().toString();
    EXPECT_EQ((*c)->files().size(), 1u);
    for (const TensorSpec &spec : (*c)->specs())
      ASSERT_NE((*c)->tensor(spec.name), nullptr) << spec.name;
  }
}

} // namespace
} // namespace steer
