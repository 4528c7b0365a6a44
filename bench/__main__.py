"""``python -m bench [NAME ...] [options]``: run benchmarks, print tables, save JSON."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from types import ModuleType

from bench import BENCHMARKS
from bench.report import RESULTS


def _modules(names: list[str]) -> list[tuple[str, ModuleType]]:
    return [(name, importlib.import_module(BENCHMARKS[name])) for name in names]


def _parser(modules: list[tuple[str, ModuleType]]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="omnicore benchmarks: print a markdown table per benchmark, "
        f"and a JSON copy to {RESULTS}/<name>.json.",
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME",
        help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}",
    )
    for name, module in modules:
        module.add_arguments(parser.add_argument_group(name))
    return parser


def main(argv: list[str] | None = None) -> int:
    modules = _modules(list(BENCHMARKS))
    options = _parser(modules).parse_args(argv)
    unknown = [n for n in options.names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}",
              file=sys.stderr)
        return 2
    selected = [(n, m) for n, m in modules if not options.names or n in options.names]
    for name, module in selected:
        print(f"running {name} …", file=sys.stderr, flush=True)
        started = time.perf_counter()
        load_before = os.getloadavg()[0]
        report = module.run(options)
        report.params["load_average_1min"] = [round(load_before, 2),
                                              round(os.getloadavg()[0], 2)]
        report.notes.append(
            f"machine: {os.cpu_count()} CPUs, 1-minute load average {load_before:.1f} before "
            f"and {os.getloadavg()[0]:.1f} after this benchmark.")
        path = report.save()
        print(report.markdown(), flush=True)
        print(f"({name}: {time.perf_counter() - started:.1f} s, saved {path})\n",
              file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
