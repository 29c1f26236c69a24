"""Time echem.read against fastnda.read on every Neware .nda/.ndax of both corpora, in one run.

    python benchmarks/read_neware.py [--corpus DIR] [--budget S]

Per file: rows, median wall seconds of each (``common.measure``: calls in turns, echem then
fastnda, after a warm-up that does not count), echem / fastnda (above 1: echem is slower), the
reader echem used, and whether the rows agree. Last, the sums over all files. The goals (issue
15): the sum of echem's times no more than fastnda's; no file over 1.5x fastnda's time among
the files fastnda needs over 50 ms for. echem.read includes the conversion to the common schema;
fastnda.read is its default call (cycle_mode "chg", polars DataFrame).
"""
from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from common import CORPUS, machine_info, measure  # noqa: E402


def neware_files(corpus: Path) -> list[Path]:
    """The .nda/.ndax files of ``corpus/neware`` and ``corpus/neware/fastnda``."""
    out = []
    for sub in (corpus / "neware", corpus / "neware" / "fastnda"):
        out += sorted(sub.glob("*.nda")) + sorted(sub.glob("*.ndax"))
    return out


def compare(files: list[Path], budget_s: float = 1.0) -> list[dict]:
    """One row per file: rows, median seconds of echem.read and fastnda.read, reader, ratio."""
    import fastnda

    import echem

    logging.disable(logging.CRITICAL)  # fastnda's log records on the corrupt archive
    warnings.simplefilter("ignore")
    rows = []
    for path in files:
        big = path.stat().st_size > 1_000_000
        t_echem, t_ref = measure([lambda: echem.read(path), lambda: fastnda.read(path)],
                                 min_repeats=5 if big else 7, max_repeats=9 if big else 41,
                                 budget_s=budget_s * (4 if big else 1))
        meas, ref = t_echem.value, t_ref.value
        rows.append({
            "file": f"{path.parent.name}/{path.name}",
            "rows": len(meas.data) if meas is not None else None,
            "same_rows": meas is not None and ref is not None and len(meas.data) == len(ref),
            "echem_s": t_echem.median_s, "fastnda_s": t_ref.median_s,
            "n": f"{t_echem.n}/{t_ref.n}",
            "reader": meas.meta.get("reader", "?").split(" (")[0] if meas is not None else
            t_echem.error,
        })
    return rows


def table(rows: list[dict]) -> str:
    lines = [f"{'file':54s} {'rows':>8s} {'echem ms':>9s} {'fastnda ms':>10s} "
             f"{'echem/fastnda':>13s} {'n':>6s}  reader"]
    for r in rows:
        ratio = r["echem_s"] / r["fastnda_s"]
        flag = "  OVER 1.5x" if ratio > 1.5 and r["fastnda_s"] > 0.05 else ""
        same = "" if r["same_rows"] else "  (rows differ)"
        lines.append(f"{r['file']:54s} {r['rows'] or 0:8d} {1000 * r['echem_s']:9.1f} "
                     f"{1000 * r['fastnda_s']:10.1f} {ratio:13.2f} {r['n']:>6s}  "
                     f"{r['reader']}{flag}{same}")
    total_e = sum(r["echem_s"] for r in rows)
    total_f = sum(r["fastnda_s"] for r in rows)
    over = [r["file"] for r in rows
            if r["fastnda_s"] > 0.05 and r["echem_s"] > 1.5 * r["fastnda_s"]]
    lines.append(f"{'sum over ' + str(len(rows)) + ' files':54s} {'':8s} {1000 * total_e:9.1f} "
                 f"{1000 * total_f:10.1f} {total_e / total_f:13.2f}")
    lines.append(f"goals: sum echem <= sum fastnda: {'met' if total_e <= total_f else 'NOT met'}; "
                 f"no file over 1.5x among those fastnda needs > 50 ms for: "
                 f"{'met' if not over else 'NOT met: ' + ', '.join(over)}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--budget", type=float, default=1.0,
                        help="seconds of timing per small file (4x for files over 1 MB)")
    args = parser.parse_args(argv)
    files = neware_files(args.corpus)
    if not files:
        print(f"no .nda/.ndax files under {args.corpus / 'neware'}")
        return 1
    import fastnda

    print("\n".join(machine_info()))
    print(f"fastnda {fastnda.__version__}; wall ms, medians of calls in turns after a warm-up")
    print(table(compare(files, args.budget)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
