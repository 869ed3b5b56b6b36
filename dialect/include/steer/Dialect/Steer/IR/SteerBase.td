//===- SteerBase.td - The steer dialect and its attributes -*- tablegen -*-===//
//
// The steer dialect represents a Steerling model graph (embedding, blocks,
// concept heads, composition, lm_head) and the interventions a policy puts
// on it. Weights are referenced by symbol (`@"transformer.ln_f.weight"`),
// declared once per model by `steer.weight`, never inlined.
//
//===----------------------------------------------------------------------===//
#ifndef STEER_DIALECT_STEER_IR_STEERBASE_TD
#define STEER_DIALECT_STEER_IR_STEERBASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Steer_Dialect : Dialect {
  let name = "steer";
  let cppNamespace = "::mlir::steer";
  let summary = "Steerling model graphs and concept interventions";
  let description = [{
    The steer dialect describes what a compiled steering policy does to a
    Steerling (concept-bottleneck, block-diffusion) language model: the
    model's forward graph with its concept heads, and interventions on it
    (known-concept weight overrides, residual-stream injection, ReLU logit
    masks). Passes resolve and fold the interventions into constants and
    kernel choices that the runtime executes.
  }];
  let useDefaultAttributePrinterParser = 1;
}

def Steer_NormOrder : I32EnumAttr<"NormOrder", "where a block's norms sit", [
  I32EnumAttrCase<"pre", 0>,
  I32EnumAttrCase<"post", 1>
]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::steer";
}
def Steer_NormOrderAttr : EnumAttr<Steer_Dialect, Steer_NormOrder, "norm_order"> {
  let assemblyFormat = "`<` $value `>`";
}

def Steer_MlpKind : I32EnumAttr<"MlpKind", "feed-forward variant", [
  I32EnumAttrCase<"swiglu", 0>,
  I32EnumAttrCase<"standard", 1>
]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::steer";
}
def Steer_MlpKindAttr : EnumAttr<Steer_Dialect, Steer_MlpKind, "mlp"> {
  let assemblyFormat = "`<` $value `>`";
}

def Steer_Schedule : I32EnumAttr<"Schedule", "injection schedule over generation", [
  I32EnumAttrCase<"fixed", 0>,
  I32EnumAttrCase<"hard_cutoff", 1>
]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::steer";
}
def Steer_ScheduleAttr : EnumAttr<Steer_Dialect, Steer_Schedule, "schedule"> {
  let assemblyFormat = "`<` $value `>`";
}

// A known concept as a policy names it: by label before
// steer-resolve-concepts, by id (and label, when the model has a table)
// after it.
def Steer_ConceptAttr : AttrDef<Steer_Dialect, "Concept"> {
  let mnemonic = "concept";
  let summary = "a reference to a known concept, by label or by id";
  let description = [{
    `#steer.concept<"weapons">` names a concept by its label, unresolved;
    `#steer.concept<45>` names one by id; `#steer.concept<45, "weapons">` is
    the resolved form, the id with the label it was found under.
  }];
  let parameters = (ins "int64_t":$id, StringRefParameter<"label", "\"\"">:$label);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Unresolved references carry a label and id -1.
    static constexpr int64_t kUnresolved = -1;
    bool isResolved() const { return getId() != kUnresolved; }
  }];
}

def Steer_ConceptArrayAttr : TypedArrayAttrBase<Steer_ConceptAttr,
                                                "concept references">;

// A 64-bit integer attribute read back as signed, so that verifiers see a
// negative layer or id for what it is (I64Attr reads unsigned).
def Steer_Int : TypedSignlessIntegerAttrBase<I64, "int64_t",
                                             "64-bit signed integer attribute"> {
  let convertFromStorage = "$_self.getValue().getSExtValue()";
}

class Steer_Op<string mnemonic, list<Trait> traits = []>
    : Op<Steer_Dialect, mnemonic, traits>;

#endif // STEER_DIALECT_STEER_IR_STEERBASE_TD
