//===- flags.h - Command-line checks the tools share ------------*- C++ -*-===//
//
// CLI11 reads "-1" into an unsigned option as 2^64 - 1 and saturates
// numbers that do not fit; a seed given as either would silently be another
// seed. Tools check such options on the text before conversion.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstdlib>
#include <string>

namespace steer::tools {

/// A decimal integer in [0, 2^64 - 1], digits only.
inline CLI::Validator unsigned64() {
  return CLI::Validator(
      [](std::string &text) -> std::string {
        if (text.empty() ||
            text.find_first_not_of("0123456789") != std::string::npos)
          return "'" + text + "' is not a non-negative integer";
        errno = 0;
        (void)std::strtoull(text.c_str(), nullptr, 10);
        if (errno == ERANGE)
          return "'" + text + "' is larger than 18446744073709551615";
        return {};
      },
      "UINT64");
}

} // namespace steer::tools
