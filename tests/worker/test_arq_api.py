"""ARQ is used through its documented API alone: the names imported from it, and no subclass of
its worker or reach into the worker's own attributes, anywhere in the product or its bench."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "worker", "keys", "bench")

# What ARQ's documentation shows (its README and API reference): the worker and its settings,
# ``func`` and ``cron``, the pool and its settings.
DOCUMENTED = {
    "arq": {"cron", "func", "create_pool", "Worker", "ArqRedis"},
    "arq.connections": {"ArqRedis", "RedisSettings", "create_pool"},
    "arq.cron": {"cron"},
    "arq.worker": {"Worker", "func"},
}
# ``Worker``'s own insides, which a subclass or a caller once reached.
INSIDES = {
    "_poll_iteration",
    "start_jobs",
    "job_counter",
    "sem",
    "_pool",
    "tasks",
    "job_tasks",
    "handle_sig",
    "main_task",
    "in_progress_timeout_s",
}


def _reaches(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[str] = []
    worker_names = {"Worker"}
    for node in ast.walk(tree):
        where = f"{path.relative_to(root)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "arq":
            allowed = DOCUMENTED.get(node.module or "", set())
            found += [
                f"{where} imports {node.module}.{a.name}"
                for a in node.names
                if a.name not in allowed
            ]
        elif isinstance(node, ast.Import):
            found += [f"{where} imports {a.name}" for a in node.names if a.name.startswith("arq")]
        elif isinstance(node, ast.ClassDef):
            bases = {
                b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
            }
            if bases & worker_names:
                found.append(f"{where} subclasses ARQ's Worker")
        elif isinstance(node, ast.Attribute) and node.attr in INSIDES:
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id == "worker":
                found.append(f"{where} reaches worker.{node.attr}")
    return found


def test_arq_is_used_through_its_documented_api_alone() -> None:
    found = [
        reach
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        for reach in _reaches(path)
    ]
    assert not found, "\n".join(found)


def test_the_guard_finds_what_it_looks_for(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from arq.constants import in_progress_key_prefix\n"
        "from arq.worker import Worker\n"
        "class Mine(Worker):\n"
        "    pass\n"
        "def f(worker):\n"
        "    return worker.tasks\n"
    )
    found = [line.split(" ", 1)[1] for line in _reaches(probe, tmp_path)]
    assert found == [
        "imports arq.constants.in_progress_key_prefix",
        "subclasses ARQ's Worker",
        "reaches worker.tasks",
    ]
