"""`hello-python`: a runtime of one kind whose `job` prints the function's `message`,
with Python, as a local process or as a Kubernetes Job.

componentize-py builds this module into a component of `wit/`'s world `plugin`; the
`wit_world` package is the binding it generates: the class `Runtime` implements the
exported interface with the contract's records as dataclasses. Every call runs in a
fresh instance, so nothing here outlives a call.
"""

import json
from dataclasses import MISSING, dataclass, fields
from typing import Any, TypeVar

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports.types import (
    Action,
    Capabilities,
    Category,
    FieldError,
    FunctionKind,
    LocalProcess,
    ObservedObject,
    ObservedState,
    PlanError,
    RunContext,
    RunPlan,
    RunPlan_Kubernetes,
    RunPlan_Local,
    RunStatus,
    RuntimeInfo,
    Target,
)

NAME = "hello-python"


@dataclass
class FunctionSpec:
    """The function spec: what to print."""

    message: str


@dataclass
class JobTask:
    """The task spec of `job`: how often Kubernetes retries a failed pod."""

    backoff_limit: int = 0


PRINT = "import os; print(os.environ['MESSAGE'], flush=True)"

JSON_TYPES = {str: "string", int: "integer"}

T = TypeVar("T")


def schema(spec: type) -> str:
    """The JSON Schema of a spec dataclass: its fields, those without a default required."""
    properties = {f.name: {"type": JSON_TYPES[f.type]} for f in fields(spec)}
    required = [f.name for f in fields(spec) if f.default is MISSING]
    return json.dumps(
        {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }
    )


def field_errors(spec: type, value: Any) -> list[FieldError]:
    """Every way `value` (decoded JSON) is not an instance of the dataclass `spec`."""
    if not isinstance(value, dict):
        return [FieldError("", "expected an object")]
    known = {f.name: f for f in fields(spec)}
    errors = [FieldError(key, "unknown field") for key in value if key not in known]
    for name, field in known.items():
        if name not in value:
            if field.default is MISSING:
                errors.append(FieldError(name, "missing"))
        elif type(value[name]) is not field.type:
            errors.append(FieldError(name, f"expected {JSON_TYPES[field.type]}"))
    return errors


def decode(spec: type[T], text: str, what: str) -> T:
    """The dataclass `spec` read from JSON `text`, or the plan error naming its fields."""
    value = json.loads(text)
    errors = field_errors(spec, value)
    if errors:
        raise Err(PlanError(f"invalid {what}", errors))
    return spec(**value)


def job(context: RunContext, task: JobTask, argv: list[str], env: dict[str, str]) -> str:
    """The run's Job as JSON: one pod that never restarts in place, with the contexts
    the guard's Pod Security "restricted" requires."""
    name = f"j-{context.function_kind}{context.action}-{context.run_id}"[:63].rstrip("-")
    labels = {
        "app.kubernetes.io/name": NAME,
        "app.kubernetes.io/component": context.action,
        "app.kubernetes.io/instance": context.run_id,
    }
    seccomp = {"type": "RuntimeDefault"}
    container = {
        "name": "main",
        "image": "python:3.11-slim",
        "command": argv,
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"memory": "256Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "seccompProfile": seccomp,
        },
    }
    pod = {
        "restartPolicy": "Never",
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": seccomp},
        "containers": [container],
    }
    spec = {
        "backoffLimit": task.backoff_limit,
        "activeDeadlineSeconds": 259_200,
        "template": {"metadata": {"labels": labels}, "spec": pod},
    }
    metadata = {"name": name, "labels": labels}
    return json.dumps({"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": spec})


def status(
    state: ObservedState,
    reason: str | None = None,
    message: str | None = None,
    exit_code: int | None = None,
) -> RunStatus:
    """A run status without outputs or service URL."""
    return RunStatus(state, reason, message, exit_code, [], None)


def main_exit_code(pod: dict[str, Any]) -> int | None:
    """The exit code of the pod's `main` container, once it ended."""
    for container in pod.get("status", {}).get("containerStatuses", []):
        terminated = container.get("state", {}).get("terminated")
        if container.get("name") == "main" and terminated:
            return terminated.get("exitCode")
    return None


class Runtime(exports.Runtime):
    """The exported interface `runplane:runtime/runtime`."""

    def info(self) -> RuntimeInfo:
        targets = [Target.LOCAL, Target.KUBERNETES]
        action = Action("job", Category.JOB, targets, schema(JobTask), "{}")
        capabilities = Capabilities(True, True, False, False, False, False)
        kind = FunctionKind(NAME, schema(FunctionSpec))
        return RuntimeInfo(
            NAME, "0.1.0", "Prints a message", "", [kind], [action], capabilities, ["batch/v1/Job"]
        )

    def validate(self, kind: str, spec: str) -> None:
        specs = {NAME: FunctionSpec, f"{NAME}+job": JobTask}
        if kind in specs and (errors := field_errors(specs[kind], json.loads(spec))):
            raise Err(errors)

    def plan(self, context: RunContext) -> RunPlan:
        function = decode(FunctionSpec, context.function_spec, "function spec")
        argv, env = ["python3", "-c", PRINT], {"MESSAGE": function.message}
        if context.target == Target.LOCAL:
            return RunPlan_Local(LocalProcess(argv, list(env.items()), [], None))
        task = decode(JobTask, context.task_spec, "task spec")
        return RunPlan_Kubernetes([job(context, task, argv, env)])

    def observe(self, context: RunContext, objects: list[ObservedObject]) -> RunStatus:
        jobs = [json.loads(o.object) for o in objects if o.kind == "Job"]
        pods = [json.loads(o.object) for o in objects if o.kind == "Pod"]
        if not jobs:
            return status(ObservedState.PENDING, "Waiting", "the job has not been created yet")
        conditions = {
            c["type"]: c
            for c in jobs[0].get("status", {}).get("conditions", [])
            if c.get("status") == "True"
        }
        phases = [pod.get("status", {}).get("phase") for pod in pods]
        if "Complete" in conditions or "Succeeded" in phases:
            return status(ObservedState.COMPLETED, exit_code=0)
        if failed := conditions.get("Failed"):
            codes = [code for pod in pods if (code := main_exit_code(pod))]
            return status(
                ObservedState.ERROR,
                failed.get("reason", "Failed"),
                failed.get("message"),
                codes[0] if codes else None,
            )
        if "Running" in phases:
            return status(ObservedState.RUNNING)
        return status(ObservedState.PENDING)
