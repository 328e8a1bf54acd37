#!/usr/bin/env python3
"""The comparability method recomputed independently, with NumPy and SciPy.

Reads every fixture (*.json) in the folder given and prints, as JSON, for each fixture the
numbers and decisions the method must produce: {fixture name: {key: number | bool | string}}.
The Swift test (Tests/ComparabilityMethodTests/IndependentCheckTests.swift) runs this script and
compares its own results key by key, numbers to 1e-9 relative. Nothing here is shared with the
Swift code but the written formulas (docs/control-site.md, "Comparability").
"""
import json
import math
import os
import sys

import numpy as np
from scipy import stats


def tppf(p, df):
    """Student's t quantile: SciPy's ppf polished by Newton steps on SciPy's cdf (the ppf of SciPy 1.10,
    Debian 12's, is accurate only to about 2e-9; its cdf to about 1e-15)."""
    q = float(stats.t.ppf(p, df))
    for _ in range(2):
        q -= (float(stats.t.cdf(q, df)) - p) / float(stats.t.pdf(q, df))
    return q


def fppf(p, d1, d2):
    """Fisher's F quantile, polished the same way."""
    q = float(stats.f.ppf(p, d1, d2))
    for _ in range(2):
        q -= (float(stats.f.cdf(q, d1, d2)) - p) / float(stats.f.pdf(q, d1, d2))
    return q


def sd(values):
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def power(n1, n2, factor, alpha):
    if n1 < 1 or n2 < 1 or n1 + n2 <= 2:
        return 0.0
    df = n1 + n2 - 2
    shift = factor / math.sqrt(1 / n1 + 1 / n2)
    return max(0.0, float(2 * stats.t.cdf(shift - tppf(1 - alpha, df), df) - 1))


def first_count(check, limit=200):
    for n in range(2, limit + 1):
        if check(n):
            return n
    return None


def welch_tost(test, ref, margin, alpha):
    n1, n2 = len(test), len(ref)
    v1, v2 = np.var(test, ddof=1) / n1, np.var(ref, ddof=1) / n2
    diff = float(np.mean(test) - np.mean(ref))
    se = math.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1 ** 2 / (n1 - 1) + v2 ** 2 / (n2 - 1)) if se > 0 else n1 + n2 - 2
    t = float(tppf(1 - alpha, df))
    lower, upper = diff - t * se, diff + t * se
    return dict(difference=diff, se=se, df=df, t=t, lower=lower, upper=upper,
                equivalent=bool(lower > -margin and upper < margin))


def envelope(ref_trajectories, k, floor, minimum):
    length = max((len(t) for t in ref_trajectories), default=0)
    buckets = []
    for i in range(length):
        values = [t[i] for t in ref_trajectories if i < len(t) and t[i] is not None]
        if len(values) < max(2, minimum):
            buckets.append(None)
            continue
        m, s = float(np.mean(values)), sd(values)
        spread = k * max(s, floor)
        buckets.append(dict(mean=m, sd=s, low=m - spread, high=m + spread))
    return buckets


def against_envelope(buckets, trajectory, floor, required):
    compared = inside = 0
    largest, largest_sd, at = 0.0, 0.0, None
    for i, x in enumerate(trajectory):
        if x is None or i >= len(buckets) or buckets[i] is None:
            continue
        b = buckets[i]
        compared += 1
        departure = max(b["low"] - x, x - b["high"], 0.0)
        if departure == 0:
            inside += 1
        if departure > largest or at is None:
            largest, at = departure, i
            largest_sd = departure / max(b["sd"], floor, 5e-324)
    share = inside / compared if compared else 0.0
    return dict(compared=compared, inside_share=share, largest_departure=largest, largest_departure_sd=largest_sd,
                passed=bool(compared > 0 and share >= required))


def align(trajectories, a):
    """Re-buckets one batch's time-bucket trajectories by its progress variable: the progress of
    time bucket i is the running maximum of the variable's values up to i; it falls in bucket
    floor((progress - from) / width) (not placed below `from` or without a value); a parameter's
    value in a progress bucket is the mean of its time-bucket values placed there."""
    progress = trajectories.get(a["parameter"], [])
    placement, highest, held = [], None, 0
    for v in progress:
        if v is None or not math.isfinite(v):
            placement.append(None)
            continue
        if highest is not None and v < highest:
            held += 1
        else:
            highest = v
        position = (highest - a["from"]) / a["bucket"]
        placement.append(min(math.floor(position), 4999) if 0 <= position < math.inf else None)
    placed = sum(1 for j in placement if j is not None)
    count = max((j for j in placement if j is not None), default=-1) + 1
    aligned = {}
    for name, values in trajectories.items():
        if name == a["parameter"]:
            continue
        groups = [[] for _ in range(count)]
        for i, v in enumerate(values):
            if v is not None and i < len(placement) and placement[i] is not None:
                groups[placement[i]].append(v)
        aligned[name] = [float(np.mean(g)) if g else None for g in groups]
    return aligned, held, placed


def aligned_fixture(fixture, out):
    """Where the fixture names a progress variable, its batches' trajectories realigned (and reported)."""
    a = fixture["settings"].get("align_by")
    if not a:
        return fixture
    result = dict(fixture)
    for side in ("reference", "test"):
        batches = []
        for b in fixture[side]:
            aligned, held, placed = align(b.get("trajectories", {}), a)
            out[f"align.{b['id']}.held"] = held
            out[f"align.{b['id']}.placed"] = placed
            for name, values in aligned.items():
                for j, v in enumerate(values):
                    out[f"align.{b['id']}.{name}.{j}"] = v if v is not None else "none"
            batches.append(dict(b, trajectories=aligned))
        result[side] = batches
    return result


def hotelling(ref_matrix, floors, x, alpha):
    data = np.array(ref_matrix, dtype=float)
    n, p = data.shape
    cov = np.cov(data, rowvar=False, ddof=1).reshape(p, p)
    for i in range(p):
        cov[i, i] = max(cov[i, i], floors[i] ** 2)
    d = np.array(x) - data.mean(axis=0)
    t2 = float(d @ np.linalg.solve(cov, d))
    f = fppf(1 - alpha, p, n - p)
    critical = p * (n - 1) * (n + 1) / (n * (n - p)) * f
    return dict(t2=t2, f=f, critical=critical, outside=bool(t2 > critical))


def pairs(test, ref, name):
    available = [b for b in ref if b.get("starting_material") and name in b["means"]]
    found = []
    for b in test:
        material = b.get("starting_material")
        if not material or name not in b["means"]:
            continue
        match = next((r for r in available if r["starting_material"] == material), None)
        if match is not None:
            found.append((b["means"][name], match["means"][name]))
            available.remove(match)
    return found


def parameter(fixture, p, out):
    s, name = fixture["settings"], p["name"]
    alpha, minimum = s["alpha"], s["minimum_reference_batches"]
    ref = [b["means"][name] for b in fixture["reference"] if name in b["means"]]
    test = [b["means"][name] for b in fixture["test"] if name in b["means"]]
    key = lambda k: f"{name}.{k}"
    ref_sd = sd(ref)
    eff = max(ref_sd, p["floor"])
    out[key("reference.mean")] = float(np.mean(ref))
    out[key("reference.sd")] = ref_sd
    out[key("reference.effective_sd")] = eff
    if len(ref) < minimum or not test:
        out[key("verdict")] = "not judged"
        return
    failed = False
    if 2 in p["tiers"]:
        low, high = float(np.mean(ref)) - p["k"] * eff, float(np.mean(ref)) + p["k"] * eff
        share = sum(1 for x in test if low <= x <= high) / len(test)
        passed = share >= s["quality_range_required_share"]
        out.update({key("quality_range.low"): low, key("quality_range.high"): high,
                    key("quality_range.inside_share"): share, key("quality_range.passed"): passed})
        failed |= not passed
    if 1 in p["tiers"]:
        pw = power(len(test), len(ref), p["margin_factor"], alpha)
        out[key("tier1.power")] = pw
        needed = first_count(lambda n: power(n, len(ref), p["margin_factor"], alpha) >= s["required_power"])
        balanced = first_count(lambda n: power(n, n, p["margin_factor"], alpha) >= s["required_power"])
        out[key("tier1.test_batches_needed")] = needed if needed is not None else "none"
        out[key("tier1.balanced_batches_needed")] = balanced if balanced is not None else "none"
        ran = bool(len(test) >= s["minimum_tier1_batches"] and pw >= s["required_power"])
        out[key("tier1.ran")] = ran
        if ran:
            r = welch_tost(test, ref, p["margin_factor"] * eff, alpha)
            for k, v in r.items():
                out[key(f"tier1.{k}")] = v
            failed |= not r["equivalent"]
    aligned_by_itself = (s.get("align_by") or {}).get("parameter") == name
    if 3 in p["tiers"] and not aligned_by_itself:
        trajectories = [b["trajectories"][name] for b in fixture["reference"] if name in b.get("trajectories", {})]
        buckets = envelope(trajectories, p["envelope_k"], p["floor"], minimum)
        for i, b in enumerate(buckets):
            if b is None:
                out[key(f"envelope.bucket.{i}")] = "not covered"
            else:
                for k, v in b.items():
                    out[key(f"envelope.bucket.{i}.{k}")] = v
        for b in fixture["test"]:
            if name not in b.get("trajectories", {}):
                continue
            r = against_envelope(buckets, b["trajectories"][name], p["floor"], p["envelope_required_share"])
            for k, v in r.items():
                out[key(f"envelope.{b['id']}.{k}")] = v
            failed |= r["compared"] > 0 and not r["passed"]
    found = pairs(fixture["test"], fixture["reference"], name)
    if found:
        d = [t - r for t, r in found]
        margin = p["margin_factor"] * eff
        mean = float(np.mean(d))
        if len(d) >= 2:
            half = tppf(1 - alpha, len(d) - 1) * sd(d) / math.sqrt(len(d))
        else:
            half = 0.0
        equivalent = mean - half > -margin and mean + half < margin
        out.update({key("paired.pairs"): len(d), key("paired.mean_difference"): mean, key("paired.sd"): sd(d),
                    key("paired.lower"): mean - half, key("paired.upper"): mean + half,
                    key("paired.equivalent"): bool(equivalent)})
        failed |= not equivalent
    out[key("verdict")] = "not comparable" if failed else "comparable"


def comparison(fixture):
    out = {}
    fixture = aligned_fixture(fixture, out)
    params = fixture["parameters"]
    for p in params:
        parameter(fixture, p, out)
    names = [p["name"] for p in params]
    # Hotelling's T² over the parameters every reference batch has a mean of.
    chosen = [p for p in params if fixture["reference"] and all(p["name"] in b["means"] for b in fixture["reference"])]
    multi = [p["name"] for p in chosen]
    ref_rows = [[b["means"][n] for n in multi] for b in fixture["reference"]]
    outside = False
    for b in fixture["test"]:
        if multi and len(ref_rows) > len(multi) and all(n in b["means"] for n in multi):
            r = hotelling(ref_rows, [p["floor"] for p in chosen], [b["means"][n] for n in multi], fixture["settings"]["alpha"])
            for k, v in r.items():
                out[f"hotelling.{b['id']}.{k}"] = v
            outside |= r["outside"]
        else:
            out[f"hotelling.{b['id']}"] = "not run"
    s = fixture["settings"]
    if len(fixture["reference"]) < s["minimum_reference_batches"] or not fixture["test"]:
        out["verdict"] = "not judged"
    else:
        failed = any(out.get(f"{n}.verdict") == "not comparable" for n in names) or outside
        out["verdict"] = "not comparable" if failed else "comparable"
    return out


def distributions(fixture):
    out = {}
    for i, (t, df) in enumerate(fixture["t_cdf"]):
        out[f"t_cdf[{i}]"] = float(stats.t.cdf(t, df))
    for i, (p, df) in enumerate(fixture["t_quantile"]):
        out[f"t_quantile[{i}]"] = tppf(p, df)
    for i, (x, d1, d2) in enumerate(fixture["f_cdf"]):
        out[f"f_cdf[{i}]"] = float(stats.f.cdf(x, d1, d2))
    for i, (p, d1, d2) in enumerate(fixture["f_quantile"]):
        out[f"f_quantile[{i}]"] = fppf(p, d1, d2)
    return out


def main():
    folder = sys.argv[1]
    results = {}
    for file in sorted(os.listdir(folder)):
        if not file.endswith(".json"):
            continue
        with open(os.path.join(folder, file)) as f:
            fixture = json.load(f)
        kind = fixture.get("kind", "comparison")
        results[fixture["name"]] = distributions(fixture) if kind == "distributions" else comparison(fixture)
    json.dump(results, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
