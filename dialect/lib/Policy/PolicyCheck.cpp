//===- PolicyCheck.cpp - Parse policy text --------------------------------===//
//
// The front end: protobuf text parsed with the location of every item,
// field and concept reference, and checked for what the text itself says.
// Concepts stay as written; resolution, model ranges and cross-rule
// conflicts are the IR's (steer-resolve-concepts and the dialect's
// verifiers). It links neither the engine nor MLIR, so the policy fuzzer
// builds it alone.
//
//===----------------------------------------------------------------------===//
#include "steer/Policy/PolicyFrontend.h"
#include "steer/policy/bounds.h"
#include "steer/base/edit_distance.h"

#include "schema/policy.pb.h"
#include "steer/text/utf8.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

namespace steer::policy {
namespace {

namespace pb = google::protobuf;

/// Collects diagnostics, each rendered with the source line and a caret.
class Diagnostics {
public:
  Diagnostics(std::string path, const std::string &source)
      : path_(path), lines_(splitLines(source)) {}

  /// Records an error. At most kMaxErrors are kept (a generated policy with
  /// thousands of bad entries must not print gigabytes), and the quoted
  /// source line is cut to a window around the column.
  void error(const SourceLoc &loc, const std::string &message) {
    if (messages_.size() > kMaxErrors)
      return;
    if (messages_.size() == kMaxErrors) {
      messages_.push_back(path_ + ": error: too many errors (more than " +
                          std::to_string(kMaxErrors) + "); stopping");
      return;
    }
    messages_.push_back(render(loc, message, lines_));
  }

  SourceLoc at(int line0, int column0) const {
    return {path_, line0 + 1, column0 + 1};
  }

  bool empty() const { return messages_.empty(); }

  static std::string render(const SourceLoc &loc, const std::string &message,
                            const std::vector<std::string> &lines) {
    std::string out = loc.file + ":" + std::to_string(loc.line) + ":" +
                      std::to_string(loc.column) + ": error: " + message;
    if (loc.line >= 1 && loc.line <= static_cast<int>(lines.size())) {
      const std::string &text = lines[loc.line - 1];
      // Protobuf's columns advance tabs to 8-column stops, so a column can
      // lie past the line's bytes (the policy fuzzer found it).
      const size_t col = std::min(
          text.size(), static_cast<size_t>(std::max(0, loc.column - 1)));
      const size_t from = col > kWindow ? col - kWindow : 0;
      std::string shown = text.substr(from, 2 * kWindow);
      if (from > 0)
        shown = "..." + shown;
      if (from + 2 * kWindow < text.size())
        shown += "...";
      out += "\n  " + shown + "\n  " +
             std::string(col - from + (from > 0 ? 3 : 0), ' ') + "^";
    }
    return out;
  }

  static std::vector<std::string> splitLines(const std::string &source) {
    std::vector<std::string> lines;
    size_t start = 0;
    for (size_t i = 0; i <= source.size(); ++i)
      if (i == source.size() || source[i] == '\n') {
        lines.push_back(source.substr(start, i - start));
        start = i + 1;
      }
    return lines;
  }
  Status status() const {
    std::string all;
    for (size_t i = 0; i < messages_.size(); ++i)
      all += (i ? "\n" : "") + messages_[i];
    return makeError(StatusCode::kInvalidArgument, all);
  }

private:
  static constexpr size_t kMaxErrors = 50;
  static constexpr size_t kWindow = 80;
  std::string path_;
  std::vector<std::string> lines_;
  std::vector<std::string> messages_;
};

class ParseErrors : public pb::io::ErrorCollector {
public:
  explicit ParseErrors(Diagnostics &d) : diags_(d) {}
  void AddError(int line, pb::io::ColumnNumber column,
                const std::string &message) override {
    diags_.error(diags_.at(line, column), message);
  }
  void AddWarning(int line, pb::io::ColumnNumber column,
                  const std::string &message) override {
    diags_.error(diags_.at(line, column), message);
  }

private:
  Diagnostics &diags_;
};

std::string lower(std::string s) {
  for (char &c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// Rule names appear in diffs, logs and HTTP responses: one printable line
/// that reads as what it is (no invisible characters: "a" and "a" plus a
/// zero-width joiner would be two rules that look the same).
std::string badName(std::string_view name) {
  if (name.size() > 128)
    return "is " + std::to_string(name.size()) + " bytes; keep it under 128";
  if (name.find_first_not_of(" \t") == std::string_view::npos ||
      name.front() == ' ' || name.back() == ' ')
    return "starts or ends with a space";
  // U+200B..U+200F: E2 80 8B..8F; U+2060..U+2064: E2 81 A0..A4; U+FEFF: EF BB BF.
  for (size_t i = 0; i + 2 < name.size(); ++i) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(name[i + k]); };
    if ((b(0) == 0xE2 && b(1) == 0x80 && b(2) >= 0x8B && b(2) <= 0x8F) ||
        (b(0) == 0xE2 && b(1) == 0x81 && b(2) >= 0xA0 && b(2) <= 0xA4) ||
        (b(0) == 0xEF && b(1) == 0xBB && b(2) == 0xBF))
      return "holds an invisible character at byte " + std::to_string(i);
  }
  return unsafeTextReason(name, /*allowNewlines=*/false);
}

} // namespace

ConceptResolution resolveConcept(const std::string &ref, int64_t nConcepts,
                                 const ConceptLabels *labels) {
  ConceptResolution out;
  auto fail = [&](std::string message) {
    out.error = std::move(message);
    return out;
  };
  if (!ref.empty() && ref[0] == '#') {
    // Digits only: strtoll alone would take "#+3", "# 3" and "#-0".
    bool digits = ref.size() >= 2 && ref.size() <= 12;
    for (size_t i = 1; i < ref.size() && digits; ++i)
      digits = ref[i] >= '0' && ref[i] <= '9';
    if (!digits)
      return fail("'" + ref + "' is not a concept id; write #<number>");
    long long id = std::strtoll(ref.c_str() + 1, nullptr, 10);
    if (id < 0 || id >= nConcepts)
      return fail("concept id " + std::to_string(id) +
                  " is out of range: the model has " +
                  std::to_string(nConcepts) + " known concepts (#0 to #" +
                  std::to_string(nConcepts - 1) + ")");
    out.id = id;
    if (labels)
      if (const ConceptLabel *l = labels->find(ConceptHead::kKnown, id))
        out.label = l->name;
    return out;
  }
  if (!labels)
    return fail("concept '" + ref +
                "' is a name, but the model has no concept label table; pass "
                "--labels or use #<id>");
  auto found = labels->findByName(ConceptHead::kKnown, ref);
  if (found.size() == 1) {
    if (found[0]->id >= nConcepts)
      return fail("concept '" + ref + "' has id " +
                  std::to_string(found[0]->id) + ", past the model's " +
                  std::to_string(nConcepts) + " known concepts");
    out.id = found[0]->id;
    out.label = found[0]->name;
    return out;
  }
  if (found.size() > 1) {
    std::string ids;
    for (const ConceptLabel *l : found)
      ids += (ids.empty() ? "#" : ", #") + std::to_string(l->id);
    return fail("concept '" + ref + "' is ambiguous (" + ids +
                "); name it by id");
  }
  // Did you mean: the closest labels by edit distance, then by search.
  std::vector<std::pair<size_t, std::string>> near;
  const std::string q = lower(ref);
  for (const ConceptLabel &l : labels->all())
    if (l.head == ConceptHead::kKnown) {
      size_t d = editDistance(q, lower(l.name));
      if (d <= std::max<size_t>(2, q.size() / 3))
        near.push_back({d, l.name});
    }
  std::sort(near.begin(), near.end());
  if (near.empty())
    for (const auto &hit : labels->search(ref, 3, ConceptHead::kKnown, false))
      near.push_back({0, hit.label->name});
  std::string msg = "unknown concept '" + ref + "'";
  if (!near.empty()) {
    msg += "; did you mean ";
    for (size_t i = 0; i < near.size() && i < 3; ++i)
      msg += (i ? ", '" : "'") + near[i].second + "'";
    msg += "?";
  }
  return fail(msg);
}

namespace {

struct Context {
  const ModelConfig &config;
  Diagnostics &diags;
  const pb::TextFormat::ParseInfoTree *tree;

  SourceLoc loc(const pb::TextFormat::ParseInfoTree *t, const pb::Message &msg,
                const char *field, int index = -1) {
    const pb::FieldDescriptor *fd = msg.GetDescriptor()->FindFieldByName(field);
    pb::TextFormat::ParseLocation l =
        t ? t->GetLocation(fd, index) : pb::TextFormat::ParseLocation();
    // Protobuf records one position for a list written as [a, b, c] (its
    // first element's): the later elements point there too.
    if (l.line < 0 && index > 0 && t)
      l = t->GetLocation(fd, 0);
    return diags.at(std::max(0, l.line), std::max(0, l.column));
  }

  /// Every reference of a repeated field, as written, located.
  std::vector<ConceptUse>
  uses(const pb::TextFormat::ParseInfoTree *t, const pb::Message &msg,
       const char *field, const pb::RepeatedPtrField<std::string> &refs) {
    std::vector<ConceptUse> out;
    for (int i = 0; i < refs.size(); ++i)
      out.push_back({refs[i], loc(t, msg, field, i)});
    return out;
  }

  void checkRange(double v, Range r, const char *what, const SourceLoc &where) {
    if (!r.contains(v)) {
      char buf[160];
      // %.9g: a float that rounds to a bound at 6 digits (1.0000001) must
      // not read as the bound itself.
      std::snprintf(buf, sizeof(buf), "%s %.9g is out of bounds [%.9g, %.9g]",
                    what,
                    v, r.lo, r.hi);
      diags.error(where, buf);
    }
  }
};

const pb::TextFormat::ParseInfoTree *
nested(const pb::TextFormat::ParseInfoTree *t, const pb::Message &msg,
       const char *field, int index = -1) {
  if (!t)
    return nullptr;
  return t->GetTreeForNested(msg.GetDescriptor()->FindFieldByName(field),
                             index);
}

} // namespace

std::string renderDiagnostic(const SourceLoc &loc, const std::string &message,
                             const std::string &source) {
  return Diagnostics::render(loc, message, Diagnostics::splitLines(source));
}

StatusOr<ParsedPolicy> parsePolicyText(const std::string &path,
                                       std::string source,
                                       const ModelConfig &config) {
  ParsedPolicy out;
  out.path = path;
  out.source = std::move(source);
  // A UTF-8 byte order mark (editors on Windows write one) is not text.
  if (out.source.rfind("\xEF\xBB\xBF", 0) == 0)
    out.source.erase(0, 3);
  Diagnostics diags(path, out.source);
  if (size_t bad = 0; !isValidUtf8(out.source, bad)) {
    size_t line = 1 + std::count(out.source.begin(), out.source.begin() + bad,
                                 '\n');
    size_t nl = out.source.rfind('\n', bad == 0 ? 0 : bad - 1);
    size_t col = bad - (nl == std::string::npos || bad == 0 ? 0 : nl + 1) + 1;
    char byte[8];
    std::snprintf(byte, sizeof(byte), "0x%02x",
                  static_cast<unsigned char>(out.source[bad]));
    diags.error(diags.at(static_cast<int>(line) - 1, static_cast<int>(col) - 1),
                std::string("invalid UTF-8 (byte ") + byte +
                    "); policy files are UTF-8 text");
    return diags.status();
  }
  schema::policy::Policy proto;
  pb::TextFormat::ParseInfoTree tree;
  ParseErrors errors(diags);
  // Every parse problem reaches `errors` with its position; protobuf's own
  // log lines would only repeat them without one.
  pb::LogSilencer quiet;
  pb::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(&tree);
  if (!parser.ParseFromString(out.source, &proto) || !diags.empty())
    return diags.status();
  if (!config.concepts)
    return makeError(StatusCode::kInvalidArgument, path,
                     ": the model is not interpretable; policies steer "
                     "concepts, which it does not have");
  out.description = proto.description();
  if (std::string why = unsafeTextReason(proto.description(), false);
      !why.empty())
    diags.error(Context{config, diags, &tree}.loc(&tree, proto, "description"),
                "the description " + why);

  if (proto.rule_size() == 0)
    diags.error(diags.at(0, 0), "the policy has no rules, so it would change "
                                "nothing; add a rule { ... }");
  Context ctx{config, diags, &tree};
  std::map<std::string, SourceLoc> names;
  for (int r = 0; r < proto.rule_size(); ++r) {
    const schema::policy::Rule &pr = proto.rule(r);
    const auto *rt = nested(&tree, proto, "rule", r);
    Rule rule;
    rule.name = pr.name();
    rule.loc = ctx.loc(&tree, proto, "rule", r);
    if (pr.name().empty()) {
      diags.error(rule.loc, "rule " + std::to_string(r + 1) +
                                " has no name; add name: \"...\"");
    } else if (std::string why = badName(pr.name()); !why.empty()) {
      diags.error(ctx.loc(rt, pr, "name"), "rule name " + why);
    } else if (auto it = names.find(pr.name()); it != names.end()) {
      diags.error(ctx.loc(rt, pr, "name"),
                  "duplicate rule name '" + pr.name() + "' (first at line " +
                      std::to_string(it->second.line) + ")");
    } else {
      names[pr.name()] = ctx.loc(rt, pr, "name");
    }
    const bool hasAction = pr.has_suppress() || pr.has_amplify() ||
                           pr.clamp_size() || pr.has_steer_to_response() ||
                           pr.has_unlearn();
    if (!hasAction)
      diags.error(rule.loc, "rule '" + pr.name() +
                                "' has no action (suppress, amplify, clamp, "
                                "steer_to_response or unlearn)");

    if (pr.has_when()) {
      const auto *gt = nested(rt, pr, "when");
      GuardSpec g;
      g.concepts = ctx.uses(gt, pr.when(), "concepts", pr.when().concepts());
      g.threshold = pr.when().threshold();
      if (pr.when().concepts_size() == 0)
        diags.error(ctx.loc(rt, pr, "when"),
                    "empty guard: 'when' needs at least one concept");
      if (!pr.when().has_threshold())
        diags.error(ctx.loc(rt, pr, "when"),
                    "'when' needs a threshold (a known weight in (0, 1), "
                    "e.g. threshold: 0.5)");
      else
        ctx.checkRange(g.threshold, kGuardThreshold, "guard threshold",
                       ctx.loc(gt, pr.when(), "threshold"));
      rule.guard = g;
    }
    if (pr.has_suppress()) {
      const auto *st = nested(rt, pr, "suppress");
      rule.suppress =
          ctx.uses(st, pr.suppress(), "concepts", pr.suppress().concepts());
      if (pr.suppress().concepts_size() == 0)
        diags.error(ctx.loc(rt, pr, "suppress"),
                    "'suppress' needs at least one concept");
    }
    if (pr.has_amplify()) {
      const auto &pa = pr.amplify();
      const auto *at = nested(rt, pr, "amplify");
      AmplifySpec a;
      a.itemLoc = ctx.loc(rt, pr, "amplify");
      a.concepts = ctx.uses(at, pa, "concepts", pa.concepts());
      if (pa.concepts_size() == 0)
        diags.error(ctx.loc(rt, pr, "amplify"),
                    "'amplify' needs at least one concept");
      // Absent fields take the defaults; written ones are honoured as
      // written (0 included) or refused at their position.
      if (pa.has_target_logit())
        a.targetLogit = pa.target_logit();
      if (pa.has_layer()) {
        a.layer = pa.layer();
        a.layerLoc = ctx.loc(at, pa, "layer");
      }
      if (pa.has_schedule() &&
          !schema::policy::Schedule_IsValid(pa.schedule()))
        diags.error(ctx.loc(at, pa, "schedule"),
                    "schedule " + std::to_string(pa.schedule()) +
                        " is not a schedule; use FIXED or HARD_CUTOFF");
      if (pa.schedule() == schema::policy::FIXED)
        a.schedule = Schedule::kFixed;
      if (pa.has_cutoff_tokens())
        a.cutoffTokens = pa.cutoff_tokens();
      if (a.layer < 0)
        diags.error(ctx.loc(at, pa, "layer"),
                    "layer " + std::to_string(a.layer) + " is negative");
      ctx.checkRange(a.targetLogit, kTargetLogit, "target_logit",
                     ctx.loc(at, pa, "target_logit"));
      if (a.schedule == Schedule::kFixed && pa.has_cutoff_tokens())
        diags.error(ctx.loc(at, pa, "cutoff_tokens"),
                    "cutoff_tokens only applies to the HARD_CUTOFF schedule");
      ctx.checkRange(a.cutoffTokens, kCutoffTokens, "cutoff_tokens",
                     ctx.loc(at, pa, "cutoff_tokens"));
      rule.amplify = a;
    }
    for (int c = 0; c < pr.clamp_size(); ++c) {
      const auto &pc = pr.clamp(c);
      const auto *ct = nested(rt, pr, "clamp", c);
      ClampSpec spec;
      spec.concept_ = {pc.target(), ctx.loc(ct, pc, "target")};
      if (pc.target().empty())
        diags.error(ctx.loc(rt, pr, "clamp", c),
                    "'clamp' needs a target concept (target: \"...\")");
      spec.value = pc.value() + 0.0f; // -0 is 0
      if (!pc.has_value())
        diags.error(ctx.loc(rt, pr, "clamp", c),
                    "'clamp' needs a value (the weight to hold, in [0, 1])");
      else
        ctx.checkRange(spec.value, kClampValue, "clamp value",
                       ctx.loc(ct, pc, "value"));
      rule.clamps.push_back(spec);
    }
    if (pr.has_steer_to_response()) {
      ResponseSpec s;
      s.response = pr.steer_to_response().response();
      if (s.response.empty())
        diags.error(ctx.loc(rt, pr, "steer_to_response"),
                    "'steer_to_response' needs a non-empty response");
      else if (std::string why = unsafeTextReason(s.response); !why.empty())
        diags.error(ctx.loc(nested(rt, pr, "steer_to_response"),
                            pr.steer_to_response(), "response"),
                    "the response " + why);
      rule.steerToResponse = s;
    }
    if (pr.has_unlearn()) {
      const auto &pu = pr.unlearn();
      const auto *ut = nested(rt, pr, "unlearn");
      UnlearnSpec u;
      u.itemLoc = ctx.loc(rt, pr, "unlearn");
      if (pu.focal().empty())
        diags.error(ctx.loc(rt, pr, "unlearn"),
                    "'unlearn' needs a focal concept (focal: \"...\")");
      u.focal = {pu.focal(), ctx.loc(ut, pu, "focal")};
      u.group = ctx.uses(ut, pu, "group", pu.group());
      if (pu.has_alpha())
        u.alpha = pu.alpha();
      u.layer = pu.has_layer() ? pu.layer() : config.nLayers / 2;
      if (pu.has_layer())
        u.layerLoc = ctx.loc(ut, pu, "layer");
      if (pu.has_relu_strength())
        u.reluStrength = pu.relu_strength();
      if (u.layer < 0)
        diags.error(ctx.loc(ut, pu, "layer"),
                    "layer " + std::to_string(u.layer) + " is negative");
      ctx.checkRange(u.alpha, kUnlearnAlpha, "alpha", ctx.loc(ut, pu, "alpha"));
      ctx.checkRange(u.reluStrength, kReluStrength, "relu_strength",
                     ctx.loc(ut, pu, "relu_strength"));
      rule.unlearn = u;
    }
    out.rules.push_back(std::move(rule));
  }
  if (!diags.empty())
    return diags.status();
  return out;
}

} // namespace steer::policy
