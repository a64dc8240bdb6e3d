"""The test suite's own house rules (issue 20, point 5), read from its source: helpers have one home in
tests/support, no test leans on the benchmarks, collecting asks nothing over HTTP, and every test that starts a real
Celery worker says so with the `worker` marker, which `make test-fast` leaves out."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
SUPPORT = TESTS / "support"
# Helpers every folder needs, each defined once in tests/support.
SHARED_HELPERS = {
    "eventually", "wait_until", "free_port", "stop_process",
    "make_export", "make_file", "change_status", "listed", "subscribe", "grant", "subscription_form", "_form",
}  # fmt: skip
# What asks over HTTP (or starts a server) when called.
REQUESTING_CALLS = {"urlopen", "Client", "SimulatorServer", "GunicornServer", "SmtpServer", "WebhookReceiver"}
REQUESTS = {f"requests.{verb}" for verb in ("get", "post", "put", "patch", "delete", "head", "request", "Session")}
STARTS_A_WORKER = ("CeleryWorker(", "'manage.py', 'runstack'", "getfixturevalue('engine')")  # as ast.unparse writes


def modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(TESTS.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def name(path: Path) -> str:
    return str(path.relative_to(TESTS.parent))


def imports(tree: ast.Module, module: str) -> bool:
    return any(isinstance(node, ast.ImportFrom) and node.module == module for node in ast.walk(tree))


def functions(tree: ast.AST) -> Iterator[ast.FunctionDef]:
    yield from (node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef))


def decorated_with(function: ast.FunctionDef, word: str) -> bool:
    return any(word in ast.unparse(decorator) for decorator in function.decorator_list)


def module_marks(tree: ast.Module) -> str:
    """The module's `pytestmark`, as source."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(ast.unparse(t) == "pytestmark" for t in node.targets):
            return ast.unparse(node.value)
    return ""


def run_at_collection(tree: ast.Module) -> Iterator[ast.AST]:
    """What runs when the module is imported: its top-level statements and decorators, not function bodies."""
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            for decorator in statement.decorator_list:
                yield from ast.walk(decorator)
        else:
            yield from ast.walk(statement)


def requests_something(call: ast.Call) -> bool:
    function = call.func
    called = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
    return called in REQUESTING_CALLS or ast.unparse(function) in REQUESTS


def test_no_test_imports_from_the_benchmarks():
    importing = [
        name(path)
        for path, tree in modules()
        for node in ast.walk(tree)
        if (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "benchmarks")
        or (isinstance(node, ast.Import) and any(alias.name.split(".")[0] == "benchmarks" for alias in node.names))
    ]
    assert importing == [], "a test runs a benchmark as the program it is, it does not import it"


def test_shared_helpers_are_defined_once_in_tests_support():
    copies = [
        f"{name(path)}: {function.name}"
        for path, tree in modules()
        if SUPPORT not in path.parents
        for function in functions(tree)
        if function.name in SHARED_HELPERS
    ]
    assert copies == [], "use tests/support (waiting.py, processes.py, factories.py) instead"


def test_collecting_the_tests_asks_nothing_over_http():
    requesting = [
        f"{name(path)}:{node.lineno} {ast.unparse(node)[:80]}"
        for path, tree in modules()
        for node in run_at_collection(tree)
        if isinstance(node, ast.Call) and requests_something(node)
    ]
    assert requesting == [], "every run collects every module: requests belong in tests and fixtures"


def test_every_test_that_starts_a_real_worker_is_marked_worker():
    sources = {path: (path.read_text(encoding="utf-8"), tree) for path, tree in modules()}
    # Fixtures that start a worker (or the whole stack), wherever they are defined.
    starting_fixtures = {"celery_worker_process"} | {
        function.name
        for source, tree in sources.values()
        for function in functions(tree)
        if decorated_with(function, "fixture") and any(word in ast.unparse(function) for word in STARTS_A_WORKER)
    }
    unmarked = [
        f"{name(path)}::{function.name}"
        for path, (source, tree) in sources.items()
        if SUPPORT not in path.parents and "mark.worker" not in module_marks(tree)
        for function in functions(tree)
        if function.name.startswith("test_")
        and not decorated_with(function, "mark.worker")
        and (
            {argument.arg for argument in function.args.args} & starting_fixtures
            or any(word in ast.unparse(function) for word in STARTS_A_WORKER)
        )
    ]
    assert unmarked == [], "mark them @pytest.mark.worker: `make test-fast` leaves those out"


def test_every_browser_test_module_is_marked_browser():
    # A conftest's `pytestmark` marks nothing: each module says it, as `make test-fast` reads the marks.
    unmarked = [
        name(path)
        for path, tree in modules()
        if path.name.startswith("test_")
        and (path.parent.name == "browser" or imports(tree, "tests.support.browser"))
        and "mark.browser" not in module_marks(tree)
    ]
    assert unmarked == [], "mark them with pytestmark = pytest.mark.browser"
