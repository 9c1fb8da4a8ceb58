#!/usr/bin/env python3
"""Measure the twin's conformance with the ETSI NGSI-LD test suite (Robot Framework).

Usage:
    python3 scripts/compare/ngsi_ld_etsi.py --twin target/debug/twin \
        [--suite PATH] [--out report.md] [--include TP/NGSI-LD/ContextInformation/Provision ...]
        [--timeout 1800] [--context served|core] [--strip-slash] [--work /tmp/etsi/run]

What it does, with nothing but the Python standard library:

1. The suite: --suite PATH (a checkout of https://forge.etsi.org/rep/cim/ngsi-ld-test-suite or a
   fork of it); cloned there with git when the folder is absent. The checkout is never edited: it
   is copied to <work>/suite, and the copy is what runs (the suite finds its files through
   ${EXECDIR}, so robot runs in the copy).
2. A virtual environment (--venv, default /tmp/etsi/venv) with the suite's requirements.txt
   (its `-e ./libraries/...` lines installed from the checkout); reused while requirements.txt is
   unchanged.
3. The suite's @context files (resources/jsonld-contexts) are served on a free local port, and
   every URL of them in the copy (data files, expectations, the compound context) is rewritten
   to it: the suite names them on raw.githubusercontent.com, which a broker here cannot reach.
   With --context core the suite's contexts are replaced by the NGSI-LD core context instead:
   a diagnostic that looks past a broker that does not expand user @contexts (the terms are then
   sent unexpanded; a test comparing expanded IRIs may differ).
4. A fresh `twin serve` per group: a copy of --twin, an empty data folder, a tokens file with
   `open_reads = true` and `open_ngsi_ld_writes = true`, a free port; /health polled until it
   answers. It is stopped after the group, also on errors and Ctrl-C.
5. The suite's variables (broker URL, notification server on 127.0.0.1 and a free port, context
   source and server ports, the core context the twin answers with) are given in a variable file
   passed with --variablefile, which takes precedence over resources/variables.py.
   MQTT tests start mosquitto through `docker run`: when `mosquitto` is installed a `docker`
   stand-in on robot's PATH starts a local mosquitto with the suite's configuration instead
   (listening on 1883, which those tests hard-code, and on the non-default port).
   --strip-slash puts a small proxy in front of the twin that drops the trailing slash of a path
   (`/ngsi-ld/v1/entities/` -> `/ngsi-ld/v1/entities`): a diagnostic for a broker that routes only
   the paths without it (the suite writes the collections as the specification does, with it).
6. One robot run per group: by default each folder two levels under TP/NGSI-LD
   (ContextInformation/Consumption, ContextInformation/Provision, ContextInformation/Subscription,
   CommonBehaviours/CommonResponses, ContextSource/Registration, DistributedOperations/..., ...);
   --include runs the given folders or .robot files instead (paths relative to the suite or to
   TP/NGSI-LD). Each run is stopped after --timeout seconds (SIGINT first, so that robot still
   writes its output.xml).
7. A robot listener (written to <work>/exchange_listener.py) records every HTTP request the
   suite sends and the answer, with the test and its phase (setup, body, teardown), whether or
   not the suite logs it. Each output.xml is then parsed: a Markdown table group | tests |
   passed | failed | skipped with the totals, a finer table (one row per operation folder), one
   per specification version the tests are tagged with (since_vX.Y.Z), then the failures
   grouped by a first guess at their cause (a route the twin lacks, a 504 for a user @context,
   a parameter or member refused, the expected and the actual status, a notification that
   never came, ...), each with examples. It is printed and written to --out;
   <work>/failures.jsonl has every failed test with its failure message and its requests and
   answers, <work>/tests.jsonl every test's status, and <work>/results/<group>/ keeps robot's
   output.xml, log.html, console output and the recorded exchanges. --reparse rebuilds the
   report from a finished <work> without running anything.

Other options: --total-timeout (groups not started by then are left out), --one-twin (one twin
for every group), --robot-arg (passed to robot, e.g. --robot-arg=--test=019_01_*), --startup
(seconds for the twin to answer /health).

The suite assumes an empty broker; the twin holds its city (18,000 entities of its own types),
so tests that query without a type, or list the types, see them too.

Examples (the whole tree, as run for issue #19; each takes 2 to 6 minutes on 2 cores):
    python3 scripts/compare/ngsi_ld_etsi.py --twin /tmp/etsi/twin --suite /tmp/etsi/suite \
        --work /tmp/etsi/final-served --out /tmp/etsi/final-served.md
    # past the missing trailing-slash routes and the refused user @contexts:
    python3 scripts/compare/ngsi_ld_etsi.py --twin /tmp/etsi/twin --suite /tmp/etsi/suite \
        --work /tmp/etsi/final-core-slash --context core --strip-slash
"""

import argparse
import contextlib
import functools
import hashlib
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict

SUITE_GIT = "https://forge.etsi.org/rep/cim/ngsi-ld-test-suite"
CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
TP_ROOT = "TP/NGSI-LD"

# Where the suite and its forks name their own @context files.
CONTEXT_URL = re.compile(
    r"https://(?:raw\.githubusercontent\.com/[^/\s\"'<>]+/ngsi-ld-test-suite/[^/\s\"'<>]+"
    r"|forge\.etsi\.org/rep/cim/ngsi-ld-test-suite/-/raw/[^/\s\"'<>]+)"
    r"/resources/jsonld-contexts/(?P<file>[A-Za-z0-9._-]+\.jsonld)"
)
# A context some tests name that the suite does not ship: served as the suite's compound one.
EXTERNAL_SUITE_CONTEXT = re.compile(
    r"https://easy-global-market\.github\.io/ngsild-api-data-models/ngsildTestSuite/"
    r"ngsildTestSuiteV1\.8-compound\.jsonld"
)
TEXT_SUFFIXES = (".robot", ".resource", ".py", ".json", ".jsonld", ".txt", ".conf")


def log(*parts):
    print("[ngsi_ld_etsi]", *parts, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- the suite


def get_suite(path, git_url):
    if not os.path.isdir(path):
        log(f"cloning {git_url} into {path}")
        subprocess.run(["git", "clone", "--depth", "1", git_url, path], check=True)
    if not os.path.isdir(os.path.join(path, TP_ROOT)):
        sys.exit(f"{path}: no {TP_ROOT} folder; is it the NGSI-LD test suite?")
    return os.path.abspath(path)


def make_venv(venv, suite):
    """The suite's requirements in `venv`, reinstalled when requirements.txt changes."""
    req = os.path.join(suite, "requirements.txt")
    with open(req, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(venv, ".ngsi_ld_etsi-requirements")
    robot = os.path.join(venv, "bin", "robot")
    if os.path.exists(stamp) and open(stamp).read() == digest and os.path.exists(robot):
        return robot
    if not os.path.exists(os.path.join(venv, "bin", "python")):
        log(f"creating the virtual environment {venv}")
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    pip = [os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q"]
    plain, local = [], []
    for line in open(req):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-e "):
            local.append(os.path.join(suite, line[3:].strip()))
        else:
            plain.append(line)
    log("installing the suite's requirements")
    subprocess.run(pip + plain + local, check=True)
    with open(stamp, "w") as f:
        f.write(digest)
    return robot


def copy_suite(suite, dest, context_base, mode):
    """Copy the suite to `dest` with its @context URLs rewritten (see the module docstring)."""
    if os.path.exists(dest):
        shutil.rmtree(dest)
    shutil.copytree(suite, dest, ignore=shutil.ignore_patterns(".git", "results"))

    def local(m):
        if mode == "core":
            return CORE_CONTEXT
        return context_base + m.group("file")

    def external(_m):
        if mode == "core":
            return CORE_CONTEXT
        return context_base + "ngsi-ld-test-suite-compound.jsonld"

    changed = 0
    for root, _dirs, files in os.walk(dest):
        for name in files:
            if not name.endswith(TEXT_SUFFIXES):
                continue
            p = os.path.join(root, name)
            try:
                text = open(p, encoding="utf-8").read()
            except UnicodeDecodeError:
                continue
            new = EXTERNAL_SUITE_CONTEXT.sub(external, CONTEXT_URL.sub(local, text))
            if mode == "core":
                # A list holding the core context twice (the compound one rewritten beside it).
                new = re.sub(
                    r'"%s"(\s*,\s*"%s")+' % (re.escape(CORE_CONTEXT), re.escape(CORE_CONTEXT)),
                    '"%s"' % CORE_CONTEXT,
                    new,
                )
            if new != text:
                with open(p, "w", encoding="utf-8") as f:
                    f.write(new)
                changed += 1
    return changed


# ----------------------------------------------------------------------------- local servers


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = dict(
        http.server.SimpleHTTPRequestHandler.extensions_map,
        **{".jsonld": "application/ld+json", ".json": "application/json"},
    )

    def log_message(self, *args):
        pass


def serve_contexts(directory, port):
    handler = functools.partial(QuietHandler, directory=directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-connection"}


def make_proxy(listen_port, target_port):
    """A pass-through proxy that drops the trailing slash of a path (--strip-slash)."""

    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _body(self):
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                data = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return data, True
                    data += self.rfile.read(size)
                    self.rfile.readline()
            n = self.headers.get("Content-Length")
            return (self.rfile.read(int(n)) if n else b""), False

        def _proxy(self):
            body, chunked = self._body()
            path, _, query = self.path.partition("?")
            if path.endswith("/") and path.count("/") > 3:
                path = path.rstrip("/")
            target = path + ("?" + query if query else "")
            conn = http.client.HTTPConnection("127.0.0.1", target_port, timeout=120)
            try:
                conn.putrequest(self.command, target, skip_host=True, skip_accept_encoding=True)
                for k, v in self.headers.items():
                    if k.lower() not in HOP_BY_HOP:
                        conn.putheader(k, v)
                if chunked:
                    conn.putheader("Transfer-Encoding", "chunked")
                    conn.endheaders()
                    if body:
                        conn.send(b"%x\r\n%s\r\n" % (len(body), body))
                    conn.send(b"0\r\n\r\n")
                else:
                    conn.endheaders(body or None)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response_only(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                if self.command != "HEAD" and resp.status not in (204, 304):
                    self.send_header("Content-Length", str(len(data)))
                elif resp.getheader("Content-Length") is not None:
                    self.send_header("Content-Length", resp.getheader("Content-Length"))
                self.end_headers()
                if self.command != "HEAD" and resp.status not in (204, 304):
                    self.wfile.write(data)
            except OSError as e:
                msg = json.dumps({"proxy_error": str(e)}).encode()
                self.send_response(502)
                self.send_header("Content-Length", str(len(msg)))
                self.end_headers()
                self.wfile.write(msg)
            finally:
                conn.close()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _proxy

    server = http.server.ThreadingHTTPServer(("127.0.0.1", listen_port), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


DOCKER_SHIM = r'''#!/usr/bin/env python3
# A `docker` stand-in for the suite's MqttUtils.resource: `docker run ... -e CONF=<file> --name
# <name> <image>` starts a local mosquitto with the suite's configuration; `docker rm -f <name>`
# and `docker container rm -f <name>` stop it. Written by scripts/compare/ngsi_ld_etsi.py.
import os, signal, subprocess, sys, time
STATE = %(state)r
CONFDIR = %(confdir)r
EXTRA_PORT = %(extra_port)d
args = sys.argv[1:]
def name_after(flag):
    return args[args.index(flag) + 1].strip('"') if flag in args else "mosquitto"
def stop(name):
    pidfile = os.path.join(STATE, name + ".pid")
    if os.path.exists(pidfile):
        try:
            pid = int(open(pidfile).read())
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                os.kill(pid, 0)
                time.sleep(0.1)
        except (ProcessLookupError, ValueError):
            pass
        os.unlink(pidfile)
if args[:1] == ["run"]:
    conf = "mosquitto.conf"
    for i, a in enumerate(args):
        if a == "-e" and args[i + 1].startswith("CONF="):
            conf = args[i + 1][5:]
    name = name_after("--name")
    stop(name)
    text = open(os.path.join(CONFDIR, conf)).read()
    text = text.replace("/mosquitto/config/", CONFDIR + "/")
    if os.geteuid() == 0:
        text = "user root\n" + text  # else mosquitto drops to its own user, who cannot read CONFDIR
    text = text.replace("listener 1883", "listener 1883 127.0.0.1\nlistener %%d 127.0.0.1" %% EXTRA_PORT)
    path = os.path.join(STATE, name + ".conf")
    open(path, "w").write(text + "\n")
    log = open(os.path.join(STATE, name + ".log"), "a")
    p = subprocess.Popen(["mosquitto", "-c", path], stdout=log, stderr=log, start_new_session=True)
    open(os.path.join(STATE, name + ".pid"), "w").write(str(p.pid))
    time.sleep(0.5)
    print(name)
elif "rm" in args:
    stop(name_after("-f"))
else:
    sys.exit("docker stand-in: only run and rm are known")
'''


LISTENER = r'''# Robot listener written by scripts/compare/ngsi_ld_etsi.py: records every HTTP exchange
# the suite makes through `requests` (whether or not the suite logs it) as JSON lines, with the
# test and the phase (setup, test body, teardown) it was made in.
import json, requests
ROBOT_LISTENER_API_VERSION = 3
_state = {"test": None, "phases": [], "suites": []}
_orig_send = requests.Session.send
LIMIT = 6000

def _text(b):
    if b is None:
        return None
    if isinstance(b, bytes):
        b = b.decode("utf-8", "replace")
    return b if len(b) <= LIMIT else b[:LIMIT] + "...(cut)"

class exchange_listener:
    ROBOT_LISTENER_API_VERSION = 3

    def __init__(self, path):
        self.out = open(path, "a")
        out = self.out

        def send(session, request, **kw):
            resp = _orig_send(session, request, **kw)
            try:
                phases = _state["phases"]
                phase = "teardown" if "TEARDOWN" in phases else "setup" if "SETUP" in phases \
                    else "test"
                out.write(json.dumps({
                    "test": _state["test"], "phase": phase,
                    "suite": _state["suites"][-1] if _state["suites"] else None,
                    "method": request.method, "url": request.url,
                    "request_headers": dict(request.headers), "request_body": _text(request.body),
                    "status": resp.status_code, "response_headers": dict(resp.headers),
                    "response_body": _text(resp.content),
                }) + "\n")
                out.flush()
            except Exception:
                pass
            return resp
        requests.Session.send = send

    def start_suite(self, data, result):
        _state["phases"] = []
        _state["suites"].append(getattr(result, "full_name", None) or result.longname)

    def end_suite(self, data, result):
        _state["suites"].pop()

    def start_test(self, data, result):
        _state["test"] = getattr(result, "full_name", None) or result.longname
        _state["phases"] = []

    def end_test(self, data, result):
        _state["test"] = None

    def start_keyword(self, data, result):
        _state["phases"].append(getattr(result, "type", "KEYWORD"))

    def end_keyword(self, data, result):
        if _state["phases"]:
            _state["phases"].pop()
'''


def install_docker_shim(work, suite_copy, extra_port):
    bindir = os.path.join(work, "bin")
    state = os.path.join(work, "mosquitto")
    os.makedirs(bindir, exist_ok=True)
    os.makedirs(state, exist_ok=True)
    confdir = os.path.join(suite_copy, "resources", "mqttUtils", "mosquitto")
    # mosquitto refuses a password file readable by others.
    pwd = os.path.join(confdir, "mosquitto_pwd")
    if os.path.exists(pwd):
        os.chmod(pwd, 0o600)
    path = os.path.join(bindir, "docker")
    with open(path, "w") as f:
        f.write(DOCKER_SHIM % {"state": state, "confdir": confdir, "extra_port": extra_port})
    os.chmod(path, 0o755)
    return bindir, state


def stop_shim_mosquittos(state):
    if not state or not os.path.isdir(state):
        return
    for name in os.listdir(state):
        if name.endswith(".pid"):
            with contextlib.suppress(Exception):
                os.kill(int(open(os.path.join(state, name)).read()), signal.SIGTERM)
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(state, name))


# ----------------------------------------------------------------------------- the twin


class Twin:
    """A `twin serve` of our own, with NGSI-LD writes open, stopped by stop()."""

    def __init__(self, binary, folder, port, startup_s):
        self.binary, self.folder, self.port, self.startup_s = binary, folder, port, startup_s
        self.proc = None

    def start(self):
        if os.path.exists(self.folder):
            shutil.rmtree(self.folder)
        os.makedirs(self.folder)
        tokens = os.path.join(self.folder, "tokens.toml")
        with open(tokens, "w") as f:
            f.write("open_reads = true\nopen_ngsi_ld_writes = true\n")
        os.chmod(tokens, 0o600)  # the twin refuses a tokens file others can read
        self.log_path = os.path.join(self.folder, "twin.log")
        self.log_file = open(self.log_path, "w")
        cmd = [self.binary, "serve", "--data-dir", os.path.join(self.folder, "data"),
               "--listen", f"127.0.0.1:{self.port}", "--tokens", tokens]
        self.proc = subprocess.Popen(cmd, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + self.startup_s
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the twin exited ({self.proc.returncode}): "
                                   + open(self.log_path).read()[-2000:])
            if self.healthy():
                return
            time.sleep(0.5)
        raise RuntimeError(f"the twin did not answer /health within {self.startup_s} s")

    def healthy(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=3) as r:
                return r.status == 200
        except Exception:
            return False

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log_file.close()


# ----------------------------------------------------------------------------- robot


def discover_groups(suite, depth=2):
    """Folders `depth` levels under TP/NGSI-LD holding .robot files (robot files above that
    level form a group of their own folder)."""
    root = os.path.join(suite, TP_ROOT)
    groups = set()
    for dirpath, _dirs, files in os.walk(root):
        if not any(f.endswith(".robot") for f in files):
            continue
        rel = os.path.relpath(dirpath, root).split(os.sep)
        groups.add("/".join(rel[:depth]))
    return sorted(groups)


def resolve_include(suite, inc):
    for cand in (inc, os.path.join(TP_ROOT, inc)):
        if os.path.exists(os.path.join(suite, cand)):
            return os.path.normpath(cand)
    sys.exit(f"--include {inc}: not found in {suite} nor under {TP_ROOT}")


def run_robot(robot, suite_copy, target, outdir, varfile, timeout, env, extra_args, listener):
    os.makedirs(outdir, exist_ok=True)
    cmd = [robot, "--variablefile", varfile, "--outputdir", outdir, "--consolewidth", "150",
           "--consolecolors", "off", "--loglevel", "INFO",
           "--listener", f"{listener}:{os.path.join(outdir, 'exchanges.jsonl')}"]
    cmd += extra_args + [target]
    with open(os.path.join(outdir, "console.txt"), "w") as console:
        proc = subprocess.Popen(cmd, cwd=suite_copy, stdout=console, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        try:
            proc.wait(timeout)
            return "done"
        except subprocess.TimeoutExpired:
            log(f"{target}: timed out after {timeout} s; stopping robot")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)  # robot stops gracefully, writes output.xml
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            return "timeout"
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise


# ----------------------------------------------------------------------------- results

ID = re.compile(r"^(\S+)")


def notifications_of(messages):
    """The notifications NotificationUtils logged (headers and body)."""
    out, expect = [], False
    for text in messages:
        t = text.strip()
        if t == "Notification ->":
            expect = True
            continue
        if expect:
            with contextlib.suppress(ValueError):
                out.append(json.loads(t))
            expect = False
    return out


def load_exchanges(path):
    """The exchanges the listener recorded, by test (full name)."""
    by_test = defaultdict(list)
    if os.path.exists(path):
        for line in open(path, encoding="utf-8"):
            with contextlib.suppress(ValueError):
                ex = json.loads(line)
                body = ex.get("response_body")
                with contextlib.suppress(ValueError, TypeError):
                    ex["response_json"] = json.loads(body) if body else None
                key = ex.get("test") or "suite:%s" % ex.get("suite")
                by_test[key].append(ex)
    return by_test


def parse_output(path, suite_copy, exchanges):
    """Every test of an output.xml: dicts with id, name, file, status, message, exchanges."""
    tests, sources, names = [], [], []
    try:
        for event, el in ET.iterparse(path, events=("start", "end")):
            if el.tag == "suite":
                if event == "start":
                    sources.append(el.get("source") or "")
                    names.append(el.get("name") or "")
                else:
                    sources.pop()
                    names.pop()
                    el.clear()
            elif el.tag == "test" and event == "end":
                status = el.find("status")
                msgs = [m.text or "" for m in el.iter("msg")]
                source = sources[-1] if sources else ""
                rel = os.path.relpath(source, suite_copy) if source else ""
                full = ".".join(names + [el.get("name", "")])
                parent = ".".join(names)
                suite_setup = [e for e in exchanges.get("suite:" + parent, [])
                               if e.get("phase") == "setup"]
                tests.append({
                    "id": ID.match(el.get("name", "?")).group(1),
                    "name": el.get("name", ""),
                    "file": rel,
                    "status": status.get("status") if status is not None else "FAIL",
                    "message": (status.text or "") if status is not None else "no status",
                    "exchanges": suite_setup + exchanges.get(full, []),
                    "notifications": notifications_of(msgs),
                    "tags": [t.text or "" for t in el.findall("tag")],
                })
                el.clear()
    except ET.ParseError as e:
        log(f"{path}: cut short ({e}); {len(tests)} tests read")
    return tests


def path_pattern(url):
    path = re.sub(r"^https?://[^/]+", "", url or "").split("?")[0]
    path = re.sub(r"urn:[^/]+", "{id}", path)
    path = re.sub(r"/(attrs)/[^/]+$", r"/\1/{attr}", path)
    return path


def error_type(body):
    if isinstance(body, dict):
        t = body.get("type") or body.get("error") or ""
        return str(t).rsplit("/", 1)[-1]
    return ""


def detail_of(body):
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("message") or "")
    return ""


def generic(text):
    text = re.sub(r"urn:ngsi-ld:[A-Za-z]+:[^\s`'\"/]+", "{id}", text)
    text = re.sub(r"\d{5,}", "N", text)
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    return text


def cause_of(test):
    """A first guess at why a test failed, to group the failures: the first refusal the
    broker answered in the test's setup or body (a missing route, a user @context, a
    parameter or member it does not support), else the status the suite expected and the
    one it got, else the suite's own failure message."""
    for ex in test["exchanges"]:
        if ex.get("phase") == "teardown":
            continue
        status, body = ex.get("status"), ex.get("response_json")
        detail = detail_of(body)
        path = path_pattern(ex.get("url"))
        where = f"{ex.get('method', '?')} {path}"
        if error_type(body) == "LdContextNotAvailable":
            return "504 LdContextNotAvailable: a user @context refused"
        if status == 404 and detail.startswith("no route"):
            top = re.sub(r"^/ngsi-ld/v1", "", path).strip("/").split("/")[0]
            if top in ("csourceRegistrations", "csourceSubscriptions", "jsonldContexts",
                       "entityMaps", "snapshots", "attributes", "info"):
                return f"no route: /ngsi-ld/v1/{top}..."
            return f"no route: {where}"
        if status == 405:
            return f"405 method not allowed: {where}"
        if status == 404 and "no batch operation" in detail:
            return "batch operation not supported (404): " + \
                (re.search(r"`(\w+)`", detail) or re.search(r"(.*)", detail)).group(1)
        m = re.search(r"parameter `([^`]+)` is not supported", detail)
        if status == 400 and m:
            return f"parameter `{m.group(1)}` refused (400 InvalidRequest)"
        if status == 400 and "not supported" in detail:
            return "refused (400): " + generic(re.sub(r"^attribute \S+: ", "", detail))[:110]
        if status == 406:
            accept = (ex.get("request_headers") or {}).get("Accept", "?")
            return f"Accept `{accept}` refused (406)"
        if status and status >= 500:
            return f"{status} {error_type(body)}: {where}"
    msg = test["message"].strip()
    m = re.search(r"HTTP status code comparison failed with \(expected, actual\) ->: (\S+) != (\S+)",
                  msg)
    if m:
        last = [e for e in test["exchanges"] if e.get("phase") != "teardown"
                and e.get("status") == int(m.group(2)) if m.group(2).isdigit()]
        detail = ""
        if last:
            kind = error_type(last[-1].get("response_json"))
            detail = (f" ({kind})" if kind else "") + \
                f" on {last[-1].get('method')} {path_pattern(last[-1].get('url'))}"
        return f"status {m.group(1)} expected, got {m.group(2)}{detail}"
    if "No request" in msg or re.search(r"timeout.*request|request.*timeout", msg, re.I):
        return "no notification received"
    first = msg.splitlines()[0] if msg else "(no message)"
    return generic(first)[:140]


def md_table(rows, header):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def counts(tests):
    c = Counter(t["status"] for t in tests)
    return [len(tests), c["PASS"], c["FAIL"], c["SKIP"]]


def report(results, args, elapsed, twin_note):
    """The Markdown report: per group, per operation folder, failures by cause."""
    out = [f"# ETSI NGSI-LD test suite against the twin\n",
           f"- suite: `{args.suite}` ({args.suite_rev}); contexts: `{args.context}`"
           f"{'; trailing slashes stripped by a proxy' if args.strip_slash else ''}",
           f"- twin: `{args.twin}`{twin_note}",
           f"- run took {elapsed / 60:.1f} min\n"]
    rows, all_tests = [], []
    for group, (state, tests, secs) in results.items():
        note = "" if state == "done" else f" ({state})"
        label = group[len(TP_ROOT) + 1:] if group.startswith(TP_ROOT + "/") else group
        rows.append([label + note] + counts(tests) + [f"{secs:.0f}"])
        all_tests += tests
    rows.append(["**total**"] + [f"**{n}**" for n in counts(all_tests)] + [f"{elapsed:.0f}"])
    out.append(md_table(rows, ["group", "tests", "passed", "failed", "skipped", "seconds"]))

    by_op = defaultdict(list)
    for t in all_tests:
        parts = os.path.dirname(t["file"]).split("/")
        by_op["/".join(parts[2:5]) or "?"].append(t)
    out.append("\n## By operation folder\n")
    out.append(md_table([[k] + counts(v) for k, v in sorted(by_op.items())],
                        ["folder", "tests", "passed", "failed", "skipped"]))

    by_version = defaultdict(list)
    for t in all_tests:
        since = [x for x in t.get("tags", []) if x.startswith("since_v")]
        by_version[since[0][6:] if since else "untagged"].append(t)
    out.append("\n## By the specification version a test is tagged with (since_vX)\n")
    out.append("The twin implements GS CIM 009 V1.8.1; tests tagged since_v1.9.1 cover later "
               "features.\n")
    out.append(md_table([[k] + counts(v) for k, v in sorted(by_version.items())],
                        ["since", "tests", "passed", "failed", "skipped"]))

    causes = defaultdict(list)
    for t in all_tests:
        if t["status"] == "FAIL":
            causes[cause_of(t)].append(t)
    out.append("\n## Failures by first-guess cause\n")
    out.append("The first refusal the broker answered in a failed test's setup or body (a missing "
               "route, a user @context, an unsupported parameter or member), else the status "
               "expected and the one answered, else the suite's message. Every failed test, with "
               "the requests and answers, is in failures.jsonl beside the results.\n")
    rows = []
    for cause, ts in sorted(causes.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        seen = []
        for t in ts:
            label = f"{t['id']} ({os.path.basename(t['file'])})"
            if label not in seen:
                seen.append(label)
        ex = ", ".join(seen[:3])
        rows.append([cause.replace("|", "\\|"), len(ts), ex])
    out.append(md_table(rows, ["cause", "tests", "examples"]))
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suite", default="/tmp/etsi/ngsi-ld-test-suite",
                    help="checkout of the suite (cloned from --suite-git when absent)")
    ap.add_argument("--suite-git", default=SUITE_GIT)
    ap.add_argument("--twin", default="target/debug/twin", help="the twin binary (copied)")
    ap.add_argument("--work", default="/tmp/etsi/run", help="work folder (emptied)")
    ap.add_argument("--venv", default="/tmp/etsi/venv")
    ap.add_argument("--out", help="Markdown report (default <work>/report.md)")
    ap.add_argument("--include", action="append", default=[],
                    help="folder or .robot file to run (repeatable); default: every group")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per robot run")
    ap.add_argument("--total-timeout", type=float, default=0,
                    help="seconds for everything; groups not started by then are left out")
    ap.add_argument("--context", choices=["served", "core"], default="served")
    ap.add_argument("--strip-slash", action="store_true")
    ap.add_argument("--one-twin", action="store_true",
                    help="one twin for every group (default: a fresh one per group)")
    ap.add_argument("--startup", type=float, default=180, help="seconds for the twin to start")
    ap.add_argument("--robot-arg", action="append", default=[],
                    help="extra robot argument (repeatable), e.g. --robot-arg=--test=019_01_*")
    ap.add_argument("--reparse", action="store_true",
                    help="run nothing: rebuild the report from the results already in --work")
    args = ap.parse_args()

    t0 = time.time()
    work = os.path.abspath(args.work)
    out_path = args.out or os.path.join(work, "report.md")
    if args.reparse:
        return reparse(args, work, out_path)
    args.suite = get_suite(args.suite, args.suite_git)
    rev = subprocess.run(["git", "-C", args.suite, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True)
    args.suite_rev = rev.stdout.strip() or "no git revision"
    if not os.path.exists(args.twin):
        sys.exit(f"--twin {args.twin}: no such file")
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(work, "run.json"), "w") as f:
        json.dump({k: v for k, v in vars(args).items()}, f)
    for sub in ("results", "twins"):
        shutil.rmtree(os.path.join(work, sub), ignore_errors=True)
    twin_bin = os.path.join(work, "twin")
    shutil.copy2(args.twin, twin_bin)  # the original may be rebuilt while the suite runs
    robot = make_venv(args.venv, args.suite)

    ctx_port, notif_port, mqtt_port = free_port(), free_port(), free_port()
    csrc_port, cserv_port = free_port(), free_port()
    suite_copy = os.path.join(work, "suite")
    n = copy_suite(args.suite, suite_copy, f"http://127.0.0.1:{ctx_port}/", args.context)
    log(f"suite copied to {suite_copy}, @context URLs rewritten in {n} files ({args.context})")

    if args.include:
        groups = [resolve_include(args.suite, i) for i in args.include]
    else:
        groups = [os.path.join(TP_ROOT, g) for g in discover_groups(args.suite)]

    listener = os.path.join(work, "exchange_listener.py")
    with open(listener, "w") as f:
        f.write(LISTENER)
    env = dict(os.environ)
    shim_state = None
    if shutil.which("mosquitto"):
        bindir, shim_state = install_docker_shim(work, suite_copy, mqtt_port)
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")

    servers, twin, results = [], None, {}
    interrupted = []

    def on_term(signum, _frame):
        interrupted.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        servers.append(serve_contexts(os.path.join(suite_copy, "resources", "jsonld-contexts"),
                                      ctx_port))
        for group in groups:
            if args.total_timeout and time.time() - t0 > args.total_timeout:
                log(f"{group}: left out (--total-timeout)")
                results[group] = ("not run", [], 0)
                continue
            g0 = time.time()
            if twin is None or not args.one_twin or not twin.healthy():
                if twin is not None:
                    twin.stop()
                for s in servers[1:]:
                    s.shutdown()
                    s.server_close()
                del servers[1:]
                slug = re.sub(r"[^A-Za-z0-9]+", "_", group)
                twin = Twin(twin_bin, os.path.join(work, "twins", slug), free_port(),
                            args.startup)
                twin.start()
                broker_port = twin.port
                if args.strip_slash:
                    broker_port = free_port()
                    servers.append(make_proxy(broker_port, twin.port))
            varfile = os.path.join(work, "variables_twin.py")
            base = f"http://127.0.0.1:{broker_port}/ngsi-ld/v1"
            with open(varfile, "w") as f:
                f.write(
                    f"url = {base!r}\n"
                    f"temporal_api_url = {base!r}\n"
                    f"ngsild_test_suite_context = "
                    f"{(CORE_CONTEXT if args.context == 'core' else f'http://127.0.0.1:{ctx_port}/ngsi-ld-test-suite-compound.jsonld')!r}\n"
                    f"notification_server_host = '127.0.0.1'\n"
                    f"notification_server_port = {notif_port}\n"
                    f"mqtt_broker_host = '127.0.0.1'\n"
                    f"mqtt_broker_non_default_port = {mqtt_port}\n"
                    f"context_source_host = '127.0.0.1'\n"
                    f"context_source_port = {csrc_port}\n"
                    f"context_server_host = '127.0.0.1'\n"
                    f"context_server_port = {cserv_port}\n"
                    f"core_context = {CORE_CONTEXT!r}\n"
                    # The twin keeps no temporal representation of the broker's own entities.
                    f"delete_temporal_on_core_delete = False\n"
                )
            outdir = os.path.join(work, "results", re.sub(r"[^A-Za-z0-9]+", "_", group))
            log(f"{group}: running (twin on port {twin.port})")
            state = run_robot(robot, suite_copy, group, outdir, varfile, args.timeout, env,
                              args.robot_arg, listener)
            tests = []
            xml = os.path.join(outdir, "output.xml")
            if os.path.exists(xml):
                tests = parse_output(xml, suite_copy,
                                     load_exchanges(os.path.join(outdir, "exchanges.jsonl")))
            if not twin.healthy():
                state = "twin died" if twin.proc.poll() is not None else "twin unhealthy"
            results[group] = (state, tests, time.time() - g0)
            with open(os.path.join(outdir, "group.json"), "w") as f:
                json.dump({"group": group, "state": state, "seconds": time.time() - g0}, f)
            c = counts(tests)
            log(f"{group}: {state}, {c[0]} tests, {c[1]} passed, {c[2]} failed, "
                f"{c[3]} skipped, {time.time() - g0:.0f} s")
    except KeyboardInterrupt:
        log("interrupted; stopping")
    finally:
        if twin is not None:
            twin.stop()
        for s in servers:
            s.shutdown()
            s.server_close()
        stop_shim_mosquittos(shim_state)

    write_outputs(results, args, time.time() - t0, work, out_path)
    if interrupted:
        sys.exit(130)


def reparse(args, work, out_path):
    """--reparse: the report from <work>/results/*/output.xml, as the run left them."""
    with contextlib.suppress(OSError, ValueError):
        saved = json.load(open(os.path.join(work, "run.json")))
        for k in ("suite", "suite_rev", "context", "strip_slash", "twin"):
            setattr(args, k, saved.get(k, getattr(args, k, None)))
    args.suite_rev = getattr(args, "suite_rev", "?")
    suite_copy = os.path.join(work, "suite")
    results, total = {}, 0.0
    rdir = os.path.join(work, "results")
    for slug in sorted(os.listdir(rdir)):
        outdir = os.path.join(rdir, slug)
        meta = {"group": slug, "state": "done", "seconds": 0}
        with contextlib.suppress(OSError, ValueError):
            meta.update(json.load(open(os.path.join(outdir, "group.json"))))
        xml = os.path.join(outdir, "output.xml")
        tests = parse_output(xml, suite_copy, load_exchanges(
            os.path.join(outdir, "exchanges.jsonl"))) if os.path.exists(xml) else []
        results[meta["group"]] = (meta["state"], tests, meta["seconds"])
        total += meta["seconds"]
    write_outputs(results, args, total, work, out_path)


def write_outputs(results, args, elapsed, work, out_path):
    with open(os.path.join(work, "failures.jsonl"), "w") as f:
        for group, (_state, tests, _secs) in results.items():
            for t in tests:
                if t["status"] == "FAIL":
                    f.write(json.dumps(dict(t, group=group, cause=cause_of(t))) + "\n")
    with open(os.path.join(work, "tests.jsonl"), "w") as f:
        for group, (_state, tests, _secs) in results.items():
            for t in tests:
                f.write(json.dumps({"group": group, "id": t["id"], "name": t["name"],
                                    "file": t["file"], "status": t["status"],
                                    "tags": t.get("tags", []),
                                    "message": t["message"][:300]}) + "\n")
    text = report(results, args, elapsed, "")
    with open(out_path, "w") as f:
        f.write(text)
    print(text)
    log(f"report: {out_path}; failures: {os.path.join(work, 'failures.jsonl')}")


if __name__ == "__main__":
    main()
