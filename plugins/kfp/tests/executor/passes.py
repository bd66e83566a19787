"""A pipeline whose second component consumes the first one's output."""

from kfp import dsl


@dsl.component(base_image="python:3.11-slim")
def add(a: float, b: float) -> float:
    return a + b


@dsl.component(base_image="python:3.11-slim")
def report(total: float, label: str) -> str:
    line = f"{label}: {total}"
    print(line)
    return line


@dsl.pipeline(name="add-then-report")
def pipeline(a: float = 1.5, b: float = 2.0, label: str = 'the "sum"'):
    total = add(a=a, b=b)
    report(total=total.output, label=label)
