"The package's own shape: data flows one way through the modules (no import cycle), and no module holds CLI code but `cli`."
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1]/"sam3m4"

def _imports(path: Path) -> set[str]:
    "The sam3m4 modules a file imports, at any depth (function-level imports included)."
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module: out.add(node.module.split(".")[0])
            elif node.module and node.module.startswith("sam3m4."): out.add(node.module.split(".")[1])
            elif node.module == "sam3m4": out |= {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("sam3m4.")}
    return out

def _graph() -> dict[str, set[str]]:
    mods = {p.stem for p in PKG.glob("*.py") if not p.stem.startswith("_")}
    return {m: (_imports(PKG/f"{m}.py") & mods) - {m} for m in mods}

def _cycle(graph: dict) -> list[str] | None:
    state, stack = {}, []
    def visit(m):
        state[m] = "open"; stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == "open": return stack[stack.index(n):] + [n]
            if n not in state and (c := visit(n)): return c
        state[m] = "done"; stack.pop()
    for m in sorted(graph):
        if m not in state and (c := visit(m)): return c
    return None

def test_no_import_cycle():
    assert _cycle(_graph()) is None, " -> ".join(_cycle(_graph()))

def _layer(mod: str) -> str:
    """A module's place in the stack: the prefix of the notebook it is generated from (nbs/NN_name.ipynb, or NNx_name.ipynb for
    the rooms of one layer, e.g. 01a_prompts after 01_data), compared as text: 01 < 01a < 01g < 02."""
    line = next(l for l in (PKG/f"{mod}.py").read_text().splitlines() if "File to edit:" in l)
    return line.split("nbs/")[1].split("_")[0]

def test_modules_import_only_lower_layers():
    g = _graph()
    upward = [f"{m} ({_layer(m)}) imports {n} ({_layer(n)})" for m in sorted(g) for n in sorted(g[m]) if _layer(n) >= _layer(m)]
    assert upward == [], upward

def test_cycle_detector_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"] and _cycle({"a": {"b"}, "b": set()}) is None

def test_only_cli_holds_cli_code():
    offenders = [p.name for p in PKG.glob("*.py") if p.stem != "cli" and ("argparse" in p.read_text() or "def register_cli" in p.read_text())]
    assert offenders == [], offenders
