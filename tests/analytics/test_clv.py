"""BG/NBD, Gamma-Gamma and CLV against the published CDNOW estimates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from sklearn.exceptions import NotFittedError

from patron.analytics.clv import BetaGeoModel, GammaGammaModel, customer_lifetime_value
from patron.analytics.errors import (
    EmptyDataError,
    InsufficientDataError,
    InvalidParameterError,
    InvalidValueError,
    MissingColumnError,
)
from patron.analytics.rfm import summarize_transactions
from patron.analytics.simulate import simulate_customers

# Fader, Hardie & Lee (2005a), "Counting your customers" the easy way, Marketing Science 24(2),
# p. 279: BG/NBD on the CDNOW sample (2,357 customers, 39-week calibration):
# r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4.
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_BGNBD_LL = -9582.4
# Fader, Hardie & Lee (2005b), RFM and CLV, Journal of Marketing Research 42(4), p. 422: the
# Gamma-Gamma spend model on the 946 repeat buyers: p = 6.25, q = 3.74, gamma (our v) = 15.44.
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}


@pytest.fixture(scope="module")
def bgnbd(cdnow_summary):
    return BetaGeoModel().fit(cdnow_summary)


@pytest.fixture(scope="module")
def gamma_gamma(cdnow_summary):
    return GammaGammaModel().fit(cdnow_summary)


def test_bgnbd_matches_published_cdnow_estimates(bgnbd):
    for name, value in PUBLISHED_BGNBD.items():
        assert bgnbd.params_[name] == pytest.approx(value, abs=0.005), name
    assert bgnbd.loglik_ == pytest.approx(PUBLISHED_BGNBD_LL, abs=0.05)
    assert bgnbd.n_customers_ == 2357
    assert list(bgnbd.summary_.columns) == ["coef", "se", "ci_lower", "ci_upper"]
    assert (bgnbd.summary_["se"] > 0).all()


def test_bgnbd_fit_from_raw_transactions_matches_too(cdnow_transactions):
    summary = summarize_transactions(
        cdnow_transactions,
        customer="customer_id",
        date="date",
        amount="amount",
        calibration_end="1997-09-30",
        date_format="%Y%m%d",
    )
    model = BetaGeoModel().fit(summary)
    for name, value in PUBLISHED_BGNBD.items():
        assert model.params_[name] == pytest.approx(value, abs=0.005), name
    spend = GammaGammaModel().fit(summary)
    for name, value in PUBLISHED_GAMMA_GAMMA.items():
        assert spend.params_[name] == pytest.approx(value, abs=0.01), name


def test_gamma_gamma_matches_published_cdnow_estimates(gamma_gamma):
    for name, value in PUBLISHED_GAMMA_GAMMA.items():
        assert gamma_gamma.params_[name] == pytest.approx(value, abs=0.01), name
    assert gamma_gamma.n_customers_ == 946
    # E[Z] is a weighted mean of the population mean p v / (q - 1) and the customer's own mean
    population = gamma_gamma.p_ * gamma_gamma.v_ / (gamma_gamma.q_ - 1)
    assert gamma_gamma.expected_spend(0, 0) == pytest.approx(population)
    assert population < gamma_gamma.expected_spend(5, 100.0) < 100.0


def test_bgnbd_predictions_with_published_parameters():
    model = BetaGeoModel()
    model.r_, model.alpha_, model.a_, model.b_ = 0.243, 4.414, 0.793, 2.426
    # FHL (2005a) worked example (also in their Excel implementation note): a customer with
    # x = 2, t_x = 30.43, T = 38.86 is expected to make 1.226 purchases in the next 39 weeks.
    assert model.conditional_expected_purchases(39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=5e-4)
    # P(alive) is 1 without repeat purchases and falls as the last purchase recedes
    p = model.probability_alive([0, 2, 2], [0, 38.0, 5.0], [38.86, 38.86, 38.86])
    assert p[0] == 1.0 and p[1] > p[2]
    # a new customer's expectation grows with t and is 0 at t = 0
    assert model.expected_purchases(0) == pytest.approx(0.0)
    assert 0 < model.expected_purchases(10) < model.expected_purchases(39)


def test_bgnbd_gradient_is_the_derivative_of_the_likelihood(cdnow_summary):
    x = cdnow_summary["frequency"].to_numpy(float)
    xu, inv = np.unique(x, return_inverse=True)
    data = {
        "x": x,
        "t_x": cdnow_summary["recency"].to_numpy(float),
        "T": cdnow_summary["T"].to_numpy(float),
        "w": np.ones_like(x),
        "xu": xu,
        "inv": inv,
    }
    point = np.array([0.3, 5.0, 0.9, 2.0])
    error = optimize.check_grad(
        lambda p: BetaGeoModel._neg_loglik(p, data)[0], lambda p: BetaGeoModel._neg_loglik(p, data)[1], point
    )
    assert error < 1e-6


def test_planted_parameters_are_recovered():
    truth = {"r": 0.5, "alpha": 6.0, "a": 0.9, "b": 3.0}
    summary = simulate_customers(
        20_000, **truth, T=np.linspace(20, 52, 20_000), p=4.0, q=5.0, v=20.0, seed=11
    )
    model = BetaGeoModel().fit(summary)
    for name, value in truth.items():
        assert model.params_[name] == pytest.approx(value, rel=0.15), name
        low, high = model.summary_.loc[name, ["ci_lower", "ci_upper"]]
        assert low - 0.05 * value < value < high + 0.05 * value, name
    spend = GammaGammaModel().fit(summary)
    assert spend.params_["p"] == pytest.approx(4.0, rel=0.15)
    assert spend.params_["q"] == pytest.approx(5.0, rel=0.2)


def test_sample_weight_equals_repeated_rows(cdnow_summary):
    counts = cdnow_summary.groupby(["frequency", "recency", "T"]).size().rename("n").reset_index()
    weighted = BetaGeoModel().fit(counts, sample_weight=counts["n"])
    for name, value in PUBLISHED_BGNBD.items():
        assert weighted.params_[name] == pytest.approx(value, abs=0.005)


def test_clv_discounts_and_ranks_customers(bgnbd, gamma_gamma, cdnow_summary):
    clv = customer_lifetime_value(bgnbd, gamma_gamma, cdnow_summary, months=12, monthly_discount_rate=0.01)
    assert list(clv.columns) == ["p_alive", "expected_purchases", "expected_spend", "clv"]
    assert (clv["clv"] >= 0).all()
    undiscounted = customer_lifetime_value(
        bgnbd, gamma_gamma, cdnow_summary, months=12, monthly_discount_rate=0.0
    )
    assert (undiscounted["clv"] >= clv["clv"]).all()
    # without discounting, CLV = E[purchases in 12 months] x E[spend]
    np.testing.assert_allclose(
        undiscounted["clv"], undiscounted["expected_purchases"] * undiscounted["expected_spend"], rtol=1e-9
    )
    longer = customer_lifetime_value(bgnbd, gamma_gamma, cdnow_summary, months=24, monthly_discount_rate=0.01)
    assert (longer["clv"] >= clv["clv"] - 1e-12).all()
    daily = cdnow_summary.assign(recency=cdnow_summary["recency"] * 7, T=cdnow_summary["T"] * 7)
    # the same customers measured in days give the same CLV
    bg_days = BetaGeoModel().fit(daily)
    clv_days = customer_lifetime_value(bg_days, gamma_gamma, daily, time_unit="day", months=12)
    np.testing.assert_allclose(clv_days["clv"], clv["clv"], rtol=1e-3, atol=1e-3)


def test_bad_summaries_are_rejected(cdnow_summary):
    with pytest.raises(EmptyDataError):
        BetaGeoModel().fit(cdnow_summary.iloc[:0])
    with pytest.raises(InsufficientDataError):
        BetaGeoModel().fit(cdnow_summary.iloc[:1])  # a single customer
    with pytest.raises(InsufficientDataError):
        BetaGeoModel().fit(cdnow_summary[cdnow_summary["frequency"] == 0])
    with pytest.raises(MissingColumnError) as info:
        BetaGeoModel().fit(cdnow_summary.drop(columns="recency"))
    assert info.value.column == "recency"
    bad = cdnow_summary.copy()
    bad["recency"] = np.nan
    with pytest.raises(InvalidValueError) as info:
        BetaGeoModel().fit(bad)  # all-NaN feature
    assert info.value.column == "recency"
    bad = cdnow_summary.copy()
    bad.iloc[0, bad.columns.get_loc("recency")] = 99.0
    with pytest.raises(InvalidValueError, match="larger than T"):
        BetaGeoModel().fit(bad)
    bad = cdnow_summary.copy()
    bad.iloc[0, bad.columns.get_loc("monetary_value")] = -3.0
    with pytest.raises(InvalidValueError) as info:
        GammaGammaModel().fit(bad)  # negative amounts
    assert info.value.column == "monetary_value"
    with pytest.raises(InsufficientDataError):
        GammaGammaModel().fit(cdnow_summary[cdnow_summary["frequency"] == 0])
    with pytest.raises(InvalidValueError):
        BetaGeoModel().fit([[1, 2, 3]])
    with pytest.raises(NotFittedError):
        BetaGeoModel().probability_alive(1, 1, 2)


def test_bad_clv_parameters_are_rejected(bgnbd, gamma_gamma, cdnow_summary):
    for kwargs in ({"months": 0}, {"monthly_discount_rate": -0.1}, {"time_unit": "year"}, {"margin": 0}):
        with pytest.raises(InvalidParameterError):
            customer_lifetime_value(bgnbd, gamma_gamma, cdnow_summary, **kwargs)


def test_estimators_follow_scikit_learn_conventions():
    model = BetaGeoModel(max_iter=50)
    assert model.get_params() == {"max_iter": 50, "tol": 1e-8}
    assert not hasattr(model, "params_")


def test_bgnbd_on_the_plain_cdnow_summary_file():
    # cdnow_customers_summary.csv: the same customers without spend (columns ID, frequency, recency, T)
    from tests.analytics.conftest import DATA

    summary = pd.read_csv(DATA / "cdnow_customers_summary.csv").set_index("ID")
    model = BetaGeoModel().fit(summary)
    for name, value in PUBLISHED_BGNBD.items():
        assert model.params_[name] == pytest.approx(value, abs=0.005), name
