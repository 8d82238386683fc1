"""One result, one way out: operations answer an ``Outcome``, and doors enqueue only through
``perform``, after the operation committed."""

import ast
import importlib
import inspect
import typing
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from redis.asyncio import Redis as AsyncRedis

from gateway.admin import merchants
from gateway.billing.orders import sandbox as sandbox_orders
from gateway.billing.settling import notices
from gateway.billing.wallet import redemption
from gateway.holds import doors as approval_doors
from gateway.operations import perform
from gateway.sellers import approvals as held_payments
from gateway.sellers import doors as payment_doors
from gateway.sellers import fetch as paying_fetch
from gateway.sellers.hold import PAYMENTS
from gateway.services import Services
from gateway.topup import approvals, cancelling, doors, inline
from gateway.topup import service as topup
from gateway.topup.hold import SENDS
from gateway.values.code_names import Code
from gateway.values.outcome import Outcome
from gateway.wakes import Waker
from gateway.webhooks import deliveries, endpoints, replays
from tests.fixtures.redis import RedisServer, kinds_heard, listening

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ROOT / "gateway"

# Where a request, a tool call or a command comes in.
DOORS = [
    "gateway/api",
    "gateway/mcp",
    "gateway/dashboard",
    "gateway/admin",
    "gateway/cli",
    "gateway/topup/doors.py",
    "gateway/topup/inline.py",
    "gateway/sellers/doors.py",
    "gateway/holds/doors.py",
    "gateway/oauth",
]
_ENQUEUE = {"publish", "enqueue_job"}
# Names a result carrier gives the deliveries it hands back.
_DELIVERY_FIELDS = {"deliveries", "delivery_ids", "jobs"}
# A parameter by these names makes a function a step of its caller's transaction.
_IN_A_TRANSACTION = {"conn", "tx"}

# Every operation a door calls that makes work for the worker.
ENTRY_POINTS: list[Callable[..., Any]] = [
    topup.send,
    cancelling.cancel,
    approvals.approve,
    approvals.deny,
    held_payments.approve,
    held_payments.deny,
    redemption.redeem,
    sandbox_orders.pay_sandbox,
    notices.handle,
    merchants.adjust,
    endpoints.send_test,
    deliveries.replay_delivery,
    replays.replay_failed,
]


def _hints(function: Any) -> dict[str, Any]:
    """``function``'s hints resolved: the Redis client's alias names a class imported only for
    type checking (``gateway.redis_client``), and the holds name the doors' clients so
    (``approvals.held``): both supplied here."""
    return typing.get_type_hints(function, localns={"AsyncRedis": AsyncRedis, "Services": Services})


def _modules(*places: str) -> list[Path]:
    found: list[Path] = []
    for place in places:
        path = ROOT / place
        found.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return found


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _shown(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name


def _where(path: Path, node: ast.AST) -> str:
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    return f"{shown}:{getattr(node, 'lineno', '?')}"


def _wakes(node: ast.Attribute) -> bool:
    """``outbox.wake`` or a waker's ``wake`` (the dashboard's live updates have a ``wake`` of
    their own)."""
    owner = node.value
    named = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
    return node.attr == "wake" and named in {"outbox", "waker"}


def _hand_enqueues(path: Path) -> list[str]:
    """Where a module reaches the waker other than as the first argument of ``perform`` (or
    ``performed``, for work that committed itself), calls a wake, or imports one."""
    tree = _parse(path)
    through_perform = {
        id(call.args[0])
        for call in ast.walk(tree)
        if isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id in ("perform", "performed")
        and call.args
    }
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and (node.attr in _ENQUEUE or _wakes(node)):
            found.append(f"{_where(path, node)} calls .{node.attr}")
        elif isinstance(node, ast.Attribute) and node.attr == "waker":
            if id(node) not in through_perform:
                found.append(f"{_where(path, node)} takes the waker outside perform")
        elif isinstance(node, ast.ImportFrom) and any(
            alias.name in _ENQUEUE | {"Waker"} for alias in node.names
        ):
            found.append(f"{_where(path, node)} imports a wake")
    return found


def test_no_door_enqueues_by_hand() -> None:
    handed = [found for path in _modules(*DOORS) for found in _hand_enqueues(path)]
    assert not handed, "\n".join(handed)


def test_the_guard_finds_a_door_going_around_perform(tmp_path: Path) -> None:
    door = tmp_path / "door.py"
    door.write_text(
        "from gateway.wakes import Waker\n"
        "async def handle(svc, op):\n"
        "    outcome = await perform(svc.waker, op)\n"
        "    svc.waker.wake(outcome.deliveries)\n"
        "    later = svc.waker\n"
    )
    found = _hand_enqueues(door)
    assert sorted(line.split(" ", 1)[1] for line in found) == [
        "calls .wake",
        "imports a wake",
        "takes the waker outside perform",
        "takes the waker outside perform",
    ], found


def test_every_operation_that_makes_deliveries_returns_an_outcome() -> None:
    for operation in ENTRY_POINTS:
        returned = _hints(operation)["return"]
        assert returned is Outcome, f"{operation.__module__}.{operation.__qualname__}: {returned}"


def test_one_class_is_named_outcome() -> None:
    named = [
        _where(path, node)
        for path in _modules("gateway")
        for node in ast.walk(_parse(path))
        if isinstance(node, ast.ClassDef) and node.name == "Outcome"
    ]
    assert [where.split(":")[0] for where in named] == ["gateway/values/outcome.py"], named


def _carriers() -> dict[str, str]:
    """Classes other than ``Outcome`` with a field for deliveries: where each is defined."""
    found: dict[str, str] = {}
    for path in _modules("gateway"):
        for node in ast.walk(_parse(path)):
            if isinstance(node, ast.ClassDef) and node.name != "Outcome":
                fields = {
                    stmt.target.id
                    for stmt in node.body
                    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                }
                if fields & _DELIVERY_FIELDS:
                    found[node.name] = _where(path, node)
    return found


def test_only_steps_in_a_transaction_hand_deliveries_back_another_way() -> None:
    """An operation (it opens its own transaction: no ``conn``) answers an ``Outcome``; a carrier
    of its own is for a step of a transaction, whose operation turns it into one."""
    carriers = _carriers()
    wrong: list[str] = []
    for path in _modules("gateway"):
        for node in ast.walk(_parse(path)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or node.returns is None:
                continue
            params = {
                a.arg for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            }
            if params & _IN_A_TRANSACTION:
                continue
            named = {n.id for n in ast.walk(node.returns) if isinstance(n, ast.Name)}
            if named & carriers.keys():
                wrong.append(
                    f"{_where(path, node)} {node.name} returns {sorted(named & carriers.keys())}"
                )
            # A bare list of delivery ids beside a reply is a carrier too.
            returned = ast.unparse(node.returns)
            if returned.startswith("tuple[") and "list[str]" in returned and "db" in params:
                wrong.append(f"{_where(path, node)} {node.name} returns {returned}")
    assert not wrong, "\n".join(wrong)


async def test_perform_wakes_for_new_and_replayed_work_after_the_operation(
    private_redis: RedisServer,
) -> None:
    async with listening(private_redis.url) as (pool, wakes):
        waker = Waker(pool)
        heard_during: list[Any] = []

        async def operation() -> Outcome:
            await waker.drain()
            heard_during.append(await wakes.get_message(True, timeout=0.2))
            return Outcome(Code.SUCCESS, deliveries=["dlv_new", "mail_again"])

        outcome = await perform(waker, operation())
        await waker.drain()
        assert outcome.code == Code.SUCCESS
        assert heard_during == [None], "woken before the operation returned"
        assert sorted(await kinds_heard(wakes, within=0.5)) == ["mail", "webhook"]


# --- Every operation a door calls answers an Outcome; no door opens the store itself ---

# The doors that open no read or transaction of their own: the admin package is the admin
# API's operations, below the door (``gateway/api/admin/``).
STORE_FREE_DOORS = [
    "gateway/api",
    "gateway/mcp",
    "gateway/dashboard",
    "gateway/cli",
    "gateway/topup/doors.py",
    "gateway/topup/inline.py",
    "gateway/sellers/doors.py",
    "gateway/holds/doors.py",
]
_STORE_DOORS = {"read", "transaction", "run"}
# ``path:function`` → why that door opens the store itself.
_FIGURES = "the dashboard's own read-only figures, which no other door shows"
OPENS_THE_STORE: dict[str, str] = {
    "gateway/dashboard/figures.py:webhook_health": _FIGURES,
    "gateway/dashboard/figures.py:fingerprint": _FIGURES + " (the live pages' change check)",
    "gateway/dashboard/figures.py:pending_approvals": _FIGURES + " (the navigation's count)",
}

# Handlers of REST routes whose reply is no operation's Outcome.
NOT_AN_OPERATION = {
    "gateway/api/ops.py": "health, readiness, metrics and the API's own description",
    "gateway/api/meta.py:list_codes": "the code catalogue, a constant of the product",
    "gateway/api/webhooks.py:list_event_types": "the event types' catalogue, a constant of the "
    "product",
    "gateway/api/exports.py:export_csv": "a CSV file streamed page by page, not an envelope",
    "gateway/api/orders.py:order_receipt_pdf": "a receipt's PDF, a file, not an envelope",
    "gateway/api/orders.py:receipt_pdf_reply": "the reply of both receipt PDF routes, an "
    "order's and a period's: a file, not an envelope",
    "gateway/api/subscription_invoices.py:invoice_receipt_pdf": "a period's receipt PDF, a "
    "file, not an envelope",
    "gateway/api/billing.py:sandbox_page": "the sandbox's HTML page, as Stripe's would be",
    "gateway/api/subscriptions.py:sandbox_checkout": "the sandbox's subscription checkout "
    "page (HTML), as Stripe's would be",
    "gateway/api/subscriptions.py:sandbox_portal": "the sandbox's billing portal page (HTML), as "
    "Stripe's would be",
    "gateway/api/billing.py:checkout_done": "the page a payer lands on after checkout, HTML, "
    "as Stripe's own success page would be",
}
# What a door hands an operation to: its Outcome is rendered, its deliveries enqueued.
_RUNNERS = {"answer", "perform"}
# The send's and the charge's doors for agents that pay their own way: each runs its operation
# through ``doors.send`` or ``perform``, and adds the payment's offers or receipt to its answer.
_PAYING_DOORS = ("paying.", "charge_payments.")
# The paying fetch (REST and MCP): the seller asked by the gateway, its 402 paid by the one
# payment every door makes (``sellers.doors.pay``, which performs it).
_FETCHING_DOORS = ("fetch.",)
# Answer an Outcome, and run the operation through ``perform`` themselves.
_RUNNING = {
    perform,
    doors.send,
    doors.approve,
    doors.deny,
    payment_doors.pay,
    payment_doors.approve,
    payment_doors.deny,
    paying_fetch.fetch,
    approval_doors.review,
    approval_doors.decide,
    SENDS.approve,
    SENDS.deny,
    PAYMENTS.approve,
    PAYMENTS.deny,
    inline.first_try,
}
# ``path:function`` → why it awaits an operation itself.
_OPERATOR = (
    "the operator's commands hold no Redis, and none of their operations "
    "(``merchants.directory``, ``accounts.invitations.invite``) makes deliveries"
)
RUNS_AN_OPERATION_ITSELF = {
    f"gateway/cli/{command}.py": _OPERATOR
    for command in ("api_keys", "channels", "checkin", "merchants", "plans", "treasury", "users")
}
# The packages of operations below the doors (the domain layer of ``tests/test_layering.py``):
# what a door calls there is an operation, and answers an ``Outcome``.
OPERATION_PACKAGES = (
    "gateway.accounts",
    "gateway.approvals",
    "gateway.apps",
    "gateway.admin",
    "gateway.billing",
    "gateway.ledger",
    "gateway.mail",
    "gateway.merchants",
    "gateway.payments",
    "gateway.protocols",
    "gateway.recipients",
    "gateway.topup",
    "gateway.upstreams",
    "gateway.webhooks",
)
# ``module.function`` → why a door may await it for something else than an ``Outcome``.
_FORM_CHECK = (
    "a form's check of one field before its operation runs, so one post shows every refusal; "
    "the operation checks it again"
)
_PAID = (
    "the send's or the charge's Outcome, from its operation run through ``doors.send`` or "
    "``perform``, with the offers a refusal for funds carries or the payment's receipt "
    "(``protocols.paid.Answered``)"
)
ANSWERS_OTHERWISE: dict[str, str] = {
    "gateway.topup.paying.send": _PAID,
    "gateway.topup.listed.topups": "the dashboard's own list of top-ups (its page, the "
    "overview's recent sends, the inbox's held sends), read for HTML, which no other door shows",
    "gateway.protocols.paid.pay_then": _PAID,
    "gateway.protocols.paid.refused": _PAID,
    "gateway.admin.audit.record_after": "the admin API's audit row of an answer already given",
    "gateway.sellers.reconcile.drifts": "where the treasury's providers and its ledger "
    "disagree, printed by the operator's command (``aitopup treasury --reconcile``)",
    "gateway.admin.audit.record_refused": "the admin API's audit row of a refused attempt",
    "gateway.billing.exports.csv_export": "a CSV file streamed page by page, not an envelope",
    "gateway.billing.receipts.reads.receipt_pdf": "a receipt's PDF, a file, not an envelope; "
    "what it says is the operation ``receipts.reads.receipt``'s",
    "gateway.billing.subscriptions.invoices.period_receipt_pdf": "a period's receipt PDF, a "
    "file, not an envelope; what it says is the operation "
    "``subscription_invoices.period_receipt``'s",
    "gateway.billing.orders.coupons.check_coupon": _FORM_CHECK,
    "gateway.webhooks.endpoints.check_url": _FORM_CHECK,
    "gateway.billing.orders.sandbox.sandbox_order": "the sandbox checkout's own page and "
    "buttons, as Stripe's hosted page would be; the payment itself is "
    "``sandbox_orders.pay_sandbox``",
    "gateway.billing.subscriptions.sandbox.sandbox_subscription": "the sandbox's subscription "
    "checkout and portal pages, as Stripe's hosted pages would be; what they change is an "
    "operation",
    "gateway.billing.subscriptions.sandbox.portal_page": "the sandbox portal's page: the "
    "subscription and the plans it may change to, read for HTML",
    "gateway.billing.settling.reconcile.order_of_session": "the payer's return from Stripe "
    "names only its session: the order it finds is then checked by ``reconcile.check_order``",
    "gateway.merchants.golive.checklist": "the dashboard's going-live checklist, which no other "
    "door shows",
    "gateway.recipients.page.view": "the recipient's page, opened by a signed link: no key, no "
    "session, no envelope",
    "gateway.recipients.page.fingerprint": "the recipient's live page's change check",
    "gateway.topup.fulfilling.attempt": "the upstream's first try after the send committed; "
    "the outcome it reaches is run through ``perform`` (``operations.performed``)",
    "gateway.billing.orders.returns.landed_order": "the payer's landing page after checkout (HTML, "
    "no key): it reads the order it names and changes nothing",
    "gateway.recipients.revocations.holds": "whether a recipient's signed link still holds, "
    "asked by the recipient's page and its stream, which answer no envelope",
    "gateway.mail.caps.take": "the hourly caps on voucher mails, counted in Redis before the "
    "send's transaction: its gate goes into the send, whose ``Outcome`` says the mail was held",
    "gateway.mail.caps.settle": "gives back what ``take`` counted for a mail that was not written",
}


def _functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def _opens_the_store(path: Path) -> list[str]:
    """``db.read()``, ``db.transaction()``, ``db.run(...)`` (or ``svc.db.…``) in a module:
    ``path:function`` of each, outside the allowed ones."""
    found: list[str] = []
    for function in _functions(_parse(path)):
        for node in ast.walk(function):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            receiver = node.func.value
            named = receiver.attr if isinstance(receiver, ast.Attribute) else None
            if isinstance(receiver, ast.Name):
                named = receiver.id
            if node.func.attr in _STORE_DOORS and named == "db":
                shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
                where = f"{shown}:{function.name}"
                if where not in OPENS_THE_STORE:
                    found.append(f"{where} (line {node.lineno}) opens db.{node.func.attr}")
    return found


def test_no_door_opens_a_read_or_a_transaction() -> None:
    opened = [found for path in _modules(*STORE_FREE_DOORS) for found in _opens_the_store(path)]
    assert not opened, "\n".join(opened)


def test_every_allowed_store_door_is_still_there() -> None:
    """An entry of the allow-list whose function no longer opens the store goes too."""
    for where in OPENS_THE_STORE:
        path, name = where.split(":")
        functions = {f.name: f for f in _functions(_parse(ROOT / path))}
        assert name in functions, where
        calls = [
            n
            for n in ast.walk(functions[name])
            if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr in _STORE_DOORS
        ]
        assert calls, f"{where} opens no read or transaction any more"


def test_the_guard_finds_a_door_opening_the_store(tmp_path: Path) -> None:
    door = tmp_path / "door.py"
    door.write_text(
        "async def handle(request, svc, db):\n"
        "    async with svc.db.transaction() as conn:\n"
        "        pass\n"
        "    async with db.read() as conn:\n"
        "        pass\n"
        "    await db.run(lambda tx: None)\n"
        "    await request.read()\n"
    )
    found = _opens_the_store(door)
    assert [line.rsplit(" ", 1)[1] for line in found] == [
        "db.transaction",
        "db.read",
        "db.run",
    ], found


def _run_calls(function: ast.AST) -> list[ast.expr]:
    """What a function hands to ``answer`` or ``perform``, an assigned name followed to its
    value (``operation = endpoints.get(...)``; ``answer(request, operation)``)."""
    assigned = {
        target.id: node.value
        for node in ast.walk(function)
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    handed: list[ast.expr] = []
    for node in ast.walk(function):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _RUNNERS
            and node.args
        ):
            given = node.args[-1] if node.func.id == "perform" else node.args[1]
            if isinstance(given, ast.Name) and given.id in assigned:
                given = assigned[given.id]
            handed.append(given)
    return handed


def _callee(namespace: Any, call: ast.AST) -> Any:
    """The function a call expression names, looked up in the door module's namespace."""
    if not isinstance(call, ast.Call):
        return None
    func = call.func
    if isinstance(func, ast.Name):
        return getattr(namespace, func.id, None)
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return getattr(getattr(namespace, func.value.id, None), func.attr, None)
    return None


def _given_outcome(namespace: Any, function: ast.AST, handed: ast.expr) -> bool:
    """A parameter handed on (``operation: Awaitable[Outcome]``), or called (``decision:
    Callable[..., Awaitable[Outcome]]``), whose annotation promises an Outcome."""
    named = handed.func if isinstance(handed, ast.Call) else handed
    if not isinstance(named, ast.Name):
        return False
    defined = getattr(namespace, getattr(function, "name", ""), None)
    hint = _hints(defined).get(named.id) if callable(defined) else None
    if isinstance(handed, ast.Call):
        hint = typing.get_args(hint)[-1] if typing.get_args(hint) else None
    return typing.get_origin(hint) is Awaitable and typing.get_args(hint) == (Outcome,)


def _not_outcomes(path: Path, namespace: Any) -> list[str]:
    """Operations a door runs through ``answer``/``perform`` that are not annotated to return
    an ``Outcome``, and those it hands over in a shape the guard cannot follow."""
    wrong: list[str] = []
    for function in _functions(_parse(path)):
        for handed in _run_calls(function):
            operation = _callee(namespace, handed)
            where = f"{path.name}:{function.name}"
            if operation is None:
                if not _given_outcome(namespace, function, handed):
                    wrong.append(f"{where} runs {ast.unparse(handed)}, which is not followed")
                continue
            returned = _hints(operation).get("return")
            if returned is not Outcome:
                wrong.append(f"{where} runs {operation.__qualname__} -> {returned}")
    return wrong


def _outside_a_runner(path: Path, namespace: Any) -> list[str]:
    """Calls of an operation below the door (annotated to return an ``Outcome``) that a door
    awaits itself instead of handing it to ``answer`` or ``perform``."""
    found: list[str] = []
    for function in _functions(_parse(path)):
        handed = {id(node) for node in _run_calls(function)}
        where = f"{path.name}:{function.name}"
        if {_shown(path), f"{_shown(path)}:{function.name}"} & RUNS_AN_OPERATION_ITSELF.keys():
            continue
        for node in ast.walk(function):
            operation = _callee(namespace, node)
            if operation is None or id(node) in handed or operation in _RUNNING:
                continue
            if not inspect.iscoroutinefunction(operation) or not (
                operation.__module__.startswith(("gateway.", "tests."))
            ):
                continue  # only our operations: a library's hints need not resolve
            if operation.__module__ == getattr(namespace, "__name__", None):
                continue  # the door's own helper, which runs what it calls itself
            if _hints(operation).get("return") is Outcome:
                found.append(f"{where} calls {operation.__qualname__} outside answer/perform")
    return found


def _answering_otherwise(path: Path, namespace: Any) -> list[str]:
    """Coroutines of the operation packages a door awaits that answer something else than an
    ``Outcome`` (a bare value, ``None``), outside ``ANSWERS_OTHERWISE``."""
    found: list[str] = []
    for function in _functions(_parse(path)):
        for node in ast.walk(function):
            operation = _callee(namespace, node)
            if operation is None or not inspect.iscoroutinefunction(operation):
                continue
            named = f"{operation.__module__}.{operation.__qualname__}"
            if not operation.__module__.startswith(OPERATION_PACKAGES):
                continue
            if named in ANSWERS_OTHERWISE:
                continue
            returned = _hints(operation).get("return")
            if returned is not Outcome:
                found.append(f"{path.name}:{function.name} awaits {named} -> {returned}")
    return found


def _door_modules() -> list[tuple[Path, Any]]:
    found = []
    for path in _modules(*STORE_FREE_DOORS):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found.append((path, importlib.import_module(name.removesuffix(".__init__"))))
    return found


def test_every_operation_a_door_runs_returns_an_outcome() -> None:
    wrong = [line for path, module in _door_modules() for line in _not_outcomes(path, module)]
    assert not wrong, "\n".join(wrong)


def test_every_operation_a_door_calls_goes_through_a_runner() -> None:
    wrong = [line for path, module in _door_modules() for line in _outside_a_runner(path, module)]
    assert not wrong, "\n".join(wrong)


def test_every_operation_a_door_calls_answers_an_outcome() -> None:
    """Not only what a door hands to ``answer``/``perform``: whatever it awaits of the
    operations below the doors (accounts, sessions, members, top-ups, ...)."""
    wrong = [line for path, mod in _door_modules() for line in _answering_otherwise(path, mod)]
    assert not wrong, "\n".join(wrong)


def test_every_operation_answering_otherwise_is_still_called_and_still_bare() -> None:
    """An entry of ``ANSWERS_OTHERWISE`` that answers an ``Outcome`` now, or that no door calls
    any more, goes too."""
    called = {
        f"{operation.__module__}.{operation.__qualname__}"
        for path, namespace in _door_modules()
        for function in _functions(_parse(path))
        for node in ast.walk(function)
        if inspect.iscoroutinefunction(operation := _callee(namespace, node))
    }
    for named in ANSWERS_OTHERWISE:
        module, _, function = named.rpartition(".")
        returned = _hints(getattr(importlib.import_module(module), function))
        assert returned.get("return") is not Outcome, f"{named} answers an Outcome now"
        assert named in called, f"no door calls {named} any more"


def test_the_guard_finds_an_account_operation_answering_a_bare_value(tmp_path: Path) -> None:
    async def sign_in(db: Any, email: str, password: str) -> str:
        return "session id"

    async def sign_out(db: Any, session_id: str) -> None:
        return None

    async def end(db: Any, session_id: str) -> Outcome:
        return Outcome(Code.SUCCESS)

    def canonical(email: str) -> str:  # not awaited: a rule's pure helper, no operation
        return email

    for planted in (sign_in, sign_out, end, canonical):
        planted.__module__ = "gateway.accounts.sessions"
    door = tmp_path / "door.py"
    door.write_text(
        "async def bad(request, svc):\n"
        "    session_id = await sessions.sign_in(svc.db, 'a@example.com', 'secret')\n"
        "async def worse(request, svc):\n"
        "    return await perform(svc.enqueuer, sessions.sign_out(svc.db, 'sid'))\n"
        "async def good(request, svc):\n"
        "    sessions.canonical('a@example.com')\n"
        "    return await perform(svc.enqueuer, sessions.end(svc.db, 'sid'))\n"
    )
    namespace = SimpleNamespace(
        sessions=SimpleNamespace(sign_in=sign_in, sign_out=sign_out, end=end, canonical=canonical)
    )
    found = _answering_otherwise(door, namespace)
    assert [line.split(" ", 1)[0] for line in found] == ["door.py:bad", "door.py:worse"], found
    # Run through ``perform``, the bare one is refused by the older guard as well.
    assert [line.split(" ", 1)[0] for line in _not_outcomes(door, namespace)] == ["door.py:worse"]


def test_the_guard_finds_an_operation_awaited_by_hand(tmp_path: Path) -> None:
    async def read(db: Any) -> Outcome:
        return Outcome(Code.SUCCESS)

    door = tmp_path / "door.py"
    door.write_text(
        "async def good(request, svc):\n"
        "    operation = things.read(svc.db)\n"
        "    return await answer(request, operation)\n"
        "async def bad(request, svc):\n"
        "    found = await things.read(svc.db)\n"
    )
    namespace = SimpleNamespace(things=SimpleNamespace(read=read))
    found = _outside_a_runner(door, namespace)
    assert [line.split(" ", 1)[0] for line in found] == ["door.py:bad"], found


def test_the_guard_finds_an_operation_answering_otherwise(tmp_path: Path) -> None:
    async def listed(db: Any) -> list[str]:
        return []

    async def read(db: Any) -> Outcome:
        return Outcome(Code.SUCCESS)

    door = tmp_path / "door.py"
    door.write_text(
        "async def good(request, svc):\n"
        "    return await answer(request, things.read(svc.db))\n"
        "async def bad(request, svc):\n"
        "    operation = things.listed(svc.db)\n"
        "    return await answer(request, operation)\n"
        "async def lost(request, svc):\n"
        "    return await perform(svc.enqueuer, pick()(svc.db))\n"
    )
    namespace = SimpleNamespace(things=SimpleNamespace(read=read, listed=listed))
    found = _not_outcomes(door, namespace)
    assert [line.split(" ", 1)[0] for line in found] == ["door.py:bad", "door.py:lost"], found


def test_every_rest_route_runs_an_operation() -> None:
    """A REST handler (``request`` first, a ``Response`` back) hands an operation to ``answer``
    or ``perform`` (itself, or through the send's door, ``topup.doors``), unless its reply is no
    operation's (``NOT_AN_OPERATION``)."""
    bare: list[str] = []
    for path in _modules("gateway/api"):
        place = path.relative_to(ROOT).as_posix()
        tree = _parse(path)
        for function in tree.body:
            if not isinstance(function, ast.AsyncFunctionDef) or function.name.startswith("_"):
                continue
            params = [a.arg for a in function.args.args]
            returns = ast.unparse(function.returns) if function.returns else ""
            if params[:1] != ["request"] or returns != "Response":
                continue
            if place in NOT_AN_OPERATION or f"{place}:{function.name}" in NOT_AN_OPERATION:
                continue
            called = {
                n.func.id if isinstance(n.func, ast.Name) else ast.unparse(n.func)
                for n in ast.walk(function)
                if isinstance(n, ast.Call)
            }
            doors_called = any(
                c.startswith(("doors.", *_PAYING_DOORS, *_FETCHING_DOORS)) for c in called
            )
            if not called & _RUNNERS and not doors_called:
                bare.append(f"{place}:{function.name}")
    assert not bare, "\n".join(bare)
