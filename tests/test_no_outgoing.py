"""The server reaches nothing beyond this machine: start-up, the page, one script run.

The real server runs with a sitecustomize.py (written here, put on PYTHONPATH) that adds an
audit hook: every socket connect / sendto and every name lookup whose destination is not
loopback (127.0.0.0/8, ::1, localhost) or a unix socket is appended to a log. Streamlit
looks up the machine's external IP at a headless start unless browser.serverAddress is set
(.streamlit/config.toml sets it); this test fails without that setting.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from http.cookies import SimpleCookie
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STALL_S = 60.0  # the server may take long to start, but not this long without any progress

SITECUSTOMIZE = textwrap.dedent('''
    """Test instrument: log socket destinations outside this machine (tests/test_no_outgoing.py)."""
    import ipaddress
    import os
    import socket
    import sys

    _LOG = os.environ["NO_OUTGOING_LOG"]
    _LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
    _LOOKUPS = {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
                "socket.gethostbyaddr"}


    def _write(line):
        with open(_LOG, "a", encoding="utf-8") as log:
            log.write(line + "\\n")


    def _local(host):
        if host is None or host == "" or host == b"":  # a lookup for binding, not a destination
            return True
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        host = str(host).strip("[]").split("%")[0].lower()
        if host in _LOOPBACK_NAMES:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False  # any other name is looked up to go somewhere else
        return (getattr(address, "ipv4_mapped", None) or address).is_loopback


    def _hook(event, args):
        if event not in _LOOKUPS and event not in ("socket.connect", "socket.sendto"):
            return
        try:
            if event in _LOOKUPS:
                host, where = args[0], args
            else:
                sock, where = args[0], args[1]
                if sock.family == getattr(socket, "AF_UNIX", None):
                    return
                host = where[0] if isinstance(where, tuple) else where
            if not _local(host):
                _write(f"outgoing {event} {where!r}")
        except Exception as error:  # a broken instrument must fail the test, not hide
            _write(f"outgoing? {event} {args!r}: {type(error).__name__}: {error}")


    sys.addaudithook(_hook)
    _write(f"installed in pid {os.getpid()}")
''')

# Checks the instrument without touching the network: a second audit hook, added after the
# logging one, aborts every lookup and connect before it happens.
SELF_CHECK = textwrap.dedent('''
    import socket, sys

    def stop(event, args):
        if event in ("socket.getaddrinfo", "socket.connect"):
            raise RuntimeError("stopped before it happened")

    sys.addaudithook(stop)
    calls = [lambda: socket.getaddrinfo("checkip.amazonaws.com", 80),
             lambda: socket.getaddrinfo("localhost", 80),
             lambda: socket.socket().connect(("192.0.2.1", 80)),
             lambda: socket.socket().connect(("127.0.0.1", 80)),
             lambda: socket.socket(socket.AF_INET6).connect(("::1", 80))]
    for call in calls:
        try:
            call()
        except RuntimeError:
            pass
''')


def _instrumented(tmp_path: Path) -> tuple[dict[str, str], Path]:
    folder = tmp_path / "instrument"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "outgoing.log"
    paths = [str(folder), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "NO_OUTGOING_LOG": str(log)}, log


def _log_lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Requests to the local server must never go through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _cpu_ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def _wait_healthy(url: str, process: subprocess.Popen, output: Path) -> None:
    """Poll /_stcore/health; fail when the server exits, or makes no progress (no new output,
    no CPU time used) for STALL_S seconds."""
    progress, since = None, time.monotonic()
    while True:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{output.read_text()}")
        try:
            with _OPENER.open(url + "/_stcore/health", timeout=5) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            pass
        now = (output.stat().st_size, _cpu_ticks(process.pid))
        if now != progress:
            progress, since = now, time.monotonic()
        elif time.monotonic() - since > STALL_S:
            pytest.fail(f"the server made no progress for {STALL_S:.0f} s:\n{output.read_text()}")
        time.sleep(0.25)


def _one_session(base: str) -> tuple[str, int]:
    """What a browser does on opening the app: the page, the health check (XSRF cookie), the
    websocket, one full script run. Returns (the run's finish status, exception elements)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    with _OPENER.open(base + "/", timeout=30) as response:
        assert response.status == 200
    with _OPENER.open(base + "/_stcore/health", timeout=30) as response:
        cookies = SimpleCookie()
        for header in response.headers.get_all("Set-Cookie") or []:
            cookies.load(header)
    xsrf = cookies["_streamlit_xsrf"].value if "_streamlit_xsrf" in cookies else "none"
    cookie_header = "; ".join(f"{key}={morsel.value}" for key, morsel in cookies.items())
    ws_url = base.replace("http://", "ws://") + "/_stcore/stream"
    with connect(ws_url, subprotocols=["streamlit", xsrf], origin=base, proxy=None,
                 additional_headers={"Cookie": cookie_header} if cookie_header else None,
                 max_size=None, open_timeout=30) as ws:
        request = BackMsg()
        request.rerun_script.query_string = ""
        request.rerun_script.widget_states.SetInParent()
        ws.send(request.SerializeToString())
        exceptions = 0
        while True:
            message = ForwardMsg()
            message.ParseFromString(ws.recv(timeout=120))
            kind = message.WhichOneof("type")
            if kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                exceptions += message.delta.new_element.WhichOneof("type") == "exception"
            if kind == "script_finished":
                return ForwardMsg.ScriptFinishedStatus.Name(message.script_finished), exceptions


def test_the_instrument_logs_only_what_leaves_the_machine(tmp_path: Path) -> None:
    env, log = _instrumented(tmp_path)
    subprocess.run([sys.executable, "-c", SELF_CHECK], env=env, check=True, timeout=60)
    lines = _log_lines(log)
    assert lines[0].startswith("installed in pid")
    outgoing = lines[1:]
    assert len(outgoing) == 2, outgoing
    assert "checkip.amazonaws.com" in outgoing[0] and "192.0.2.1" in outgoing[1]


def test_start_page_and_script_run_reach_nothing_outside(tmp_path: Path) -> None:
    env, log = _instrumented(tmp_path)
    port = _free_port()
    output = tmp_path / "streamlit.log"
    # As `make run` starts it: no server.address, so Streamlit takes its usual start-up path
    # (with --server.address it never looks up addresses, whatever the config says).
    with open(output, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "explorer/ui/server_app.py",
             "--server.port", str(port), "--server.headless", "true"],
            cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process, output)
        status, exceptions = _one_session(base)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert status == "FINISHED_SUCCESSFULLY" and exceptions == 0, output.read_text()
    lines = _log_lines(log)
    assert any(line == f"installed in pid {process.pid}" for line in lines), lines
    outgoing = [line for line in lines if line.startswith("outgoing")]
    assert outgoing == [], "\n".join(["The server reached outside this machine:", *outgoing,
                                      "", "Server output:", output.read_text()])
