# steer_project_target(<target>): the warning policy for code we write.
# Generated code (protobuf, tablegen output compiled on its own) is exempt.
function(steer_project_target target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Werror
    -Wno-unused-parameter
    # Vector-typed helpers are always inlined into target clones; GCC still
    # notes the ABI of their (never emitted) out-of-line form.
    $<$<CXX_COMPILER_ID:GNU>:-Wno-psabi>
    # GCC 12 reports false -Wrestrict errors inside std::string operator+
    # (GCC bug 105329).
    $<$<AND:$<CXX_COMPILER_ID:GNU>,$<VERSION_LESS:$<CXX_COMPILER_VERSION>,13>>:-Wno-restrict>)
  # add_mlir_*_library compiles sources in an object library obj.<name>.
  if(TARGET obj.${target})
    steer_project_target(obj.${target})
  endif()
endfunction()
