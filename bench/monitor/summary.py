"""Medians per tool and size from runs.txt, the speed ratio, and the
features each tool flags."""

import json
import statistics
import sys
from collections import defaultdict

runs = defaultdict(list)
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith("{"):
        r = json.loads(line)
        runs[(r["reference_rows"], r["tool"].split()[0])].append(r)

for n in sorted({k[0] for k in runs}):
    f, e = runs.get((n, "fathom"), []), runs.get((n, "evidently"), [])
    med = lambda rs, k: statistics.median(r[k] for r in rs) if rs else float("nan")
    tf, te = med(f, "drift_and_html_seconds"), med(e, "drift_and_html_seconds")
    print(f"{n:>9,} vs {n:,} rows")
    print(f"  fathom    {tf:8.3f} s (load {med(f, 'load_seconds'):.3f} s), peak RSS {med(f, 'peak_rss_kb') / 1024:.0f} MiB")
    print(f"  evidently {te:8.3f} s (load {med(e, 'load_seconds'):.3f} s), peak RSS {med(e, 'peak_rss_kb') / 1024:.0f} MiB")
    print(f"  speed-up  {te / tf:8.1f}x")
    if f and e:
        a, b = set(f[0]["drifted"]), set(e[0]["drifted"])
        print(f"  both flag: {sorted(a & b)}")
        print(f"  only fathom: {sorted(a - b)}; only evidently: {sorted(b - a)}")
