//===- concept_labels.h - The concept label table ---------------*- C++ -*-===//
//
// Names, descriptions and flags of a checkpoint's concepts, read from the
// reference's legacy CSV (columns `concept_id` or `concept_idx`, `head`,
// `concept_name`, optional `concept_description`, `public_group_id`,
// `group_name`, `is_steerable`, `is_tone`, `is_alignment`,
// `is_demographic`) or from JSONL with the same keys. The policy compiler
// resolves concept names through `find` and `search`.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/base/status.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace steer {

enum class ConceptHead { kKnown, kUnknown };

struct ConceptLabel {
  int64_t id = 0;
  ConceptHead head = ConceptHead::kKnown;
  std::string name;
  std::string description;
  std::optional<int64_t> groupId;
  std::string groupName;
  bool steerable = true;
  bool tone = false;
  bool alignment = false;
  bool demographic = false;
  /// Where the row was read ("labels.csv:12").
  std::string origin;
};

/// DIR/concept_labels.csv or DIR/concept_labels.jsonl, whichever exists
/// (the CSV first); empty when a checkpoint ships no label table.
std::string findLabelsFile(const std::string &checkpointDir);

class ConceptLabels {
public:
  /// Reads a .csv or .jsonl file (chosen by extension).
  static StatusOr<ConceptLabels> load(const std::string &path);
  static StatusOr<ConceptLabels> parseCsv(std::string_view text,
                                          std::string_view path);
  static StatusOr<ConceptLabels> parseJsonl(std::string_view text,
                                            std::string_view path);

  /// The concept of a head with this id, or nullptr.
  const ConceptLabel *find(ConceptHead head, int64_t id) const;
  /// Concepts whose name equals `name` exactly (case-insensitive ASCII).
  std::vector<const ConceptLabel *> findByName(ConceptHead head,
                                               std::string_view name) const;

  struct Hit {
    const ConceptLabel *label;
    int score;
  };
  /// The reference's search: each whitespace-separated query term scores 3
  /// per whole-word match in the name and 1 per match in the description;
  /// best first (ties by id), at most `limit`.
  std::vector<Hit> search(std::string_view query, size_t limit = 10,
                          std::optional<ConceptHead> head = ConceptHead::kKnown,
                          bool steerableOnly = true) const;

  size_t size() const { return labels_.size(); }
  size_t count(ConceptHead head) const;
  const std::vector<ConceptLabel> &all() const { return labels_; }

private:
  Status add(ConceptLabel label);
  std::vector<ConceptLabel> labels_;
  std::map<std::pair<int, int64_t>, size_t> index_;
};

} // namespace steer
