"""A two-component Kubeflow Pipelines pipeline: check the data, then train on it.

`pipeline` is the function's handler: the build compiles it with the real `kfp` and
stores it on the function as an Argo Workflow; each pipeline run then runs that workflow
on Argo Workflows, with the run's `parameters` as the pipeline's inputs (`rows`,
`learning_rate`).
"""

from kfp import dsl


@dsl.component(base_image="python:3.11-slim")
def check_data(rows: int):
    if rows <= 0:
        raise ValueError(f"no rows to train on: {rows}")
    print(f"{rows} rows look fine")


@dsl.component(base_image="python:3.11-slim")
def train(rows: int, learning_rate: float):
    loss = 1.0
    for _ in range(rows):
        loss *= 1 - learning_rate
    print(f"trained on {rows} rows, final loss {loss:.4f}")


@dsl.pipeline(name="check-then-train")
def pipeline(rows: int = 100, learning_rate: float = 0.01):
    checked = check_data(rows=rows)
    train(rows=rows, learning_rate=learning_rate).after(checked)
