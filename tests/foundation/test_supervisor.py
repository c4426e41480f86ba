"""The make-run supervisor's rules with stand-in processes and a fake clock: restart with capped
backoff (said so), status printed only on change, backoff reset once a process stayed up."""

from __future__ import annotations

from dataclasses import dataclass, field

from services import supervisor as sv


@dataclass
class Fake:
    name: str
    code: int | None = None
    healthy: str = "ok"
    starts: int = 0
    log: list[str] = field(default_factory=list)

    def start(self) -> None:
        self.starts += 1
        self.code = None

    def exit_code(self) -> int | None:
        return self.code

    def health(self) -> str:
        return self.healthy

    def stop(self) -> None:
        self.code = 0

    def last_line(self) -> str:
        return "boom: redis://127.0.0.1:1 refused"


class Clock:
    t = 1000.0

    def __call__(self) -> float:
        return self.t


def _sup() -> tuple[sv.Supervisor, list[str], Clock]:
    lines: list[str] = []
    clock = Clock()
    return sv.Supervisor(lines.append, clock), lines, clock


def test_status_is_printed_once_per_change_not_every_poll():
    sup, lines, clock = _sup()
    a = Fake("a")
    sup.add(a)
    for _ in range(10):
        sup.poll()
        clock.t += 0.5
    assert lines == ["status: a=ok"]
    a.healthy = "http 503"
    for _ in range(5):
        sup.poll()
    assert lines[-1] == "status: a=http 503" and len(lines) == 2


def test_a_dead_process_is_reported_and_restarted_with_doubling_capped_backoff():
    sup, lines, clock = _sup()
    a = Fake("state")
    sup.add(a)
    delays = []
    for _ in range(8):
        a.code = 1
        sup.poll()  # noticed: exited, restart scheduled
        assert any("state exited with 1: boom: redis://127.0.0.1:1 refused" in x for x in lines)
        w = sup.watched[0]
        delays.append(w.next_start - clock.t)
        before = a.starts
        clock.t = w.next_start - 0.01
        sup.poll()
        assert a.starts == before  # not before the backoff
        clock.t = w.next_start
        sup.poll()
        assert a.starts == before + 1
        clock.t += 1
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]
    assert any(x.startswith("  state restarted (restart 8)") for x in lines)
    assert any("restarting state in 30 s" in x for x in lines)


def test_backoff_starts_over_once_the_process_stayed_up():
    sup, _, clock = _sup()
    a = Fake("feed")
    sup.add(a)
    for _ in range(3):
        a.code = 1
        sup.poll()
        clock.t = sup.watched[0].next_start
        sup.poll()
    assert sup.watched[0].backoff_s == 8
    clock.t += sv.STABLE_AFTER_S + 1
    sup.poll()
    assert sup.watched[0].backoff_s == sv.BACKOFF_INITIAL_S


def test_ready_means_every_process_healthy():
    sup, _, _ = _sup()
    a, b = Fake("a"), Fake("b", healthy="down")
    sup.add(a)
    sup.add(b)
    sup.poll()
    assert not sup.all_ok()
    b.healthy = "ok"
    sup.poll()
    assert sup.all_ok()
