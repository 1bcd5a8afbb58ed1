"""The factor-neutral long/short book: a linear program in the weights, solved with HiGHS.

Problem (SEEDS.md, "Factor-neutral long/short construction")::

    maximize    α·w
    subject to  β·w = 0                     beta-neutral
                Σ w_i = 0                   dollar-neutral
                |F_f·w| ≤ tol  for each f   factor bands
                Σ |w_i| = G                 gross leverage
                |w_i| ≤ M                   box (max weight)

with ``w`` (shape ``(n,)``) signed fractions of the strategy's capital.

How the L1 equality is made linear. With the standard split ``w = p − m``, ``p, m ∈ [0, M]``
every constraint above is linear once ``Σ |w_i|`` is replaced by ``Σ (p_i + m_i)``. That
replacement is exact only when no asset has both ``p_i > 0`` and ``m_i > 0``; otherwise the
program can "burn" gross on an asset (``p_i = m_i``) and ``Σ |w_i| < G``. The LP is therefore
the relaxation ``Σ |w_i| ≤ G`` of the real problem, and it does happen that its optimum lies
strictly inside the L1 ball — e.g. when the box or the factor bands stop the best direction
from growing and every way of adding gross costs alpha (a vertex of the other constraints
that is inside the ball). So the solve is two-stage:

1. the LP (``scipy.optimize.linprog``, HiGHS dual simplex); if its solution is complementary
   (``min(p_i, m_i) ≤`` :data:`OVERLAP_TOL` for every i), ``Σ |w| = Σ (p + m) = G`` and it is
   optimal for the real problem too, because the real feasible set is a subset of the LP's;
2. otherwise the exact mixed-integer program (``scipy.optimize.milp``, HiGHS branch and
   bound): one binary ``z_i`` per asset with ``p_i ≤ M z_i`` and ``m_i ≤ M (1 − z_i)``,
   which forbids the overlap, so ``Σ (p + m) = G`` is the L1 equality itself. The MILP is
   also what proves infeasibility: the LP relaxation is feasible whenever ``2 n M ≥ G``
   (``p = m`` everywhere satisfies every other constraint), the real problem often is not.

Every constraint of the returned book is then re-checked to :data:`CHECK_ATOL`; a violation
raises :class:`SolverError` rather than returning a book that is not what was asked. (HiGHS
LP solves run with feasibility tolerances of :data:`LP_FEASIBILITY_TOL`, and the MILP's
answer is re-solved as an LP with its signs fixed, so the book is a simplex vertex accurate
far beyond the check: ~6e-15 over 400 random instances of 8–200 assets.)

Scale: 2n (LP) or 3n (MILP) variables, 3 equality rows, 2k factor rows, 2n linking rows.
``benchmarks/factor_qp.py`` times N = 15, 100, 500.

Errors
------
InfeasibleError
    No weights satisfy the constraint set (too few assets for ``G`` and ``M``, or the
    factor bands / betas leave no book of gross ``G``).
SolverError
    HiGHS failed for another reason, or the solution fails the re-check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from strategies.base import FloatArray

#: Largest ``min(p_i, m_i)`` accepted as "no overlap" in the LP solution (weight units);
#: HiGHS puts non-basic variables exactly at their bound, so real overlaps are far larger.
OVERLAP_TOL = 1e-12
#: Every constraint of a returned book holds to this (weight units).
CHECK_ATOL = 1e-9
#: HiGHS primal and dual feasibility tolerances of the LP solves: the smallest HiGHS accepts.
#: With its default 1e-7 a box bound within 1e-7 of a value the solution naturally takes
#: (e.g. ``M = 1 + 5e-10`` when the book needs ``|w_i| = 1``) left ``Σ|w|`` 1e-9 off target.
LP_FEASIBILITY_TOL = 1e-10
#: Relative optimality gap at which branch and bound stops (HiGHS ``mip_rel_gap``).
MIP_REL_GAP = 1e-7
#: Branch-and-bound node cap, so a pathological instance cannot stall the refit thread;
#: deterministic, unlike a time limit.
MIP_NODE_LIMIT = 20_000

CONSTRAINT_SET = (
    "beta-neutral (w·β = 0), dollar-neutral (Σw = 0), factor bands (|w·F_f| ≤ tol), "
    "gross (Σ|w| = G), box (|w_i| ≤ M)"
)


class InfeasibleError(Exception):
    """No weights satisfy the factor-neutral constraint set.

    Attributes
    ----------
    reason : str
        What makes it infeasible.
    n_assets : int
    gross : float
        Target ``Σ |w|``.
    max_weight : float
        Box ``M``.
    factor_tol : float
        Band half-width of each factor exposure.
    n_factors : int
    """

    def __init__(
        self,
        reason: str,
        *,
        n_assets: int,
        gross: float,
        max_weight: float,
        factor_tol: float,
        n_factors: int,
    ) -> None:
        self.reason = reason
        self.n_assets = n_assets
        self.gross = gross
        self.max_weight = max_weight
        self.factor_tol = factor_tol
        self.n_factors = n_factors
        super().__init__(
            f"factor-neutral book infeasible: {reason} (constraint set: {CONSTRAINT_SET}; "
            f"n_assets={n_assets}, G={gross}, M={max_weight}, tol={factor_tol}, "
            f"n_factors={n_factors})"
        )


class SolverError(RuntimeError):
    """HiGHS failed (``status``, ``message``) or the solution failed the re-check."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class FactorNeutralSolution:
    """An optimal factor-neutral book.

    Attributes
    ----------
    weights : FloatArray
        Shape ``(n,)`` float64, signed fractions of capital; satisfies every constraint to
        :data:`CHECK_ATOL`.
    expected_alpha : float
        ``α·w`` (alpha units × weight; z-score units for z-scored alphas).
    method : str
        ``"lp"`` (the relaxation was already exact) or ``"milp"``.
    proven_optimal : bool
        False only when branch and bound stopped at :data:`MIP_NODE_LIMIT` with a feasible,
        not proven optimal, book.
    """

    weights: FloatArray
    expected_alpha: float
    method: str
    proven_optimal: bool = True


@dataclass(frozen=True, slots=True)
class _Problem:
    alpha: FloatArray
    beta: FloatArray
    factors: FloatArray  # (n, k)
    gross: float
    max_weight: float
    factor_tol: float

    @property
    def n(self) -> int:
        return int(self.alpha.shape[0])

    def infeasible(self, reason: str) -> InfeasibleError:
        return InfeasibleError(
            reason,
            n_assets=self.n,
            gross=self.gross,
            max_weight=self.max_weight,
            factor_tol=self.factor_tol,
            n_factors=int(self.factors.shape[1]),
        )


def min_assets_for(gross: float, max_weight: float) -> int:
    """Fewest assets that can carry a dollar-neutral book of gross ``gross`` with box ``M``.

    Each side holds ``G / 2`` with at most ``M`` per asset, so it needs
    ``ceil(G / (2 M))`` assets (a relative slack of 1e-12 absorbs rounding in the ratio).

    Raises
    ------
    ValueError
        If ``gross`` or ``max_weight`` is not positive and finite.
    """
    if not (math.isfinite(gross) and gross > 0 and math.isfinite(max_weight) and max_weight > 0):
        raise ValueError(f"gross and max_weight must be finite and > 0, got {gross}, {max_weight}")
    return 2 * math.ceil(gross / (2.0 * max_weight) * (1.0 - 1e-12))


def solve_factor_neutral(
    alpha: FloatArray,
    beta: FloatArray,
    factors: FloatArray,
    *,
    gross: float = 2.0,
    max_weight: float = 0.25,
    factor_tol: float = 0.02,
) -> FactorNeutralSolution:
    """Maximize ``α·w`` under the factor-neutral constraint set (module docstring).

    Parameters
    ----------
    alpha : FloatArray
        Shape ``(n,)`` float64, expected alpha per asset (any units; z-scores here).
    beta : FloatArray
        Shape ``(n,)`` float64, beta of each asset to the market.
    factors : FloatArray
        Shape ``(n, k)`` float64 exposures of each asset to ``k ≥ 0`` other factors.
    gross : float
        Target ``Σ |w_i|``, > 0 (2.0 = 2× the capital).
    max_weight : float
        Box ``|w_i| ≤ max_weight``, > 0.
    factor_tol : float
        Band ``|F_f·w| ≤ factor_tol``, ≥ 0.

    Returns
    -------
    FactorNeutralSolution

    Raises
    ------
    ValueError
        On mismatched shapes, non-finite inputs or out-of-range parameters.
    InfeasibleError
        If no weights satisfy the constraint set.
    SolverError
        If HiGHS fails otherwise or the solution does not pass the re-check.
    """
    problem = _validated(alpha, beta, factors, gross, max_weight, factor_tol)
    if problem.n < min_assets_for(gross, max_weight):
        need = min_assets_for(gross, max_weight)
        raise problem.infeasible(
            f"gross {gross} with max weight {max_weight} needs at least {need} assets "
            f"({need // 2} long, {need // 2} short), got {problem.n}"
        )
    method, proven, weights = "lp", True, _solve_lp(problem)
    if weights is None:
        method = "milp"
        weights, proven = _solve_milp(problem)
    _check(weights, problem)
    return FactorNeutralSolution(weights, float(problem.alpha @ weights), method, proven)


def _validated(
    alpha: FloatArray,
    beta: FloatArray,
    factors: FloatArray,
    gross: float,
    max_weight: float,
    factor_tol: float,
) -> _Problem:
    a = np.asarray(alpha, dtype=np.float64)
    b = np.asarray(beta, dtype=np.float64)
    f = np.asarray(factors, dtype=np.float64)
    if a.ndim != 1 or b.shape != a.shape or f.ndim != 2 or f.shape[0] != a.shape[0]:
        raise ValueError(
            f"need alpha (n,), beta (n,), factors (n, k); got {a.shape}, {b.shape}, {f.shape}"
        )
    for name, arr in (("alpha", a), ("beta", b), ("factors", f)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} holds a non-finite value")
    min_assets_for(gross, max_weight)  # validates both
    if not (math.isfinite(factor_tol) and factor_tol >= 0):
        raise ValueError(f"factor_tol must be finite and >= 0, got {factor_tol}")
    return _Problem(a, b, f, float(gross), float(max_weight), float(factor_tol))


def _split_rows(p: _Problem) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Equality and factor-band rows over ``x = [p, m]``: ``A_eq x = b_eq``, ``A_ub x ≤ b_ub``."""
    n, ones = p.n, np.ones(p.n)
    a_eq = np.vstack(
        [np.concatenate([p.beta, -p.beta]), np.concatenate([ones, -ones]), np.ones(2 * n)]
    )
    b_eq = np.array([0.0, 0.0, p.gross])
    ft = p.factors.T
    a_ub = np.vstack([np.hstack([ft, -ft]), np.hstack([-ft, ft])])
    b_ub = np.full(a_ub.shape[0], p.factor_tol)
    return a_eq, b_eq, a_ub, b_ub


def _solve_lp(p: _Problem, upper: FloatArray | None = None) -> FloatArray | None:
    """Weights from the LP relaxation, or None when its solution overlaps (needs the MILP).

    ``upper`` (shape ``(2n,)``) overrides the upper bounds ``M`` of ``[p, m]``; a zero
    there fixes the sign of an asset.
    """
    from scipy import optimize  # at first use: a run without the factor-neutral book never loads it

    a_eq, b_eq, a_ub, b_ub = _split_rows(p)
    bounds = np.column_stack(
        [np.zeros(2 * p.n), np.full(2 * p.n, p.max_weight) if upper is None else upper]
    )
    res = optimize.linprog(
        np.concatenate([-p.alpha, p.alpha]),
        A_ub=a_ub if a_ub.shape[0] else None,
        b_ub=b_ub if a_ub.shape[0] else None,
        A_eq=a_eq,
        b_eq=b_eq,
        bounds=bounds,
        method="highs",
        options={
            "primal_feasibility_tolerance": LP_FEASIBILITY_TOL,
            "dual_feasibility_tolerance": LP_FEASIBILITY_TOL,
        },
    )
    if res.status == 2:
        raise p.infeasible(f"the LP relaxation is infeasible ({res.message})")
    if res.status != 0:
        raise SolverError(f"HiGHS LP failed: {res.message}", status=int(res.status))
    x = np.asarray(res.x, dtype=np.float64)
    pos, neg = x[: p.n], x[p.n :]
    if float(np.max(np.minimum(pos, neg))) > OVERLAP_TOL:
        return None
    return np.asarray(pos - neg, dtype=np.float64)


def _solve_milp(p: _Problem) -> tuple[FloatArray, bool]:
    """Weights from the exact MILP (sign binaries), and whether optimality was proven."""
    from scipy import optimize, sparse  # at first use: a run without the book never loads them

    n, big_m = p.n, p.max_weight
    a_eq, b_eq, a_ub, b_ub = _split_rows(p)
    no_z = sparse.csr_array((a_eq.shape[0], n))
    eye = sparse.eye_array(n, format="csr")
    link = sparse.vstack(
        [
            sparse.hstack([eye, sparse.csr_array((n, n)), -big_m * eye]),  # p_i ≤ M z_i
            sparse.hstack([sparse.csr_array((n, n)), eye, big_m * eye]),  # m_i ≤ M (1 − z_i)
        ]
    )
    constraints = [
        optimize.LinearConstraint(sparse.hstack([sparse.csr_array(a_eq), no_z]), b_eq, b_eq),
        optimize.LinearConstraint(link, -np.inf, np.concatenate([np.zeros(n), np.full(n, big_m)])),
    ]
    if a_ub.shape[0]:
        rows = sparse.hstack([sparse.csr_array(a_ub), sparse.csr_array((a_ub.shape[0], n))])
        constraints.append(optimize.LinearConstraint(rows, -np.inf, b_ub))
    upper = np.concatenate([np.full(2 * n, big_m), np.ones(n)])
    res = optimize.milp(
        np.concatenate([-p.alpha, p.alpha, np.zeros(n)]),
        integrality=np.concatenate([np.zeros(2 * n), np.ones(n)]),
        bounds=optimize.Bounds(np.zeros(3 * n), upper),
        constraints=constraints,
        options={"mip_rel_gap": MIP_REL_GAP, "node_limit": MIP_NODE_LIMIT},
    )
    if res.status == 2:
        raise p.infeasible("no book of the target gross satisfies the other constraints")
    if res.x is None or res.status not in (0, 1):
        raise SolverError(f"HiGHS MILP failed: {res.message}", status=int(res.status))
    # Re-solve as an LP with the signs the MILP chose fixed (bounds 0 on the other side):
    # an exact simplex vertex, free of the MILP's integrality tolerance (z_i ≈ 1e-7 would
    # let p_i and m_i overlap slightly and Σ|w| fall short of G).
    long = np.asarray(res.x, dtype=np.float64)[2 * n :] > 0.5
    upper = np.concatenate([np.where(long, big_m, 0.0), np.where(long, 0.0, big_m)])
    weights = _solve_lp(p, upper)
    if weights is None:  # pragma: no cover - overlap is impossible with one side bounded at 0
        raise SolverError("sign-fixed LP re-solve overlapped")
    return weights, res.status == 0


def _check(w: FloatArray, p: _Problem) -> None:
    """Raise :class:`SolverError` naming every constraint ``w`` violates beyond CHECK_ATOL."""
    excess = {
        "beta-neutral |w·β|": abs(float(p.beta @ w)),
        "dollar-neutral |Σw|": abs(float(w.sum())),
        "gross |Σ|w| − G|": abs(float(np.abs(w).sum()) - p.gross),
        "box max|w_i| − M": float(np.max(np.abs(w))) - p.max_weight,
        "factor bands max|w·F_f| − tol": (
            float(np.max(np.abs(p.factors.T @ w))) - p.factor_tol if p.factors.shape[1] else 0.0
        ),
    }
    bad = {k: v for k, v in excess.items() if v > CHECK_ATOL}
    if bad:
        raise SolverError(f"solution violates {bad} beyond {CHECK_ATOL}")
