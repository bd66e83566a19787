"""Runplane bootstrap: imports the run's handler and calls it with the run's arguments.

The same file runs locally and in a pod. It sits beside the function's source module and
`arguments.json` ({"parameters": ..., "inputs": ..., "init_parameters": ...}).
Environment: RUNPLANE_HANDLER ("module:function"), RUNPLANE_MODE ("job" or "serve"),
RUNPLANE_INIT_FUNCTION (serve, optional), RUNPLANE_PORT or PORT (serve, default 8080),
RUNPLANE_HOST (serve, the address to bind, all of them by default),
RUNPLANE_OUTPUTS (optional path where the handler's result is written as JSON).
"""

import http.server
import importlib
import inspect
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def load(reference):
    module_name, _, function_name = reference.partition(":")
    sys.path.insert(0, HERE)
    module = importlib.import_module(module_name)
    try:
        return getattr(module, function_name)
    except AttributeError:
        sys.exit(f"runplane: handler {function_name!r} not found in module {module_name!r}")


def call(function, arguments):
    """Calls `function` with the arguments its signature accepts."""
    signature = inspect.signature(function)
    takes_all = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    if takes_all:
        return function(**arguments)
    accepted = {name: value for name, value in arguments.items() if name in signature.parameters}
    ignored = sorted(set(arguments) - set(accepted))
    if ignored:
        print(f"runplane: {function.__name__} takes no parameter(s) {', '.join(ignored)}", file=sys.stderr)
    return function(**accepted)


def write_outputs(result):
    path = os.environ.get("RUNPLANE_OUTPUTS")
    if not path:
        return
    try:
        text = json.dumps({"result": result})
    except TypeError:
        text = json.dumps({"result": repr(result)})
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)


def serve(handler, host, port):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.reply(200, {"status": "ok"} if self.path == "/healthz" else {"handler": handler.__name__})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            try:
                self.reply(200, {"result": call(handler, body if isinstance(body, dict) else {"body": body})})
            except Exception as error:  # the handler's failure is the caller's answer
                self.reply(500, {"error": repr(error)})

        def reply(self, status, payload):
            data = json.dumps(payload, default=repr).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    print(f"runplane: serving {handler.__name__} on port {port}", flush=True)
    http.server.ThreadingHTTPServer((host, port), Handler).serve_forever()


def main():
    with open(os.path.join(HERE, "arguments.json"), encoding="utf-8") as file:
        arguments = json.load(file)
    handler = load(os.environ["RUNPLANE_HANDLER"])
    if os.environ.get("RUNPLANE_MODE") == "serve":
        init = os.environ.get("RUNPLANE_INIT_FUNCTION")
        if init:
            call(load(init), arguments.get("init_parameters", {}))
        port = os.environ.get("RUNPLANE_PORT") or os.environ.get("PORT") or "8080"
        serve(handler, os.environ.get("RUNPLANE_HOST", ""), int(port))
        return
    result = call(handler, {**arguments.get("inputs", {}), **arguments.get("parameters", {})})
    print(f"runplane: {handler.__name__} returned {result!r}", flush=True)
    write_outputs(result)


if __name__ == "__main__":
    main()
