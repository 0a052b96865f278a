"""Raw SpiffWorkflow vs the engine adapter (processes/engine), in memory.

Run from the repository root: .venv/bin/python bench/engine_ratio.py
Prints medians of 7 runs per figure and the adapter/raw ratio. Not a test: no assertions.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import figures  # noqa: E402
from lxml import etree  # noqa: E402
from SpiffWorkflow.bpmn import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer  # noqa: E402
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser  # noqa: E402
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402

from processes.engine import Bundle, bundle_load, workflow_load, workflow_start  # noqa: E402

FIXTURES = ROOT / "processes" / "tests" / "engine" / "fixtures"
FILES = {name: (FIXTURES / name).read_bytes() for name in ("support.bpmn", "appeal.bpmn")}
MAIN = "special_support"
RUNS = 7
STOCK = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
FORM_DATA = {"apply": {"needs": ["reading", "maths"]}, "decide": {"decision": "approved"}}


def median_ms(fn: Callable[[], Any], loops: int) -> float:
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        for _ in range(loops):
            fn()
        samples.append((time.perf_counter() - started) * 1000 / loops)
    return statistics.median(samples)


def raw_parse() -> tuple[Any, Any]:
    parser = SpiffBpmnParser()
    for name, content in FILES.items():
        parser.add_bpmn_xml(etree.fromstring(content), filename=name)
    return parser.get_spec(MAIN), parser.get_subprocess_specs(MAIN)


SPEC, SUBS = raw_parse()
BUNDLE = Bundle.from_spec_json(bundle_load(FILES, MAIN).spec_json())


def raw_complete_next(wf: BpmnWorkflow) -> None:
    task = wf.get_next_task(state=TaskState.READY, manual=True)
    task.set_data(**FORM_DATA[task.task_spec.bpmn_id])
    task.run()
    wf.do_engine_steps()


def raw_mid_flow() -> BpmnWorkflow:
    wf = BpmnWorkflow(SPEC, SUBS)
    wf.get_next_task(state=TaskState.READY).set_data(case_id="C1")
    wf.do_engine_steps()
    raw_complete_next(wf)
    return wf


def raw_start_to_waiting() -> None:
    wf = raw_mid_flow()
    raw_complete_next(wf)  # decide -> waits on the appeal window timer


def adapter_complete_next(wf: Any) -> None:
    task = wf.ready_user_tasks()[0]
    wf.complete_user_task(task.task_id, FORM_DATA[task.element_id])


def adapter_mid_flow() -> Any:
    wf = workflow_start(BUNDLE, {"case_id": "C1"})
    adapter_complete_next(wf)
    return wf


def adapter_start_to_waiting() -> None:
    wf = adapter_mid_flow()
    adapter_complete_next(wf)


RAW_STATE = STOCK.serialize_json(raw_mid_flow())
ADAPTER_STATE = json.dumps(adapter_mid_flow().dump_state())


def raw_cycle() -> str:
    wf = STOCK.deserialize_json(RAW_STATE)
    raw_complete_next(wf)
    return str(STOCK.serialize_json(wf))


def adapter_cycle() -> str:
    wf = workflow_load(BUNDLE, json.loads(ADAPTER_STATE))
    adapter_complete_next(wf)
    return json.dumps(wf.dump_state())


def one_completion(make: Callable[[], Any], complete: Callable[[Any], None], loops: int) -> float:
    # Build instances outside the timed region, then time only the completion.
    samples = []
    for _ in range(RUNS):
        instances = [make() for _ in range(loops)]
        started = time.perf_counter()
        for wf in instances:
            complete(wf)
        samples.append((time.perf_counter() - started) * 1000 / loops)
    return statistics.median(samples)


def main() -> None:
    rows = [
        (
            "parse the model (adapter: hardened parse + checks)",
            median_ms(raw_parse, 20),
            median_ms(lambda: bundle_load(FILES, MAIN), 20),
        ),
        (
            "restore spec from stored JSON (adapter only)",
            float("nan"),
            median_ms(lambda: Bundle.from_spec_json(BUNDLE.spec_json()), 50),
        ),
        (
            "start -> waiting (2 user tasks, script, gateway, timers)",
            median_ms(raw_start_to_waiting, 50),
            median_ms(adapter_start_to_waiting, 50),
        ),
        (
            "one user-task completion",
            one_completion(raw_mid_flow, raw_complete_next, 50),
            one_completion(adapter_mid_flow, adapter_complete_next, 50),
        ),
        (
            "load + complete + run + save (raw: spec embedded)",
            median_ms(raw_cycle, 50),
            median_ms(adapter_cycle, 50),
        ),
    ]
    print(f"SpiffWorkflow raw vs processes.engine — medians of {RUNS} runs, ms per operation")
    print(f"{'operation':<58}{'raw':>10}{'adapter':>10}{'ratio':>8}")
    for label, raw, adapter in rows:
        ratio = adapter / raw if raw == raw else float("nan")
        raw_text = f"{raw:.3f}" if raw == raw else "-"
        ratio_text = f"{ratio:.2f}x" if ratio == ratio else "-"
        print(f"{label:<58}{raw_text:>10}{adapter:>10.3f}{ratio_text:>8}")
        if label.startswith("load + complete"):
            figures.record(
                "engine adapter: load + complete + run + save",
                f"{adapter:.2f} ms",
                "no target (the denominator is raw SpiffWorkflow)",
                None,
                ratio=f"{ratio_text} raw ({raw_text} ms)",
                database="in memory",
            )
    raw_kb, adapter_kb = len(RAW_STATE) / 1024, len(ADAPTER_STATE) / 1024
    print(
        f"{'state size mid-flow, kB (raw: spec embedded)':<58}{raw_kb:>10.1f}{adapter_kb:>10.1f}"
        f"{adapter_kb / raw_kb:>7.2f}x"
    )
    print(
        f"{'stored spec per version, kB (adapter only)':<58}{'-':>10}{len(BUNDLE.spec_json()) / 1024:>10.1f}"
        f"{'-':>8}"
    )


if __name__ == "__main__":
    main()
