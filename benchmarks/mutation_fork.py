"""Run some of mutmut's mutants by name, fast: one process builds the tiny world and imports the test
modules once, then forks one child per mutant (MUTANT_UNDER_TEST set, `pytest -x` on the tests).

    python benchmarks/mutation_fork.py NAMES_FILE [--mutants mutants] [--until HH:MM] [--tests T ...]

Run it after `mutmut run` has made `mutants/` (its mutated copy of src/ and its test map,
mutants/mutmut-stats.json). NAMES_FILE holds mutant names (as `mutmut results` prints them), one a
line; a name that `mutants/` does not define is reported UNKNOWN and not run (mutmut's switch would
run the original code, and the name would "survive"). Each mutant runs against the tests mutmut's
map gives its function, fastest first, or against --tests (test files or ids, relative to mutants/:
e.g. tests written after the map was made; copy them into mutants/tests first). Prints one line per
mutant: KILLED or SURVIVED, the pytest exit code, seconds, name. Results are not written into
mutmut's files. On a quiet 2-core machine this is about 0.4-1.7 s a mutant (docs/mutation.md) where
`mutmut run` on a few names spends minutes on its clean-test and forced-fail runs before the first
mutant.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib
import json
import os
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("names")
    ap.add_argument("--mutants", default="mutants")
    ap.add_argument("--until", help="UTC HH:MM: start no mutant after it")
    ap.add_argument("--tests", nargs="*", help="run these instead of mutmut's map")
    args = ap.parse_args()
    names = [ln.strip() for ln in open(args.names) if ln.strip()]
    deadline = None
    if args.until:
        now = dt.datetime.now(dt.timezone.utc)
        h, m = map(int, args.until.split(":"))
        deadline = now.replace(hour=h, minute=m, second=0, microsecond=0)
        if deadline < now:
            deadline += dt.timedelta(days=1)
    os.chdir(args.mutants)
    sys.path[:0] = [os.path.abspath("src"), os.path.abspath("tests")]
    os.environ["FORGETSCOPE_TEST_PREBUILD"] = "1"  # conftest builds the tiny world and model on import
    os.environ["MUTANT_UNDER_TEST"] = ""
    import forgetscope

    assert os.path.abspath("src") in forgetscope.__file__, f"not the mutated copy: {forgetscope.__file__}"
    import pytest

    stats = json.load(open("mutmut-stats.json"))
    by_function, durations = stats["tests_by_mangled_function_name"], stats["duration_by_test"]
    # conftest first: with FORGETSCOPE_TEST_PREBUILD it builds the tiny world and model here, once; pytest
    # in each child then finds it in sys.modules (the same file) instead of importing and building again.
    importlib.import_module("conftest")
    files = {t.split("::")[0] for ts in by_function.values() for t in ts} | {t.split("::")[0] for t in args.tests or ()}
    for f in sorted(files):  # imported here, once, not in every child
        importlib.import_module(os.path.basename(f).removesuffix(".py"))
    # Everything made so far (the libraries, the tiny world, the test modules) leaves the garbage
    # collector's view: a child's full collections no longer walk it, and do not write to (and so
    # copy) the pages it shares with this process.
    gc.collect()
    gc.freeze()
    for name in names:
        if deadline is not None and dt.datetime.now(dt.timezone.utc) > deadline:
            print("DEADLINE: the rest not run", flush=True)
            break
        module, _, function = name.rpartition(".")
        source = os.path.join("src", *module.split(".")) + ".py"
        if not os.path.exists(source) or f"def {function}(" not in open(source, encoding="utf-8").read():
            # an unknown name runs the original code (mutmut's switch falls back to it): it would "survive"
            print(f"UNKNOWN - - {name}", flush=True)
            continue
        tests = args.tests or sorted(by_function.get(name.rsplit("__mutmut_", 1)[0], []), key=lambda t: durations.get(t, 0))
        if not tests:
            print(f"NO-TESTS - - {name}", flush=True)
            continue
        start = time.time()
        pid = os.fork()
        if pid == 0:
            os.environ["MUTANT_UNDER_TEST"] = name
            sys.stdout = sys.stderr = open(os.devnull, "w")
            os._exit(int(pytest.main(["-q", "-x", "-p", "no:cacheprovider", "-m", "not slow", *tests])))
        rc = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        print(f"{'SURVIVED' if rc in (0, 5) else 'KILLED'} {rc} {time.time() - start:.1f}s {name}", flush=True)


if __name__ == "__main__":
    main()
