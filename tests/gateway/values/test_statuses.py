"""A top-up's statuses are named once: the lifecycle's states, the replies' ``status``, the
dashboard's filter and the index of held money all read ``values.statuses``."""

from typing import get_args

from gateway.store import models
from gateway.topup import lifecycle
from gateway.topup.schemas import TopupData
from gateway.values import statuses


def test_the_lifecycle_and_the_replies_know_the_same_statuses() -> None:
    assert set(lifecycle.STATES) - {lifecycle.NEW} == set(statuses.STATUSES)
    assert get_args(TopupData.model_fields["status"].annotation) == statuses.STATUSES
    assert len(set(statuses.STATUSES)) == 7


def test_the_index_of_held_money_is_written_as_its_migration_made_it() -> None:
    # The partial index is only used by a query whose condition reads as the index's does.
    assert models.HELD_STATUSES == "status IN ('pending', 'pending_approval')"
