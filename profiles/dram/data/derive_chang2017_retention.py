"""Derive ``chang2017_retention_vendorb.csv`` from the Voltron data set (run once; the output is shipped).

Input: ``characterization_results/retention_time_profile.csv`` of the repository
CMU-SAFARI/DRAM-Voltage-Study (Chang et al., SIGMETRICS 2017), one row per test: module, vendor,
VDD, temperature (C), refresh interval (ms), bit errors per bank and in total.

Output: one row per (module, refresh interval, temperature, VDD) of vendor B: the errors summed over
the module's tests and the bits those tests read, ``tests x BITS_PER_MODULE``. The file does not give
the module capacity: 124 chips over 31 modules (the paper's abstract and the repository's README) is
4 chips per module; 4 Gb per chip is an assumption (the common DDR3L SO-DIMM density of 2015-2016),
so BITS_PER_MODULE = 4 x 2^32. A module of 8 Gb chips would halve every BER below.

It also prints a lower bound on the share of retention failures that come and go between tests of
one module at one point: over modules and points with at least 3 tests that saw errors (mean >= 20),
``(mean - min) / mean`` of their counts, weighted by count (the cells failing in every test are at most
the minimum). Variable retention time and data-pattern dependence both contribute; the file does
not separate them.

Usage: ``python derive_chang2017_retention.py retention_time_profile.csv > chang2017_retention_vendorb.csv``
"""

from __future__ import annotations

import collections
import csv
import statistics
import sys

BITS_PER_MODULE = 4 * 2**32
VENDOR = "B"


def main(path: str) -> None:
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["vendor"] == VENDOR]
    tests: dict[tuple[str, float, float, float], list[float]] = collections.defaultdict(list)
    for r in rows:
        key = (r["dimm_name"], float(r["refresh_interval(ms)"]), float(r["temperature(C)"]), float(r["vdd"]))
        tests[key].append(float(r["total_dimm_bit_err_count"]))
    out = csv.writer(sys.stdout, lineterminator="\n")
    print("# source: CMU-SAFARI/DRAM-Voltage-Study characterization_results/retention_time_profile.csv, vendor B")
    print(f"# one row per module and point: errors summed over its tests, bits = tests x {BITS_PER_MODULE}")
    out.writerow(["refresh_ms", "temperature_c", "vdd_v", "errors", "bits"])
    for (_, refresh, temp, vdd), counts in sorted(tests.items(), key=lambda kv: (kv[0][1:], kv[0][0])):
        out.writerow([f"{refresh:g}", f"{temp:g}", f"{vdd:g}", f"{sum(counts):g}", len(counts) * BITS_PER_MODULE])
    num = den = 0.0
    for counts in tests.values():
        seen = [c for c in counts if c > 0]
        if len(seen) >= 3 and statistics.mean(seen) >= 20:
            mean = statistics.mean(seen)
            num += (mean - min(seen)) * len(seen)
            den += mean * len(seen)
    print(f"lower bound on the share of failures that vary between tests: {num / den:.3f}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
