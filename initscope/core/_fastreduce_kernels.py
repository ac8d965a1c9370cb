"""The compiled kernels of core/fastreduce.py (imported only there, on first use: numba is imported here)."""

import numpy as np
from numba import njit

# fastreduce's codes (it imports this module on first use, so this one cannot import it; a test holds them equal)
NO_HIST, FIXED, MINMAX, SYMMETRIC = 0, 1, 2, 3
SAT_TANH, SAT_SIGMOID, SAT_RELU = 1, 2, 3  # and SAT_TAIL: 4

# error_model numpy: a division by zero (a histogram of one repeated value has width 0) gives inf or NaN as in
# torch, not Python's ZeroDivisionError
OPTS = {"cache": True, "nogil": True, "boundscheck": False, "error_model": "numpy"}
BIG = np.float32(np.finfo(np.float32).max)


# Each loop runs over a slice from 0 (Y = X[a:b]): numba cannot prove a loop index from `a` non-negative, and
# the negative-index wraparound it then adds to every access stops LLVM from vectorising the loop.


@njit(fastmath={"reassoc", "nsz"}, **OPTS)
def row_sum(X, a, b):
    Y = X[a:b]
    s = 0.0
    for k in range(Y.shape[0]):  # reassociated: vectorised
        s += Y[k]
    return s


@njit(**OPTS)
def _key_float(m):
    b = m if m >= 0 else m ^ np.int32(0x7FFFFFFF)
    return np.array([b], np.int32).view(np.float32)[0]


@njit(**OPTS)
def row_range(X, a, b, lo, hi):
    # min and max with non-finite values counted as 0 (as nan_to_num(0) before amin/amax), on the float bits:
    # a finite float's bits, its magnitude bits flipped when negative, order as the floats do, and integer
    # min/max vectorise where float ones (NaN rules) do not (0.15 ns a value against 0.55)
    if b <= a:
        return lo, hi
    B = X[a:b].view(np.int32)
    klo = np.int32(0x7FFFFFFF)
    khi = np.int32(-0x80000000)
    for k in range(B.shape[0]):
        v = B[k]
        v = v if (v & 0x7F800000) != 0x7F800000 else np.int32(0)
        m = v ^ ((v >> 31) & 0x7FFFFFFF)
        klo = m if m < klo else klo
        khi = m if m > khi else khi
    return min(lo, _key_float(klo)), max(hi, _key_float(khi))


@njit(fastmath={"reassoc", "nsz"}, **OPTS)
def row_m2(X, a, b, mu):
    Y = X[a:b]
    s = 0.0
    for k in range(Y.shape[0]):
        d = Y[k] - mu
        s += d * d
    return s


@njit(**OPTS)
def _bins(Y, lo, q, top, eps, idx):
    # every value's bin from the product with fnb / w, or -1 where that cannot decide (within eps of an edge,
    # beyond the range, NaN): branch-free, vectorised
    one = np.float32(1.0)
    for k in range(Y.shape[0]):
        p = (Y[k] - lo) * q
        c = p if p > np.float32(0.0) else np.float32(0.0)
        c = c if c < top else top
        i = np.int32(c)
        f = p - np.float32(i)
        idx[k] = i if (f > eps) & (f < one - eps) else np.int32(-1)


@njit(**OPTS)
def row_hist(X, a, b, lo, w, fnb, top, eps, H, idx):
    # the bin of x is floor((x - lo) / w * fnb) clamped to [0, top] (float32, as torch computes it); the
    # product with fnb / w is within ~4 ulp of it, so it decides wherever it is not within eps of an edge
    Y = X[a:b]
    n = Y.shape[0]
    I = idx[:n]
    _bins(Y, lo, fnb / w, top, eps, I)
    for k in range(n):
        i = I[k]
        if i >= 0:
            H[i] += 1
            continue
        p = (Y[k] - lo) / w * fnb  # exactly as torch: near an edge, beyond the range, NaN, a zero or infinite width
        if p != p:
            continue  # NaN: not counted
        p = min(max(p, np.float32(0.0)), top)
        H[int(p)] += 1


@njit(**OPTS)
def _dead_pass(S, W, inner, dead):
    # dead[u] stays True only where unit u is saturated in every example (S: the saturated mask of the row)
    outer = S.shape[0] // (W * inner)
    if inner == 1:  # a (batch, units) output: vectorised across the units
        for o in range(outer):
            R = S[o * W: (o + 1) * W]
            for u in range(W):
                dead[u] = dead[u] & R[u]
        return
    k = 0
    for o in range(outer):
        for u in range(W):
            d = dead[u]
            for j in range(inner):
                d = d and S[k + j]
            dead[u] = d
            k += inner


@njit(**OPTS)
def sat_dead(X, a, b, src, code, thr, lo_thr, tail, W, inner, dead):
    # the row's saturated count, and its dead units into `dead`; one loop per rule (no branch per value)
    n = b - a
    S = np.empty(n, np.bool_)
    if code == SAT_TANH:
        Y = X[a:b]
        for k in range(n):
            S[k] = abs(Y[k]) > thr
    elif code == SAT_SIGMOID:
        Y = X[a:b]
        for k in range(n):
            S[k] = (Y[k] < lo_thr) | (Y[k] > thr)
    elif code == SAT_RELU:
        Y = X[a:b]
        for k in range(n):
            S[k] = Y[k] <= np.float32(0.0)
    else:
        Y = X[src: src + n]
        for k in range(n):
            S[k] = Y[k] < tail
    c = 0
    for k in range(n):
        c += S[k]
    _dead_pass(S, W, inner, dead)
    return c


@njit(**OPTS)
def _source(q, X, G, B, U):
    # a row's array: the step's buffer (outputs, their gradients, the tail family's inputs), or the parameters'
    # flat gradients, data before the step, update (read where they are: no copy)
    if q == 1:
        return G
    if q == 2:
        return B
    if q == 3:
        return U
    return X


@njit(**OPTS)
def reduce_rows(X, G, B, U, off, ln, seg, src, sat, sat_src, unit_w, unit_in, dead_off, mode, fix_lo, fix_hi,
                n_seg, nbins, thr, lo_thr, tail):
    R = off.shape[0]
    s_n = np.zeros(n_seg)
    s_sum = np.zeros(n_seg)
    s_lo = np.full(n_seg, BIG, np.float32)
    s_hi = np.full(n_seg, -BIG, np.float32)
    row_sat = np.zeros(R)
    dead = np.ones(dead_off[R], np.bool_)
    for r in range(R):
        a = off[r]
        b = a + ln[r]
        sg = seg[r]
        A = _source(src[r], X, G, B, U)
        s_sum[sg] += row_sum(A, a, b)
        s_n[sg] += b - a
        if mode[sg] >= MINMAX:
            s_lo[sg], s_hi[sg] = row_range(A, a, b, s_lo[sg], s_hi[sg])
        if sat[r] != 0:
            row_sat[r] = sat_dead(X, a, b, sat_src[r], sat[r], thr, lo_thr, tail, unit_w[r], unit_in[r],
                                  dead[dead_off[r]: dead_off[r + 1]])
    mean = np.full(n_seg, np.nan)
    lo_s = np.zeros(n_seg, np.float32)
    hi_s = np.ones(n_seg, np.float32)
    w_s = np.ones(n_seg, np.float32)
    lim = np.empty(n_seg, np.float32)
    for s in range(n_seg):
        if s_n[s] > 0:
            mean[s] = s_sum[s] / s_n[s]
        lim[s] = max(max(abs(s_lo[s]), abs(s_hi[s])), np.float32(1e-12))
        m = mode[s]
        if m == FIXED or m == MINMAX:
            lo = fix_lo[s] if m == FIXED else s_lo[s]
            hi = fix_hi[s] if m == FIXED else s_hi[s]
            lo_s[s] = lo
            hi_s[s] = max(hi, lo + np.float32(1e-6))
            w_s[s] = hi_s[s] - lo
        elif m == SYMMETRIC:
            lo_s[s] = -lim[s]
            hi_s[s] = lim[s]
            w_s[s] = lim[s] + lim[s]
    m2 = np.zeros(n_seg)
    hist = np.zeros((n_seg, nbins), np.int64)
    idx = np.empty(ln.max() if R else 0, np.int32)
    fnb = np.float32(nbins)
    top = np.float32(nbins - 1)
    eps = np.float32((nbins + 1) * 2.0 ** -18)
    for r in range(R):
        a = off[r]
        b = a + ln[r]
        sg = seg[r]
        A = _source(src[r], X, G, B, U)
        m2[sg] += row_m2(A, a, b, mean[sg])
        if mode[sg] != NO_HIST:
            row_hist(A, a, b, lo_s[sg], w_s[sg], fnb, top, eps, hist[sg], idx)
    return s_n, mean, m2, lo_s, hi_s, lim, hist, row_sat, dead



@njit(**OPTS)
def finish(L, P, n, mean, m2, lo, hi, lim, hist, row_sat, dead_units, seg, dead_off, sat, act_ptr, act_idx, act_w,
           fused, is_act, with_params, mats):
    """reduce_rows' segments as the snapshot's rows: per layer [mean, std, saturation, dead, lo, hi, grad mean,
    grad std, grad lim] (NaN for a layer not called) and its two histograms; per parameter [data std, grad mean,
    grad std, update std]; the matrices' gradient histograms with their limit. Segments: L outputs, L
    gradients, then per parameter its gradient, data before the step, update."""
    nan = np.nan
    n_seg = n.shape[0]
    nb = hist.shape[1]
    std = np.empty(n_seg)
    for s in range(n_seg):
        std[s] = np.sqrt(m2[s] / max(n[s] - 1.0, 1.0)) if n[s] > 0 else nan
    sat_n = np.zeros(L)
    for r in range(seg.shape[0]):
        if seg[r] < L:
            sat_n[seg[r]] += row_sat[r]
    lrows = np.full((L, 9), nan)
    lh = np.zeros((L, 2, nb), np.float32)
    for i in range(L):
        if not fused[i]:
            continue
        dead = 0
        if act_ptr[i + 1] > act_ptr[i]:  # dead: in every call of the layer's first shape
            r0 = act_idx[act_ptr[i]]
            W = act_w[r0]
            cur = np.zeros(W, np.bool_)
            if sat[r0] != 0:
                cur[:] = dead_units[dead_off[r0]: dead_off[r0 + 1]]
            for q in range(act_ptr[i] + 1, act_ptr[i + 1]):
                r = act_idx[q]
                if act_w[r] == W:
                    if sat[r] != 0:
                        cur &= dead_units[dead_off[r]: dead_off[r + 1]]
                    else:
                        cur[:] = False
            dead = cur.sum()
        g = L + i
        lrows[i, 0] = mean[i]
        lrows[i, 1] = std[i]
        lrows[i, 2] = sat_n[i] / max(n[i], 1.0) if is_act[i] and n[i] > 0 else nan
        lrows[i, 3] = dead
        lrows[i, 4] = lo[i]
        lrows[i, 5] = hi[i]
        lrows[i, 6] = mean[g]
        lrows[i, 7] = std[g]
        lrows[i, 8] = lim[g] if np.isfinite(std[g]) else nan
        for k in range(nb):
            lh[i, 0, k] = hist[i, k]
            lh[i, 1, k] = hist[g, k]
    prows = np.full((P, 4), nan)
    ph = np.zeros((mats.shape[0], nb + 1), np.float32)
    if with_params:
        for j in range(P):
            prows[j, 0] = std[2 * L + P + j]
            prows[j, 1] = mean[2 * L + j]
            prows[j, 2] = std[2 * L + j]
            prows[j, 3] = std[2 * L + 2 * P + j]
        for q in range(mats.shape[0]):
            s = 2 * L + mats[q]
            for k in range(nb):
                ph[q, k] = hist[s, k]
            ph[q, nb] = lim[s]
    return lrows, lh, prows, ph


# --- the per-step tier's blocks (recorder._ScalarPlan.run_block): sums of values shifted by each row's first
# value (no cancellation when a row's mean is far from 0), the norm of the same, and saturated counts


@njit(fastmath={"reassoc", "nsz"}, **OPTS)
def _shifted_sums(Y, c0):
    s1 = 0.0
    s2 = 0.0
    for k in range(Y.shape[0]):
        d = Y[k] - c0  # float32, as the torch path's in-place shift
        s1 += d
        s2 += np.float64(d) * d
    return s1, s2


@njit(**OPTS)
def _count_sat(Y, code, thr, lo_thr, tail):
    n = 0
    if code == SAT_TANH:
        for k in range(Y.shape[0]):
            n += abs(Y[k]) > thr
    elif code == SAT_SIGMOID:
        for k in range(Y.shape[0]):
            n += (Y[k] < lo_thr) | (Y[k] > thr)
    elif code == SAT_RELU:
        for k in range(Y.shape[0]):
            n += Y[k] <= np.float32(0.0)
    else:
        for k in range(Y.shape[0]):
            n += Y[k] < tail
    return n


@njit(**OPTS)
def scalar_group(A, c, na, code, Xin, thr, lo_thr, tail, raw, o):
    """One group of c steps: A (K, rows, n), its first `na` rows outputs (saturation by `code`; a "tail" group
    reads Xin (K, tails, n)), the rest gradients. raw[:, o: o + rows] sums, then norms, then saturated counts."""
    k = A.shape[1]
    so = o + 2 * k
    for t in range(c):
        for r in range(k):
            Y = A[t, r]
            s1, s2 = _shifted_sums(Y, Y[0])
            raw[t, o + r] = s1
            raw[t, o + k + r] = np.sqrt(s2)
        if code != 0:
            rows = Xin.shape[1] if code == 4 else na
            for r in range(rows):
                raw[t, so + r] = _count_sat(Xin[t, r] if code == 4 else A[t, r], code, thr, lo_thr, tail)


@njit(**OPTS)
def scalar_matrices(R, c, runs, raw, o, m):
    """The weight matrices of c steps: R (K + 1, N), slot i before step i, slot i + 1 after it; per run of equal
    sizes (start, end, count, size) the data before, then the update, as sums and norms of shifted values."""
    for t in range(c):
        Bf = R[t]
        Af = R[t + 1]
        q = o
        for j in range(runs.shape[0]):
            a, cnt, size = runs[j, 0], runs[j, 2], runs[j, 3]
            for i in range(cnt):
                s = a + i * size
                Y = Bf[s: s + size]
                s1, s2 = _shifted_sums(Y, Y[0])
                raw[t, q + i] = s1
                raw[t, q + 2 * m + i] = np.sqrt(s2)
                s1, s2 = _update_sums(Af[s: s + size], Y)
                raw[t, q + cnt + i] = s1
                raw[t, q + 2 * m + cnt + i] = np.sqrt(s2)
            q += 2 * cnt


@njit(fastmath={"reassoc", "nsz"}, **OPTS)
def _update_sums(Af, Bf):
    c0 = Af[0] - Bf[0]
    s1 = 0.0
    s2 = 0.0
    for k in range(Af.shape[0]):
        d = (Af[k] - Bf[k]) - c0  # the update (float32, as torch.sub), shifted by its first value
        s1 += d
        s2 += np.float64(d) * d
    return s1, s2


def warm() -> None:
    """Compile every kernel for the argument types the recorder passes (1-D float32 and int64 arrays, Python
    ints and bools, float32 scalars; a test holds each kernel to this one signature), on tiny inputs."""
    f32, i64 = np.float32, np.int64
    X = np.zeros(8, f32)
    ints = [np.zeros(1, i64) for _ in range(8)]
    ints[1][0] = 8  # one row of 8 values
    ints[4][0] = 0
    ints[7] = np.zeros(2, i64)  # dead_off
    res = reduce_rows(X, X, X, X, ints[0], ints[1], ints[2], ints[3], ints[4], ints[5], ints[6] + 1, ints[6] + 1,
                      ints[7], np.zeros(1, i64), np.zeros(1, f32), np.ones(1, f32), int(1), int(4), f32(0.97),
                      f32(0.03), f32(-3.0))
    n, mean, m2, lo, hi, lim, hist, row_sat, dead = res
    finish(int(1), int(0), n, mean, m2, lo, hi, lim, hist, row_sat, dead, ints[2], ints[7], ints[4],
           np.zeros(2, i64), np.zeros(0, i64), np.ones(1, i64), np.ones(1, np.bool_), np.ones(1, np.bool_), bool(False),
           np.zeros(0, i64))
    raw = np.zeros((1, 8), f32)
    scalar_group(np.zeros((1, 1, 4), f32), int(1), int(1), int(1), np.zeros((0, 0, 0), f32), f32(0.97), f32(0.03),
                 f32(-3.0), raw, int(0))
    scalar_matrices(np.zeros((2, 4), f32), int(1), np.array([[0, 4, 1, 4]], i64), raw, int(0), int(1))
