"""The runtime's calls, natively (no wasm), against the bindings componentize-py writes:
`componentize-py -d wit -w plugin bindings .bindings` (into a new folder), then
`PYTHONPATH=.bindings python3 -m unittest`.
"""

import json
import unittest

from componentize_py_types import Err
from wit_world.imports.types import (
    HostSettings,
    ObservedObject,
    ObservedState,
    RunContext,
    RunPlan_Kubernetes,
    RunPlan_Local,
    Target,
)

import app


def context(target: Target, function_spec: str = '{"message": "hi"}') -> RunContext:
    """A run of the sample's function on `target`."""
    names = ["01a2-run", "demo", "demo", "greet", app.NAME, "job"]
    return RunContext(*names, function_spec, "{}", "{}", target, HostSettings(None, []))


def job(*conditions: str) -> ObservedObject:
    """The run's Job with these conditions true."""
    status = {"conditions": [{"type": c, "status": "True", "reason": "R"} for c in conditions]}
    return ObservedObject("batch/v1", "Job", "j", json.dumps({"status": status}))


def pod(phase: str, exit_code: int | None = None) -> ObservedObject:
    """A pod of the run in `phase`, its `main` container ended with `exit_code`."""
    state = {} if exit_code is None else {"terminated": {"exitCode": exit_code}}
    status = {"phase": phase, "containerStatuses": [{"name": "main", "state": state}]}
    return ObservedObject("v1", "Pod", "p", json.dumps({"status": status}))


class RuntimeTest(unittest.TestCase):
    runtime = app.Runtime()

    def test_validate_reports_every_bad_field(self) -> None:
        with self.assertRaises(Err) as raised:
            self.runtime.validate(app.NAME, '{"message": 3, "colour": "red"}')
        errors = {(e.path, e.message) for e in raised.exception.value}
        self.assertEqual(errors, {("colour", "unknown field"), ("message", "expected string")})
        self.runtime.validate(f"{app.NAME}+job", '{"backoff_limit": 2}')

    def test_a_local_plan_is_a_process_printing_the_message(self) -> None:
        plan = self.runtime.plan(context(Target.LOCAL))
        self.assertIsInstance(plan, RunPlan_Local)
        self.assertEqual(plan.value.argv[0], "python3")
        self.assertEqual(plan.value.env, [("MESSAGE", "hi")])

    def test_a_kubernetes_plan_is_one_job_of_a_non_root_pod(self) -> None:
        plan = self.runtime.plan(context(Target.KUBERNETES))
        self.assertIsInstance(plan, RunPlan_Kubernetes)
        [manifest] = [json.loads(m) for m in plan.value]
        self.assertEqual(manifest["metadata"]["name"], f"j-{app.NAME}job-01a2-run")
        pod_spec = manifest["spec"]["template"]["spec"]
        self.assertEqual(pod_spec["securityContext"]["runAsNonRoot"], True)
        self.assertEqual(pod_spec["containers"][0]["env"], [{"name": "MESSAGE", "value": "hi"}])

    def test_a_plan_of_a_bad_spec_names_its_fields(self) -> None:
        with self.assertRaises(Err) as raised:
            self.runtime.plan(context(Target.LOCAL, "{}"))
        self.assertEqual([e.path for e in raised.exception.value.fields], ["message"])

    def test_observe_reads_the_job_then_its_pods(self) -> None:
        def observe(*objects: ObservedObject):
            return self.runtime.observe(context(Target.KUBERNETES), list(objects))

        self.assertEqual(observe().state, ObservedState.PENDING)
        self.assertEqual(observe(job(), pod("Pending")).state, ObservedState.PENDING)
        self.assertEqual(observe(job(), pod("Running")).state, ObservedState.RUNNING)
        self.assertEqual(observe(job(), pod("Succeeded", 0)).state, ObservedState.COMPLETED)
        self.assertEqual(observe(job("Complete")).exit_code, 0)
        failed = observe(job("Failed"), pod("Failed", 3))
        self.assertEqual(failed.state, ObservedState.ERROR)
        self.assertEqual((failed.reason, failed.exit_code), ("R", 3))


if __name__ == "__main__":
    unittest.main()
