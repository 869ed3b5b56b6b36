# lit configuration for the steer dialect, pass and tool tests.
import os
import shutil
import sys
import subprocess

import lit.formats
from lit.llvm import llvm_config

config.name = "Steer"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.steer_obj_root, "test")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "golden", "unit", "Inputs", "bench", "fuzz"]

config.substitutions.append(("%golden", config.steer_golden_dir))
config.substitutions.append(("%src", config.steer_src_root))

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.steer_tools_dir, append_path=True)
tools = ["steer-opt", "steerc", "steer-run", "steer-serve", "steer-mkmodel", "steer-diff", "steer-eval", "tokenizer-conformance", "steer-artifact-edit"]
llvm_config.add_tool_substitutions(tools, [config.steer_tools_dir])

config.substitutions.append(("%python", sys.executable))
# NumPy and torch are for /usr/bin/python3 (Debian's python3-numpy and
# python3-torch, which scripts/setup.sh installs); use the first interpreter
# that has the module.
def python_with(module):
    for candidate in ["/usr/bin/python3", sys.executable]:
        try:
            subprocess.run([candidate, "-c", "import " + module], check=True,
                           capture_output=True, timeout=60)
            return candidate
        except (OSError, subprocess.SubprocessError):
            continue
    return "python3-with-%s-not-found" % module

config.substitutions.append(("%numpy_python", python_with("numpy")))
config.substitutions.append(("%torch_python", python_with("torch")))
if shutil.which("node"):
    config.available_features.add("node")

# GPU tests carry `REQUIRES: cuda` and run only where a CUDA device answers;
# on such a machine they are never skipped.
def has_cuda_device():
    tool = os.path.join(config.steer_tools_dir, "steer-run")
    try:
        out = subprocess.run([tool, "devices"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(line.startswith("cuda:") and "not available" not in line
               for line in out.stdout.splitlines())

if has_cuda_device():
    config.available_features.add("cuda")
