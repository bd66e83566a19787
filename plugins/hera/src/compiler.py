"""Hera's compiler for Runplane's workflow build runner: the handler returns a
`hera.workflows.Workflow` (usually the one of its `with Workflow(...)` block), called with
the build's parameters it names (all of them if it takes **kwargs); its spec is what
Hera renders."""

import inspect

from hera.workflows import Workflow
from runplane_compile import BuildError


def compile(handler, parameters):
    if not callable(handler):
        raise BuildError("source.handler: not a function")
    signature = inspect.signature(handler)
    takes_all = any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
    chosen = {k: v for k, v in parameters.items() if takes_all or k in signature.parameters}
    workflow = handler(**chosen)
    if not isinstance(workflow, Workflow):
        raise BuildError(
            f"source.handler: {handler.__name__}() returned {type(workflow).__name__}, not a "
            "hera.workflows.Workflow (return the workflow of its `with Workflow(...)` block)"
        )
    return workflow.to_dict().get("spec") or {}
