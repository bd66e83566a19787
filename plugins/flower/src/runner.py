"""Runs a Flower app against a federation and reports what came of it.

Written by Runplane's flower runtime (plugins/flower), the same file in every plan: the
host runs it in a virtual environment with flwr installed (the local target), or a pod
runs it in the flwr/clientapp image (the kubernetes target).

- Without --superlink, it starts a real federation of its own on 127.0.0.1: one
  SuperLink and --supernodes SuperNodes (each its own partition, through the node
  config `partition-id` and `num-partitions`), on ports the OS picks, every one a child
  in this process group. Their logs go to flower-logs/ in the working directory.
- It copies the app (pyproject.toml, server.py, client.py) into flower-app/, submits it
  with `flwr run --format json`, streams the run's log with `flwr log --stream` (the
  run's log is this process's output) and asks `flwr ls` how the run ended.
- It writes what it learnt as a JSON object to --outputs: `flwr_run_id` as soon as the
  run exists, then `status`, the number of `rounds`, the final `loss` and `metrics` and
  the whole `history`, read from the summary the ServerApp logs (Flower's History), and
  the failure's message as `error`. It exits 0 when the run completed, 1 otherwise.
- On SIGTERM it stops the run's processes (its children and theirs) before exiting.

With --role superlink or supernode it is a local deploy's process instead: it runs a
SuperLink whose Fleet API listens on the port the host passes in PORT (the Exec and
ServerAppIo APIs on ports the OS picks, written to --outputs before it starts), or a
SuperNode connected to --superlink whose ClientAppIo API listens on PORT, relaying its
log until it exits or the run is stopped. The host counts either ready once PORT
accepts connections.
"""

import argparse
import ast
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

APP_FILES = ("pyproject.toml", "server.py", "client.py")
APP_DIR = "flower-app"
LOG_DIR = "flower-logs"
# How long the local SuperLink may take to listen.
START_TIMEOUT = 120
# How long children have to exit after SIGTERM before they are killed.
STOP_GRACE = 5

children = []


def parse():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=("train", "superlink", "supernode"), default="train")
    parser.add_argument("--source", default=".", help="folder holding the app's files")
    parser.add_argument("--federation", default="local")
    parser.add_argument(
        "--superlink", help="address of the SuperLink's Exec API (train) or Fleet API (supernode)"
    )
    parser.add_argument("--node-config", help="a SuperNode's node config, key=value pairs")
    parser.add_argument("--isolation", default="subprocess")
    parser.add_argument("--root-certificates", help="CA certificate of the SuperLink")
    parser.add_argument("--supernodes", type=int, default=2)
    parser.add_argument("--outputs", required=True, help="where the JSON results go")
    return parser.parse_args()


def say(message):
    print(f"[runplane] {message}", flush=True)


def program(name):
    """A console script of this interpreter's environment (flwr's own)."""
    beside = os.path.join(os.path.dirname(sys.executable), name)
    return beside if os.path.exists(beside) else name


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(name, argv):
    os.makedirs(LOG_DIR, exist_ok=True)
    log = open(os.path.join(LOG_DIR, f"{name}.log"), "wb")
    child = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    children.append((name, child))
    return child


def tail(name, lines=20):
    try:
        with open(os.path.join(LOG_DIR, f"{name}.log"), encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def wait_listening(port, process, name):
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.stderr.write(tail(name))
            raise SystemExit(f"the {name} exited with code {process.returncode} before listening")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"the {name} did not listen on port {port} within {START_TIMEOUT} s")


def local_federation(count):
    """Starts a SuperLink and `count` SuperNodes; returns the Exec API's address."""
    serverappio, fleet, exec_api = free_port(), free_port(), free_port()
    superlink = start(
        "superlink",
        [
            program("flower-superlink"),
            "--insecure",
            "--serverappio-api-address", f"127.0.0.1:{serverappio}",
            "--fleet-api-address", f"127.0.0.1:{fleet}",
            "--exec-api-address", f"127.0.0.1:{exec_api}",
        ],
    )
    wait_listening(fleet, superlink, "superlink")
    wait_listening(exec_api, superlink, "superlink")
    say(f"SuperLink listening on 127.0.0.1:{fleet} (fleet), 127.0.0.1:{exec_api} (exec)")
    for index in range(count):
        start(
            f"supernode-{index}",
            [
                program("flower-supernode"),
                "--insecure",
                "--superlink", f"127.0.0.1:{fleet}",
                "--clientappio-api-address", f"127.0.0.1:{free_port()}",
                "--node-config", f"partition-id={index} num-partitions={count}",
            ],
        )
    say(f"{count} SuperNodes started")
    return f"127.0.0.1:{exec_api}"


def flwr(*args):
    return [program("flwr"), *args]


def write_outputs(path, outputs):
    text = json.dumps(outputs)
    if path == "/dev/termination-log" and len(text) > 4000:
        # Kubernetes keeps at most 4096 bytes of a termination message.
        text = json.dumps({k: v for k, v in outputs.items() if k != "history"})
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)


def last_json(text):
    """The JSON object flwr printed (its --format json output), else None."""
    start_at = text.find("{")
    if start_at < 0:
        return None
    try:
        return json.loads(text[start_at:])
    except ValueError:
        return None


ANSI = re.compile(r"\x1b\[[0-9;]*m")
# The summary the ServerApp logs once its rounds are done (Flower's History).
LOG_PREFIX = re.compile(r"^\s*(?:\x1b\[[0-9;]*m)*(?:DEBUG|INFO|WARNING|ERROR)\s*(?:\x1b\[[0-9;]*m)*\s*:\s?")
FINISHED = re.compile(r"Run finished (\d+) round\(s\)")
SECTION = re.compile(r"^History \(([^)]*)\):\s*$")
ROUND = re.compile(r"^round (\d+): (.+)$")


class Summary:
    """Reads the ServerApp's log line by line, keeping its summary."""

    def __init__(self):
        self.in_summary = False
        self.rounds = None
        self.history = {}
        self.section = None
        self.literal = []
        self.exception = None

    def feed(self, line):
        text = LOG_PREFIX.sub("", line.rstrip("\n")).strip()
        if "[SUMMARY]" in text:
            self.in_summary = True
            return
        if re.match(r"^\w*(Error|Exception|Interrupt)\b.*", text) and not text.startswith("History"):
            self.exception = text
        if not self.in_summary:
            return
        finished = FINISHED.search(text)
        if finished:
            self.rounds = int(finished.group(1))
            return
        section = SECTION.match(text)
        if section:
            self.close_literal()
            self.section = section.group(1).replace(", ", "_").replace(" ", "_")
            return
        if self.section is None:
            return
        by_round = ROUND.match(text)
        if by_round:
            value = literal(by_round.group(2))
            self.history.setdefault(self.section, []).append([int(by_round.group(1)), value])
            return
        if text:
            self.literal.append(text)
            self.try_literal()

    def try_literal(self):
        value = literal(" ".join(self.literal))
        if isinstance(value, dict):
            self.history[self.section] = {
                name: [list(point) for point in points] for name, points in value.items()
            }
            self.literal = []

    def close_literal(self):
        self.literal = []

    def outputs(self):
        result = {}
        if self.rounds is not None:
            result["rounds"] = self.rounds
        if not self.history:
            return result
        result["history"] = self.history
        for name in ("loss_distributed", "loss_centralized"):
            if self.history.get(name):
                result["loss"] = self.history[name][-1][1]
                break
        for name in ("metrics_distributed_evaluate", "metrics_distributed", "metrics_centralized"):
            metrics = self.history.get(name)
            if isinstance(metrics, dict) and metrics:
                result["metrics"] = {k: points[-1][1] for k, points in metrics.items() if points}
                break
        return result


def literal(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def group_members(zombies=True):
    """The other processes of this process group (children, and theirs), from /proc;
    with `zombies`, also those that ended and wait to be reaped, which still count as
    members of the group."""
    group, members = os.getpgrp(), []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return members
    for entry in entries:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as stat:
                # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after it.
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and int(fields[2]) == group and (zombies or fields[0] != "Z"):
            members.append(int(entry))
    return members


def stop_all(signum=None, frame=None):
    """Stops every process of the run's group but this one, and waits until they are
    gone (killed after a grace period): the host sees the run stopped once this process
    exits, and nothing may outlive it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for _, child in children:
        if child.poll() is None:
            child.terminate()
    try:
        os.killpg(os.getpgrp(), signal.SIGTERM)
    except OSError:
        pass
    deadline = time.monotonic() + STOP_GRACE
    for _, child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    while group_members() and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in group_members(zombies=False):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    while group_members() and time.monotonic() < deadline + STOP_GRACE:
        time.sleep(0.1)
    if signum is not None:
        say("stopped")
        os._exit(128 + signum)


def relay(name, argv):
    """Runs `argv` as this process's child until it exits, with its exit status; its
    log becomes this process's stderr without Flower's colour codes. A SIGTERM (the
    host's stop) stops it and everything it started."""
    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    child = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True
    )
    children.append((name, child))
    for line in child.stdout:
        sys.stderr.write(ANSI.sub("", line))
        sys.stderr.flush()
    sys.exit(child.wait())


def serve_superlink(args):
    fleet, exec_api, serverappio = int(os.environ["PORT"]), free_port(), free_port()
    write_outputs(args.outputs, {
        "fleet_api_address": f"127.0.0.1:{fleet}",
        "exec_api_address": f"127.0.0.1:{exec_api}",
        "serverappio_api_address": f"127.0.0.1:{serverappio}",
    })
    say(f"SuperLink: fleet 127.0.0.1:{fleet}, exec 127.0.0.1:{exec_api}")
    relay("superlink", [
        program("flower-superlink"),
        "--insecure",
        "--isolation", "subprocess",
        "--serverappio-api-address", f"127.0.0.1:{serverappio}",
        "--fleet-api-address", f"127.0.0.1:{fleet}",
        "--exec-api-address", f"127.0.0.1:{exec_api}",
    ])


def serve_supernode(args):
    argv = [
        program("flower-supernode"),
        "--insecure",
        "--superlink", args.superlink,
        "--isolation", args.isolation,
        "--clientappio-api-address", f"127.0.0.1:{os.environ['PORT']}",
    ]
    if args.node_config:
        argv += ["--node-config", args.node_config]
    say(f"SuperNode connecting to {args.superlink}")
    relay("supernode", argv)


def main():
    args = parse()
    # SuperLinks, SuperNodes and flwr keep their state under FLWR_HOME; SuperLinks and
    # SuperNodes start flwr-serverapp and flwr-clientapp by name.
    os.environ["FLWR_HOME"] = os.path.join(os.getcwd(), ".flwr")
    bin_dir = os.path.dirname(sys.executable)
    os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
    if args.role == "superlink":
        return serve_superlink(args)
    if args.role == "supernode":
        return serve_supernode(args)
    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    workdir = os.getcwd()
    app = os.path.join(workdir, APP_DIR)
    os.makedirs(app, exist_ok=True)
    for name in APP_FILES:
        shutil.copyfile(os.path.join(args.source, name), os.path.join(app, name))
    outputs = {}
    try:
        if args.superlink:
            address, secure = args.superlink, args.root_certificates
        else:
            address, secure = local_federation(args.supernodes), None
        security = f'root-certificates="{secure}"' if secure else "insecure=true"
        federation = ["--federation-config", f'address="{address}" {security}']
        submitted = subprocess.run(
            flwr("run", app, args.federation, "--format", "json", *federation),
            capture_output=True, text=True,
        )
        answer = last_json(submitted.stdout) or {}
        if not answer.get("success"):
            message = answer.get("error-message") or (submitted.stdout + submitted.stderr).strip()
            outputs.update(status="failed", error=message)
            raise SystemExit(f"flwr run failed: {message}")
        run_id = answer["run-id"]
        outputs["flwr_run_id"] = str(run_id)
        write_outputs(args.outputs, outputs)
        say(f"Flower run {run_id} started on federation {args.federation} at {address}")
        summary = Summary()
        stream = subprocess.Popen(
            flwr("log", str(run_id), app, args.federation, "--stream", *federation),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        children.append(("flwr log", stream))
        for line in stream.stdout:
            # Flower colours its levels; the run's log is plain text.
            sys.stdout.write(ANSI.sub("", line))
            sys.stdout.flush()
            summary.feed(line)
        stream.wait()
        status = run_status(run_id, app, args.federation, federation)
        outputs["status"] = status
        outputs.update(summary.outputs())
        if status != "finished:completed":
            message = summary.exception or f"the Flower run ended {status}"
            outputs["error"] = message
            raise SystemExit(f"Flower run {run_id} ended {status}: {message}")
        say(f"Flower run {run_id} completed")
    finally:
        write_outputs(args.outputs, outputs)
        stop_all()


def run_status(run_id, app, federation_name, federation):
    """The run's status as `flwr ls` says it, waiting for it to finish."""
    deadline = time.monotonic() + 60
    status = "unknown"
    while time.monotonic() < deadline:
        listed = subprocess.run(
            flwr("ls", app, federation_name, "--run-id", str(run_id), "--format", "json", *federation),
            capture_output=True, text=True,
        )
        runs = (last_json(listed.stdout) or {}).get("runs") or []
        status = runs[0]["status"] if runs else status
        if status.startswith("finished"):
            return status
        time.sleep(1)
    return status


if __name__ == "__main__":
    main()
