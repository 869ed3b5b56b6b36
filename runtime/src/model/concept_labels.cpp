//===- concept_labels.cpp - The concept label table -----------------------===//
#include "steer/model/concept_labels.h"
#include "steer/io/json.h"

#include "steer/io/file.h"
#include "steer/text/utf8.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <sys/stat.h>

namespace steer {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char &c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.substr(s.size() - suffix.size()) == suffix;
}

/// Word characters as Python's `\b` sees them, approximated on bytes:
/// ASCII alphanumerics, underscore, and every byte of a multi-byte UTF-8
/// character (letters in practice).
bool isWordByte(unsigned char c) {
  return std::isalnum(c) || c == '_' || c >= 0x80;
}

/// Non-overlapping whole-word occurrences of `term` in `text` (both lower).
int countWord(std::string_view text, std::string_view term) {
  if (term.empty())
    return 0;
  int n = 0;
  for (size_t pos = 0;
       (pos = text.find(term, pos)) != std::string_view::npos;) {
    bool before =
        pos == 0 || !isWordByte(text[pos - 1]) || !isWordByte(term.front());
    size_t end = pos + term.size();
    bool after = end == text.size() || !isWordByte(text[end]) ||
                 !isWordByte(term.back());
    if (before && after) {
      ++n;
      pos = end;
    } else {
      ++pos;
    }
  }
  return n;
}

StatusOr<bool> parseBool(std::string_view v, std::string_view where) {
  std::string s = lower(v);
  if (s == "true" || s == "1" || s == "yes")
    return true;
  if (s == "false" || s == "0" || s == "no" || s.empty())
    return false;
  return makeError(StatusCode::kInvalidArgument, where, ": '", v,
                   "' is not a boolean (true/false/1/0)");
}

StatusOr<int64_t> parseInt(std::string_view v, std::string_view where,
                           std::string_view column) {
  if (v.empty())
    return makeError(StatusCode::kInvalidArgument, where, ": column '", column,
                     "' is empty");
  int64_t out = 0;
  bool neg = v[0] == '-';
  size_t i = neg ? 1 : 0;
  if (i == v.size())
    return makeError(StatusCode::kInvalidArgument, where, ": column '", column,
                     "' is '", v, "', not an integer");
  for (; i < v.size(); ++i) {
    // Accept "12.0" as pandas writes integer columns with missing values.
    if (v[i] == '.' &&
        v.substr(i + 1).find_first_not_of('0') == std::string_view::npos)
      break;
    if (v[i] >= '0' && v[i] <= '9' && out > (INT64_MAX - 9) / 10)
      return makeError(StatusCode::kInvalidArgument, where, ": column '",
                       column, "' is '", v, "', an integer out of range");
    if (v[i] < '0' || v[i] > '9')
      return makeError(StatusCode::kInvalidArgument, where, ": column '",
                       column, "' is '", v, "', not an integer");
    out = out * 10 + (v[i] - '0');
  }
  return neg ? -out : out;
}

StatusOr<ConceptHead> parseHead(std::string_view v, std::string_view where) {
  std::string s = lower(v);
  if (s == "known" || s.empty())
    return ConceptHead::kKnown;
  if (s == "unknown" || s == "discovered")
    return ConceptHead::kUnknown;
  return makeError(StatusCode::kInvalidArgument, where, ": head '", v,
                   "' must be 'known' or 'unknown'");
}

/// Splits RFC 4180 CSV into records; quoted fields may hold commas, quotes
/// ("") and newlines. Records carry their first line number.
StatusOr<std::vector<std::pair<size_t, std::vector<std::string>>>>
splitCsv(std::string_view text, std::string_view path) {
  std::vector<std::pair<size_t, std::vector<std::string>>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, fieldStarted = false;
  size_t line = 1, rowLine = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n')
          ++line;
        field += c;
      }
      continue;
    }
    if (c == '"' && !fieldStarted) {
      quoted = fieldStarted = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      fieldStarted = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n')
        ++i;
      row.push_back(std::move(field));
      field.clear();
      fieldStarted = false;
      if (!(row.size() == 1 && row[0].empty()))
        rows.push_back({rowLine, std::move(row)});
      row.clear();
      rowLine = ++line;
    } else {
      field += c;
      fieldStarted = true;
    }
  }
  if (quoted)
    return makeError(StatusCode::kInvalidArgument, path, ":", rowLine,
                     ": a quoted field is not closed");
  if (fieldStarted || !row.empty()) {
    row.push_back(std::move(field));
    rows.push_back({rowLine, std::move(row)});
  }
  return rows;
}

} // namespace

Status ConceptLabels::add(ConceptLabel label) {
  auto key = std::make_pair(static_cast<int>(label.head), label.id);
  if (label.id < 0)
    return makeError(StatusCode::kInvalidArgument, label.origin,
                     ": concept id ", label.id, " is negative");
  // Labels are printed in reviews, profiles and audits: a name is one
  // visible line, and no text may carry control characters.
  if (label.name.empty())
    return makeError(StatusCode::kInvalidArgument, label.origin,
                     ": concept ", label.id, " has an empty name");
  size_t bad = 0;
  for (const std::string *text : {&label.name, &label.description,
                                  &label.groupName})
    if (!isValidUtf8(*text, bad))
      return makeError(StatusCode::kInvalidArgument, label.origin,
                       ": concept ", label.id, ": invalid UTF-8 at byte ", bad);
  if (std::string why = unsafeTextReason(label.name, false); !why.empty())
    return makeError(StatusCode::kInvalidArgument, label.origin,
                     ": the name of concept ", label.id, " ", why);
  for (const std::string *text : {&label.description, &label.groupName})
    if (std::string why = unsafeTextReason(*text); !why.empty())
      return makeError(StatusCode::kInvalidArgument, label.origin,
                       ": the text of concept ", label.id, " ", why);
  if (auto it = index_.find(key); it != index_.end())
    return makeError(
        StatusCode::kInvalidArgument, label.origin, ": concept id ", label.id,
        " of the ", label.head == ConceptHead::kKnown ? "known" : "unknown",
        " head is already defined at ", labels_[it->second].origin);
  index_[key] = labels_.size();
  labels_.push_back(std::move(label));
  return okStatus();
}

StatusOr<ConceptLabels> ConceptLabels::parseCsv(std::string_view text,
                                                std::string_view path) {
  // A UTF-8 byte order mark (spreadsheet exports write one) is not text.
  if (text.substr(0, 3) == "\xEF\xBB\xBF")
    text.remove_prefix(3);
  STEER_ASSIGN_OR_RETURN(auto rows, splitCsv(text, path));
  if (rows.empty())
    return makeError(StatusCode::kInvalidArgument, path,
                     ": empty; expected a header row");
  const std::vector<std::string> &header = rows[0].second;
  auto column = [&](std::string_view name) -> int {
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == name)
        return static_cast<int>(i);
    return -1;
  };
  for (size_t i = 0; i < header.size(); ++i)
    for (size_t j = i + 1; j < header.size(); ++j)
      if (header[i] == header[j])
        return makeError(StatusCode::kInvalidArgument, path, ":1: column '",
                         header[i], "' appears twice in the header");
  int idCol = column("concept_id");
  if (idCol >= 0 && column("concept_idx") >= 0)
    return makeError(StatusCode::kInvalidArgument, path,
                     ":1: the header has both 'concept_id' and 'concept_idx'; "
                     "keep one");
  if (idCol < 0)
    idCol = column("concept_idx");
  int nameCol = column("concept_name");
  if (idCol < 0 || nameCol < 0)
    return makeError(StatusCode::kInvalidArgument, path,
                     ":1: the header needs 'concept_id' (or 'concept_idx') and "
                     "'concept_name' columns");
  int headCol = column("head"), descCol = column("concept_description");
  int groupCol = column("public_group_id"), groupNameCol = column("group_name");
  int steerCol = column("is_steerable"), toneCol = column("is_tone");
  int alignCol = column("is_alignment"), demoCol = column("is_demographic");

  ConceptLabels labels;
  for (size_t r = 1; r < rows.size(); ++r) {
    // Not a structured binding: clang 14 (the fuzz build) cannot capture
    // one in the lambda below.
    const size_t line = rows[r].first;
    const std::vector<std::string> &fields = rows[r].second;
    std::string where = std::string(path) + ":" + std::to_string(line);
    if (fields.size() != header.size())
      return makeError(StatusCode::kInvalidArgument, where, ": ", fields.size(),
                       " fields, the header has ", header.size());
    auto get = [&](int col) -> std::string_view {
      return col < 0 ? std::string_view() : std::string_view(fields[col]);
    };
    ConceptLabel label;
    label.origin = where;
    STEER_ASSIGN_OR_RETURN(label.id,
                           parseInt(get(idCol), where, header[idCol]));
    STEER_ASSIGN_OR_RETURN(label.head, parseHead(get(headCol), where));
    label.name = get(nameCol);
    label.description = get(descCol);
    if (!get(groupCol).empty()) {
      STEER_ASSIGN_OR_RETURN(label.groupId,
                             parseInt(get(groupCol), where, "public_group_id"));
    }
    label.groupName = get(groupNameCol);
    if (steerCol >= 0) {
      STEER_ASSIGN_OR_RETURN(label.steerable, parseBool(get(steerCol), where));
    }
    STEER_ASSIGN_OR_RETURN(label.tone, parseBool(get(toneCol), where));
    STEER_ASSIGN_OR_RETURN(label.alignment, parseBool(get(alignCol), where));
    STEER_ASSIGN_OR_RETURN(label.demographic, parseBool(get(demoCol), where));
    STEER_RETURN_IF_ERROR(labels.add(std::move(label)));
  }
  return labels;
}

StatusOr<ConceptLabels> ConceptLabels::parseJsonl(std::string_view text,
                                                  std::string_view path) {
  ConceptLabels labels;
  size_t line = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos)
      eol = text.size();
    std::string_view s = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line;
    if (s.find_first_not_of(" \t\r") == std::string_view::npos)
      continue;
    std::string where = std::string(path) + ":" + std::to_string(line);
    nlohmann::json j;
    DuplicateKeys dup;
    try {
      j = nlohmann::json::parse(s, dup.callback());
    } catch (const nlohmann::json::parse_error &e) {
      return makeError(StatusCode::kInvalidArgument, where, ":", e.byte,
                       ": not valid JSON");
    } catch (const nlohmann::json::exception &e) {
      return makeError(StatusCode::kInvalidArgument, where,
                       ": not readable JSON: ", e.what());
    }
    if (dup.found())
      return makeError(StatusCode::kInvalidArgument, where, ": key '",
                       dup.first(), "' appears twice");
    if (!j.is_object())
      return makeError(StatusCode::kInvalidArgument, where,
                       ": each line must be a JSON object");
    ConceptLabel label;
    label.origin = where;
    if (j.contains("concept_id") && j.contains("concept_idx"))
      return makeError(StatusCode::kInvalidArgument, where,
                       ": both 'concept_id' and 'concept_idx'; keep one");
    auto idIt =
        j.contains("concept_id") ? j.find("concept_id") : j.find("concept_idx");
    if (idIt == j.end() || !idIt->is_number_integer())
      return makeError(StatusCode::kInvalidArgument, where, ": needs an integer '",
                       j.contains("concept_idx") ? "concept_idx" : "concept_id",
                       "'", idIt == j.end() ? "" : ", got " + idIt->dump());
    label.id = idIt->get<int64_t>();
    auto str = [&](const char *key, std::string &out) -> Status {
      auto it = j.find(key);
      if (it == j.end() || it->is_null())
        return okStatus();
      if (!it->is_string())
        return makeError(StatusCode::kInvalidArgument, where, ": '", key,
                         "' must be a string");
      out = it->get<std::string>();
      return okStatus();
    };
    auto flag = [&](const char *key, bool &out) -> Status {
      auto it = j.find(key);
      if (it == j.end() || it->is_null())
        return okStatus();
      if (!it->is_boolean())
        return makeError(StatusCode::kInvalidArgument, where, ": '", key,
                         "' must be true or false");
      out = it->get<bool>();
      return okStatus();
    };
    if (!j.contains("concept_name"))
      return makeError(StatusCode::kInvalidArgument, where,
                       ": needs 'concept_name'");
    STEER_RETURN_IF_ERROR(str("concept_name", label.name));
    STEER_RETURN_IF_ERROR(str("concept_description", label.description));
    STEER_RETURN_IF_ERROR(str("group_name", label.groupName));
    std::string head;
    STEER_RETURN_IF_ERROR(str("head", head));
    STEER_ASSIGN_OR_RETURN(label.head, parseHead(head, where));
    if (auto g = j.find("public_group_id"); g != j.end() && !g->is_null()) {
      if (!g->is_number_integer())
        return makeError(StatusCode::kInvalidArgument, where,
                         ": 'public_group_id' must be an integer");
      label.groupId = g->get<int64_t>();
    }
    STEER_RETURN_IF_ERROR(flag("is_steerable", label.steerable));
    STEER_RETURN_IF_ERROR(flag("is_tone", label.tone));
    STEER_RETURN_IF_ERROR(flag("is_alignment", label.alignment));
    STEER_RETURN_IF_ERROR(flag("is_demographic", label.demographic));
    STEER_RETURN_IF_ERROR(labels.add(std::move(label)));
  }
  return labels;
}

std::string findLabelsFile(const std::string &dir) {
  // The parquet catalog (as Hugging Face serves it) is found too, so that
  // loading it says how to convert it instead of silently using no labels.
  for (const char *name : {"/concept_labels.csv", "/concept_labels.jsonl",
                           "/concept_labels.parquet"}) {
    struct stat st;
    if (::stat((dir + name).c_str(), &st) == 0)
      return dir + name;
  }
  return "";
}

StatusOr<ConceptLabels> ConceptLabels::load(const std::string &path) {
  if (endsWith(path, ".parquet"))
    return makeError(StatusCode::kUnsupported, path,
                     ": the runtime reads concept labels as .csv or .jsonl; "
                     "convert the parquet catalog once with: node "
                     "scripts/labels-from-parquet.mjs ",
                     path, " concept_labels.csv");
  STEER_ASSIGN_OR_RETURN(std::string text, readFile(path),
                         "while reading concept labels");
  if (endsWith(path, ".jsonl"))
    return parseJsonl(text, path);
  if (endsWith(path, ".csv"))
    return parseCsv(text, path);
  return makeError(StatusCode::kUnsupported, path,
                   ": concept labels must be .csv or .jsonl");
}

const ConceptLabel *ConceptLabels::find(ConceptHead head, int64_t id) const {
  auto it = index_.find({static_cast<int>(head), id});
  return it == index_.end() ? nullptr : &labels_[it->second];
}

std::vector<const ConceptLabel *>
ConceptLabels::findByName(ConceptHead head, std::string_view name) const {
  std::vector<const ConceptLabel *> out;
  std::string want = lower(name);
  for (const ConceptLabel &l : labels_)
    if (l.head == head && lower(l.name) == want)
      out.push_back(&l);
  return out;
}

std::vector<ConceptLabels::Hit>
ConceptLabels::search(std::string_view query, size_t limit,
                      std::optional<ConceptHead> head,
                      bool steerableOnly) const {
  std::vector<std::string> terms;
  std::string q = lower(query);
  for (size_t pos = 0; pos < q.size();) {
    size_t start = q.find_first_not_of(" \t\r\n", pos);
    if (start == std::string::npos)
      break;
    size_t end = q.find_first_of(" \t\r\n", start);
    if (end == std::string::npos)
      end = q.size();
    terms.push_back(q.substr(start, end - start));
    pos = end;
  }
  std::vector<Hit> hits;
  for (const ConceptLabel &l : labels_) {
    if ((head && l.head != *head) || (steerableOnly && !l.steerable))
      continue;
    std::string name = lower(l.name), desc = lower(l.description);
    int score = 0;
    for (const std::string &t : terms)
      score += 3 * countWord(name, t) + countWord(desc, t);
    if (score > 0)
      hits.push_back({&l, score});
  }
  std::sort(hits.begin(), hits.end(), [](const Hit &a, const Hit &b) {
    return a.score != b.score ? a.score > b.score : a.label->id < b.label->id;
  });
  if (hits.size() > limit)
    hits.resize(limit);
  return hits;
}

size_t ConceptLabels::count(ConceptHead head) const {
  return static_cast<size_t>(
      std::count_if(labels_.begin(), labels_.end(),
                    [&](const ConceptLabel &l) { return l.head == head; }));
}

} // namespace steer
