//===- Pipelines.cpp - Where steer pass pipelines are assembled -----------===//
//
// Every pipeline is built here and only here, so the order of phases and
// the verification between them can be read in one place.
//
//===----------------------------------------------------------------------===//
#include "steer/Passes/Passes.h"

#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;
using namespace mlir::steer;

void mlir::steer::buildSteerPipeline(OpPassManager &pm,
                                     const PipelineOptions &options) {
  // Phase: the policy's concept references become ids (at every level:
  // nothing after this reads labels).
  if (options.labels) {
    pm.addPass(createResolveConceptsPass(options.labels));
  } else {
    ResolveConceptsOptions resolve;
    resolve.labelsPath = options.labelsPath;
    pm.addPass(createResolveConcepts(resolve));
  }
  // Phase: the rules become interventions at their sites in @forward.
  pm.addPass(createLowerPolicy());
  // Phase: constants that depend only on weights (-O0 keeps every
  // intervention as the policy wrote it, unless an artifact needs them).
  // Each fold reads the checkpoint steerc compiles against.
  auto withModel = [&](auto passOptions) {
    passOptions.modelPath = options.modelPath;
    return passOptions;
  };
  auto addFolds = [&] {
    pm.addPass(createFoldLogitMasks(withModel(FoldLogitMasksOptions{})));
    pm.addPass(createFoldInjections(withModel(FoldInjectionsOptions{})));
    pm.addPass(
        createExtractTargetProfiles(withModel(ExtractTargetProfilesOptions{})));
    pm.addPass(
        createFoldProfileFeatures(withModel(FoldProfileFeaturesOptions{})));
  };
  if (options.optLevel == 0) {
    if (options.foldConstants) {
      addFolds();
      pm.addPass(createSelectKernels());
    }
    return;
  }
  // Phase: fold interventions into tables and constants (guards first:
  // equal guards become one value, so their rules' overrides merge and
  // their constant rows fold).
  pm.addPass(createFuseGuards());
  pm.addPass(createMergeWeightOverrides());
  addFolds();
  // Phase: skip what cannot change the result.
  pm.addPass(createDropConceptHeads());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  // Phase: the kernel variant of every site that is left.
  pm.addPass(createSelectKernels());
}

namespace {
struct PipelineCliOptions : PassPipelineOptions<PipelineCliOptions> {
  Option<unsigned> optLevel{*this, "opt-level",
                            llvm::cl::desc("0 keeps interventions explicit"),
                            llvm::cl::init(2)};
  Option<std::string> labels{
      *this, "labels",
      llvm::cl::desc("concept label table for policies that name concepts")};
  Option<std::string> model{
      *this, "model",
      llvm::cl::desc("checkpoint directory for folds that need weights")};
};
} // namespace

void mlir::steer::registerSteerPassesAndPipelines() {
  registerSteerPasses();
  PassPipelineRegistration<PipelineCliOptions>(
      "steer-pipeline", "the steerc optimisation pipeline",
      [](OpPassManager &pm, const PipelineCliOptions &cli) {
        PipelineOptions options;
        options.optLevel = cli.optLevel;
        options.labelsPath = cli.labels;
        options.modelPath = cli.model;
        buildSteerPipeline(pm, options);
      });
}
