#!/usr/bin/env python3
"""Checks the example pipeline's table against its input CSV, computed here independently.

usage: check_momentum_table.py <bars.csv> <table.csv> <period>

The table must have one row per CSV data row, in order, with the bar's time, symbol ORCL and
close, and a `mom` column that is empty for the first `period` rows (warm-up) and equals
close_t / close_{t-n} - 1 afterwards. The plugin and Python both compute one IEEE division and
one subtraction from the same correctly rounded inputs, and the table prints the shortest
round-trip text, so the values should agree exactly; the criterion allows 1e-12 relative to
the ratio close_t / close_{t-n}, which is the scale of the result's rounding error.
"""
import csv
import sys


def main() -> int:
    bars_path, table_path, period = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(bars_path, newline="") as f:
        bars = list(csv.DictReader(f))
    with open(table_path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)

    expected_header = ["time", "symbol", "bars.open", "bars.high", "bars.low", "bars.close", "bars.volume", "mom"]
    errors = []
    if header != expected_header:
        errors.append(f"header {header}, expected {expected_header}")
    if len(rows) != len(bars):
        errors.append(f"{len(rows)} table rows for {len(bars)} CSV data rows")
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1

    closes = [float(b["Close"]) for b in bars]
    exact = worst = 0
    checked = 0
    for i, (bar, row) in enumerate(zip(bars, rows)):
        where = f"{table_path}:{i + 2}"
        cells = dict(zip(header, row))
        if len(row) != len(header):
            errors.append(f"{where}: {len(row)} cells, expected {len(header)}")
            continue
        if cells["time"] != bar["Date"] + "T00:00:00Z" or cells["symbol"] != "ORCL":
            errors.append(f"{where}: time/symbol {cells['time']},{cells['symbol']} for CSV date {bar['Date']}")
        if float(cells["bars.close"]) != closes[i]:
            errors.append(f"{where}: close {cells['bars.close']}, CSV has {bar['Close']}")
        base = closes[i - period] if i >= period else 0.0
        if i < period or base == 0.0:
            if cells["mom"] != "":
                errors.append(f"{where}: momentum {cells['mom']} where none is defined (warm-up or zero base)")
            continue
        if cells["mom"] == "":
            errors.append(f"{where}: no momentum after the warm-up")
            continue
        ratio = closes[i] / base
        want = ratio - 1.0
        got = float(cells["mom"])
        err = abs(got - want) / abs(ratio)
        worst = max(worst, err)
        exact += got == want
        checked += 1
        if err > 1e-12:
            errors.append(f"{where}: momentum {got!r}, expected {want!r} (relative error {err:.3g})")

    if errors:
        print("\n".join(errors[:20]), file=sys.stderr)
        if len(errors) > 20:
            print(f"... and {len(errors) - 20} more", file=sys.stderr)
        return 1
    defined = sum(1 for i in range(period, len(closes)) if closes[i - period] != 0.0)
    if checked != defined or checked == 0:
        print(f"{checked} momentum values checked, expected {defined}", file=sys.stderr)
        return 1
    print(f"{len(rows)} rows, {period} warm-up rows empty, {checked} momentum values checked "
          f"({exact} bit-identical, worst relative error {worst:.3g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
