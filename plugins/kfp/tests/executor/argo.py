"""Plays Argo Workflows for a compiled workflow spec (argv[1], YAML): runs each DAG task
of the entrypoint in dependency order, its template's command as the step's container
would, after Argo's substitutions (`{{workflow.parameters.x}}`, `{{inputs.parameters.x}}`,
`{{=toJson(inputs.parameters.x)}}`, `{{tasks.t.outputs.parameters.p}}`), and reads each
output parameter from its `valueFrom.path`. Prints {task: {parameter: value}} as JSON."""

import json
import os
import re
import shutil
import subprocess
import sys

import yaml

spec = yaml.safe_load(open(sys.argv[1]))
templates = {t["name"]: t for t in spec["templates"]}
workflow = {p["name"]: p.get("value", "") for p in spec.get("arguments", {}).get("parameters", [])}
done = {}


def substitute(text, inputs):
    text = re.sub(r"\{\{workflow\.parameters\.(\w+)\}\}", lambda m: workflow[m[1]], text)
    text = re.sub(
        r"\{\{tasks\.([\w-]+)\.outputs\.parameters\.(\w+)\}\}", lambda m: done[m[1]][m[2]], text
    )
    text = re.sub(r"\{\{=toJson\(inputs\.parameters\.(\w+)\)\}\}", lambda m: json.dumps(inputs[m[1]]), text)
    return re.sub(r"\{\{inputs\.parameters\.(\w+)\}\}", lambda m: inputs[m[1]], text)


tasks = templates[spec["entrypoint"]]["dag"]["tasks"]
while len(done) < len(tasks):
    for task in tasks:
        if task["name"] in done or not all(d in done for d in task.get("dependencies", [])):
            continue
        inputs = {p["name"]: substitute(p["value"], {}) for p in task.get("arguments", {}).get("parameters", [])}
        template = templates[task["template"]]
        container = template["container"]
        argv = [substitute(a, inputs) for a in container["command"] + container.get("args", [])]
        shutil.rmtree("/tmp/kfp/outputs", ignore_errors=True)
        os.makedirs("/tmp/kfp/outputs")
        subprocess.run(argv, check=True, stdout=sys.stderr)
        outputs = {}
        for parameter in template.get("outputs", {}).get("parameters", []):
            with open(parameter["valueFrom"]["path"]) as value:
                outputs[parameter["name"]] = value.read()
        done[task["name"]] = outputs
print(json.dumps(done))
