// Tests the concept label table: the legacy CSV (both id column names,
// quoting), JSONL, lookup, the reference's search ranking, and errors that
// name file and line.
#include "steer/model/concept_labels.h"

#include <gtest/gtest.h>

namespace steer {
namespace {

const char *kCsv =
    "concept_id,head,concept_name,concept_description,is_steerable,public_"
    "group_id,group_name\n"
    "0,known,weapons,\"Weapons, arms and explosives\",true,7,harm\n"
    "1,known,poison,\"Toxic \"\"agents\"\"\nand poisons\",True,7,harm\n"
    "2,known,refusal,Declining a request,1,,\n"
    "3,known,weapon maker,Makes weapons of war,false,,\n"
    "0,unknown,u0,,false,,\n";

TEST(ConceptLabels, ParsesCsvWithQuotes) {
  auto l = ConceptLabels::parseCsv(kCsv, "l.csv");
  ASSERT_TRUE(l.ok()) << l.status().toString();
  EXPECT_EQ(l->size(), 5u);
  EXPECT_EQ(l->count(ConceptHead::kKnown), 4u);
  const ConceptLabel *p = l->find(ConceptHead::kKnown, 1);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->description, "Toxic \"agents\"\nand poisons");
  EXPECT_EQ(p->groupId, 7);
  EXPECT_EQ(p->groupName, "harm");
  EXPECT_EQ(p->origin, "l.csv:3");
  // Line numbers count the newline inside the quoted field.
  EXPECT_EQ(l->find(ConceptHead::kKnown, 2)->origin, "l.csv:5");
  EXPECT_FALSE(l->find(ConceptHead::kKnown, 3)->steerable);
  EXPECT_NE(l->find(ConceptHead::kUnknown, 0), nullptr);
  EXPECT_EQ(l->find(ConceptHead::kUnknown, 1), nullptr);
}

TEST(ConceptLabels, LegacyIdxColumnAndDefaults) {
  auto l = ConceptLabels::parseCsv("concept_idx,concept_name\r\n5,x\r\n6,y",
                                   "a.csv");
  ASSERT_TRUE(l.ok()) << l.status().toString();
  EXPECT_EQ(l->find(ConceptHead::kKnown, 6)->name, "y");
  EXPECT_TRUE(l->find(ConceptHead::kKnown, 5)->steerable);
}

TEST(ConceptLabels, ParsesJsonl) {
  auto l = ConceptLabels::parseJsonl(
      "{\"concept_id\": 4, \"concept_name\": \"refusal\", \"head\": \"known\", "
      "\"is_tone\": true}\n\n{\"concept_idx\": 2, \"concept_name\": \"z\", "
      "\"public_group_id\": null}\n",
      "l.jsonl");
  ASSERT_TRUE(l.ok()) << l.status().toString();
  EXPECT_TRUE(l->find(ConceptHead::kKnown, 4)->tone);
  EXPECT_EQ(l->find(ConceptHead::kKnown, 2)->origin, "l.jsonl:3");
}

TEST(ConceptLabels, SearchRanksNameAboveDescription) {
  auto l = ConceptLabels::parseCsv(kCsv, "l.csv");
  ASSERT_TRUE(l.ok());
  auto hits = l->search("weapons");
  // "weapons" (name 3 + description 1 = 4) first; "weapon maker" is not
  // steerable and is filtered; whole words only.
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].label->id, 0);
  EXPECT_EQ(hits[0].score, 4);
  auto all = l->search("weapons", 10, ConceptHead::kKnown, false);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].label->id, 3);
  EXPECT_EQ(all[1].score, 1);
  EXPECT_TRUE(l->search("weap").empty());
  EXPECT_EQ(l->search("POISON AGENTS")[0].label->id, 1);
  EXPECT_EQ(l->findByName(ConceptHead::kKnown, "Refusal").size(), 1u);
}

struct BadLabels {
  const char *text;
  const char *expect;
};
class BadCsv : public testing::TestWithParam<BadLabels> {};
TEST_P(BadCsv, NamesFileAndLine) {
  auto l = ConceptLabels::parseCsv(GetParam().text, "b.csv");
  ASSERT_FALSE(l.ok());
  EXPECT_NE(l.status().toString().find(GetParam().expect), std::string::npos)
      << l.status().toString();
}
INSTANTIATE_TEST_SUITE_P(
    Cases, BadCsv,
    testing::Values(
        BadLabels{"", "b.csv: empty"},
        BadLabels{"id,name\n1,x\n", "b.csv:1: the header needs 'concept_id'"},
        BadLabels{"concept_id,concept_name\n1,x,extra\n",
                  "b.csv:2: 3 fields, the header has 2"},
        BadLabels{"concept_id,concept_name\nx1,x\n",
                  "b.csv:2: column 'concept_id' is 'x1', not an integer"},
        BadLabels{"concept_id,concept_name\n1,\"open\n",
                  "b.csv:2: a quoted field is not closed"},
        BadLabels{"concept_id,concept_name\n1,a\n1,b\n",
                  "b.csv:3: concept id 1 of the known head is already defined "
                  "at b.csv:2"},
        BadLabels{"concept_id,concept_name,head\n1,a,middle\n",
                  "b.csv:2: head 'middle' must be 'known' or 'unknown'"},
        BadLabels{"concept_id,concept_name,is_tone\n1,a,maybe\n",
                  "b.csv:2: 'maybe' is not a boolean"},
        BadLabels{"concept_id,concept_name\n-1,a\n",
                  "b.csv:2: concept id -1 is negative"}));

TEST(ConceptLabels, JsonlErrors) {
  EXPECT_NE(ConceptLabels::parseJsonl("{\"concept_name\": \"x\"}", "j.jsonl")
                .status()
                .toString()
                .find("j.jsonl:1: needs an integer 'concept_id'"),
            std::string::npos);
  EXPECT_NE(ConceptLabels::parseJsonl("\n[1]", "j.jsonl")
                .status()
                .toString()
                .find("j.jsonl:2: each line must be a JSON object"),
            std::string::npos);
  EXPECT_FALSE(ConceptLabels::load("/nonexistent/labels.csv").ok());
  EXPECT_EQ(ConceptLabels::load("/etc/hostname").status().code(),
            StatusCode::kUnsupported);
}

} // namespace
} // namespace steer
