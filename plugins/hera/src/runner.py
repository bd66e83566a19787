"""Runplane's Hera build runner: compiles a Hera workflow into an Argo Workflow spec.

The function's source is `pipeline.py` beside this file; its `RUNPLANE_HANDLER`
function is called (with the run's parameters the function accepts) and returns a
`hera.workflows.Workflow`, usually the one of its `with Workflow(...) as w:` block. The
workflow's spec (what the host applies, named after each pipeline run) is written as YAML,
base64-encoded, to `RUNPLANE_OUTPUTS` as output `build`: `{"lang": "yaml", "base64": …}`,
with `templates` (their names) and `entrypoint` beside it. On Kubernetes that file is the
termination message, which holds 4 KiB: a bigger build fails with a clear error.

A failure exits 1 with `{"error": …}` in the outputs and the reason as the last line of
standard error, which the host reports as the run's error.
"""

import base64
import importlib.util
import inspect
import json
import os
import sys
import traceback

import yaml

# Kubernetes keeps up to 4096 bytes of a container's termination message.
TERMINATION_LIMIT = 4096


def write_outputs(outputs):
    path = os.environ.get("RUNPLANE_OUTPUTS")
    text = json.dumps(outputs)
    if path == "/dev/termination-log" and len(text) > TERMINATION_LIMIT:
        fail(
            f"the compiled workflow takes {len(text)} bytes, more than the {TERMINATION_LIMIT} "
            "a pod's termination message holds: build it on the local target"
        )
    if path:
        with open(path, "w") as out:
            out.write(text)


def fail(message):
    path = os.environ.get("RUNPLANE_OUTPUTS")
    if path:
        with open(path, "w") as out:
            json.dump({"error": message[-1000:]}, out)
    print(message, file=sys.stderr, flush=True)
    sys.exit(1)


def load_handler(source, name):
    spec = importlib.util.spec_from_file_location("pipeline", source)
    module = importlib.util.module_from_spec(spec)
    sys.modules["pipeline"] = module
    spec.loader.exec_module(module)
    handler = getattr(module, name, None)
    if not callable(handler):
        fail(f"source.handler: the source defines no function {name!r}")
    return handler


def call(handler, parameters):
    """Calls the handler with the parameters it names (all of them if it takes **kwargs)."""
    signature = inspect.signature(handler)
    takes_all = any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
    chosen = {k: v for k, v in parameters.items() if takes_all or k in signature.parameters}
    return handler(**chosen)


def main():
    from hera.workflows import Workflow

    here = os.path.dirname(os.path.abspath(__file__))
    handler_name = os.environ["RUNPLANE_HANDLER"]
    parameters = json.loads(os.environ.get("RUNPLANE_PARAMETERS") or "{}")
    handler = load_handler(os.path.join(here, "pipeline.py"), handler_name)
    workflow = call(handler, parameters)
    if not isinstance(workflow, Workflow):
        fail(
            f"source.handler: {handler_name}() returned {type(workflow).__name__}, "
            "not a hera.workflows.Workflow (return the workflow of its `with Workflow(...)` block)"
        )
    manifest = workflow.to_dict()
    spec = manifest.get("spec") or {}
    if not spec.get("templates"):
        fail(f"source.handler: the workflow {handler_name}() returned has no templates")
    text = yaml.safe_dump(spec, sort_keys=False)
    print(text, flush=True)
    write_outputs(
        {
            "build": {"lang": "yaml", "base64": base64.b64encode(text.encode()).decode()},
            "entrypoint": spec.get("entrypoint"),
            "templates": [t.get("name") for t in spec["templates"]],
        }
    )


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException as error:  # the user's code: report whatever it raised
        traceback.print_exc()
        fail(f"{type(error).__name__}: {error}")
