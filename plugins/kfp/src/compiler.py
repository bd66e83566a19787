"""KFP's compiler for Runplane's workflow build runner.

The handler is a `@dsl.pipeline` function. The real `kfp` compiler turns it into its
pipeline spec (the IR Kubeflow Pipelines stores), with the build's parameters as the
pipeline's defaults (those it declares); this module then turns the IR into an Argo
Workflow spec as Kubeflow Pipelines' backend does, minus its driver, launcher and ML
Metadata, which Runplane does not run:

- one container template per component executor: its image, command and arguments,
  the executor's input (`{{$}}`) written by Argo from the task's parameters, and each
  output parameter the KFP executor reports (in its `executor_output.json`) written to a
  file of its own, which Argo reads as the step's output parameter;
- the root DAG: one task per pipeline task, its dependencies, and each input as the
  pipeline's parameter, a constant, or another task's output parameter;
- the pipeline's inputs as the workflow's arguments, with their defaults.

Nested DAGs (`dsl.Condition`, `dsl.ParallelFor`, sub-pipelines), artifacts and importers
are refused with a clear error.
"""

import json
import os
import tempfile

import yaml
from kfp import compiler as kfp_compiler
from runplane_compile import BuildError

OUTPUTS_DIR = "/tmp/kfp/outputs"
# Runs the executor's own command ("$@"), then writes each output parameter it reported
# to a file of its own (a string as is, anything else as JSON), for Argo to read.
SPLIT_OUTPUTS = (
    '"$@" && python3 -c \''
    "import json, os\n"
    f'd = "{OUTPUTS_DIR}"\n'
    'p = os.path.join(d, "executor_output.json")\n'
    'values = json.load(open(p)).get("parameterValues", {}) if os.path.exists(p) else {}\n'
    "for k, v in values.items():\n"
    '    open(os.path.join(d, k), "w").write(v if isinstance(v, str) else json.dumps(v))\n'
    "\'"
)
NUMBERS_AND_BOOLEANS = {"NUMBER_DOUBLE", "NUMBER_INTEGER", "BOOLEAN"}


def compile(handler, parameters):
    if not hasattr(handler, "pipeline_spec"):
        raise BuildError("source.handler: not a @dsl.pipeline function")
    declared = set(handler.component_spec.inputs or {})
    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, "pipeline.yaml")
        kfp_compiler.Compiler().compile(
            handler,
            path,
            pipeline_parameters={k: v for k, v in parameters.items() if k in declared},
        )
        with open(path) as ir:
            spec = yaml.safe_load(ir)
    return to_workflow(spec)


def to_workflow(ir):
    components = ir.get("components", {})
    executors = ir.get("deploymentSpec", {}).get("executors", {})
    root = ir["root"]
    templates, names = [], {}
    for component_name, component in components.items():
        if "dag" in component or "executorLabel" not in component:
            raise BuildError(
                f"component {component_name}: nested pipelines, conditions and loops are not supported"
            )
        executor = executors[component["executorLabel"]]
        if "container" not in executor:
            raise BuildError(f"component {component_name}: only container executors are supported")
        name = component_name.removeprefix("comp-")
        names[component_name] = name
        templates.append(container_template(name, component, executor["container"]))
    tasks = [dag_task(name, task, names, components) for name, task in root["dag"]["tasks"].items()]
    templates.append({"name": "root", "dag": {"tasks": tasks}})
    arguments = []
    for name, definition in root.get("inputDefinitions", {}).get("parameters", {}).items():
        argument = {"name": name}
        if "defaultValue" in definition:
            argument["value"] = text(definition["defaultValue"], definition.get("parameterType"))
        arguments.append(argument)
    spec = {"entrypoint": "root", "templates": templates}
    if arguments:
        spec["arguments"] = {"parameters": arguments}
    return spec


def container_template(name, component, container):
    inputs = component.get("inputDefinitions", {})
    outputs = component.get("outputDefinitions", {})
    if inputs.get("artifacts") or outputs.get("artifacts"):
        raise BuildError(f"component {name}: artifacts are not supported, only parameters")
    parameters = inputs.get("parameters", {})
    produced = outputs.get("parameters", {})
    executor_input = executor_input_text(parameters, produced)
    args = [arg.replace("{{$}}", executor_input) for arg in container.get("args", [])]
    command = container.get("command", [])
    if produced:
        command = ["sh", "-c", SPLIT_OUTPUTS, "kfp-step", *command]
    template = {
        "name": name,
        "container": {"image": container["image"], "command": command, "args": args},
    }
    if parameters:
        template["inputs"] = {"parameters": [{"name": p} for p in parameters]}
    if produced:
        template["outputs"] = {
            "parameters": [
                {"name": p, "valueFrom": {"path": f"{OUTPUTS_DIR}/{p}"}} for p in produced
            ]
        }
    return template


def executor_input_text(parameters, produced):
    """The KFP executor's input as Argo writes it: each parameter's value substituted
    (strings as JSON strings through Argo's expression `toJson`, numbers and booleans as
    they are), each output parameter's file named."""
    values = []
    for name, definition in parameters.items():
        if definition.get("parameterType") in NUMBERS_AND_BOOLEANS:
            values.append(f'"{name}": {{{{inputs.parameters.{name}}}}}')
        elif definition.get("parameterType") == "STRING":
            values.append(f'"{name}": {{{{=toJson(inputs.parameters.{name})}}}}')
        else:  # LIST, STRUCT: JSON text already
            values.append(f'"{name}": {{{{inputs.parameters.{name}}}}}')
    outputs = {
        "parameters": {p: {"outputFile": f"{OUTPUTS_DIR}/{p}"} for p in produced},
        "outputFile": f"{OUTPUTS_DIR}/executor_output.json",
    }
    return '{"inputs": {"parameterValues": {' + ", ".join(values) + '}}, "outputs": ' + json.dumps(outputs) + "}"


def dag_task(name, task, names, components):
    component = task["componentRef"]["name"]
    definitions = components[component].get("inputDefinitions", {}).get("parameters", {})
    argo_task = {"name": name, "template": names[component]}
    if task.get("dependentTasks"):
        argo_task["dependencies"] = list(task["dependentTasks"])
    arguments = []
    for parameter, source in task.get("inputs", {}).get("parameters", {}).items():
        kind = definitions.get(parameter, {}).get("parameterType")
        arguments.append({"name": parameter, "value": argument_value(name, parameter, source, kind)})
    if task.get("inputs", {}).get("artifacts"):
        raise BuildError(f"task {name}: artifacts are not supported, only parameters")
    if arguments:
        argo_task["arguments"] = {"parameters": arguments}
    return argo_task


def argument_value(task, parameter, source, kind):
    if "componentInputParameter" in source:
        return f"{{{{workflow.parameters.{source['componentInputParameter']}}}}}"
    if "taskOutputParameter" in source:
        output = source["taskOutputParameter"]
        return f"{{{{tasks.{output['producerTask']}.outputs.parameters.{output['outputParameterKey']}}}}}"
    if "runtimeValue" in source:
        return text(source["runtimeValue"]["constant"], kind)
    raise BuildError(f"task {task}: input {parameter} comes from something not supported: {source}")


def text(value, kind=None):
    """A parameter value as Argo's text: a string as is, anything else as JSON; an
    integer as one (the pipeline spec keeps every number as a double)."""
    if kind == "NUMBER_INTEGER" and isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, str) else json.dumps(value)
