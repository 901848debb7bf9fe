"""Reference answers for internal/judge's TestScipyCrossCheck.

Reads a JSON list of {"canary": [...], "stable": [...]} from stdin and writes
a JSON list of {"u", "p", "estimate"}: scipy.stats.mannwhitneyu's statistic
and two-sided asymptotic p-value (tie and continuity correction), and the
median of the pairwise differences canary - stable.
"""
import json
import sys

import numpy as np
from scipy.stats import mannwhitneyu

out = []
for case in json.load(sys.stdin):
    x = np.asarray(case["canary"], dtype=float)
    y = np.asarray(case["stable"], dtype=float)
    r = mannwhitneyu(x, y, use_continuity=True, alternative="two-sided", method="asymptotic")
    out.append({
        "u": float(r.statistic),
        "p": float(r.pvalue),
        "estimate": float(np.median(np.subtract.outer(x, y))),
    })
json.dump(out, sys.stdout)
