"""The demo's world: card payments, the customers who make them, and which of them are fraud.

A card-not-present and in-store payment stream of a small card issuer. Each transaction has
the features the fraud model sees (amount, customer age, account age, transactions in the
last 24 hours, distance from home, hour of day; country, channel, device, merchant
category) and a ground-truth fraud probability with interactions (new accounts paying
online, expensive electronics and digital goods, card testing bursts, night-time).
Chargebacks, the labels, are drawn from that probability.

Everything is generated with numpy from a seed: nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

COUNTRIES = ("US", "GB", "DE", "FR", "BR", "IN")
COUNTRY_SHARES = (0.36, 0.16, 0.14, 0.12, 0.12, 0.10)
CHANNELS = ("card_present", "online", "mobile_app")
CHANNEL_SHARES = (0.45, 0.35, 0.20)
MERCHANTS = ("grocery", "restaurants", "fashion", "electronics", "travel", "digital_goods")
MERCHANT_SHARES = (0.28, 0.20, 0.17, 0.12, 0.08, 0.15)
#: Median log-amount per merchant category (grocery ~ $27, travel ~ $200).
MERCHANT_LOG_AMOUNT = (3.3, 3.2, 4.0, 4.8, 5.3, 3.0)
#: Share of transactions per hour of day (a diurnal curve peaking in the evening).
HOUR_WEIGHTS = np.array(
    [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 3.5, 4, 4.2, 4.5, 5, 4.6, 4.3, 4.2, 4.5, 5, 5.5, 5.6, 5, 4, 3, 1.8]
)
HOUR_SHARES = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()

NUMERIC_FEATURES = (
    "amount",
    "customer_age",
    "account_age_days",
    "tx_count_24h",
    "distance_from_home_km",
    "hour_of_day",
)
CATEGORICAL_FEATURES = ("country", "channel", "device", "merchant_category")
DEVICES = ("terminal", "desktop_web", "mobile_web", "android", "ios")
#: The known values of each categorical feature.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "country": COUNTRIES,
    "channel": CHANNELS,
    "device": DEVICES,
    "merchant_category": MERCHANTS,
}
FEATURES = (*NUMERIC_FEATURES, *CATEGORICAL_FEATURES)

#: Intercept of the ground-truth logit: about 4.5% of transactions are fraud.
BASE_LOGIT = -4.9


@dataclass(frozen=True)
class Conditions:
    """How one day's population differs from the usual one (all neutral by default).

    Parameters
    ----------
    amount_factor : float, default=1.0
        Multiplies every amount (a sales season shifts the whole distribution).
    extra_tx_per_day : float, default=0.0
        Mean of additional transactions in the last 24 hours per customer.
    """

    amount_factor: float = 1.0
    extra_tx_per_day: float = 0.0


def sample_transactions(
    rng: np.random.Generator, n: int, conditions: Conditions = Conditions()
) -> pd.DataFrame:
    """``n`` transactions with their features (no labels), drawn from the usual population.

    >>> frame = sample_transactions(np.random.default_rng(0), 5)
    >>> list(frame.columns) == list(FEATURES)
    True
    """
    channel = rng.choice(len(CHANNELS), size=n, p=CHANNEL_SHARES)
    merchant = rng.choice(len(MERCHANTS), size=n, p=MERCHANT_SHARES)
    card_present = channel == 0
    device = np.where(
        card_present,
        "terminal",
        np.where(
            channel == 2,
            np.where(rng.random(n) < 0.55, "android", "ios"),
            np.where(rng.random(n) < 0.75, "desktop_web", "mobile_web"),
        ),
    )
    log_amount = np.asarray(MERCHANT_LOG_AMOUNT)[merchant] + rng.normal(0.0, 0.75, n)
    amount = np.round(np.exp(log_amount) * conditions.amount_factor, 2)
    online = ~card_present
    tx_count = rng.poisson(1.2 + 0.8 * online + conditions.extra_tx_per_day)
    distance = np.round(np.exp(rng.normal(np.where(online, 3.2, 1.8), 1.1)), 1)
    account_age = np.floor(rng.exponential(900.0, n) + rng.exponential(20.0, n)).astype(int)
    age = np.clip(np.round(rng.normal(41.0, 13.0, n)), 18, 90)
    hour = rng.choice(24, size=n, p=HOUR_SHARES)
    return pd.DataFrame(
        {
            "amount": amount,
            "customer_age": age,
            "account_age_days": account_age,
            "tx_count_24h": tx_count,
            "distance_from_home_km": distance,
            "hour_of_day": hour,
            "country": np.asarray(COUNTRIES)[rng.choice(len(COUNTRIES), size=n, p=COUNTRY_SHARES)],
            "channel": np.asarray(CHANNELS)[channel],
            "device": device,
            "merchant_category": np.asarray(MERCHANTS)[merchant],
        }
    )


def fraud_logit(frame: pd.DataFrame) -> np.ndarray:
    """The ground truth: log-odds that each transaction is fraud.

    Risk rises with the amount (faster for electronics and digital goods), for
    card-not-present payments, for young accounts (much more so online), with bursts of
    transactions (card testing), with distance from home and at night; it falls slightly
    with the customer's age.
    """
    online = (frame["channel"] != "card_present").to_numpy()
    risky_goods = frame["merchant_category"].isin(["electronics", "digital_goods"]).to_numpy()
    log_amount = np.log(frame["amount"].to_numpy(dtype=float) + 1.0)
    new_account = (frame["account_age_days"].to_numpy() < 45).astype(float)
    burst = np.clip(frame["tx_count_24h"].to_numpy(dtype=float) - 2.0, 0.0, 6.0)
    night = np.isin(frame["hour_of_day"].to_numpy(), [0, 1, 2, 3, 4, 5]).astype(float)
    distance = np.log1p(frame["distance_from_home_km"].to_numpy(dtype=float))
    age = frame["customer_age"].to_numpy(dtype=float)
    return (
        BASE_LOGIT
        + 0.9 * (log_amount - 3.8)
        + 0.45 * (log_amount - 3.8) * risky_goods
        + 1.0 * online
        + 0.6 * risky_goods
        + 1.2 * new_account
        + 1.1 * new_account * online
        + 0.45 * burst
        + 0.25 * (distance - 2.5)
        + 0.8 * night
        - 0.012 * (age - 41.0)
    )


def fraud_probability(frame: pd.DataFrame) -> np.ndarray:
    """P(fraud | features) of each transaction under the ground truth."""
    return 1.0 / (1.0 + np.exp(-fraud_logit(frame)))


def draw_labels(rng: np.random.Generator, probability: np.ndarray) -> np.ndarray:
    """Chargebacks (1 = fraud) drawn from the ground-truth probabilities."""
    return (rng.random(len(probability)) < probability).astype(int)
