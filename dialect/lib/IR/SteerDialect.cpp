//===- SteerDialect.cpp - The steer dialect -------------------------------===//
#include "steer/Dialect/Steer/IR/SteerDialect.h"
#include "steer/Dialect/Steer/IR/SteerOps.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::steer;

#include "steer/Dialect/Steer/IR/SteerDialect.cpp.inc"
#include "steer/Dialect/Steer/IR/SteerEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "steer/Dialect/Steer/IR/SteerAttrs.cpp.inc"

//===----------------------------------------------------------------------===//
// ConceptAttr
//===----------------------------------------------------------------------===//

LogicalResult ConceptAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  int64_t id, StringRef label) {
  if (id < kUnresolved)
    return emitError() << "concept id " << id << " is negative";
  if (id == kUnresolved && label.empty())
    return emitError() << "a concept reference needs a label or an id";
  return success();
}

/// `<"label">`, `<id>` or `<id, "label">`.
Attribute ConceptAttr::parse(AsmParser &parser, Type) {
  if (parser.parseLess())
    return {};
  int64_t id = kUnresolved;
  std::string label;
  SMLoc idLoc = parser.getCurrentLocation();
  OptionalParseResult hasId = parser.parseOptionalInteger(id);
  if (hasId.has_value()) {
    if (failed(*hasId))
      return {};
    if (id < 0) {
      parser.emitError(idLoc) << "concept id " << id << " is negative";
      return {};
    }
    if (succeeded(parser.parseOptionalComma()) && parser.parseString(&label))
      return {};
  } else if (parser.parseString(&label)) {
    return {};
  }
  if (parser.parseGreater())
    return {};
  return parser.getChecked<ConceptAttr>(parser.getContext(), id, label);
}

void ConceptAttr::print(AsmPrinter &printer) const {
  printer << '<';
  if (isResolved()) {
    printer << getId();
    if (!getLabel().empty())
      printer << ", ";
  }
  if (!getLabel().empty())
    printer.printString(getLabel());
  printer << '>';
}

//===----------------------------------------------------------------------===//
// Dialect
//===----------------------------------------------------------------------===//

void SteerDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "steer/Dialect/Steer/IR/SteerAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "steer/Dialect/Steer/IR/SteerOps.cpp.inc"
      >();
}
