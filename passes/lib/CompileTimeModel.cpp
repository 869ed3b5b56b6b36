//===- CompileTimeModel.cpp - Weights for folds that need them ------------===//
#include "CompileTimeModel.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

using namespace mlir;
using namespace mlir::steer;

FailureOr<CompileTimeModel>
mlir::steer::openCompileTimeModel(Operation *at, llvm::StringRef path,
                                  llvm::StringRef pass, bool withTokenizer) {
  if (path.empty())
    return at->emitError() << pass << " needs the checkpoint's weights: pass "
                           << "model=DIR (steerc passes its --model)";
  auto checkpoint = ::steer::Checkpoint::open(path.str());
  if (!checkpoint.ok())
    return at->emitError() << checkpoint.status().toString();
  auto engine = ::steer::Engine::create(**checkpoint);
  if (!engine.ok())
    return at->emitError() << engine.status().toString();
  CompileTimeModel m;
  if (withTokenizer) {
    auto tokenizer = ::steer::Tokenizer::create(
        (*checkpoint)->config().instruct ? ::steer::TokenizerLayout::kInstruct
                                         : ::steer::TokenizerLayout::kBase);
    if (!tokenizer.ok())
      return at->emitError() << tokenizer.status().toString();
    m.tokenizer = std::move(*tokenizer);
  }
  m.checkpoint = std::move(*checkpoint);
  m.engine = std::move(*engine);
  return m;
}

ElementsAttr mlir::steer::f32Blob(MLIRContext *context, llvm::StringRef hint,
                                  llvm::ArrayRef<float> values) {
  auto type = RankedTensorType::get({static_cast<int64_t>(values.size())},
                                    Float32Type::get(context));
  DenseResourceElementsAttr attr = DenseF32ResourceElementsAttr::get(
      type, hint, HeapAsmResourceBlob::allocateAndCopyInferAlign(values));
  return llvm::cast<ElementsAttr>(attr);
}
