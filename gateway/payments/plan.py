"""A payment's plan: what every payment binds, and the steps every payment shares.

A payment is one plan (``store.compose``): under an idempotency key the key's claim first
(``claimed``: nothing is written when another request holds it, ``idempotency.Claimed``), the
conditional debit of the payer's wallet (nothing is written when it is short), its count in
the key's spend windows (the store refuses the whole write when one would pass its limit),
the kind's own writes (a send's recipient and top-up row, a charge's payee and charge row),
the ledger entries, the payment's event with its deliveries, ``balance.low`` on crossing, and
an auto top-up's run on crossing its threshold (``ledger.refills``) (``steps``).

The parameters are a contract, typed where they are made: every payment supplies ``Paying``
and ``BalanceLow``, one with an event ``Announcing``, each window it counts in that window's
parameters (``spend.window_params``), and each kind its own part, a ``TypedDict`` deriving from
``Paying`` or beside it (``topup.sending``, ``apps.charging``). A plan is built with the names
its kind supplies (``given``), so a step that binds a name none supplies fails when the plan is
built. The parts are plain dicts at run time: the send is the hot path, and a dataclass turned
into the driver's mapping costs several times the dict itself on every send.
"""

import functools
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from typing import TypedDict

from sqlalchemy import Update

from .. import idempotency, outbox
from ..ledger import alerts, refills
from ..ledger import service as ledger
from ..policies import spend
from ..store.compose import Build, Refs, Step, steps
from ..store.raw import Construct

__all__ = [
    "ANSWER",
    "CLAIM",
    "DEBIT",
    "Announcing",
    "BalanceLow",
    "Filled",
    "Paying",
    "given",
    "payment_steps",
]

DEBIT = "debit"  # the step every other step of a payment depends on
CLAIM = "claim"  # an idempotency key's claim, which the debit waits on
ANSWER = "answer"  # or the key taken with its answer, last (``idempotency.answer_step``)

# What a payment's answer takes from its plan, by name in the answer's ``data``: a step and a
# column of the row it returned (``idempotency.fill``; NULL, so left as the answer says, when
# the step returned none).
Filled = dict[str, tuple[str, str]]


class Paying(TypedDict):
    """What every payment binds: the payer's debit, its spend and its ledger entries."""

    txn_id: str  # the payment's id: a top-up's, a charge's
    now: datetime
    env: str
    merchant_id: str  # the payer
    api_key_id: str  # the key (or a consent's token) that pays, whose windows count it
    wallet_id: str  # the payer's wallet in ``env``, debited
    amount: int
    taken: int  # what the debit takes and the windows count: nothing when failed at once
    reference: str  # the ledger entries' reference: the payment's id
    memo: str | None


# ``balance.low`` on crossing, which every payment may make (``alerts.low_params``).
BalanceLow = alerts.LowParams
# The payment's own event (``outbox.event_params``).
Announcing = outbox.EventParams

_EVERY = frozenset(Paying.__required_keys__ | BalanceLow.__required_keys__)


def given(
    windows: Sequence[str], *parts: Collection[str], claimed: bool = False, answered: bool = False
) -> frozenset[str]:
    """The names a payment counted in ``windows`` supplies: every payment's, those of each of
    its ``parts`` (a part's ``__required_keys__``), and, ``claimed``, its key's claim's, or,
    ``answered``, its key's answer's."""
    supplied = set(_EVERY).union(*parts)
    if claimed:
        supplied.update(idempotency.CLAIM_PARAMS)
    if answered:
        supplied.update(idempotency.ANSWER_PARAMS)
    for name in windows:
        supplied.update(spend.window_params(name))
    return frozenset(supplied)


def payment_steps(
    windows: Sequence[str],
    *,
    writes: Iterable[Step | Iterable[Step]],
    lines: Callable[[Refs], Sequence[ledger.Line]],
    debited: int = 1,
    event: bool = True,
    then: Iterable[Step] = (),
    locks: Iterable[Step] = (),
    debits: bool = True,
    claimed: bool = False,
    answered: Filled | None = None,
) -> list[Step]:
    """The payment's steps: a rolling window's lock (``spend.lock_steps``), the kind's own
    ``locks`` (a wallet its ``writes`` make a grant in, settled: ``grants.settle_steps``), with
    ``claimed`` its idempotency key's claim (``idempotency.claim_step``), the
    debit (none while the payer's environment is frozen; its wallet's count of entries moved by
    ``debited``, the payer's own ``lines``), the count in ``windows``, the kind's ``writes``,
    the entries of ``lines``, the event (``event``), ``balance.low``, and what else the kind
    writes after (``then``). Each gated on the debit, so "no row" there means nothing was
    written but what the locks wrote.

    ``debits=False``: another instrument than the wallet pays (a payment to a seller funded by
    the merchant's own card or key): the debit's place is the wallet's unfrozen gate
    (``ledger.unfrozen_gate``), so a frozen environment still writes nothing and the windows
    still count the amount, but the wallet is not debited and no entry, level or refill is
    written.

    ``answered``: under an idempotency key, whose claim and answer are one row written last
    (``idempotency.answer_step``, after everything else the plan writes), with these values of
    the plan put into the answer (``Filled``); the payment is then this one statement."""
    assert not (claimed and answered is not None), "a key is claimed first or answered last"
    claim: list[Step] = []
    answer: list[Step] = []
    if answered is not None:
        answer.append(Step(ANSWER, functools.partial(_answer, answered), counted=True))
    debit: Build = ledger.unfrozen_gate
    if debits:
        debit = functools.partial(ledger.conditional_debit, entries=debited, unfrozen=True)
    if claimed:
        claim.append(
            Step(
                CLAIM,
                idempotency.claim_step,
                required=True,
                counted=True,
                refused=idempotency.Claimed,
            )
        )
        debit = _after_claim(debit)
    if not debits:
        return steps(
            spend.lock_steps(windows),
            locks,
            claim,
            Step(DEBIT, debit, required=True),
            spend.count_steps(windows, after=DEBIT),
            *writes,
            outbox.event_steps("event", after=lambda r: r.after(DEBIT)) if event else [],
            then,
            answer,
        )
    return steps(
        # Statements of their own, before the plan's: the windows' lock first, as every
        # payment of the key takes it.
        spend.lock_steps(windows),
        locks,
        claim,
        Step(DEBIT, debit, required=True),
        spend.count_steps(windows, after=DEBIT),
        *writes,
        Step("entries", lambda r: ledger.entries(lines(r), after=r.after(DEBIT))),
        outbox.event_steps("event", after=lambda r: r.after(DEBIT)) if event else [],
        alerts.balance_low_steps(DEBIT),
        refills.refill_steps(DEBIT),
        then,
        answer,
    )


def _answer(answered: Filled, refs: Refs) -> Construct:
    filled = {name: refs.maybe(step, column) for name, (step, column) in answered.items()}
    return idempotency.answer_step(refs, after=refs.after(DEBIT), filled=filled)


def _after_claim(build: Build) -> Build:
    """The debit ``build`` makes, taken only once the claim before it took the key: in the one
    statement every CTE runs, so a debit that did not wait on the claim would be taken when the
    claim found the key held."""

    def waiting(refs: Refs) -> Construct:
        debit = build(refs)
        assert isinstance(debit, Update), "a payment's debit is an UPDATE of the payer's wallet"
        return debit.where(refs.after(CLAIM))

    return waiting
