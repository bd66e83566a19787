"""Handlers used by scenario.py (uploaded as the source of python functions).

Only the standard library is used: the code runs inside whatever Python
runtime the server launches for `python+job` / `python+serve` runs.
"""


def main(x: int = 1):
    """Job handler: prints a line the scenario looks for in the run logs."""
    print(f"sdk-job x={x}", flush=True)


def fail():
    """Job handler that always fails (ZeroDivisionError)."""
    return 1 / 0


GREETING = "hello"


def init(greeting="hello from sdk-serve"):
    """Init function of the serve handler (`init_function`): called once at start-up
    with the run's `init_parameters` as keyword arguments (Runplane's convention)."""
    global GREETING
    GREETING = greeting


def serve(name="world"):
    """Serve handler: the fields of the request's JSON body are its keyword
    arguments (Runplane's convention, not nuclio's `(context, event)`)."""
    return {"greeting": GREETING, "name": name}
