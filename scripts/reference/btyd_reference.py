#!/usr/bin/env python3
"""Independent reference values (scipy) for the BG/NBD, MBG/NBD and Gamma-Gamma formulas.

The Swift tests assert the domain's results against the numbers this prints (to 1e-6); rerun it
after changing a formula or a fixed point. Formulas: ../../../shared/REFERENCE.md §2 and the
`lifetimes` library (BetaGeoFitter, ModifiedBetaGeoFitter, GammaGammaFitter).
"""
import numpy as np
from scipy.special import gammaln, hyp2f1

r, alpha, a, b = 0.242593, 4.413532, 0.792886, 2.425754
points = [(0, 0.0, 38.86), (1, 1.71, 38.86), (2, 30.43, 38.86), (5, 35.0, 38.0), (14, 38.0, 39.0), (3, 10.0, 70.0)]

def bg_palive(x, tx, T):
    if x == 0:
        return 1.0
    return 1.0 / (1 + (a / (b + x - 1)) * ((alpha + T) / (alpha + tx)) ** (r + x))

def bg_expected(t, x, tx, T):
    hyp = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    first = (a + b + x - 1) / (a - 1) * (1 - hyp * ((alpha + T) / (alpha + T + t)) ** (r + x))
    second = 1 + (x > 0) * (a / (b + x - 1)) * ((alpha + T) / (alpha + tx)) ** (r + x)
    return first / second

def mbg_palive(x, tx, T):
    return 1.0 / (1 + (a / (b + x)) * ((alpha + T) / (alpha + tx)) ** (r + x))

def mbg_expected(t, x, tx, T):
    hyp = hyp2f1(r + x, b + x + 1, a + b + x, t / (alpha + T + t))
    first = (a + b + x) / (a - 1) * (1 - hyp * ((alpha + T) / (alpha + T + t)) ** (r + x))
    return first / (1 + (a / (b + x)) * ((alpha + T) / (alpha + tx)) ** (r + x))

def bg_ll(x, tx, T):
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.log(a) - np.log(b + x - 1) - (r + x) * np.log(alpha + tx) if x > 0 else -np.inf
    return a1 + a2 + np.logaddexp(a3, a4)

print("// (x, tx, T, P(alive) BG, E[Y(13)] BG, P(alive) MBG, E[Y(13)] MBG, LL BG)")
for x, tx, T in points:
    print(f"({x}, {tx}, {T}, {bg_palive(x, tx, T):.12f}, {bg_expected(13.0, x, tx, T):.12f}, "
          f"{mbg_palive(x, tx, T):.12f}, {mbg_expected(13.0, x, tx, T):.12f}, {bg_ll(x, tx, T):.12f}),")
print("hyp2f1(1.5, 2.25, 3.1, 0.6) =", repr(hyp2f1(1.5, 2.25, 3.1, 0.6)))
