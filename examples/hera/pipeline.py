"""A three-step ETL pipeline written with Hera: extract, then transform, then load.

`pipeline()` is the function's handler: the build calls it and stores the workflow it
returns, compiled by Hera, on the function; each pipeline run then runs that workflow on
Argo Workflows, with the run's `parameters` as the workflow's arguments (`message`).
"""

from hera.workflows import DAG, Container, Parameter, Workflow


def pipeline():
    with Workflow(
        generate_name="etl-",
        entrypoint="etl",
        arguments=[Parameter(name="message", value="hello")],
    ) as workflow:
        extract = Container(
            name="extract",
            image="python:3.11-slim",
            command=["python", "-c", "print('extracting 3 rows')"],
        )
        transform = Container(
            name="transform",
            image="python:3.11-slim",
            command=["python", "-c", "print('transforming 3 rows')"],
        )
        load = Container(
            name="load",
            image="python:3.11-slim",
            command=["echo", "loaded: {{workflow.parameters.message}}"],
        )
        with DAG(name="etl"):
            extract() >> transform() >> load()
    return workflow
