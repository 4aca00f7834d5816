"""The rewards catalogue and taking a reward for points.

A redemption takes one unit of stock (``UPDATE ... SET stock = stock - 1 WHERE stock > 0``) and the
points (the conditional update of :func:`patron.loyalty.service.change_points`) in one savepoint: when
either is refused nothing is written, and two customers racing for the last unit never both get it.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from patron.core.db import utcnow
from patron.core.errors import Conflict, Invalid, NotFound
from patron.customers import service as customers_service
from patron.loyalty import service as points_service
from patron.loyalty.models import Reward, RewardRedemption

MAX_COST = 10_000_000
MAX_STOCK = 10_000_000


def _check(name: str, cost_points: int, stock: int | None) -> None:
    if not name.strip():
        raise Invalid("name: give the reward a name.", field="name")
    if isinstance(cost_points, bool) or not isinstance(cost_points, int) or not 1 <= cost_points <= MAX_COST:
        raise Invalid(f"cost_points: a whole number from 1 to {MAX_COST:,}.", field="cost_points")
    if stock is not None and (
        isinstance(stock, bool) or not isinstance(stock, int) or not 0 <= stock <= MAX_STOCK
    ):
        raise Invalid(f"stock: a whole number from 0 to {MAX_STOCK:,}, or null for unlimited.", field="stock")


def list_rewards(session: Session, *, org_id: int, active: bool | None = None) -> list[Reward]:
    query = select(Reward).where(Reward.org_id == org_id)
    if active is not None:
        query = query.where(Reward.active.is_(active))
    return list(session.scalars(query.order_by(Reward.cost_points, Reward.id)))


def get_reward_or_raise(session: Session, *, org_id: int, reward_id: int) -> Reward:
    reward = session.scalar(select(Reward).where(Reward.org_id == org_id, Reward.id == reward_id))
    if reward is None:
        raise NotFound(f"No reward {reward_id}.", field="reward_id")
    return reward


def create_reward(session: Session, *, org_id: int, name: str, cost_points: int, stock: int | None = None,
                  description: str = "", active: bool = True) -> Reward:  # fmt: skip
    _check(name, cost_points, stock)
    reward = Reward(org_id=org_id, name=name.strip(), description=description.strip(), cost_points=cost_points,
                    stock=stock, active=active, created_at=utcnow())  # fmt: skip
    session.add(reward)
    session.flush()
    return reward


def update_reward(session: Session, *, reward: Reward, changes: dict) -> Reward:
    merged = {"name": reward.name, "cost_points": reward.cost_points, "stock": reward.stock, **changes}
    _check(merged["name"], merged["cost_points"], merged["stock"])
    for name in ("name", "description", "cost_points", "stock", "active"):
        if name in changes:
            value = changes[name]
            setattr(reward, name, value.strip() if isinstance(value, str) else value)
    session.flush()
    return reward


def do_redeem_reward(session: Session, *, org_id: int, reward_id: int, customer_id: int,
                     created_by_id: int | None = None) -> RewardRedemption:  # fmt: skip
    """Give the customer the reward for its points: 409 (``field`` ``reward_id``) when it is out of stock
    or inactive, 409 (``points``) when the balance is short; nothing is written then."""
    customers_service.get_writable_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    reward = get_reward_or_raise(session, org_id=org_id, reward_id=reward_id)
    if not reward.active:
        raise Conflict(f"The reward {reward.name} is not offered any more.", field="reward_id")
    with session.begin_nested():
        if reward.stock is not None:
            taken = session.execute(
                update(Reward).where(Reward.org_id == org_id, Reward.id == reward_id, Reward.stock > 0)
                .values(stock=Reward.stock - 1).execution_options(synchronize_session=False)
            ).rowcount  # fmt: skip
            if not taken:
                raise Conflict(
                    f"The reward {reward.name} is out of stock.", field="reward_id", code="out_of_stock"
                )
        entry, _ = points_service.change_points(session, org_id=org_id, customer_id=customer_id, kind="redeem",
                                                points=reward.cost_points, reason=f"Reward: {reward.name}"[:200],
                                                source=f"reward:{reward.id}", created_by_id=created_by_id)  # fmt: skip
        redemption = RewardRedemption(org_id=org_id, reward_id=reward.id, customer_id=customer_id,
                                      points=reward.cost_points, points_entry_id=entry.id, created_at=utcnow())  # fmt: skip
        session.add(redemption)
        session.flush()
    session.refresh(reward)
    return redemption


def list_redemptions(session: Session, *, org_id: int, customer_id: int | None = None,
                     reward_id: int | None = None, limit: int = 50) -> list[RewardRedemption]:  # fmt: skip
    query = select(RewardRedemption).where(RewardRedemption.org_id == org_id)
    if customer_id is not None:
        query = query.where(RewardRedemption.customer_id == customer_id)
    if reward_id is not None:
        query = query.where(RewardRedemption.reward_id == reward_id)
    return list(session.scalars(query.order_by(RewardRedemption.id.desc()).limit(limit)))


def count_redemptions(session: Session, *, org_id: int, reward_id: int) -> int:
    return session.scalar(select(func.count(RewardRedemption.id)).where(
        RewardRedemption.org_id == org_id, RewardRedemption.reward_id == reward_id)) or 0  # fmt: skip
