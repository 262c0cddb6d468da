"""Checking transcript files on several cores.

A million-line check is CPU work in Python, so one process uses one core.  Here
``jobs`` worker processes, forked after the policy, rules and matchers are built
(they inherit them, nothing is pickled on the way in), each read an equal share of
the input's bytes (`ReadPlan.read_part`: the lines that begin in its range).  A
session whose lines fall in several shares goes to the first of them: each worker
says which sessions it read, the parent works out which ones it must hand over
(`owners`), and passes their lines on, so every session is whole in one worker.
The workers then check their sessions, and mask and score the findings.  They
first send what was wrong with the input (the report's header needs it), then the
checked sessions in chunks, with only what the reports need: the findings, the
score, and the session without its lines (with them for the HTML report, which
shows flagged transcripts).  For a format whose output for a session depends on
that session alone (JSON, see `compliance.reports.session_encoder`) the workers go
further: they encode each session's part of the report and count the summary
themselves, send text, and at the end their counts (`SummaryPart`), so the parent
only writes.  The parent takes chunks off the pipes as they come, merges them back
into reading order and writes while the workers still check, so the report is the
same, byte for byte, as one process would write.

Only for transcript files and where the ``fork`` start method exists (not on
Windows, where checks run in one process); the database paths stay in one
process (their loading is I/O, not CPU).
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from compliance.checker import SessionCheckFailed, describe_error
from compliance.model import Session, TranscriptError
from compliance.reader import ReadPlan, owners

if TYPE_CHECKING:
    from compliance.checker import Checker
    from compliance.model import Finding
    from compliance.policy import Policy
    from compliance.reports.summary import ReportedSession, SummaryPart

    Prepare = Callable[[Policy, Session, list[Finding]], ReportedSession]
    """What follows the rules for one session (`compliance.run.prepare_session`)."""

__all__ = ["AUTO_MIN_BYTES", "MAX_JOBS", "PartsRun", "WorkerFailed", "auto_jobs", "fork_available"]

AUTO_MIN_BYTES = 16 << 20
"""Below this much input, starting workers costs more than it saves."""
MAX_JOBS = 16


class WorkerFailed(RuntimeError):
    """A worker process failed (an exception, described in one line) or died
    (killed, out of memory) before sending all of its part back."""


def available_cpus() -> int:
    """CPUs this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def fork_available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def auto_jobs(files: Sequence[Path]) -> int:
    """How many processes ``--jobs 0`` (the default) uses for these files."""
    if not fork_available():
        return 1
    size = 0
    for path in files:
        with contextlib.suppress(OSError):  # an unreadable file is reported when read
            size += path.stat().st_size
    if size < AUTO_MIN_BYTES:
        return 1
    return max(1, min(available_cpus(), MAX_JOBS))


_CHUNK = 512
"""Sessions per message from a worker: large enough to keep pickling cheap, small
enough that the parent writes while the workers check."""
_POLL_EVERY = 64
"""Sessions the parent writes between looks at the pipes for chunks that arrived."""


@dataclass(slots=True)
class _Job:
    plan: ReadPlan
    jobs: int
    checker: Checker
    prepare: Prepare
    keep_lines: bool
    encode: Callable[[ReportedSession], Any] | None


def _slim(reported: ReportedSession, keep_lines: bool) -> ReportedSession:
    session = reported.session
    lines = session.lines if keep_lines and reported.findings else ()
    return replace(
        reported,
        session=Session(id=session.id, channel=session.channel, lines=lines, names=session.names),
        line_count=len(session.lines),
    )


def _work(job: _Job, part: int, conn: Connection, control: Connection) -> None:
    """A worker: read its part, say what was wrong with the input, then stream the
    checked sessions back in chunks.  Runs in the forked child."""
    # Ctrl-C reaches the whole process group: the parent handles it and stops the
    # workers, which would otherwise each print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _work_part(job, part, conn, control)
    except (BrokenPipeError, EOFError):
        return  # the parent stopped listening (it failed or was interrupted): nothing to say
    except BaseException as exc:  # every other failure must reach the parent, in one line
        with contextlib.suppress(OSError):
            failure = str(exc) if isinstance(exc, SessionCheckFailed) else describe_error(exc)
            conn.send(("failed", failure))
        os._exit(1)  # said; multiprocessing would print the traceback too
    finally:
        conn.close()
        control.close()


def _work_part(job: _Job, part: int, conn: Connection, control: Connection) -> None:
    from compliance.reports.summary import RunInfo, SummaryBuilder

    # Nothing here makes reference cycles; the collector would only walk what was
    # read (millions of objects) over and over.
    gc.disable()
    reading = job.plan.read_part(part, job.jobs)
    # Sessions that began in an earlier part go there; those that go on in later
    # parts come here (see `PartsRun.start`).
    conn.send(("ids", reading.session_ids()))
    conn.send(("handed", reading.hand_over(control.recv())))
    for handed in control.recv():
        reading.take_over(handed)
    read = reading.finish()
    conn.send(("read", len(read.sessions), read.errors, read.error_keys, read.lines))
    check = job.checker.check
    prepare = job.prepare
    policy = job.checker.policy
    keep_lines = job.keep_lines
    encode = job.encode
    # With an encoder the report's part of each session is made here, and the
    # summary counted here too, so what goes through the pipe is text, cheap to
    # send, and the parent only writes.
    builder = SummaryBuilder(RunInfo(policy=policy, sources=())) if encode else None
    sessions = read.sessions
    first_seen = read.first_seen
    read.sessions = []
    chunk: list[tuple[int, Any]] = []
    for number in range(len(sessions)):
        session = sessions[number]
        sessions[number] = None  # type: ignore[call-overload]  # let it go once checked
        try:
            reported = prepare(policy, session, check(session))
        except Exception as exc:
            raise SessionCheckFailed(session, exc) from exc
        position = first_seen[number]
        if builder is not None and encode is not None:
            # Only text goes to the parent: the score is in it, encoded (the parent
            # spent a third of its time unpickling scores it never used).
            builder.add(reported, position, keep_score=False)
            chunk.append((position, encode(reported)))
        else:
            chunk.append((position, _slim(reported, keep_lines)))
        if len(chunk) == _CHUNK:
            conn.send(("chunk", chunk))
            chunk = []
    if chunk:
        conn.send(("chunk", chunk))
    conn.send(("done", builder.part() if builder is not None else None))


class PartsRun:
    """Workers reading and checking `files` in parts; use as a context manager.

    Each worker checks its sessions with `checker` and hands each one's findings to
    `prepare` (`compliance.run.prepare_session`: mask, score) before sending it.

    `start` forks the workers and waits until every one has read its part; then
    `errors`, `sessions` and `lines` are known.  `reported` yields the checked
    sessions in reading order while the workers are still checking: as
    `ReportedSession`s, or, given an `encode` function (`session_encoder`), as
    what it made of the session; then the workers also count the summary (all but
    the scores, which are in the encoded sessions), and `summary_parts` holds
    their counts once `reported` is exhausted.
    """

    def __init__(
        self,
        files: Sequence[Path],
        checker: Checker,
        prepare: Prepare,
        *,
        jobs: int,
        keep_lines: bool,
        encode: Callable[[ReportedSession], Any] | None = None,
    ):
        if jobs < 2:
            raise ValueError("PartsRun is for two or more jobs")
        self._job = _Job(ReadPlan.of(files), jobs, checker, prepare, keep_lines, encode)
        self.summary_parts: list[SummaryPart] = []
        self._processes: list[BaseProcess] = []
        self._conns: list[Connection] = []
        self._controls: list[Connection] = []
        self._finished = 0
        self.errors: list[TranscriptError] = []
        self.sessions = 0
        self.lines = 0

    def __enter__(self) -> PartsRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        context = multiprocessing.get_context("fork")
        jobs = self._job.jobs
        for part in range(jobs):
            receiver, sender = context.Pipe(duplex=False)
            orders, control = context.Pipe(duplex=False)
            process = context.Process(
                target=_work,
                args=(self._job, part, sender, orders),
                name=f"aftersales-check-{part}",
            )
            process.start()
            sender.close()  # the child's ends: EOF here when the child is gone
            orders.close()
            self._processes.append(process)
            self._conns.append(receiver)
            self._controls.append(control)
        # The parts hand over the sessions that began in an earlier part: every
        # worker says what it read, is told what to give away, gives it, and takes
        # what the later parts gave it.  Each step is one message per worker, and
        # no worker waits on another, only on this process.
        session_ids = [self._receive(part, "ids")[1] for part in range(jobs)]
        for part, give in enumerate(owners(session_ids)):
            self._send(part, give)
        del session_ids
        incoming: list[list[Any]] = [[] for _ in range(jobs)]
        for part in range(jobs):
            for owner, handed in sorted(self._receive(part, "handed")[1].items()):
                incoming[owner].append(handed)
        for part in range(jobs):
            self._send(part, incoming[part])
        del incoming
        keyed: list[tuple[tuple[int, int], TranscriptError]] = []
        for part in range(jobs):
            _kind, sessions, errors, keys, lines = self._receive(part, "read")
            self.sessions += sessions
            self.lines += lines
            keyed.extend(zip(keys, errors, strict=True))
        keyed.sort(key=lambda item: item[0])
        self.errors = [error for _key, error in keyed]

    def reported(self) -> Iterator[Any]:
        """The checked sessions of every part, merged back into reading order.

        Every chunk is taken off its pipe as soon as it arrives, whether or not the
        merge needs it yet: a worker whose next chunk waited in its pipe until the
        merge reached it would block on its send (a chunk is larger than a pipe's
        buffer) until the other workers caught up, and the workers would move in
        lockstep, each idle whenever another was slower on a chunk.
        """
        parts = self._job.jobs
        pending: list[deque[tuple[int, Any]]] = [deque() for _ in range(parts)]
        open_parts = set(range(parts))
        by_conn = {id(self._conns[part]): part for part in range(parts)}

        def take(block: bool) -> None:
            ready = wait([self._conns[part] for part in open_parts], None if block else 0)
            for conn in ready:
                part = by_conn[id(conn)]
                message = self._receive(part, "chunk", "done")
                if message[0] == "done":
                    self._finished += 1
                    open_parts.discard(part)
                    if message[1] is not None:
                        self.summary_parts.append(message[1])
                else:
                    pending[part].extend(message[1])

        # The next session in reading order is known once every part that may
        # still send has something waiting here; after that only the part just
        # taken from can run dry, and it is refilled before the next choice.
        while any(not pending[part] for part in open_parts):
            take(block=True)
        taken = 0
        while True:
            best = -1
            best_key = 0
            for part in range(parts):
                queue = pending[part]
                if queue and (best < 0 or queue[0][0] < best_key):
                    best, best_key = part, queue[0][0]
            if best < 0:
                return
            queue = pending[best]
            yield queue.popleft()[1]
            while not queue and best in open_parts:
                take(block=True)
            taken += 1
            if taken % _POLL_EVERY == 0 and open_parts:
                take(block=False)

    def _send(self, part: int, message: Any) -> None:
        try:
            self._controls[part].send(message)
        except OSError:
            # It died, or failed and said why: that is the error to show.
            self._receive(part)
            raise self._died(part) from None

    def _receive(self, part: int, *expected: str) -> tuple[Any, ...]:
        try:
            message = self._conns[part].recv()
        except (EOFError, OSError):
            raise self._died(part) from None
        if message[0] == "failed":
            raise WorkerFailed(
                f"checking process {part + 1} of {self._job.jobs} failed: {message[1]}"
            )
        if message[0] not in expected:
            raise WorkerFailed(f"checking process {part + 1}: unexpected {message[0]!r}")
        return cast(tuple[Any, ...], message)

    def _died(self, part: int) -> WorkerFailed:
        process = self._processes[part]
        process.join(timeout=5)
        return WorkerFailed(
            f"checking process {part + 1} of {self._job.jobs} died "
            f"(exit status {process.exitcode}); try --jobs 1"
        )

    def close(self) -> None:
        """Wait for workers that sent everything; stop the others; close the pipes."""
        if self._finished != len(self._processes):
            # Interrupted, or the report could not be written: stop the workers first,
            # so none of them finds its pipe closed half-way through a send.
            for process in self._processes:
                if process.is_alive():
                    process.terminate()
        for process in self._processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
        for conn in self._conns + self._controls:
            conn.close()
        self._conns = []
        self._controls = []
        self._processes = []
