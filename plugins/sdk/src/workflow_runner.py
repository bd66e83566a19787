"""Runplane's build runner for workflow runtimes: compiles a pipeline into an Argo
Workflow spec.

The function's source is `pipeline.py` beside this file, the runtime's compiler
`runplane_compiler.py` (its `compile(handler, parameters)` returns the workflow's spec as
a dict). `RUNPLANE_HANDLER` names the source's function, `RUNPLANE_PARAMETERS` (JSON) the
build run's parameters. The spec is written as YAML, base64-encoded, to
`RUNPLANE_OUTPUTS` as output `build`: `{"lang": "yaml", "base64": …}`, with its
`entrypoint` and `templates` (their names) beside it; the YAML goes to standard output
too. On Kubernetes that file is the termination message, which holds 4 KiB: a bigger
build fails, saying so.

A failure exits 1 with `{"error": …}` in the outputs and the reason as the last line of
standard error, which the host reports as the run's error.
"""

import base64
import importlib.util
import json
import os
import sys
import traceback

import yaml

# Kubernetes keeps up to 4096 bytes of a container's termination message.
TERMINATION_LOG = "/dev/termination-log"
TERMINATION_LIMIT = 4096
HERE = os.path.dirname(os.path.abspath(__file__))


class BuildError(Exception):
    """A mistake in the user's pipeline, reported as is (no traceback)."""


def fail(message):
    path = os.environ.get("RUNPLANE_OUTPUTS")
    if path:
        with open(path, "w") as out:
            json.dump({"error": message[-1000:]}, out)
    print(message, file=sys.stderr, flush=True)
    sys.exit(1)


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main():
    handler_name = os.environ["RUNPLANE_HANDLER"]
    parameters = json.loads(os.environ.get("RUNPLANE_PARAMETERS") or "{}")
    # The compiler imports BuildError from this module, which runs as __main__.
    sys.modules["runplane_compile"] = sys.modules[__name__]
    compiler = load("runplane_compiler", os.path.join(HERE, "runplane_compiler.py"))
    source = load("pipeline", os.path.join(HERE, "pipeline.py"))
    handler = getattr(source, handler_name, None)
    if handler is None:
        raise BuildError(f"source.handler: the source defines no {handler_name!r}")
    spec = compiler.compile(handler, parameters)
    if not spec.get("templates"):
        raise BuildError(f"source.handler: the workflow of {handler_name} has no templates")
    text = yaml.safe_dump(spec, sort_keys=False)
    print(text, flush=True)
    outputs = json.dumps(
        {
            "build": {"lang": "yaml", "base64": base64.b64encode(text.encode()).decode()},
            "entrypoint": spec.get("entrypoint"),
            "templates": [template.get("name") for template in spec["templates"]],
        }
    )
    path = os.environ.get("RUNPLANE_OUTPUTS")
    if path == TERMINATION_LOG and len(outputs) > TERMINATION_LIMIT:
        raise BuildError(
            f"the compiled workflow takes {len(outputs)} bytes, more than the "
            f"{TERMINATION_LIMIT} a pod's termination message holds: build it on the local target"
        )
    if path:
        with open(path, "w") as out:
            out.write(outputs)


if __name__ == "__main__":
    try:
        main()
    except BuildError as error:
        fail(str(error))
    except BaseException as error:  # the user's code: report whatever it raised
        traceback.print_exc()
        fail(f"{type(error).__name__}: {error}")
