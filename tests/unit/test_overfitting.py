"""The deflated Sharpe ratio and the probability of backtest overfitting
(agent.research.overfitting) against the papers' own numbers, values worked out by hand,
a brute-force CSCV written here, simulations and their known properties."""

from __future__ import annotations

import math
from itertools import combinations, pairwise
from statistics import NormalDist

import numpy as np
import pytest

from agent.research.overfitting import (
    EULER_GAMMA,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    sharpe_ratio,
)

NORMAL = NormalDist()


# --------------------------------------------------------------------------------------------
# Deflated Sharpe ratio
# --------------------------------------------------------------------------------------------


def test_the_numerical_example_of_the_dsr_paper() -> None:
    # Bailey & López de Prado (2014), section "A numerical example": 100 trials, annualized
    # Sharpe 2.5 over 5 years of daily returns (T = 1250, 250 days a year), variance of the
    # trials' annualized Sharpe ratios 0.5, skewness -3, kurtosis 10; the paper finds
    # SR0 = 0.1132 (daily) and DSR = 0.9004.
    sr0 = expected_max_sharpe(100, 0.5 / 250)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = probabilistic_sharpe_ratio(2.5 / math.sqrt(250), sr0, 1250, -3.0, 10.0)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def test_expected_max_sharpe_by_hand() -> None:
    # N = 10, V = 0.04: sqrt(V) · ((1 − γ) z(0.9) + γ z(1 − 1/(10 e))), quantiles from the
    # standard library's NormalDist (not scipy).
    by_hand = 0.2 * (
        (1 - EULER_GAMMA) * NORMAL.inv_cdf(0.9)
        + EULER_GAMMA * NORMAL.inv_cdf(1 - 1 / (10 * math.e))
    )
    assert expected_max_sharpe(10, 0.04) == pytest.approx(by_hand, rel=1e-12)
    assert expected_max_sharpe(1, 0.04) == 0.0  # one trial: nothing was selected
    assert expected_max_sharpe(50, 0.0) == 0.0


@pytest.mark.parametrize("n_trials", [100, 1000])
def test_expected_max_sharpe_matches_the_simulated_maximum(n_trials: int) -> None:
    # The false strategy theorem: the best of N unskilled trials whose Sharpe estimates are
    # N(0, V) has an expected maximum ≈ SR0 (an approximation, within 1.5 % at these N).
    rng = np.random.default_rng(20140501)
    sd = 0.05
    simulated = float(rng.normal(0.0, sd, (4000, n_trials)).max(axis=1).mean())
    assert expected_max_sharpe(n_trials, sd**2) == pytest.approx(simulated, rel=0.015)


def test_the_dsr_falls_as_the_number_of_trials_grows() -> None:
    sr, t, skew, kurt, var = 0.12, 500, -0.5, 4.0, 0.002
    dsrs = [
        probabilistic_sharpe_ratio(sr, expected_max_sharpe(n, var), t, skew, kurt)
        for n in (1, 2, 5, 10, 50, 100, 1000, 10_000)
    ]
    assert all(a > b for a, b in pairwise(dsrs))
    assert dsrs[0] == pytest.approx(probabilistic_sharpe_ratio(sr, 0.0, t, skew, kurt))


def test_psr_by_hand() -> None:
    # SR 0.1 against 0 over 101 normal returns: z = 0.1 · 10 / sqrt(1 + (3 − 1)/4 · 0.01).
    z = 1.0 / math.sqrt(1.005)
    phi = 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))
    assert probabilistic_sharpe_ratio(0.1, 0.0, 101, 0.0, 3.0) == pytest.approx(phi, rel=1e-12)
    # Negative skewness and fat tails widen the estimate's error: the PSR of a positive
    # Sharpe ratio falls toward 0.5.
    assert probabilistic_sharpe_ratio(0.1, 0.0, 101, -2.0, 9.0) < phi
    assert math.isnan(probabilistic_sharpe_ratio(1.0, 0.0, 101, 5.0, 1.0))  # 1 − 5 + 0 < 0


def test_deflated_sharpe_ratio_of_a_return_series() -> None:
    rng = np.random.default_rng(7)
    returns = rng.standard_t(5, 400) * 0.01 + 0.002
    trial_sharpes = np.array([0.05, -0.02, 0.11, 0.0, np.nan, 0.08])
    # By hand: SR with ddof 1, biased moments, V over the finite trials (ddof 1), N = 6.
    mean, sd = returns.mean(), returns.std(ddof=1)
    d = returns - mean
    m2 = (d**2).mean()
    skew, kurt = (d**3).mean() / m2**1.5, (d**4).mean() / m2**2
    finite = trial_sharpes[np.isfinite(trial_sharpes)]
    var = ((finite - finite.mean()) ** 2).sum() / (finite.size - 1)
    sr0 = math.sqrt(var) * (
        (1 - EULER_GAMMA) * NORMAL.inv_cdf(1 - 1 / 6)
        + EULER_GAMMA * NORMAL.inv_cdf(1 - 1 / (6 * math.e))
    )
    sr = mean / sd
    z = (sr - sr0) * math.sqrt(399) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)

    got = deflated_sharpe_ratio(returns, trial_sharpes)

    assert got.n_trials == 6
    assert got.n_obs == 400
    assert got.sharpe == pytest.approx(sr, rel=1e-12)
    assert got.skewness == pytest.approx(skew, rel=1e-9)
    assert got.kurtosis == pytest.approx(kurt, rel=1e-9)
    assert got.sharpe_variance == pytest.approx(var, rel=1e-12)
    assert got.expected_max_sharpe == pytest.approx(sr0, rel=1e-9)
    assert got.dsr == pytest.approx(NORMAL.cdf(z), rel=1e-9)
    assert got.reason is None


def test_a_selected_run_that_never_traded_has_no_dsr() -> None:
    got = deflated_sharpe_ratio(np.zeros(30), [0.0, 0.1, -0.1])
    assert math.isnan(got.dsr)
    assert got.reason == "the selected run's returns are constant"
    assert math.isnan(deflated_sharpe_ratio([0.01], [0.1, 0.2]).dsr)


def test_sharpe_ratio_conventions() -> None:
    assert sharpe_ratio([0.01, 0.03]) == pytest.approx(0.02 / math.sqrt(2e-4))
    assert sharpe_ratio(np.zeros(10)) == 0.0  # flat: no return, no risk
    assert sharpe_ratio(np.full(10, 0.001)) == math.inf
    assert math.isnan(sharpe_ratio([0.01]))
    with pytest.raises(ValueError, match="non-finite"):
        sharpe_ratio([0.01, math.nan])


# --------------------------------------------------------------------------------------------
# Probability of backtest overfitting
# --------------------------------------------------------------------------------------------


def test_pbo_by_hand_when_the_in_sample_best_always_disappoints() -> None:
    # Two blocks of two days. A: first half SR 0.02/0.01414 = 1.41, second −0.015/0.00707 =
    # −2.12; B: 0.005/0.00707 = 0.71 then 0.015/0.00707 = 2.12. Train on the first half → A
    # is best and ranks 1st of 2 on the second half; train on the second → B, 1st of 2 on
    # the first. ω = 1/3 both times, λ = ln(1/2) ≤ 0: PBO = 1.
    a = [0.01, 0.03, -0.02, -0.01]
    b = [0.00, 0.01, 0.02, 0.01]
    got = probability_of_backtest_overfitting(np.array([a, b]).T, n_blocks=2)
    assert got.pbo == 1.0
    assert got.n_blocks == 2
    assert got.n_combinations == 2
    np.testing.assert_allclose(got.logits, [math.log(0.5), math.log(0.5)])


def test_pbo_by_hand_when_skill_persists() -> None:
    # A is best in both halves (3.54 and 2.12 against B's 0 and 0.71): ω = 2/3, λ = ln 2 > 0.
    a = [0.02, 0.03, 0.02, 0.04]
    b = [0.01, -0.01, 0.00, 0.01]
    got = probability_of_backtest_overfitting(np.array([a, b]).T, n_blocks=2)
    assert got.pbo == 0.0
    np.testing.assert_allclose(got.logits, [math.log(2.0), math.log(2.0)])


def _brute_force_logits(m: np.ndarray, n_blocks: int) -> list[float]:
    """CSCV written out loop by loop (Bailey et al. 2017, steps 1-7)."""
    blocks = np.array_split(np.arange(m.shape[0]), n_blocks)
    n = m.shape[1]
    out = []
    for train in combinations(range(n_blocks), n_blocks // 2):
        test = [i for i in range(n_blocks) if i not in train]
        rows_in = np.concatenate([blocks[i] for i in train])
        rows_out = np.concatenate([blocks[i] for i in test])
        sr_in = [m[rows_in, j].mean() / m[rows_in, j].std(ddof=1) for j in range(n)]
        sr_out = [m[rows_out, j].mean() / m[rows_out, j].std(ddof=1) for j in range(n)]
        best = int(np.argmax(sr_in))
        rank = (
            sum(s < sr_out[best] for s in sr_out) + (sum(s == sr_out[best] for s in sr_out) + 1) / 2
        )
        omega = rank / (n + 1)
        out.append(math.log(omega / (1 - omega)))
    return out


def test_pbo_equals_a_brute_force_cscv() -> None:
    rng = np.random.default_rng(11)
    m = rng.normal(0.0005, 0.01, (37, 5))  # 37 rows: blocks of 7 and 6 rows
    got = probability_of_backtest_overfitting(m, n_blocks=6)
    expected = _brute_force_logits(m, 6)
    np.testing.assert_allclose(got.logits, expected, rtol=1e-9, atol=1e-12)
    assert got.pbo == pytest.approx(np.mean(np.array(expected) <= 0))
    assert got.n_combinations == math.comb(6, 3)


def test_pbo_of_pure_noise_is_about_one_half() -> None:
    # Unskilled trials: the in-sample best's out-of-sample rank is uniform, so PBO is 0.5 on
    # average over universes (one universe's PBO varies widely: its splits share data).
    pbos = [
        probability_of_backtest_overfitting(
            np.random.default_rng(seed).normal(0.0, 0.01, (240, 10)), n_blocks=8
        ).pbo
        for seed in range(200)
    ]
    assert np.mean(pbos) == pytest.approx(0.5, abs=0.03)


def test_pbo_of_a_skilled_trial_among_noise_is_near_zero() -> None:
    rng = np.random.default_rng(3)
    m = rng.normal(0.0, 0.01, (1000, 20))
    m[:, 7] += 0.003  # a daily Sharpe ratio of 0.3 against 0
    assert probability_of_backtest_overfitting(m, n_blocks=16).pbo < 0.01


def test_pbo_blocks_shrink_to_the_observations_and_degenerate_input_is_nan() -> None:
    m = np.random.default_rng(5).normal(0.0, 0.01, (9, 3))
    got = probability_of_backtest_overfitting(m, n_blocks=16)
    assert got.n_blocks == 8  # the largest even number ≤ 9
    assert got.n_combinations == math.comb(8, 4)
    one = probability_of_backtest_overfitting(m[:, :1])
    assert math.isnan(one.pbo)
    assert one.reason == "fewer than 2 trials"
    short = probability_of_backtest_overfitting(m[:3])
    assert math.isnan(short.pbo)
    assert short.reason is not None
    assert "too few observations" in short.reason


def test_flat_trials_rank_as_sharpe_zero() -> None:
    # A run that never traded (all zero returns) is a trial with Sharpe 0, not an error.
    rng = np.random.default_rng(8)
    m = np.column_stack([rng.normal(0.0, 0.01, 64), np.zeros(64), rng.normal(0.0, 0.01, 64)])
    got = probability_of_backtest_overfitting(m, n_blocks=8)
    assert np.all(np.isfinite(got.logits))


@pytest.mark.parametrize("blocks", [0, 3, 7])
def test_pbo_refuses_an_odd_or_tiny_block_count(blocks: int) -> None:
    with pytest.raises(ValueError, match="even number"):
        probability_of_backtest_overfitting(np.zeros((20, 2)), n_blocks=blocks)


def test_pbo_refuses_non_finite_returns() -> None:
    m = np.zeros((20, 2))
    m[3, 1] = math.inf
    with pytest.raises(ValueError, match="non-finite"):
        probability_of_backtest_overfitting(m)


@pytest.mark.parametrize("seed", range(5))
def test_a_trial_flat_until_its_first_trade_ranks_as_sharpe_zero_there(seed: int) -> None:
    # Returns exactly 0 over the first half (a strategy warming up), then noise: on splits
    # whose half is all zeros its Sharpe ratio is 0 — not the ±inf a rounding residue of the
    # mean over a zero std would give.
    rng = np.random.default_rng(seed)
    m = rng.normal(0.0003, 0.01, (64, 4))
    m[:32, 1] = 0.0
    got = probability_of_backtest_overfitting(m, n_blocks=4)
    blocks = np.array_split(np.arange(64), 4)
    expected = []
    for train in combinations(range(4), 2):
        test = [i for i in range(4) if i not in train]
        halves = [np.concatenate([blocks[i] for i in h]) for h in (train, test)]
        sr = [
            [
                m[rows, j].mean() / m[rows, j].std(ddof=1) if m[rows, j].any() else 0.0
                for j in range(4)
            ]
            for rows in halves
        ]
        best = int(np.argmax(sr[0]))
        out = sr[1]
        rank = sum(s < out[best] for s in out) + (sum(s == out[best] for s in out) + 1) / 2
        expected.append(math.log(rank / 5 / (1 - rank / 5)))
    np.testing.assert_allclose(got.logits, expected, rtol=1e-9)
