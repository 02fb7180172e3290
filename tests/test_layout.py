"""The package's floor plan, checked by parsing it with `ast` (nothing is imported):

- no import cycle between mu2llm modules (module-level imports);
- no function-local import of a mu2llm module, except to defer a heavy dependency: allowed only when the importing
  module is light (loads no heavy third-party package at import time) and the imported one is heavy;
- product code never imports the test-only helpers (`mu2llm.testing`);
- no two modules export the same name.
"""
import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT/'mu2llm'
HEAVY = {'torch', 'transformers', 'trl', 'peft', 'monai', 'accelerate', 'datasets', 'bert_score', 'nltk', 'nibabel', 'pydicom',
         'plotly', 'matplotlib', 'sacrebleu', 'rouge_score', 'safetensors', 'tokenizers', 'scipy'}


def _modules() -> dict:
    "{dotted name: (path, ast tree)} of every module of the package."
    out = {}
    for p in sorted(PKG.rglob('*.py')):
        parts = p.relative_to(ROOT).with_suffix('').parts
        name = '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)
        out[name] = (p, ast.parse(p.read_text(encoding='utf-8')))
    return out


MODS = _modules()


def _resolve(mod:str, node) -> list:
    "The dotted names an import node refers to (relative imports resolved against `mod`)."
    if isinstance(node, ast.Import): return [a.name for a in node.names]
    base = node.module or ''
    if node.level:
        pkg = mod.split('.') if (PKG/Path(*mod.split('.')[1:])/'__init__.py').exists() or mod == 'mu2llm' else mod.split('.')[:-1]
        pkg = pkg[:len(pkg) - node.level + 1]
        base = '.'.join(pkg + ([base] if base else []))
    return [base] + [f'{base}.{a.name}' for a in node.names]


def _internal(names:list) -> set:
    "The package modules among dotted names (`mu2llm.x.y` or `mu2llm.x.y.name` -> the module)."
    got = set()
    for n in names:
        while n and n not in MODS: n = n.rpartition('.')[0]
        if n: got.add(n)
    return got


def _imports(tree, top:bool):
    "Import nodes at module level (`top`) or inside functions (not `top`)."
    funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))]
    inner = {id(x) for f in funcs for x in ast.walk(f) if isinstance(x, (ast.Import, ast.ImportFrom))}
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) and (id(n) in inner) != top]


def _graph() -> dict:
    g = {}
    for m, (_, tree) in MODS.items():
        g[m] = set()
        for node in _imports(tree, top=True): g[m] |= _internal(_resolve(m, node)) - {m}
    return g


GRAPH = _graph()


def _heavy(m:str, seen=None) -> bool:
    "Whether importing module `m` loads a heavy third-party package (directly or through package modules)."
    seen = set() if seen is None else seen
    if m in seen: return False
    seen.add(m)
    for node in _imports(MODS[m][1], top=True):
        if any(n.split('.')[0] in HEAVY for n in _resolve(m, node)): return True
    parents = {'.'.join(m.split('.')[:k]) for k in range(1, len(m.split('.')))}   # importing a.b.c runs a and a.b first
    return any(_heavy(d, seen) for d in GRAPH[m] | (parents & set(MODS)))


def test_no_import_cycle():
    colour, stack, cycles = {}, [], []
    def visit(m):
        colour[m] = 1; stack.append(m)
        for d in sorted(GRAPH[m]):
            if colour.get(d) == 1: cycles.append(stack[stack.index(d):] + [d])
            elif d not in colour: visit(d)
        colour[m] = 2; stack.pop()
    for m in sorted(GRAPH):
        if m not in colour: visit(m)
    assert not cycles, 'import cycles: ' + '; '.join(' -> '.join(c) for c in cycles)


def test_function_local_imports_only_defer_heavy_dependencies():
    bad = []
    for m, (path, tree) in MODS.items():
        for node in _imports(tree, top=False):
            for target in sorted(_internal(_resolve(m, node)) - {m}):
                if _heavy(m) or not _heavy(target):
                    bad.append(f'{path.relative_to(ROOT)}:{node.lineno} imports {target} inside a function '
                               f"({'the module is heavy already' if _heavy(m) else target + ' is light'})")
    assert not bad, '\n'.join(bad)


def test_light_modules_stay_light():
    for m in ('mu2llm', 'mu2llm.core.errors', 'mu2llm.core.base', 'mu2llm.core.files', 'mu2llm.core.presets',
              'mu2llm.core.stages', 'mu2llm.core.cli', 'mu2llm.model.auto', 'mu2llm.cli.commands'):
        assert not _heavy(m), f'{m} imports a heavy package at import time'


def test_product_code_never_imports_the_test_helpers():
    users = sorted(m for m, deps in GRAPH.items() if 'mu2llm.testing' in deps)
    local = sorted(m for m, (_, t) in MODS.items() for n in _imports(t, top=False) if 'mu2llm.testing' in _internal(_resolve(m, n)))
    assert users == [] and local == [], (users, local)


def test_no_two_modules_export_the_same_name():
    where = defaultdict(list)
    for m, (_, tree) in MODS.items():
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == '__all__' for t in node.targets):
                for e in node.value.elts: where[e.value].append(m)
    dup = {k: v for k, v in where.items() if len(v) > 1}
    assert not dup, dup


def test_the_checks_can_fail():
    "The cycle and heaviness rules see what they must (guards against a parser that finds nothing)."
    assert GRAPH['mu2llm.model.modeling_mu2llm'] >= {'mu2llm.model.encoder', 'mu2llm.core.errors'}
    assert _heavy('mu2llm.model.modeling_mu2llm') and not _heavy('mu2llm.core.presets')
    assert any(_imports(MODS['mu2llm.cli.commands'][1], top=False))
