"""Metric rows computed in a separate process, from a copy of the state in shared memory.

Why a process and not a thread: most numpy passes of the metric functions
(``np.bincount``, fancy indexing, boolean masks, cumulative sums) hold the
interpreter lock, so a metrics *thread* ran mostly in turns with the
simulation instead of beside it (measured on this 2-core machine: an
indexing pass run in two threads took 2.0-2.7x the time of one thread;
``docs/profiling.md``). A process has its own interpreter.

How (one worker per model, started when the model is built):

* at the end of year t the model's state (every attribute a metric may
  read) is pickled with protocol 5; the numpy arrays travel out of band:
  each is copied once into a shared-memory block (``multiprocessing.
  shared_memory``), the rest of the pickle (a few kB) through a pipe;
* the worker maps the block, unpickles the state without copying the
  arrays, runs the same metric (and flow) functions as in line, and sends
  the rows back; the simulation meanwhile runs year t+1;
* before writing the block again (year t+1) the model waits for the rows
  of year t, so the worker never reads a block being written.

The rows are the same as computed in line (the snapshot is the state at
that point and the metric functions draw no random numbers; tested in
``tests/test_model.py``). Objects that no metric function reads
(``METRICS_UNREAD`` of each process) and the run's fixed inputs (territory,
personas, scenario: sent once at start) are not copied each year.
"""
from __future__ import annotations

import functools
import io
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
import types
from multiprocessing import shared_memory
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

#: model attributes of these types are not sent (no metric function calls them; they may not pickle)
CODE = (types.FunctionType, types.MethodType, types.BuiltinFunctionType, types.ModuleType, functools.partial)

#: model attributes sent once when the worker starts (fixed during a run), by name
STATIC = ("territory", "personas", "segment_ids", "scenario")


class _Pickler(pickle.Pickler):
    """Protocol-5 pickler that replaces fixed inputs and unread state by references."""

    def __init__(self, file, refs: dict[int, Any], buffers: list):
        super().__init__(file, protocol=5, buffer_callback=buffers.append)
        self._refs = refs

    def persistent_id(self, obj):
        return self._refs.get(id(obj))


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, static: dict[str, Any], buffers):
        super().__init__(file, buffers=buffers)
        self._static = static

    def persistent_load(self, pid):
        kind, name = pid
        return self._static[name] if kind == "static" else None


def _serve(conn) -> None:
    """Worker loop: first the fixed inputs, then (block name, pickle, buffer layout, events) per year;
    sends back ("ok", metric rows, flow rows, seconds) or ("error", pickled exception, traceback)."""
    import importlib

    from .model import FabriqueModel
    static_blob, process_names = conn.recv()
    static = pickle.loads(static_blob)
    static["processes"] = {name: importlib.import_module(f"simulator.processes.{name}") for name in process_names}
    shm: shared_memory.SharedMemory | None = None
    try:
        while True:
            try:
                msg = conn.recv()
            except EOFError:                         # the parent has gone
                break
            if msg is None:
                break
            name, data, layout, events = msg
            try:
                if shm is None or shm.name != name:
                    if shm is not None:
                        shm.close()
                    shm = _attach(name)
                buf = shm.buf
                buffers = [buf[o:o + n] for o, n in layout]
                state = _Unpickler(io.BytesIO(data), static, buffers).load()
                snap = object.__new__(FabriqueModel)
                snap.__dict__.update(static)
                snap.__dict__.update(state)
                rows, flows, dt = FabriqueModel._compute_metrics(snap, events)
                del snap, state, buffers, buf        # no view of the block may outlive this year
                conn.send(("ok", rows, flows, dt))
            except Exception as exc:                 # noqa: BLE001 -- sent to the parent, raised there
                try:
                    payload = pickle.dumps(exc)
                except Exception:                    # noqa: BLE001
                    payload = None
                conn.send(("error", payload, traceback.format_exc()))
    finally:
        if shm is not None:
            try:
                shm.close()
            except BufferError:                      # a view still alive after an error: the OS unmaps at exit
                pass
        conn.close()


def _attach(name: str) -> shared_memory.SharedMemory:
    """Map the parent's block without registering it with a resource tracker (the parent owns and frees it)."""
    from multiprocessing import resource_tracker
    register = resource_tracker.register
    resource_tracker.register = lambda *a, **k: None     # Python < 3.13 has no SharedMemory(track=False)
    try:
        return shared_memory.SharedMemory(name=name)
    finally:
        resource_tracker.register = register


class NoRoom(RuntimeError):
    """Not enough shared memory for the copy of the state: the model computes its metrics in line instead."""


class MetricsWorker:
    """One child process computing the metric rows of a model's years (see the module docstring)."""

    def __init__(self, model) -> None:
        # a plain child interpreter (python -m simulator.metrics_worker), not multiprocessing's spawn: spawn
        # re-runs the user's main script in the child, which breaks scripts without a __main__ guard
        parent_sock, child_sock = socket.socketpair()
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        # the child must import this very package (not another copy on its path): run it from the directory
        # holding it (python -m puts the working directory first on sys.path)
        src = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self._proc = subprocess.Popen([sys.executable, "-m", "simulator.metrics_worker", str(child_sock.fileno())],
                                      pass_fds=(child_sock.fileno(),), env=env, stdin=subprocess.DEVNULL, cwd=src)
        child_sock.close()
        self._conn = Connection(parent_sock.detach())
        static = {k: getattr(model, k) for k in STATIC}
        self._static_ids = {id(v): ("static", k) for k, v in static.items()}
        self._conn.send((pickle.dumps(static, protocol=5), list(model.processes)))
        self._shm: shared_memory.SharedMemory | None = None
        self._pending = False
        self.copy_s = 0.0           # seconds spent in the main process copying state into the block
        self.block_bytes = 0        # size of the largest shared block

    def submit(self, state: dict[str, Any], unread: list[Any], events: dict[str, float] | None) -> None:
        """Copy ``state`` (attribute -> value) into shared memory and start computing its metric rows."""
        if self._pending:
            raise RuntimeError("MetricsWorker.submit: the previous year's rows were not collected")
        t = time.perf_counter()
        refs = dict(self._static_ids)
        refs.update({id(o): ("unread", "") for o in unread})
        buffers: list[pickle.PickleBuffer] = []
        out = io.BytesIO()
        _Pickler(out, refs, buffers).dump(state)
        raws = [b.raw() for b in buffers]
        layout, off = [], 0
        for r in raws:
            off = (off + 63) // 64 * 64                      # 64-byte aligned arrays
            layout.append((off, r.nbytes))
            off += r.nbytes
        self._ensure(max(off, 1))
        dst = np.ndarray((self._shm.size,), dtype=np.uint8, buffer=self._shm.buf)
        try:
            for (o, n), r in zip(layout, raws):
                dst[o:o + n] = np.frombuffer(r, dtype=np.uint8)
        finally:
            del dst, raws, buffers             # no view of the block may outlive the copy (the block can be freed)
        self.copy_s += time.perf_counter() - t
        try:
            self._conn.send((self._shm.name, out.getvalue(), layout, events))
        except OSError:                                  # broken pipe, connection reset
            raise RuntimeError(f"metrics worker process died (exit code {self._proc.poll()})") from None
        self._pending = True

    def result(self) -> tuple[list[tuple], list[tuple], float]:
        """The metric rows, flow rows and worker seconds of the submitted year (re-raises the worker's error)."""
        if not self._pending:
            raise RuntimeError("MetricsWorker.result: nothing submitted")
        self._pending = False
        try:
            msg = self._conn.recv()
        except EOFError:
            raise RuntimeError(f"metrics worker process died (exit code {self._proc.poll()})") from None
        if msg[0] == "ok":
            return msg[1], msg[2], msg[3]
        exc = pickle.loads(msg[1]) if msg[1] is not None else None
        if isinstance(exc, BaseException):
            raise exc from RuntimeError(f"in the metrics worker process:\n{msg[2]}")
        raise RuntimeError(f"metrics worker process failed:\n{msg[2]}")

    def _ensure(self, size: int) -> None:
        if self._shm is not None and self._shm.size >= size:
            return
        self._release_block()
        shm_dir = Path("/dev/shm")
        if shm_dir.is_dir():      # a full tmpfs (containers often give 64 MB) would crash the writer with SIGBUS
            free = shutil.disk_usage(shm_dir).free
            if free < size * 1.25 + 4096:
                raise NoRoom(f"{shm_dir} has {free / 2**20:.0f} MB free, the state copy needs "
                             f"{size * 1.25 / 2**20:.0f} MB")
        # room to grow (the population grows by ~0.5 %/yr): a new block only every several years
        self._shm = shared_memory.SharedMemory(create=True, size=int(size * 1.25) + 4096)
        self.block_bytes = max(self.block_bytes, self._shm.size)

    def _release_block(self) -> None:
        if self._shm is not None:
            try:
                self._shm.close()
            except BufferError:            # a view still held somewhere: the mapping goes with the process
                pass
            try:
                self._shm.unlink()
            except FileNotFoundError:
                pass
            self._shm = None

    def close(self) -> None:
        """Stop the worker and free the shared block (idempotent)."""
        if self._proc is not None:
            try:
                self._conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._conn.close()
            self._proc = None
        self._release_block()


if __name__ == "__main__":          # the worker process: python -m simulator.metrics_worker FD
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # the parent handles Ctrl-C and closes the worker
    _serve(Connection(int(sys.argv[1])))
