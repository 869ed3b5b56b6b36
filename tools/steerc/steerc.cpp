//===- steerc - The Steer policy compiler ---------------------------------===//
//
// Loads a Steerling checkpoint, builds its steer graph, runs the pipeline
// (-O0 keeps every intervention explicit) and emits the result. Exit status
// 2 on bad input, with the runtime's or the verifier's message.
//
//===----------------------------------------------------------------------===//
#include "steer/Dialect/Steer/IR/SteerDialect.h"
#include "steer/Dialect/Steer/Import/ModelImport.h"
#include "steer/Passes/Passes.h"
#include "steer/Policy/PolicyFrontend.h"
#include "steer/Policy/PolicyImport.h"
#include "steer/Target/ProgramTranslation.h"
#include "steer/artifact/artifact.h"
#include "steer/exec/engine.h"
#include "steer/exec/program.h"
#include "steer/io/file.h"
#include "steer/model/checkpoint.h"
#include "steer/text/utf8.h"
#include "steer/text/tokenizer.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <map>
#include <optional>
#include <unistd.h>

using namespace llvm;

namespace {

enum class EmitKind { Auto, Mlir, Profile, Program, Artifact };

/// steerc's own options: --help lists these alone (LLVM's and MLIR's are
/// hidden, as mlir-opt based drivers of CIRCT and IREE hide them).
cl::OptionCategory steercCategory("steerc options");

cl::opt<std::string> policyPath(cl::Positional, cl::desc("[POLICY]"),
                                cl::init(""), cl::cat(steercCategory));
cl::opt<std::string>
    labelsPath("labels",
               cl::desc("Concept label file (default: MODEL/concept_labels.csv "
                        "or .jsonl when present)"),
               cl::value_desc("file"), cl::init(""), cl::cat(steercCategory));

cl::opt<std::string> modelDir("model",
                              cl::desc("Steerling checkpoint directory"),
                              cl::value_desc("dir"), cl::Required,
                              cl::cat(steercCategory));
cl::opt<std::string> outputPath("o", cl::desc("Output file ('-' for stdout)"),
                                cl::value_desc("file"), cl::init("-"),
                                cl::cat(steercCategory));
cl::opt<EmitKind>
    emit("emit",
         cl::desc("What to emit (default: an artifact for a policy, the "
                  "model's IR otherwise)"),
         cl::init(EmitKind::Auto), cl::cat(steercCategory),
         cl::values(clEnumValN(EmitKind::Artifact, "artifact",
                               "the deployable artifact (needs -o FILE)"),
                    clEnumValN(EmitKind::Mlir, "mlir",
                               "the steer IR after the pipeline"),
                    clEnumValN(EmitKind::Program, "program",
                               "the steering program the artifact would "
                               "hold, as text"),
                    clEnumValN(EmitKind::Profile, "profile",
                               "the checked policy as a human-readable "
                               "compiled profile")));
cl::opt<bool> thin("thin",
                   cl::desc("Link the checkpoint by path and content hash "
                            "instead of embedding its weights"),
                   cl::init(false), cl::cat(steercCategory));
cl::opt<std::string>
    signKeyPath("sign-key",
                cl::desc("Sign the artifact with this secret key (made by "
                         "steer-run keygen); deployments check it with "
                         "steer-run --require-signature"),
                cl::value_desc("file"), cl::init(""), cl::cat(steercCategory));
cl::opt<unsigned> optLevel("O",
                           cl::desc("Optimisation level (0: keep every "
                                    "intervention explicit; 2: fold)"),
                           cl::Prefix, cl::init(2), cl::cat(steercCategory));

/// A model symbol from the directory name: "steerling-8b" -> "steerling_8b".
std::string modelSymbol(StringRef dir) {
  std::string name =
      sys::path::filename(sys::path::remove_leading_dotslash(dir.rtrim('/')))
          .str();
  for (char &ch : name)
    if (!isAlnum(ch) && ch != '_')
      ch = '_';
  if (name.empty() || isDigit(name[0]))
    name = "model_" + name;
  return name;
}

int fail(const std::string &message) {
  errs() << "steerc: " << message << "\n";
  return 2;
}

/// Prints MLIR's diagnostics as the policy front end prints its own:
/// file:line:col: error: message, the source line and a caret (the policy
/// file's positions come from the importer's locations), escaped so that a
/// control byte in a file cannot restyle the terminal.
class DiagnosticPrinter {
public:
  explicit DiagnosticPrinter(mlir::MLIRContext &context)
      : handler_(&context, [this](mlir::Diagnostic &d) {
          print(d);
          return mlir::success();
        }) {}

private:
  void print(mlir::Diagnostic &d) {
    const char *severity =
        d.getSeverity() == mlir::DiagnosticSeverity::Error     ? "error"
        : d.getSeverity() == mlir::DiagnosticSeverity::Warning ? "warning"
                                                               : "note";
    std::optional<mlir::FileLineColLoc> at;
    d.getLocation()->walk([&](mlir::Location l) {
      if (auto f = llvm::dyn_cast<mlir::FileLineColLoc>(l)) {
        at = f;
        return mlir::WalkResult::interrupt();
      }
      return mlir::WalkResult::advance();
    });
    std::string message = d.str();
    if (!at) {
      errs() << "steerc: " << severity << ": "
             << ::steer::displayText(message) << "\n";
    } else {
      ::steer::policy::SourceLoc loc{at->getFilename().str(),
                                     static_cast<int>(at->getLine()),
                                     static_cast<int>(at->getColumn())};
      std::string text = ::steer::policy::renderDiagnostic(
          loc, message, source(loc.file));
      if (d.getSeverity() != mlir::DiagnosticSeverity::Error)
        if (size_t p = text.find(": error: "); p != std::string::npos)
          text.replace(p, 9, std::string(": ") + severity + ": ");
      errs() << ::steer::displayText(text) << "\n";
    }
    for (mlir::Diagnostic &note : d.getNotes())
      print(note);
  }
  /// A file's text, read once (empty when it cannot be read).
  const std::string &source(const std::string &path) {
    auto it = sources_.find(path);
    if (it == sources_.end()) {
      auto text = ::steer::readFile(path);
      it = sources_.emplace(path, text.ok() ? *text : std::string()).first;
    }
    return it->second;
  }

  mlir::ScopedDiagnosticHandler handler_;
  std::map<std::string, std::string> sources_;
};

/// Imports the checkpoint's graph (and the policy, when there is one) and
/// runs the pipeline; null after reporting an error.
mlir::OwningOpRef<mlir::ModuleOp>
compileModule(mlir::MLIRContext &context, const ::steer::Checkpoint &checkpoint,
              const ::steer::policy::ParsedPolicy *policy,
              std::shared_ptr<const ::steer::ConceptLabels> labels,
              bool foldConstants) {
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::steer::importCheckpoint(
      &context, checkpoint, modelSymbol(modelDir));
  if (policy)
    mlir::steer::importPolicy(*module, *policy);
  // The verifiers check what the policy says against the model beside it
  // (their errors point into the policy file).
  if (failed(mlir::verify(*module)))
    return nullptr;
  mlir::PassManager pm(&context);
  if (failed(mlir::applyPassManagerCLOptions(pm))) {
    fail("error: bad pass manager options");
    return nullptr;
  }
  pm.enableVerifier(true);
  mlir::steer::PipelineOptions options;
  options.optLevel = optLevel;
  options.labels = std::move(labels);
  options.modelPath = modelDir;
  options.foldConstants = foldConstants;
  mlir::steer::buildSteerPipeline(pm, options);
  if (failed(pm.run(*module)))
    return nullptr;
  return module;
}

/// Compiles and prints the IR.
int emitMlir(const ::steer::Checkpoint &checkpoint,
             const ::steer::policy::ParsedPolicy *policy,
             std::shared_ptr<const ::steer::ConceptLabels> labels) {
  mlir::MLIRContext context;
  DiagnosticPrinter printer(context);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      compileModule(context, checkpoint, policy, std::move(labels), false);
  if (!module)
    return 2;
  std::string error;
  auto out = mlir::openOutputFile(outputPath, &error);
  if (!out)
    return fail("error: " + error);
  module->print(out->os());
  out->os() << "\n";
  out->keep();
  return 0;
}

/// Parses the policy (the front end only parses), then compiles it: the
/// pipeline resolves concepts, the verifiers check it against the model,
/// the folds compute its constants. Emits the IR, the program, the compiled
/// profile or the artifact.
int compilePolicy(const ::steer::Checkpoint &checkpoint, EmitKind kind) {
  std::shared_ptr<const ::steer::ConceptLabels> labels;
  const std::string path =
      labelsPath.empty() ? ::steer::findLabelsFile(modelDir) : labelsPath;
  if (!path.empty()) {
    auto loaded = ::steer::ConceptLabels::load(path);
    if (!loaded.ok())
      return fail(loaded.status().toString());
    labels = std::make_shared<const ::steer::ConceptLabels>(std::move(*loaded));
  }
  auto parsed = ::steer::policy::parsePolicy(policyPath, checkpoint.config());
  if (!parsed.ok()) {
    // Diagnostics quote the policy's lines: escaped, so a control byte in
    // the file cannot restyle the terminal reading them.
    errs() << ::steer::displayText(parsed.status().message()) << "\n";
    for (const std::string &line : parsed.status().context())
      errs() << "  " << ::steer::displayText(line) << "\n";
    return 2;
  }
  if (kind == EmitKind::Mlir)
    return emitMlir(checkpoint, &*parsed, std::move(labels));

  // Everything else reads what the pipeline left, translated: the program
  // the runtime executes, its constants, the rules for review and the
  // kernel plan.
  mlir::MLIRContext context;
  DiagnosticPrinter printer(context);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      compileModule(context, checkpoint, &*parsed, labels, true);
  if (!module)
    return 2;
  auto compiled = mlir::steer::translateToProgram(*module, parsed->source);
  if (failed(compiled))
    return 2;
  std::string error;
  if (kind == EmitKind::Program) {
    ::steer::schema::Program program;
    if (!program.ParseFromString(compiled->programProto))
      return fail("error: the compiled program does not parse (a bug in "
                  "steerc)");
    auto out = mlir::openOutputFile(outputPath, &error);
    if (!out)
      return fail("error: " + error);
    out->os() << ::steer::displayText(::steer::formatProgram(program));
    out->keep();
    return 0;
  }
  if (kind == EmitKind::Artifact) {
    // A progress line on a terminal for the steps that scale with the
    // checkpoint (hashing and writing gigabytes).
    std::function<void(const char *, uint64_t, uint64_t)> progress;
    if (::isatty(2))
      progress = [](const char *stage, uint64_t done, uint64_t total) {
        if (total == 0)
          return;
        errs() << "\r" << stage << ": " << (100 * done / total) << "%   ";
        if (done == total)
          errs() << "\n";
      };
    std::optional<::steer::SigningKey> key;
    if (!signKeyPath.empty()) {
      auto loaded = ::steer::loadSigningKey(signKeyPath);
      if (!loaded.ok())
        return fail(loaded.status().toString());
      key = *loaded;
    }
    ::steer::Status s = ::steer::policy::writePolicyArtifact(
        *compiled, checkpoint, "O" + std::to_string(optLevel), !thin,
        outputPath, progress, key ? &*key : nullptr);
    if (!s.ok())
      return fail(s.toString());
    return 0;
  }
  // The compiled profile: the rules as resolved, what their folded
  // constants do (the engine and tokenizer read them), the program.
  auto engine = ::steer::Engine::create(checkpoint);
  if (!engine.ok())
    return fail(engine.status().toString());
  auto tokenizer = ::steer::Tokenizer::create(
      checkpoint.config().instruct ? ::steer::TokenizerLayout::kInstruct
                                   : ::steer::TokenizerLayout::kBase);
  if (!tokenizer.ok())
    return fail(tokenizer.status().toString());
  std::string profile = ::steer::policy::formatProfile(
      *compiled, policyPath, checkpoint.config(), engine->get(),
      tokenizer->get(), labels.get());
  auto out = mlir::openOutputFile(outputPath, &error);
  if (!out)
    return fail("error: " + error);
  out->os() << profile;
  out->keep();
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  mlir::registerAsmPrinterCLOptions();
  mlir::registerMLIRContextCLOptions();
  mlir::registerPassManagerCLOptions();
  cl::HideUnrelatedOptions(steercCategory);
  cl::ParseCommandLineOptions(argc, argv,
                              "steerc: the Steer policy compiler\n");
  if (optLevel != 0 && optLevel != 2)
    return fail("error: -O" + std::to_string(optLevel) +
                " is not a level; use -O0 or -O2");

  // Before any work: -o must not destroy an input (the policy, the label
  // table, the checkpoint's own files) or replace a device node.
  {
    const std::string inputs[] = {policyPath, labelsPath, signKeyPath};
    const std::string model[] = {modelDir};
    ::steer::Status s = ::steer::checkOutputPath(outputPath, inputs, model);
    if (!s.ok())
      return fail(s.toString());
  }

  auto checkpoint = ::steer::Checkpoint::open(modelDir);
  if (!checkpoint.ok())
    return fail(checkpoint.status().toString());

  if (emit == EmitKind::Auto)
    emit = policyPath.empty() ? EmitKind::Mlir : EmitKind::Artifact;
  if (policyPath.empty() && emit != EmitKind::Mlir)
    return fail("error: --emit=profile, --emit=program and --emit=artifact "
                "need a POLICY file");
  if (!signKeyPath.empty() && emit != EmitKind::Artifact)
    return fail("error: --sign-key signs artifacts; it has no meaning with "
                "--emit=mlir, --emit=program or --emit=profile");
  if (emit == EmitKind::Artifact && outputPath == "-")
    return fail("error: an artifact is binary; give the output file with -o");
  if (!policyPath.empty())
    return compilePolicy(**checkpoint, emit);
  return emitMlir(**checkpoint, nullptr, nullptr);
}
