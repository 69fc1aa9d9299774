"""bench/demo.py reads `make demo`'s own progress lines (local/progress.py) and Terraform's "Creation complete"
lines: if either format changes, the benchmark would print nothing, so this checks it on the real writers."""
from __future__ import annotations

import importlib.util
import io
from pathlib import Path

from local.progress import Steps

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("bench_demo", ROOT / "bench" / "demo.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_it_reads_each_step_of_make_demo_as_printed(monkeypatch):
    out = io.StringIO()
    progress = Steps(total=2, stream=out)
    clock = iter([0.0, 103.4, 200.0, 208.5])
    monkeypatch.setattr("local.progress.time.monotonic", lambda: next(clock))
    with progress.step("terraform apply (dev)"):
        pass
    try:
        with progress.step("pushing the image"):
            raise RuntimeError
    except RuntimeError:
        pass
    # Over 90 s make demo prints whole seconds ("1 min 43 s")
    assert bench.steps(out.getvalue()) == [("terraform apply (dev)", 103.0, True), ("pushing the image", 8.5, False)]


def test_it_reads_the_slowest_resources_of_an_apply_log(tmp_path):
    log = tmp_path / "08-dev-apply.log"
    log.write_text("aws_kms_key.key_1A2B: Creation complete after 13s [id=abc]\n"
                   "aws_db_instance.database_db_3C4D: Creation complete after 1m20s [id=notes-dev]\n"
                   "aws_vpc.network_vpc: Still creating... [10s elapsed]\n")
    assert bench.slowest(log) == [("aws_db_instance.database_db_3C4D", 80), ("aws_kms_key.key_1A2B", 13)]
    assert "Delay 1 min" in bench.PROVIDER_WAITS["aws_db_instance"]
