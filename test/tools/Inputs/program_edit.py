"""Edits the program of a manifest printed by steer-artifact-edit --print.

  program_edit.py IN OUT drop KIND [N]   deletes the Nth (default 0) op of
                                         KIND (detect, inject, ...)
  program_edit.py IN OUT sub KIND N OLD NEW
                                         replaces OLD by NEW inside that op

The program's ops are the blocks that open with "  ops {" and close with
"  }" inside "program {". Exits 1 when the op is not there, so a test that
edits nothing fails.
"""
import sys


def ops(lines):
    """(start, end) line ranges of the program's ops, end exclusive."""
    out, inside, start = [], False, None
    for i, line in enumerate(lines):
        if line == "program {":
            inside = True
        elif inside and line == "}":
            inside = False
        elif inside and line == "  ops {":
            start = i
        elif inside and start is not None and line == "  }":
            out.append((start, i + 1))
            start = None
    return out


def find(lines, kind, n):
    found = [r for r in ops(lines)
             if any(l.strip() == kind + " {" for l in lines[r[0]:r[1]])]
    if n >= len(found):
        sys.exit("no op %d of kind %s (%d found)" % (n, kind, len(found)))
    return found[n]


def main():
    src, dst, action, kind = sys.argv[1:5]
    lines = open(src).read().split("\n")
    if action == "drop":
        n = int(sys.argv[5]) if len(sys.argv) > 5 else 0
        a, b = find(lines, kind, n)
        del lines[a:b]
    elif action == "sub":
        n, old, new = int(sys.argv[5]), sys.argv[6], sys.argv[7]
        a, b = find(lines, kind, n)
        block = "\n".join(lines[a:b])
        if old not in block:
            sys.exit("%r is not in op %d of kind %s" % (old, n, kind))
        lines[a:b] = block.replace(old, new, 1).split("\n")
    else:
        sys.exit("unknown action " + action)
    open(dst, "w").write("\n".join(lines))


main()
