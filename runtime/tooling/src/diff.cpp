//===- diff.cpp - Semantic diff of two compiled artifacts -----------------===//
#include "steer/cli/diff.h"

#include "steer/exec/program.h"
#include "steer/model/config.h"
#include "steer/text/tokenizer.h"
#include "steer/text/utf8.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <numeric>

namespace steer::cli {
namespace {

using Json = nlohmann::ordered_json;

std::string ref(const schema::ConceptRef &c) {
  return "#" + std::to_string(c.id()) +
         (c.label().empty() ? "" : " " + c.label());
}

std::string
refs(const google::protobuf::RepeatedPtrField<schema::ConceptRef> &v) {
  std::string s;
  for (int i = 0; i < v.size(); ++i)
    s += (i ? ", " : "") + ref(v[i]);
  return "[" + s + "]";
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

std::vector<float> floats(const Artifact &a, const std::string &name) {
  const TensorView *v = a.tensor(name);
  if (!v || v->dtype != DType::kF32)
    return {};
  std::vector<float> out(v->bytes / 4);
  std::memcpy(out.data(), v->data, v->bytes);
  return out;
}

/// Each rule as ordered (field, value) lines: what a reviewer compares.
std::vector<std::pair<std::string, std::string>> fields(const schema::Rule &r) {
  std::vector<std::pair<std::string, std::string>> f;
  if (r.has_guard())
    f.push_back({"guard", "any of " + refs(r.guard().concepts()) +
                              " >= " + num(r.guard().threshold())});
  if (r.suppress_size())
    f.push_back({"suppress", refs(r.suppress())});
  for (const schema::Clamp &c : r.clamp())
    f.push_back({"clamp " + ref(c.target()), num(c.value())});
  if (r.has_injection()) {
    const schema::Injection &in = r.injection();
    f.push_back(
        {"injection",
         std::string(in.kind() == schema::Injection::AMPLIFY ? "amplify"
                                                             : "unlearn") +
             " " + refs(in.concepts())});
    f.push_back({"injection target", num(in.target())});
    f.push_back({"injection alpha", num(in.alpha())});
    f.push_back({"injection layer", std::to_string(in.layer())});
    f.push_back({"injection schedule",
                 in.schedule() == schema::HARD_CUTOFF
                     ? "hard_cutoff after " +
                           std::to_string(in.cutoff_tokens()) + " tokens"
                     : std::string("fixed")});
    if (!in.vocab_bias_tensor().empty())
      f.push_back({"relu mask", ref(in.relu_focal()) + " strength " +
                                    num(in.relu_strength())});
  }
  if (r.has_steer_to_response())
    f.push_back(
        {"steer to response",
         "\"" + displayText(r.steer_to_response().response(), false) + "\""});
  return f;
}

struct Line {
  char kind; // '+', '-', '~', ' '
  std::string text;
};

std::string tokenText(const Tokenizer *tok, int64_t id) {
  if (tok)
    if (auto t = tok->decode(std::span<const int64_t>(&id, 1)); t.ok())
      return *t;
  return "<" + std::to_string(id) + ">";
}

/// The five entries whose values moved most between two equally long
/// vectors, as "name old -> new, ..."; empty when they are equal.
template <typename Name>
std::string largestChanges(const std::vector<float> &v1,
                           const std::vector<float> &v2, Name name) {
  if (v1.empty() || v1.size() != v2.size() || v1 == v2)
    return "";
  std::vector<int64_t> idx(v1.size());
  std::iota(idx.begin(), idx.end(), 0);
  const size_t n = std::min<size_t>(5, idx.size());
  std::partial_sort(idx.begin(), idx.begin() + n, idx.end(),
                    [&](int64_t x, int64_t y) {
                      double dx = std::abs(v2[x] - v1[x]);
                      double dy = std::abs(v2[y] - v1[y]);
                      return dx > dy || (dx == dy && x < y);
                    });
  std::string s;
  for (size_t i = 0; i < n; ++i)
    s += (i ? ", " : "") + name(idx[i]) + " " + num(v1[idx[i]]) + " -> " +
         num(v2[idx[i]]);
  return s;
}

} // namespace

StatusOr<DiffResult> diffArtifacts(const Artifact &a, const Artifact &b,
                                   DiffFormat format) {
  auto tok = Tokenizer::create(TokenizerLayout::kInstruct);
  const Tokenizer *t = tok.ok() ? tok->get() : nullptr;
  std::vector<Line> lines;
  Json changes = Json::array();
  auto note = [&](char kind, const std::string &rule, const std::string &what,
                  const std::string &before, const std::string &after) {
    std::string text = "rule '" + rule + "': " + what;
    if (kind == '~' && before.empty())
      text += ": " + after;
    else if (kind == '~')
      text += ": " + before + " -> " + after;
    else if (!after.empty() || !before.empty())
      text += " " + (kind == '+' ? after : before);
    lines.push_back({kind, text});
    changes.push_back({{"change", kind == '+'   ? "added"
                                  : kind == '-' ? "removed"
                                                : "changed"},
                       {"rule", rule},
                       {"what", what},
                       {"before", before},
                       {"after", after}});
  };

  if (a.manifest().model_config_json() != b.manifest().model_config_json())
    lines.push_back(
        {'~', "model config differs (compiled for different models)"});
  // The same config with other weights is another model too: every
  // checkpoint file's digest is compared.
  {
    std::map<std::string, std::string> fa, fb;
    for (const auto &f : a.manifest().checkpoint().files())
      fa[f.name()] = f.xxh64();
    for (const auto &f : b.manifest().checkpoint().files())
      fb[f.name()] = f.xxh64();
    for (const auto &[name, h] : fa)
      if (!fb.count(name))
        lines.push_back({'~', "model file " + name + " is gone"});
      else if (fb[name] != h)
        lines.push_back({'~', "model file " + name + " differs (xxh64 " + h +
                                  " -> " + fb[name] +
                                  "): compiled for different weights"});
    for (const auto &[name, h] : fb)
      if (!fa.count(name))
        lines.push_back({'~', "model file " + name + " is new"});
  }
  std::map<std::string, const schema::Rule *> ra, rb;
  for (const auto &r : a.manifest().rules())
    ra[r.name()] = &r;
  for (const auto &r : b.manifest().rules())
    rb[r.name()] = &r;
  for (auto &[name, r] : ra)
    if (!rb.count(name))
      note('-', name, "removed", "", "");
  for (auto &[name, r] : rb)
    if (!ra.count(name))
      note('+', name, "added", "", "");
  for (auto &[name, r1] : ra) {
    auto it = rb.find(name);
    if (it == rb.end())
      continue;
    const schema::Rule *r2 = it->second;
    auto f1 = fields(*r1), f2 = fields(*r2);
    std::map<std::string, std::string> m1(f1.begin(), f1.end()),
        m2(f2.begin(), f2.end());
    for (auto &[k, v] : m1)
      if (!m2.count(k))
        note('-', name, k, v, "");
      else if (m2[k] != v)
        note('~', name, k, v, m2[k]);
    for (auto &[k, v] : m2)
      if (!m1.count(k))
        note('+', name, k, "", v);
    // Folded tensors: direction cosine, vocabulary bias, target profile.
    if (r1->has_injection() && r2->has_injection()) {
      auto d1 = floats(a, r1->injection().direction_tensor());
      auto d2 = floats(b, r2->injection().direction_tensor());
      if (!d1.empty() && d1.size() == d2.size() && d1 != d2) {
        double dot = 0, n1 = 0, n2 = 0;
        for (size_t i = 0; i < d1.size(); ++i)
          dot += double(d1[i]) * d2[i], n1 += double(d1[i]) * d1[i],
              n2 += double(d2[i]) * d2[i];
        note('~', name, "injection direction", "",
             "cosine to the old " + num(dot / std::sqrt(n1 * n2)));
      }
      auto v1 = floats(a, r1->injection().vocab_bias_tensor());
      auto v2 = floats(b, r2->injection().vocab_bias_tensor());
      if (std::string s = largestChanges(
              v1, v2, [&](int64_t i) { return "'" + tokenText(t, i) + "'"; });
          !s.empty())
        note('~', name, "vocabulary bias (largest changes)", "", s);
    }
    if (r1->has_steer_to_response() && r2->has_steer_to_response()) {
      auto p1 = floats(a, r1->steer_to_response().profile_tensor());
      auto p2 = floats(b, r2->steer_to_response().profile_tensor());
      if (std::string s = largestChanges(
              p1, p2, [](int64_t i) { return "#" + std::to_string(i); });
          !s.empty())
        note('~', name, "target profile (largest changes)", "", s);
    }
  }

  // The kernel plan changes speed, not outputs: reported, never unequal.
  std::map<std::string, std::string> ka, kb;
  for (const auto &k : a.manifest().kernel_plan())
    ka[k.site()] = k.kernel();
  for (const auto &k : b.manifest().kernel_plan())
    kb[k.site()] = k.kernel();
  std::vector<std::string> planLines;
  Json planChanges = Json::array();
  for (const auto &[site, kernel] : ka)
    if (!kb.count(site) || kb[site] != kernel) {
      std::string after = kb.count(site) ? kb[site] : "(none)";
      planLines.push_back(site + ": " + kernel + " -> " + after);
      planChanges.push_back(
          {{"site", site}, {"before", kernel}, {"after", after}});
    }
  for (const auto &[site, kernel] : kb)
    if (!ka.count(site)) {
      planLines.push_back(site + ": (none) -> " + kernel);
      planChanges.push_back(
          {{"site", site}, {"before", "(none)"}, {"after", kernel}});
    }

  // The programs: what runs. A structural change (ops fused, merged or
  // dropped by the optimiser) is reported as such; whether it changes
  // behaviour is decided by running both programs on every combination of
  // prompt activations their guards tell apart.
  std::vector<std::string> programLines;
  Json program = Json::object();
  {
    auto config = parseModelConfig(a.manifest().model_config_json(),
                                   a.path() + " (model config)");
    auto configB = parseModelConfig(b.manifest().model_config_json(),
                                    b.path() + " (model config)");
    if (!config.ok())
      return config.status();
    if (!configB.ok())
      return configB.status();
    STEER_ASSIGN_OR_RETURN(SteeringProgram pa,
                           SteeringProgram::bind(a, *config));
    STEER_ASSIGN_OR_RETURN(SteeringProgram pb,
                           SteeringProgram::bind(b, *configB));
    auto ca = pa.opCounts(), cb = pb.opCounts();
    std::string counts;
    Json jc = Json::object();
    for (size_t i = 0; i < ca.size(); ++i)
      if (ca[i].second || cb[i].second) {
        counts += (counts.empty() ? "" : ", ") + ca[i].first + " " +
                  std::to_string(ca[i].second) +
                  (ca[i].second != cb[i].second
                       ? " -> " + std::to_string(cb[i].second)
                       : "");
        jc[ca[i].first] = {ca[i].second, cb[i].second};
      }
    const bool same = a.manifest().program().SerializeAsString() ==
                      b.manifest().program().SerializeAsString();
    ProgramComparison cmp = compareBehaviour(pa, pb);
    program["ops"] = {pa.opCount(), pb.opCount()};
    program["op_counts"] = jc;
    program["identical"] = same;
    program["behaviour_preserving"] = cmp.equivalent;
    program["outcomes_compared"] = cmp.outcomes;
    if (!same)
      programLines.push_back(
          "program: " + std::to_string(pa.opCount()) + " ops (" +
          a.manifest().provenance().optimization_level() + ") -> " +
          std::to_string(pb.opCount()) + " ops (" +
          b.manifest().provenance().optimization_level() + "): " + counts);
    if (!cmp.checked) {
      lines.push_back({'~', "program: too many guard outcomes to compare; "
                            "treat it as a behaviour change"});
      program["difference"] = "not compared";
    } else if (!cmp.equivalent) {
      lines.push_back({'~', "program: behaviour differs: " + cmp.difference});
      changes.push_back({{"change", "changed"},
                         {"rule", ""},
                         {"what", "program behaviour"},
                         {"before", ""},
                         {"after", cmp.difference}});
      program["difference"] = cmp.difference;
    } else if (!same) {
      programLines.push_back(
          "behaviour-preserving: the same steering for all " +
          std::to_string(cmp.outcomes) + " guard outcomes");
    }
  }

  DiffResult out;
  out.equal = lines.empty();
  if (format == DiffFormat::kJson) {
    Json j;
    j["a"] = a.path();
    j["b"] = b.path();
    j["equal"] = out.equal;
    j["changes"] = changes;
    j["program"] = program;
    j["kernel_plan_changes"] = planChanges;
    out.report = j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
    return out;
  }
  if (format == DiffFormat::kMarkdown) {
    out.report = "### steer-diff `" + a.path() + "` -> `" + b.path() + "`\n\n";
    if (out.equal)
      out.report += "No semantic change.\n";
    else {
      out.report += "| | change |\n| --- | --- |\n";
      // A '|' in a name or response would end the table cell.
      auto cell = [](std::string text) {
        for (size_t i = 0; (i = text.find('|', i)) != std::string::npos; i += 2)
          text.replace(i, 1, "\\|");
        return text;
      };
      for (const Line &l : lines)
        out.report += std::string("| ") +
                      (l.kind == '+'   ? "added"
                       : l.kind == '-' ? "removed"
                                       : "changed") +
                      " | " + cell(l.text) + " |\n";
    }
    if (!programLines.empty()) {
      out.report += "\nProgram (compiled form):\n\n";
      for (const std::string &l : programLines)
        out.report += "- " + l + "\n";
    }
    if (!planLines.empty()) {
      out.report += "\nKernel plan (speed only, same outputs):\n\n";
      for (const std::string &l : planLines)
        out.report += "- `" + l + "`\n";
    }
    out.report = displayText(out.report);
    return out;
  }
  out.report = "--- " + a.path() + "\n+++ " + b.path() + "\n";
  if (out.equal)
    out.report += "no semantic change\n";
  for (const Line &l : lines)
    out.report += std::string(1, l.kind) + " " + l.text + "\n";
  for (const std::string &l : programLines)
    out.report += "  " + l + "\n";
  if (!planLines.empty()) {
    out.report += "kernel plan (speed only, same outputs):\n";
    for (const std::string &l : planLines)
      out.report += "  " + l + "\n";
  }
  out.report = displayText(out.report);
  return out;
}

StatusOr<std::string> describeArtifact(const Artifact &a) {
  const schema::Manifest &m = a.manifest();
  std::string s = "steer artifact, format " +
                  std::to_string(m.format_version()) + ", " +
                  m.provenance().compiler_version() + " " +
                  m.provenance().optimization_level() + "\n";
  s += "policy xxh64 " + m.policy_xxh64() + "\n";
  s += "checkpoint " + m.checkpoint().path() + "\n";
  for (const auto &f : m.checkpoint().files())
    s += "  " + f.name() + " " + std::to_string(f.size()) + " bytes, xxh64 " +
         f.xxh64() + "\n";
  for (const schema::Rule &r : m.rules()) {
    s += "rule '" + r.name() + "'\n";
    for (auto &[k, v] : fields(r))
      s += "  " + k + ": " + v + "\n";
  }
  s += formatProgram(m.program());
  for (const auto &k : m.kernel_plan())
    s += "kernel " + k.site() + ": " + k.kernel() + "\n";
  for (const auto &e : m.tensors())
    s += "tensor " + e.name() + " " + std::to_string(e.size()) +
         " bytes, xxh64 " + hashHex(e.xxh64()) + "\n";
  return displayText(s);
}

} // namespace steer::cli
