//===- FuseGuards.cpp - One prompt-side detector for all guards -----------===//
//
// Guards are evaluated on the prompt, once per request, before generation.
// Fused, they read each concept's prompt activation once and share equal
// tests; the runtime's detector then is one pass over the prompt's known
// weights for the listed concepts.
//
//===----------------------------------------------------------------------===//
#include "steer/Dialect/Steer/IR/SteerOps.h"
#include "steer/Passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#include <map>
#include <set>

#define DEBUG_TYPE "steer-fuse-guards"

namespace mlir::steer {
#define GEN_PASS_DEF_FUSEGUARDS
#include "steer/Passes/Passes.h.inc"
} // namespace mlir::steer

using namespace mlir;
using namespace mlir::steer;

namespace {

void fuse(func::FuncOp f) {
  auto guards = llvm::to_vector(f.getOps<GuardOp>());
  if (guards.empty())
    return;
  // One test per distinct (concept set, threshold), in first-use order.
  std::set<int64_t> all;
  using Key = std::pair<std::vector<int64_t>, float>;
  std::map<Key, unsigned> index;
  std::vector<Key> tests;
  SmallVector<unsigned> testOf;
  for (GuardOp g : guards) {
    std::vector<int64_t> ids(g.getConcepts().begin(), g.getConcepts().end());
    llvm::sort(ids);
    all.insert(ids.begin(), ids.end());
    Key key{ids, static_cast<float>(g.getThresholdAttr().getValueAsDouble())};
    auto [it, added] = index.try_emplace(key, tests.size());
    if (added)
      tests.push_back(key);
    testOf.push_back(it->second);
  }
  SmallVector<int64_t> concepts(all.begin(), all.end());
  auto position = [&](int64_t id) {
    return llvm::lower_bound(concepts, id) - concepts.begin();
  };
  OpBuilder b(f.getContext());
  SmallVector<Attribute> guardAttrs;
  SmallVector<float> thresholds;
  for (const Key &t : tests) {
    SmallVector<int64_t> positions;
    for (int64_t id : t.first)
      positions.push_back(position(id));
    guardAttrs.push_back(b.getDenseI64ArrayAttr(positions));
    thresholds.push_back(t.second);
  }
  SmallVector<Location> locs;
  for (GuardOp g : guards)
    locs.push_back(g.getLoc());
  b.setInsertionPointToStart(&f.getBody().front());
  SmallVector<Type> types(tests.size(), b.getI1Type());
  auto detect = b.create<DetectOp>(
      b.getFusedLoc(locs), types, b.getDenseI64ArrayAttr(concepts),
      b.getArrayAttr(guardAttrs), b.getDenseF32ArrayAttr(thresholds));
  for (auto [g, t] : llvm::zip(guards, testOf)) {
    g.getResult().replaceAllUsesWith(detect.getResult(t));
    g.erase();
  }
}

struct FuseGuardsPass : mlir::steer::impl::FuseGuardsBase<FuseGuardsPass> {
  void runOnOperation() override { getOperation().walk(fuse); }
};

} // namespace
