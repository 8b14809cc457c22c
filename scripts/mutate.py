"""Mutation testing of brainfeat's core modules with mutmut, one module at a time.

Each core module is mutated in its own scratch copy of the repository, with mutmut's test
selection limited to the test files that exercise it, so that a 2-core machine can afford it.
Prints one line per module and writes, under ``--out`` (default ``<scratch>/results``):

- ``<module>.txt``: every mutant and its category;
- ``<module>.survivors.txt``: the diff of every surviving mutant (wording ones included);
- ``<module>.json``: the counts and the wall time.

Categories (see docs/mutation.md): mutmut's own statuses (``killed``, ``timeout``,
``suspicious``, ``segfault``, ``no tests``, ``skipped``, ``not checked``, ...), with
``survived`` split in two: ``message wording`` when the mutant differs from the original only in
the text of a message (string constants inside a ``raise`` or a print/warning/log call, or a
local variable read only by one), ``survived`` otherwise. The
score is ``killed / mutants``; wording survivors are counted beside it, never as killed. A module
whose tests fail without any mutation (mutmut's clean run) is reported as NOT SCORED.

Usage (``make mutate`` runs every module)::

    .venv/bin/python scripts/mutate.py                      # every core module
    .venv/bin/python scripts/mutate.py brainfeat/fmri/rois.py --max-children 2
    .venv/bin/python scripts/mutate.py brainfeat/fmri/rois.py --rerun-survivors  # after new tests
    .venv/bin/python scripts/mutate.py brainfeat/fmri/rois.py --report-only      # score again

Not part of ``make test``: a full run takes tens of minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import ast
import copy
import difflib
import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTMUT = Path(sys.executable).with_name("mutmut")

# Core module (or package folder) -> the test files that exercise it.
CORE: dict[str, list[str]] = {
    "brainfeat/published.py": ["tests/test_published.py",
                               "tests/test_reference_published.py", "tests/test_exports.py",
                               "tests/test_faults_readers.py", "tests/test_mutants_published.py"],
    "brainfeat/decoding/_solvers.py": ["tests/test_decoding_solvers_fast.py",
                                       "tests/test_decoding_golden.py",
                                       "tests/test_decoding_estimator.py",
                                       "tests/test_mutants_decoding.py"],
    # Not the kill -9 and Dask-cluster tests (test_faults_jobs.py, test_decoding_dask.py):
    # 20-30 s each, they made a run of this module take hours on 2 cores.
    "brainfeat/decoding/layer.py": ["tests/test_decoding_layer.py",
                                    "tests/test_mutants_decoding.py"],
    "brainfeat/remote/download.py": ["tests/test_download.py", "tests/test_faults_download.py",
                                     "tests/test_mutants_download.py"],
    "brainfeat/remote/transfer.py": ["tests/test_download.py", "tests/test_faults_download.py",
                                     "tests/test_mutants_download.py"],
    "brainfeat/remote/checks.py": ["tests/test_download.py", "tests/test_faults_download.py",
                                   "tests/test_mutants_download.py"],
    "brainfeat/features/models.py": ["tests/test_features_models.py",
                                     "tests/test_reference_caffe.py",
                                     "tests/test_mutants_models.py"],
    "brainfeat/features/preprocess.py": ["tests/test_features_preprocess.py",
                                         "tests/test_reference_preprocess.py",
                                         "tests/test_mutants_preprocess.py"],
    "brainfeat/bids/events.py": ["tests/test_events.py", "tests/test_faults_readers.py",
                                 "tests/test_mutants_events.py"],
    "brainfeat/fmri/rois.py": ["tests/test_rois.py", "tests/test_mutants_rois.py"],
    "brainfeat/io/*": ["tests/test_bdata.py", "tests/test_published.py",
                       "tests/test_faults_readers.py", "tests/test_mutants_io.py"],
}
# evaluation/ is one run (mutmut's clean and coverage runs of its test selection cost about
# 100 s each time; twelve runs of one file each paid that twelve times), scored per file too.
CORE["brainfeat/evaluation/*"] = [
    "tests/test_evaluation_metrics.py", "tests/test_evaluation_report.py",
    "tests/test_evaluation_demo.py", "tests/test_identification.py", "tests/test_identify.py",
    "tests/test_hierarchy.py", "tests/test_regenerate.py", "tests/test_features_verify.py",
    "tests/test_mutants_evaluation.py", "tests/test_mutants_hierarchy.py",
    "tests/test_mutants_identification.py", "tests/test_mutants_report.py",
    "tests/test_mutants_figures.py"]

# What the tests read besides brainfeat/ and tests/ (mutmut copies those two itself).
ALSO_COPY = ["scripts", "docs", "benchmarks", "README.md", "CITATION.cff"]

RESULT_LINE = re.compile(r"^\s+(?P<name>\S+): (?P<status>[a-z ]+)$")
# A mutant is a timeout once its tests use 2 x this x (their clean time + 1 s) of CPU time
# (mutmut's default 15 let one timeout cost ten minutes of a 2-core machine).
TIMEOUT_MULTIPLIER = 4.0
# Where a rerun of the survivors keeps the full run's verdicts (in the module's scratch copy).
FULL_RUN_STATUSES = "full-run-statuses.json"
# Appended to the scratch copy's tests/conftest.py. mutmut hands each mutant's tests to pytest
# in no particular order and runs them with -x: putting the fastest first (by the durations
# mutmut recorded) stops a killed mutant at its cheapest failing test. Each test file stays in
# one piece, cheapest file first, so a module fixture is still set up once. Verdicts do not
# change (a mutant is killed when any of its tests fails), only the time to reach them.
FASTEST_FIRST_HOOK = '''

# Added by scripts/mutate.py for the mutation run only: fastest tests first.
def pytest_collection_modifyitems(session, config, items):
    import json
    from pathlib import Path
    stats = Path(__file__).resolve().parents[1] / "mutmut-stats.json"
    if not stats.exists():  # mutmut's first runs, before it has timed the tests
        return
    duration = json.loads(stats.read_text()).get("duration_by_test", {})

    def cost(item):
        return duration.get(item.nodeid.removeprefix("mutants/"), 0.0)

    def test_file(item):
        return item.nodeid.split("::")[0]

    file_cost = {}
    for item in items:
        file_cost[test_file(item)] = file_cost.get(test_file(item), 0.0) + cost(item)
    items[:] = sorted(items, key=lambda item: (file_cost[test_file(item)], cost(item)))
'''
# Callables whose string arguments are messages for people, not data.
MESSAGE_CALLS = {"print", "warn", "debug", "info", "warning", "error", "exception", "critical"}
WORDING = "message wording"
# The order of the columns printed; any other status mutmut reports is printed after them.
COLUMNS = ["killed", "timeout", "suspicious", "segfault", "no tests", "survived", WORDING]


def slug(module: str) -> str:
    """A file-name-safe form of a module path (``brainfeat/io/*`` -> ``brainfeat_io``)."""
    return re.sub(r"[^A-Za-z0-9]+", "_", module).strip("_")


def mutmut_config(module: str, tests: list[str]) -> str:
    """The ``[tool.mutmut]`` table for one module and its tests."""
    def toml_list(items: list[str]) -> str:
        return "[" + ", ".join(f'"{item}"' for item in items) + "]"

    return (
        "\n[tool.mutmut]\n"
        'source_paths = ["brainfeat"]\n'
        f"only_mutate = {toml_list([module])}\n"
        f"also_copy = {toml_list(ALSO_COPY)}\n"
        f"pytest_add_cli_args_test_selection = {toml_list(tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x"]\n'
        'process_isolation = "forkserver"\n'
        f"timeout_multiplier = {TIMEOUT_MULTIPLIER}\n"
    )


def prepare(module: str, tests: list[str], scratch: Path) -> Path:
    """A scratch copy of the repository configured to mutate ``module``.

    The tests run in ``<copy>/mutants/tests``, so a ``shared/`` folder beside the repository
    (real published data, see tests that look two levels up) is linked into the copy.
    """
    work = scratch / slug(module)
    if work.exists():
        shutil.rmtree(work)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "_build", "mutants")
    for name in ["brainfeat", "tests", *ALSO_COPY, "pyproject.toml"]:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, work / name, ignore=ignore)
        elif source.exists():
            work.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, work / name)
    if (ROOT.parent / "shared").is_dir():
        (work / "shared").symlink_to(ROOT.parent / "shared")
    pyproject = work / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + mutmut_config(module, tests))
    add_fastest_first(work / "tests")
    return work


def add_fastest_first(tests: Path) -> None:
    """Make a scratch copy's tests run fastest first (see ``FASTEST_FIRST_HOOK``)."""
    conftest = tests / "conftest.py"
    text = conftest.read_text() if conftest.exists() else ""
    if FASTEST_FIRST_HOOK not in text:
        conftest.write_text(text + FASTEST_FIRST_HOOK)


def _function(tree: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node
    return None


def _message_blind(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """``function``'s AST with its messages blanked out (and its name dropped).

    Blanked: string constants in a ``raise`` or in the arguments of a print/warning/log call,
    and the whole value of a local variable read nowhere else (``where = ...`` used only to
    word an error).
    """
    function = copy.deepcopy(function)
    function.name = "_"
    messages = []
    for node in ast.walk(function):
        if isinstance(node, ast.Raise) and node.exc is not None:
            messages.append(node.exc)
        elif isinstance(node, ast.Call):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(
                node.func, "id", None)
            if called in MESSAGE_CALLS:
                messages.extend(node.args)
    in_message = {id(node) for message in messages for node in ast.walk(message)}
    loads = [node for node in ast.walk(function)
             if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)]
    read_in_code = {node.id for node in loads if id(node) not in in_message}
    read_in_message = {node.id for node in loads if id(node) in in_message}
    for node in ast.walk(function):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id in read_in_message - read_in_code):
            node.value = ast.Constant("<message>")
    for message in messages:
        for node in ast.walk(message):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                node.value = "<message>"
    return ast.dump(function, include_attributes=False)


class MutantSource:
    """The original and mutated functions of one module, read from mutmut's ``mutants/`` copy."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.trees: dict[str, ast.Module | None] = {}

    def _tree(self, dotted: str) -> ast.Module | None:
        if dotted not in self.trees:
            base = self.work / "mutants" / Path(*dotted.split("."))
            path = next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.exists()),
                        None)
            self.trees[dotted] = ast.parse(path.read_text()) if path else None
        return self.trees[dotted]

    def pair(self, mutant: str):
        """(original, mutant) function nodes for a mutant name, or None if not found."""
        dotted, mangled = mutant.rsplit(".", 1)
        tree = self._tree(dotted)
        if tree is None:
            return None
        original = _function(tree, mangled.rsplit("__mutmut_", 1)[0] + "__mutmut_orig")
        mutated = _function(tree, mangled)
        return (original, mutated) if original and mutated else None

    def only_wording(self, mutant: str) -> bool:
        """Whether the mutant changes nothing but message strings."""
        pair = self.pair(mutant)
        return pair is not None and _message_blind(pair[0]) == _message_blind(pair[1])

    def diff(self, mutant: str) -> str:
        """A unified diff of the mutated function against the original."""
        pair = self.pair(mutant)
        if pair is None:
            return f"(source of {mutant} not found)\n"
        before, after = (ast.unparse(node).replace(node.name, "_", 1).splitlines(keepends=True)
                         for node in pair)
        return "".join(difflib.unified_diff([line + "\n" for line in map(str.rstrip, before)],
                                            [line + "\n" for line in map(str.rstrip, after)],
                                            "original", mutant, n=1))


def clean_run(work: Path, tests: list[str]) -> str:
    """Why mutmut could not start: the unmutated tests' failures, or that they pass."""
    run = subprocess.run([sys.executable, "-m", "pytest", *tests, "-q", "-x", "-p",
                          "no:cacheprovider"], cwd=work, capture_output=True, text=True,
                         check=False)
    if run.returncode == 0:
        return "The tests pass without mutation: see the log (do they cover the module?)."
    failures = [line for line in run.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return ("The tests fail without any mutation (pytest exited "
            f"{run.returncode}):\n" + "\n".join(f"    {line}" for line in
                                               failures or run.stdout.splitlines()[-10:]))


def run_module(module: str, tests: list[str], scratch: Path, max_children: int) -> dict:
    """Run mutmut on one module in a fresh scratch copy; returns the start of its summary."""
    present = [test for test in tests if (ROOT / test).exists()]
    summary: dict = {"module": module, "tests": present,
                     "missing_tests": sorted(set(tests) - set(present))}
    if not present:
        return summary | {"error": "none of its test files exist"}
    work = prepare(module, present, scratch)
    start = time.monotonic()
    with open(work / "mutmut-run.log", "w") as log:
        returncode = subprocess.run([str(MUTMUT), "run", "--max-children", str(max_children)],
                                    cwd=work, stdout=log, stderr=subprocess.STDOUT,
                                    check=False).returncode
    summary["wall_s"] = round(time.monotonic() - start)
    if returncode != 0:
        summary["error"] = (f"mutmut exited {returncode}; log {work / 'mutmut-run.log'}. "
                            + clean_run(work, present))
    return summary


def rerun_survivors(summary: dict, work: Path, max_children: int) -> dict:
    """Test the survivors of the last run in ``work`` again, against the current test files.

    The module's source stays the copy the full run mutated; only ``tests/`` is refreshed
    (and the selection, if a listed test file has appeared since). mutmut then forgets the
    verdicts of the mutants it does not rerun ("not checked"), so the full run's verdicts are
    kept in ``FULL_RUN_STATUSES`` and :func:`score_module` merges them with the rerun's.
    """
    kept = work / FULL_RUN_STATUSES
    if not kept.exists():  # the first rerun: keep the full run's verdicts before mutmut resets them
        kept.write_text(json.dumps(mutmut_statuses(work), indent=1) + "\n")
    present = [test for test in CORE[summary["module"]] if (ROOT / test).exists()]
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for target in (work / "tests", work / "mutants" / "tests"):
        shutil.copytree(ROOT / "tests", target, ignore=ignore, dirs_exist_ok=True)
        add_fastest_first(target)
    if present != summary["tests"]:
        (work / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text()
                                             + mutmut_config(summary["module"], present))
    survivors = [name for name, status in mutmut_statuses(work).items() if status == "survived"]
    start = time.monotonic()
    with open(work / "mutmut-rerun.log", "w") as log:
        returncode = subprocess.run([str(MUTMUT), "run", "--max-children", str(max_children),
                                     *survivors], cwd=work, stdout=log,
                                    stderr=subprocess.STDOUT, check=False).returncode
    summary = summary | {"tests": present, "missing_tests": sorted(
        set(CORE[summary["module"]]) - set(present)), "rerun_wall_s": round(
            time.monotonic() - start), "rerun_mutants": len(survivors)}
    if returncode != 0:
        summary["rerun_failed"] = True  # a later rerun may try again
        summary["error"] = (f"mutmut exited {returncode} rerunning the survivors; log "
                            f"{work / 'mutmut-rerun.log'}. " + clean_run(work, present))
    return summary


def mutmut_statuses(work: Path) -> dict[str, str]:
    """Mutant name -> mutmut's status, for the run kept in ``work``."""
    listing = subprocess.run([str(MUTMUT), "results", "--all", "true"], cwd=work,
                             capture_output=True, text=True, check=False).stdout
    return {match["name"]: match["status"].strip()
            for match in map(RESULT_LINE.match, listing.splitlines()) if match}


def score_module(summary: dict, work: Path, out: Path) -> dict:
    """Classify the mutants of a finished run in ``work``; write them under ``out``."""
    statuses = mutmut_statuses(work)
    kept = work / FULL_RUN_STATUSES
    if kept.exists():  # survivors were rerun: the other mutants keep the full run's verdicts
        statuses = json.loads(kept.read_text()) | {
            name: status for name, status in statuses.items() if status != "not checked"}
    if not statuses:
        return summary | {"error": f"mutmut reports no mutants in {work}"}
    source = MutantSource(work)
    for name, status in statuses.items():
        if status == "survived" and source.only_wording(name):
            statuses[name] = WORDING
    module = slug(summary["module"])
    (out / f"{module}.txt").write_text(
        "".join(f"{name}: {status}\n" for name, status in sorted(statuses.items())))
    (out / f"{module}.survivors.txt").write_text("".join(
        f"# {name}: {status}\n{source.diff(name)}\n" for name, status in sorted(statuses.items())
        if status in {"survived", WORDING}))
    counts = Counter(statuses.values())
    summary = summary | {"mutants": len(statuses), "counts": dict(counts),
                         "score": round(100.0 * counts["killed"] / len(statuses), 1)}
    if summary["module"].endswith("*"):  # a package: the score of each of its files as well
        summary["files"] = per_file_scores(statuses)
    return summary


def per_file_scores(statuses: dict[str, str]) -> dict[str, dict[str, float]]:
    """Mutants, killed and score per module, from mutant names (``pkg.mod.x_f__mutmut_3``)."""
    per_file: dict[str, Counter] = {}
    for name, status in statuses.items():
        per_file.setdefault(name.rsplit(".", 1)[0], Counter())[status] += 1
    return {name: {"mutants": sum(counts.values()), "killed": counts["killed"],
                   "score": round(100.0 * counts["killed"] / sum(counts.values()), 1)}
            for name, counts in sorted(per_file.items())}


def describe(summary: dict) -> str:
    """One printed line (or block) for a module's summary."""
    head = f"{summary['module']:34s}"
    missing = (f"\n    missing test files (not run): {', '.join(summary['missing_tests'])}"
               if summary["missing_tests"] else "")
    if "error" in summary:
        return f"{head} NOT SCORED: {summary['error']}{missing}"
    counts = Counter(summary["counts"])
    cells = " ".join(f"{counts[name]:{len(name)}d}" for name in COLUMNS)
    rerun = (f"  (+{summary['rerun_wall_s']} s rerunning {summary['rerun_mutants']} survivors)"
             if "rerun_wall_s" in summary else "")
    others = "".join(f"  {name}: {counts[name]}" for name in sorted(set(counts) - set(COLUMNS)))
    files = "".join(f"\n    {name:30s} {score['mutants']:7d} {score['killed']:6d} "
                    f"{score['score']:5.1f} %" for name, score in summary.get("files", {}).items())
    return (f"{head} {summary['mutants']:7d} {cells} {summary['score']:5.1f} %"
            f" {summary['wall_s']:5d} s{others}{rerun}{missing}{files}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="core modules to mutate (default: all)")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/brainfeat-mutate"))
    parser.add_argument("--out", type=Path, help="results folder (default: <scratch>/results)")
    parser.add_argument("--report-only", action="store_true",
                        help="score the last run kept in --scratch again, without running mutmut")
    parser.add_argument("--rerun-survivors", action="store_true",
                        help="test the last run's survivors again with the current tests")
    args = parser.parse_args(argv)
    unknown = [module for module in args.modules if module not in CORE]
    if unknown:
        parser.error(f"not a core module: {unknown}; choose from {sorted(CORE)}")
    out = args.out or args.scratch / "results"
    out.mkdir(parents=True, exist_ok=True)
    print(f"{'module':34s} mutants {' '.join(COLUMNS)}   score    wall", flush=True)
    scored = True
    for module in args.modules or list(CORE):
        previous = out / f"{slug(module)}.json"
        if args.report_only or args.rerun_survivors:
            if not previous.exists():
                parser.error(f"no earlier run of {module} in {out}")
            summary = json.loads(previous.read_text())
            if args.rerun_survivors and summary.pop("rerun_failed", False):
                del summary["error"]
            if args.rerun_survivors and "error" not in summary:
                summary = rerun_survivors(summary, args.scratch / slug(module), args.max_children)
        else:
            summary = run_module(module, CORE[module], args.scratch, args.max_children)
        if "error" not in summary:
            summary = score_module(summary, args.scratch / slug(module), out)
        previous.write_text(json.dumps(summary, indent=1) + "\n")
        print(describe(summary), flush=True)
        scored &= "error" not in summary
    return 0 if scored else 1


if __name__ == "__main__":
    sys.exit(main())
