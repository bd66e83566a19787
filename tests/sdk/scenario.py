#!/usr/bin/env python3
"""End-to-end scenario: the real DigitalHub SDK (digitalhub==0.15.11,
digitalhub-runtime-python==0.15.2, digitalhub-runtime-container==0.15.3,
digitalhub-runtime-modelserve==0.15.0, digitalhub-runtime-flower==0.15.1 and
digitalhub-runtime-dbt==0.15.2)
driving a running server through its public API (`import digitalhub as dh`).

Usage:
    python scenario.py --project NAME --target local|kubernetes [--expect-unauthorized]

Environment (set by the harness): DHCORE_ENDPOINT, DHCORE_ACCESS_TOKEN or
DHCORE_PERSONAL_ACCESS_TOKEN with DHCORE_ISSUER and DHCORE_CLIENT_ID (when auth
is on), DH_CONFIG (a temp ini file, so ~/.dhcore.ini is never read).

Prints one line per step (`step: <what> ... ok|skipped (...)|FAILED`) and
exits 0 only if every step passed. On failure it prints the step, the
exception and the JSON of the entities involved, and exits 1.

The project NAME must be fresh (the version-count checks assume it); the
project is left in place so the harness can inspect the server state.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
import traceback

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))

# Entity names created by the scenario (the harness may look for them).
FN_JOB = "sdk-job"        # from handlers.py, handler main; gets a 2nd version
FN_INLINE = "sdk-inline"  # from inline code; deleted at the end
FN_FAIL = "sdk-fail"      # from handlers.py, handler fail (kwok fails it by its env)
FN_SERVE = "sdk-serve"    # from handlers.py, handler serve + init_function init
FN_CONTAINER = "sdk-container"  # an image and a command (digitalhub-runtime-container)
FN_TRAIN = "sdk-train"    # inline code with requirements: trains and saves a model
FN_MODEL = "sdk-model"    # sklearnserve of that model (digitalhub-runtime-modelserve)
FN_FLOWER = "sdk-flower"  # a federated regression (digitalhub-runtime-flower)
FN_DBT = "sdk-dbt"        # a SQL model without inputs (digitalhub-runtime-dbt)
WF_HERA = "sdk-hera"      # a three-step Hera pipeline (digitalhub-runtime-hera)
WF_KFP = "sdk-kfp"        # a two-component KFP pipeline (digitalhub-runtime-kfp, SDK 0.14)

# User code shared with the Rust end-to-end tests (tests/apps).
APPS = os.path.join(SCRIPT_DIR, "..", "apps")
# The Flower app of host/cli/tests/federated: a ServerApp and a ClientApp named `app`.
FLOWER_APP = os.path.join(APPS, "flower")
EXAMPLES = os.path.join(SCRIPT_DIR, "..", "..", "examples")

# The scikit-learn the serving environment pins, so the pickled model loads there.
SCIKIT_LEARN = "scikit-learn==1.5.2"

PYTHON_VERSION = "PYTHON3_11"
KWOK_LOG_LINE = "Hello from the kwok-simulated container log"
INLINE_CODE = "def handler():\n    print('sdk-inline ran', flush=True)\n"

TERMINAL = ("COMPLETED", "ERROR", "STOPPED")


class StepTimeout(Exception):
    pass


class ScenarioFailure(Exception):
    pass


def _on_alarm(signum, frame):
    raise StepTimeout("step timed out")


def _dump(label, obj):
    try:
        data = obj.to_dict() if hasattr(obj, "to_dict") else obj
        text = json.dumps(data, indent=2, sort_keys=True, default=str)
    except Exception as e:  # never let the dump hide the real failure
        text = f"<could not serialize: {type(e).__name__}: {e}>"
    print(f"entity {label}: {text}", flush=True)


class Runner:
    """Runs steps, prints one line per step, dumps entities on failure."""

    def __init__(self):
        self.watched = {}  # label -> entity (dumped on failure)
        self.on_fail = []  # callables giving extra (label, entity) pairs

    def watch(self, label, entity):
        self.watched[label] = entity
        return entity

    @contextlib.contextmanager
    def step(self, what, timeout=120):
        self.on_fail = []
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.alarm(int(timeout))
        try:
            yield
        except BaseException as e:
            signal.alarm(0)
            if isinstance(e, KeyboardInterrupt):
                raise
            print(f"step: {what} ... FAILED", flush=True)
            if isinstance(e, StepTimeout):
                print(f"error: StepTimeout: step did not finish within {timeout} s", flush=True)
            else:
                print(f"error: {type(e).__module__}.{type(e).__name__}: {e}", flush=True)
            traceback.print_exc(file=sys.stdout)
            for label, ent in self.watched.items():
                _dump(label, ent)
            for fn in self.on_fail:
                try:
                    for label, ent in fn():
                        _dump(label, ent)
                except Exception as e2:
                    print(f"(diagnostics failed: {type(e2).__name__}: {e2})", flush=True)
            sys.stdout.flush()
            sys.exit(1)
        else:
            signal.alarm(0)
            print(f"step: {what} ... ok", flush=True)

    @staticmethod
    def skip(what, reason):
        print(f"step: {what} ... skipped ({reason})", flush=True)


def check(cond, msg):
    if not cond:
        raise ScenarioFailure(msg)


@contextlib.contextmanager
def in_script_dir():
    """code_src='handlers.py' is read relative to the CWD at new_function time."""
    old = os.getcwd()
    os.chdir(SCRIPT_DIR)
    try:
        yield
    finally:
        os.chdir(old)


def poll_state(run, wanted, timeout, fail_on_error=True):
    """refresh() the run until status.state == wanted (every 2 s)."""
    deadline = time.time() + timeout
    seen = []
    while True:
        run.refresh()
        state = run.status.state
        if not seen or seen[-1] != state:
            seen.append(state)
        if state == wanted:
            return run
        if fail_on_error and state == "ERROR" and wanted != "ERROR":
            raise ScenarioFailure(f"run {run.id} went to ERROR while waiting for {wanted} "
                                  f"(states seen: {seen}, message: {run.status.message!r})")
        if time.time() > deadline:
            raise ScenarioFailure(f"run {run.id} not {wanted} after {timeout} s (states seen: {seen})")
        time.sleep(2)


def log_text(run):
    return "".join((lg.text or "") for lg in run.logs())


def wait_for_log(run, needle, timeout):
    """Logs may be collected a little after the run ends: retry for a while."""
    deadline = time.time() + timeout
    while True:
        text = log_text(run)
        if needle in text:
            return text
        if time.time() > deadline:
            raise ScenarioFailure(f"run {run.id} logs do not contain {needle!r}; logs were: {text!r}")
        time.sleep(3)


def scenario_unauthorized(r, dh, project):
    from digitalhub.utils.exceptions import ClientError, UnauthorizedError
    from requests.exceptions import HTTPError

    with r.step(f"get_or_create_project({project!r}) is rejected as unauthorized", timeout=180):
        try:
            p = dh.get_or_create_project(project)
        except HTTPError as e:
            # A wrong DHCORE_PERSONAL_ACCESS_TOKEN: the token endpoint refuses to
            # exchange it (400 invalid_grant), which the SDK raises as is.
            print(f"info: raised {type(e).__name__}: {e}", flush=True)
            error = e.response.json().get("error") if e.response is not None else None
            check(error == "invalid_grant", f"the token endpoint said {error!r}, not invalid_grant")
        except (ClientError, UnauthorizedError) as e:
            # With a wrong DHCORE_ACCESS_TOKEN the SDK does: GET project -> 401,
            # GET /api/auth -> 401 (UnauthorizedError, swallowed by get_or_create),
            # POST project -> 401 -> ClientError("Auth type access_token_only does
            # not support refresh."). Without a token: ClientError("Auth type no_auth ...").
            msg = str(e)
            print(f"info: raised {type(e).__name__}: {msg}", flush=True)
            check("auth" in msg.lower(), f"error message does not mention auth: {msg!r}")
        else:
            r.watch("project", p)
            raise ScenarioFailure("get_or_create_project succeeded but an auth error was expected")


def scenario_full(r, dh, project, target):
    from digitalhub.utils.exceptions import EntityNotExistsError

    kube = target == "kubernetes"

    # ---------------------------------------------------------------- project
    with r.step(f"get_or_create_project({project!r}) [first call]"):
        p = r.watch("project", dh.get_or_create_project(project))
        check(p.name == project, f"project name {p.name!r} != {project!r}")
    with r.step(f"get_or_create_project({project!r}) [second call finds it]"):
        p2 = r.watch("project", dh.get_or_create_project(project))
        check(p2.name == project, f"project name {p2.name!r} != {project!r}")
        p3 = dh.get_project(project)
        check(p3.name == project, "get_project returned a different project")
        c1, c2 = p.metadata.created, p2.metadata.created
        check(c1 == c2, f"second call returned a different project (created {c1!r} vs {c2!r})")

    # ------------------------------------------------- function from a file
    with r.step(f"new_function {FN_JOB} (code_src=handlers.py, handler main)"):
        with in_script_dir():
            fn_job = r.watch("function job v1", dh.new_function(
                project=project, name=FN_JOB, kind="python", code_src="handlers.py",
                handler="main", python_version=PYTHON_VERSION))
        check(fn_job.kind == "python", f"kind {fn_job.kind!r}")
        check(fn_job.spec.source.get("handler") == "main", f"source {fn_job.spec.source!r}")
        check(fn_job.spec.source.get("base64"), "function source base64 not echoed back")

    def recent_runs():
        return [(f"run (recent) {x.id}", x) for x in dh.list_runs(project)[:3]]

    with r.step(f"run {FN_JOB} action=job parameters x=3 wait=True -> COMPLETED", timeout=420):
        r.on_fail.append(recent_runs)
        run_job = r.watch("run job", fn_job.run(action="job", wait=True, parameters={"x": 3}))
        check(run_job.status.state == "COMPLETED",
              f"state {run_job.status.state!r} (message {run_job.status.message!r})")

    expected = KWOK_LOG_LINE if kube else "sdk-job x=3"
    with r.step(f"run.logs() of the job contains {expected!r}", timeout=120):
        text = wait_for_log(run_job, expected, timeout=90)
        print(f"info: job log: {text.strip()[:300]!r}", flush=True)

    # ------------------------------------------------ function from inline code
    with r.step(f"new_function {FN_INLINE} (inline code)"):
        fn_inline = r.watch("function inline", dh.new_function(
            project=project, name=FN_INLINE, kind="python", code=INLINE_CODE,
            handler="handler", python_version=PYTHON_VERSION))
        check(fn_inline.spec.source.get("base64"), "inline source base64 not echoed back")
    with r.step(f"run {FN_INLINE} action=job wait=True -> COMPLETED", timeout=420):
        r.on_fail.append(recent_runs)
        run_inline = r.watch("run inline", fn_inline.run(action="job", wait=True))
        check(run_inline.status.state == "COMPLETED",
              f"state {run_inline.status.state!r} (message {run_inline.status.message!r})")
    if not kube:
        with r.step("run.logs() of the inline job contains 'sdk-inline ran'", timeout=120):
            wait_for_log(run_inline, "sdk-inline ran", timeout=90)

    # ------------------------------------------------------- failing handler
    # Under kwok (--target kubernetes) pods execute no code: the control plane's kwok
    # stages fail a pod whose container has RUNPLANE_SIMULATE=fail in its environment,
    # which the run's `envs` (a field the SDK passes through) put there.
    fail_envs = [{"name": "RUNPLANE_SIMULATE", "value": "fail"}] if kube else None
    with r.step(f"new_function {FN_FAIL} (code_src=handlers.py, handler fail)"):
        with in_script_dir():
            fn_fail = r.watch("function fail", dh.new_function(
                project=project, name=FN_FAIL, kind="python", code_src="handlers.py",
                handler="fail", python_version=PYTHON_VERSION))
    with r.step(f"run {FN_FAIL} action=job wait=True -> ERROR with status.message", timeout=420):
        r.on_fail.append(recent_runs)
        extra = {"envs": fail_envs} if fail_envs else {}
        run_fail = r.watch("run fail", fn_fail.run(action="job", wait=True, **extra))
        check(run_fail.status.state == "ERROR", f"state {run_fail.status.state!r}, expected ERROR")
        check(isinstance(run_fail.status.message, str) and run_fail.status.message.strip(),
              f"ERROR run has empty status.message: {run_fail.status.message!r}")
        print(f"info: failure message: {run_fail.status.message.strip()[:300]!r}", flush=True)

    # ------------------------------------------------------------- listings
    with r.step("list_functions contains the functions"):
        fns = dh.list_functions(project)
        names = {f.name for f in fns}
        want = {FN_JOB, FN_INLINE, FN_FAIL}
        check(want <= names, f"list_functions names {sorted(names)} missing {sorted(want - names)}")
        check(len([f for f in fns if f.name == FN_JOB]) == 1,
              f"list_functions must return only the latest version of each name: {[f.id for f in fns]}")

    with r.step(f"get_function({FN_JOB!r}) returns the latest"):
        got = r.watch("function got", dh.get_function(FN_JOB, project=project))
        check(got.id == fn_job.id, f"get_function id {got.id!r} != {fn_job.id!r}")

    # ------------------------------------------------------------- versions
    with r.step(f"new version of {FN_JOB} (with description)"):
        with in_script_dir():
            fn_job2 = r.watch("function job v2", dh.new_function(
                project=project, name=FN_JOB, kind="python", code_src="handlers.py",
                handler="main", python_version=PYTHON_VERSION,
                description="second version of sdk-job"))
        check(fn_job2.id != fn_job.id, "new version has the same id as the old one")
    with r.step(f"get_function({FN_JOB!r}) returns the new version"):
        got = r.watch("function got", dh.get_function(FN_JOB, project=project))
        check(got.id == fn_job2.id, f"latest id {got.id!r}, expected new version {fn_job2.id!r}")
    with r.step(f"get_function_versions({FN_JOB!r}) returns 2"):
        vers = dh.get_function_versions(FN_JOB, project=project)
        ids = [v.id for v in vers]
        check(len(vers) == 2, f"expected 2 versions, got {ids}")
        check(set(ids) == {fn_job.id, fn_job2.id}, f"versions {ids} != {{{fn_job.id}, {fn_job2.id}}}")
    with r.step(f"get_function({FN_JOB!r}, entity_id=<old>) returns the old version"):
        old = r.watch("function got", dh.get_function(FN_JOB, project=project, entity_id=fn_job.id))
        check(old.id == fn_job.id, f"id {old.id!r} != {fn_job.id!r}")
        check(old.spec.source.get("handler") == "main", f"source {old.spec.source!r}")
    with r.step("get_function(<key>) by store key returns that version"):
        byk = r.watch("function got", dh.get_function(fn_job.key))
        check(byk.id == fn_job.id, f"id {byk.id!r} != {fn_job.id!r}")

    # ------------------------------------------------------------------ runs
    with r.step("list_runs contains the runs"):
        runs = dh.list_runs(project)
        run_ids = {x.id for x in runs}
        want = {run_job.id, run_inline.id, run_fail.id}
        check(want <= run_ids, f"list_runs {sorted(run_ids)} missing {sorted(want - run_ids)}")
    with r.step("get_run by id"):
        got_run = r.watch("run got", dh.get_run(run_job.id, project=project))
        check(got_run.id == run_job.id, f"id {got_run.id!r}")
        check(got_run.status.state == "COMPLETED", f"state {got_run.status.state!r}")
        check(got_run.spec.task == run_job.spec.task, f"task {got_run.spec.task!r} != {run_job.spec.task!r}")

    # ----------------------------------------------------------------- serve
    with r.step(f"new_function {FN_SERVE} (handler serve, init_function init)"):
        with in_script_dir():
            fn_serve = r.watch("function serve", dh.new_function(
                project=project, name=FN_SERVE, kind="python", code_src="handlers.py",
                handler="serve", init_function="init", python_version=PYTHON_VERSION))
        check(fn_serve.spec.source.get("init_function") == "init", f"source {fn_serve.spec.source!r}")
    with r.step(f"run {FN_SERVE} action=serve wait=True -> RUNNING with status.service", timeout=360):
        r.on_fail.append(recent_runs)
        # The SDK's wait for a service returns once `status.service` is set (or after
        # 300 s without raising): the state and the URL say it really came up.
        started = time.monotonic()
        run_serve = r.watch("run serve", fn_serve.run(action="serve", wait=True))
        service = getattr(run_serve.status, "service", None) or {}
        check(run_serve.status.state == "RUNNING", f"state {run_serve.status.state!r}")
        check(bool(service.get("url")), f"status.service {service!r}")
        print(f"info: serving at {service.get('url')} after {time.monotonic() - started:.0f} s", flush=True)
    with r.step("serve run.stop() -> STOPPED", timeout=180):
        run_serve.stop()
        poll_state(run_serve, "STOPPED", timeout=120)
    with r.step("serve run.resume() -> RUNNING", timeout=180):
        run_serve.resume()
        poll_state(run_serve, "RUNNING", timeout=120)
    with r.step("serve run.stop() again -> STOPPED", timeout=180):
        run_serve.stop()
        poll_state(run_serve, "STOPPED", timeout=120)

    # --------------------------------------------------------------- deletes
    with r.step("delete_run of the completed job run", timeout=120):
        dh.delete_run(run_job.id, project=project)
        deadline = time.time() + 60
        while True:
            try:
                gone = dh.get_run(run_job.id, project=project)
            except EntityNotExistsError:
                break
            r.watch("run job (after delete)", gone)
            if gone.status.state == "DELETED":
                break
            check(gone.status.state == "DELETING" and time.time() < deadline,
                  f"after delete_run the run still exists in state {gone.status.state!r}")
            time.sleep(2)
    with r.step(f"delete_function {FN_INLINE} (entity_id)", timeout=120):
        dh.delete_function(FN_INLINE, project=project, entity_id=fn_inline.id)
        deadline = time.time() + 60
        while True:
            try:
                gone = dh.get_function(FN_INLINE, project=project, entity_id=fn_inline.id)
            except EntityNotExistsError:
                break
            r.watch("function inline (after delete)", gone)
            check(time.time() < deadline, "function still readable 60 s after delete_function")
            time.sleep(2)
    # The project is intentionally left in place for the harness to inspect.


def scenario_container(r, dh, project, target):
    """The container runtime's package: an image and a command run as a job on the
    cluster (kwok completes it, or fails it by its env), as a user the host's Pod
    Security level admits; a host without a cluster refuses such a run saying why."""
    from digitalhub.utils.exceptions import BackendError

    kube = target == "kubernetes"
    with r.step(f"new_function {FN_CONTAINER} (kind container, image, command)"):
        fn = r.watch("function container", dh.new_function(
            project=project, name=FN_CONTAINER, kind="container",
            image="busybox:1.36", command="echo"))
        check(fn.kind == "container", f"kind {fn.kind!r}")
        check(fn.spec.image == "busybox:1.36", f"image {fn.spec.image!r}")

    def refused(what, needle, **run_args):
        with r.step(f"run {FN_CONTAINER} action=job {what} -> refused", timeout=180):
            try:
                run = fn.run(action="job", wait=True, **run_args)
            except BackendError as e:
                message = str(e)
                print(f"info: refused: {message[:300]!r}", flush=True)
                check(needle in message, f"the refusal does not say {needle!r}: {message!r}")
            else:
                r.watch("run container (not refused)", run)
                raise ScenarioFailure("the run was accepted")

    if not kube:
        refused("without a cluster", "no Kubernetes cluster", args=["hello"])
        return
    # The image's own user may be root, which the host's "restricted" level refuses
    # until the run says whom to run as.
    refused("as the image's user", "runAsNonRoot", args=["hello"])
    with r.step(f"run {FN_CONTAINER} action=job args=[hello] run_as_user=1000 -> COMPLETED",
                timeout=420):
        run = r.watch("run container", fn.run(
            action="job", args=["hello"], run_as_user=1000, wait=True))
        check(run.status.state == "COMPLETED",
              f"state {run.status.state!r} (message {run.status.message!r})")
        check(run.spec.to_dict().get("args") == ["hello"], f"args {run.spec.to_dict().get('args')!r}")
    with r.step(f"run {FN_CONTAINER} action=job failing -> ERROR", timeout=420):
        envs = [{"name": "RUNPLANE_SIMULATE", "value": "fail"}]
        run = r.watch("run container fail", fn.run(
            action="job", envs=envs, run_as_user=1000, wait=True))
        check(run.status.state == "ERROR", f"state {run.status.state!r}, expected ERROR")


def scenario_modelserve(r, dh, project, target):
    """The modelserve package: on the local target a model trained by a python job
    (inline code with requirements) is served by an sklearnserve run on MLServer and
    answers an Open Inference Protocol request until stopped; on the cluster the
    serve run of a model at a URL comes up (kwok) and stops."""
    import urllib.request

    kube = target == "kubernetes"
    if kube:
        path = "https://models.example/tiny.joblib"
    else:
        path = os.path.join(tempfile.mkdtemp(prefix="sdk-model-"), "tiny.joblib")
        with open(os.path.join(APPS, "sklearn", "train.py")) as source:
            train_code = source.read()
        with r.step(f"run {FN_TRAIN} (inline code, requirements) -> COMPLETED", timeout=900):
            train = r.watch("function train", dh.new_function(
                project=project, name=FN_TRAIN, kind="python", code=train_code,
                handler="main", python_version=PYTHON_VERSION, requirements=[SCIKIT_LEARN]))
            run = r.watch("run train", train.run(
                action="job", parameters={"path": path}, wait=True))
            check(run.status.state == "COMPLETED",
                  f"state {run.status.state!r} (message {run.status.message!r})")
            check(os.path.exists(path), f"no model at {path}")
    with r.step(f"new_function {FN_MODEL} (kind sklearnserve, path, model_name)"):
        model = r.watch("function model", dh.new_function(
            project=project, name=FN_MODEL, kind="sklearnserve", path=path, model_name="tiny"))
        check(model.spec.path == path, f"path {model.spec.path!r}")
    with r.step(f"run {FN_MODEL} action=serve wait=True -> RUNNING with status.service",
                timeout=900):
        served = r.watch("run model", model.run(action="serve", wait=True))
        service = getattr(served.status, "service", None) or {}
        check(served.status.state == "RUNNING",
              f"state {served.status.state!r} (message {served.status.message!r})")
        check(bool(service.get("url")), f"status.service {service!r}")
    if not kube:
        with r.step("the served model answers a V2 inference request", timeout=120):
            url = (service.get("urls") or ["http://" + service["url"]])[0]
            request = {"inputs": [{"name": "input-0", "shape": [2, 2], "datatype": "FP64",
                                   "data": [[1.0, 0.0], [0.0, 1.0]]}]}
            req = urllib.request.Request(
                f"{url}/v2/models/tiny/infer", data=json.dumps(request).encode(),
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=60) as answer:
                body = json.load(answer)
            check(body["outputs"][0]["data"] == [1, 0], f"predicted {body!r}")
    with r.step(f"{FN_MODEL} run.stop() -> STOPPED", timeout=180):
        served.stop()
        poll_state(served, "STOPPED", timeout=120)


def scenario_flower(r, dh, project, target):
    """The flower package: a flower-app from client and server code trains two rounds
    on a federation the run starts on the local target (real Flower) and reports them
    in its outputs; on the cluster it trains against a named SuperLink (kwok)."""
    kube = target == "kubernetes"

    def code(name):
        with open(os.path.join(FLOWER_APP, name)) as source:
            return source.read()

    with r.step(f"new_function {FN_FLOWER} (kind flower-app, client and server code)"):
        app = r.watch("function flower", dh.new_function(
            project=project, name=FN_FLOWER, kind="flower-app",
            client_code=code("client.py"), server_code=code("server.py"),
            client_app="app", server_app="app"))
        check(app.spec.fab_source.get("clientbase64"), f"fab_source {app.spec.fab_source!r}")
    extra = {"superlink": "sdk-superlink:9093"} if kube else {}
    with r.step(f"run {FN_FLOWER} action=train wait=True -> COMPLETED", timeout=900):
        run = r.watch("run flower", app.run(
            action="train", parameters={"num-server-rounds": 2, "learning-rate": 0.1},
            wait=True, **extra))
        check(run.status.state == "COMPLETED",
              f"state {run.status.state!r} (message {run.status.message!r})")
        if not kube:
            outputs = run.status.to_dict().get("outputs") or {}
            rounds = outputs.get("rounds")
            check(str(rounds) == "2", f"outputs {outputs!r}")


def scenario_dbt(r, dh, project, target):
    """The dbt package: a SQL model (no inputs: the SDK fetches inputs as data items,
    which Runplane does not keep) transformed into a table, with dbt and DuckDB on the
    local target, as a Job on the cluster (kwok)."""
    with r.step(f"new_function {FN_DBT} (kind dbt, SQL code)"):
        fn = r.watch("function dbt", dh.new_function(
            project=project, name=FN_DBT, kind="dbt",
            code="select 42 as answer union all select 7 as answer"))
        check(fn.spec.source.get("base64"), f"source {fn.spec.source!r}")
    with r.step(f"run {FN_DBT} action=transform wait=True -> COMPLETED", timeout=900):
        run = r.watch("run dbt", fn.run(
            action="transform", outputs={"output_table": "answers"}, wait=True))
        check(run.status.state == "COMPLETED",
              f"state {run.status.state!r} (message {run.status.message!r})")
        if target != "kubernetes":
            table = (run.status.to_dict().get("outputs") or {}).get("output_table")
            table = json.loads(table) if isinstance(table, str) else (table or {})
            names = [column.get("name") for column in table.get("columns", [])]
            check(names == ["answer"], f"output_table {table!r}")


def scenario_hera(r, dh, project, target):
    """The hera package: a three-step Hera pipeline (examples/hera)."""
    scenario_workflow(r, dh, project, target, kind="hera", name=WF_HERA,
                      path=os.path.join(EXAMPLES, "hera", "pipeline.py"),
                      parameters={"message": "sdk"}, steps=["extract", "transform", "load"])


def scenario_kfp(r, dh, project, target):
    """The kfp package (SDK 0.14): a two-component KFP pipeline (examples/kfp)."""
    scenario_workflow(r, dh, project, target, kind="kfp", name=WF_KFP,
                      path=os.path.join(EXAMPLES, "kfp", "pipeline.py"),
                      parameters={"rows": 10}, steps=["check-data", "train"])


def scenario_workflow(r, dh, project, target, kind, name, path, parameters, steps):
    """A workflow of `kind` from the pipeline code at `path` is built (compiled by the
    real library) into its own version, then runs as a pipeline on Argo on the cluster
    with `parameters`, every one of `steps` Succeeded. A host without a cluster builds
    it and refuses the pipeline saying why. The SDK runs workflows remotely only, so on
    the cluster (where kwok plays the build's pod and nothing compiles) the compiled
    spec comes from a build on the host machine, asked through Runplane's API."""
    from digitalhub.utils.exceptions import BackendError

    kube = target == "kubernetes"
    with open(path) as source:
        code = source.read()
    with r.step(f"new_workflow {name} (kind {kind}, handler pipeline)"):
        wf = r.watch(f"workflow {kind}", dh.new_workflow(
            project=project, name=name, kind=kind, code=code, handler="pipeline"))
        check(wf.key == f"store://{project}/workflow/{kind}/{name}:{wf.id}", f"key {wf.key!r}")
    with r.step("list_workflows has it, list_functions does not"):
        listed = [w.name for w in dh.list_workflows(project)]
        check(name in listed, f"list_workflows {listed}")
        check(name not in {f.name for f in dh.list_functions(project)}, "listed as a function")
    reference = f"{kind}://{project}/{name}:{wf.id}"
    with r.step(f"run {name} action=build wait=True -> COMPLETED", timeout=900):
        run = r.watch(f"run {kind} build", wf.run(action="build", wait=True))
        check(run.status.state == "COMPLETED",
              f"state {run.status.state!r} (message {run.status.message!r})")
        check(run.spec.to_dict().get("workflow") == reference, f"run spec {run.spec.to_dict()!r}")
    if kube:
        with r.step(f"build {name} on the host machine (Runplane's API)", timeout=900):
            build_on_host(project, reference, f"{kind}+build")
    with r.step(f"the build is written into {name}'s version"):
        deadline = time.time() + 60
        while not (wf.spec.build or {}).get("base64"):
            check(time.time() < deadline, f"no build in {wf.spec.to_dict()!r}")
            time.sleep(1)
            wf.refresh()
        check(len(dh.get_workflow_versions(name, project=project)) == 1, "a new version")
    if not kube:
        with r.step(f"run {name} action=pipeline without a cluster -> refused", timeout=180):
            try:
                run = wf.run(action="pipeline", wait=True)
            except BackendError as e:
                check("no Kubernetes cluster" in str(e), f"the refusal says {str(e)!r}")
            else:
                r.watch(f"run {kind} pipeline (not refused)", run)
                raise ScenarioFailure("the pipeline was accepted")
        return
    with r.step(f"run {name} action=pipeline parameters={parameters} wait=True -> COMPLETED",
                timeout=420):
        run = r.watch(f"run {kind} pipeline", wf.run(
            action="pipeline", parameters=parameters, wait=True))
        check(run.status.state == "COMPLETED",
              f"state {run.status.state!r} (message {run.status.message!r})")
        nodes = json.loads((run.status.to_dict().get("outputs") or {}).get("nodes") or "[]")
        ran = {node.get("display_name"): node.get("state") for node in nodes
               if node.get("type") == "Pod"}
        check(ran == {step: "Succeeded" for step in steps}, f"nodes {nodes!r}")


def build_on_host(project, workflow, task):
    """Builds `workflow` on the host machine through Runplane's own API (the SDK asks
    the cluster for every workflow run) and waits until it is COMPLETED."""
    import requests

    endpoint = os.environ["DHCORE_ENDPOINT"].rstrip("/")
    token = os.environ.get("DHCORE_ACCESS_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    created = requests.post(
        f"{endpoint}/api/v1/-/{project}/runs", headers=headers, timeout=30,
        json={"kind": f"{task}:run",
              "spec": {"workflow": workflow, "task": task, "local_execution": True}})
    check(created.status_code == 201, f"{created.status_code} {created.text}")
    run = created.json()
    deadline = time.time() + 850
    while run["status"]["state"] not in TERMINAL:
        check(time.time() < deadline, f"the build is {run['status']['state']} after 850 s")
        time.sleep(1)
        run = requests.get(f"{endpoint}/api/v1/-/{project}/runs/{run['id']}",
                           headers=headers, timeout=30).json()
    check(run["status"]["state"] == "COMPLETED", f"the build ended {run['status']!r}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", required=True)
    ap.add_argument("--target", required=True, choices=["local", "kubernetes"])
    ap.add_argument("--expect-unauthorized", action="store_true")
    ap.add_argument("--packages", choices=["0.15", "kfp"], default="0.15",
                    help="0.15: the SDK 0.15 and its runtime packages (requirements.txt); "
                         "kfp: the SDK 0.14 and the kfp package (kfp/requirements.txt)")
    args = ap.parse_args(argv)

    if not os.environ.get("DHCORE_ENDPOINT"):
        print("error: DHCORE_ENDPOINT is not set", flush=True)
        return 1
    if not os.environ.get("DH_CONFIG"):
        # Never fall back to ~/.dhcore.ini: its credentials would override env.
        os.environ["DH_CONFIG"] = os.path.join(tempfile.mkdtemp(prefix="dh-sdk-"), ".dhcore.ini")
        print(f"info: DH_CONFIG not set, using {os.environ['DH_CONFIG']}", flush=True)

    r = Runner()
    if args.packages == "kfp":
        # The kfp package has no 0.15 release: it drives the server with the SDK 0.14.
        with r.step("import digitalhub (0.14) and digitalhub_runtime_kfp"):
            import digitalhub as dh  # noqa: makes no HTTP request
            import digitalhub_runtime_kfp  # noqa: F401
        with r.step(f"get_or_create_project({args.project!r})"):
            r.watch("project", dh.get_or_create_project(args.project))
        scenario_kfp(r, dh, args.project, args.target)
        print("scenario: all steps passed", flush=True)
        return 0
    with r.step("import digitalhub"):
        import digitalhub as dh  # noqa: makes no HTTP request
        import digitalhub_runtime_python  # noqa: F401  (python runtime must be importable)
        import digitalhub_runtime_container  # noqa: F401
        import digitalhub_runtime_modelserve  # noqa: F401
        import digitalhub_runtime_flower  # noqa: F401
        import digitalhub_runtime_dbt  # noqa: F401
        import digitalhub_runtime_hera  # noqa: F401

    if args.expect_unauthorized:
        scenario_unauthorized(r, dh, args.project)
    else:
        scenario_full(r, dh, args.project, args.target)
        scenario_container(r, dh, args.project, args.target)
        scenario_modelserve(r, dh, args.project, args.target)
        scenario_flower(r, dh, args.project, args.target)
        scenario_dbt(r, dh, args.project, args.target)
        scenario_hera(r, dh, args.project, args.target)
    print("scenario: all steps passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
