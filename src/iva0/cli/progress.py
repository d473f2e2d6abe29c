"""Progress bars on stderr (rich), shown only once work starts: a mistake found
before that prints its one `error:` line alone."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from iva0.backends.base import ProgressFn


class LazyProgress:
    """A rich Progress that starts on its first update; a no-op when disabled."""

    def __init__(self, enabled: bool = True, label: bool = False, first_line: str | None = None) -> None:
        self.enabled = enabled
        self.first_line = first_line  # said when work starts (above the bars), never before a mistake's error line
        self.shown = False
        self.bar = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        columns = [TextColumn("{task.description:>12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn()]
        if label:
            columns.append(TextColumn("{task.fields[label]}"))
        self.bar = Progress(*columns, console=Console(stderr=True))

    def add(self, description: str, total: int | None = None, **fields: Any) -> int:
        return self.bar.add_task(description, total=total, **fields) if self.enabled else 0

    def update(self, task: int, **kwargs: Any) -> None:
        if not self.enabled:
            return
        if not self.shown:
            if self.first_line:
                self.bar.console.print(self.first_line, markup=False, highlight=False, soft_wrap=True)
            self.bar.start()
            self.shown = True
        self.bar.update(task, **kwargs)

    def close(self) -> None:
        if self.shown:
            self.bar.stop()


@contextlib.contextmanager
def lazy_progress(enabled: bool = True, label: bool = False, first_line: str | None = None) -> Iterator[LazyProgress]:
    p = LazyProgress(enabled, label, first_line)
    try:
        yield p
    finally:
        p.close()


@contextlib.contextmanager
def progress_bar(enabled: bool = True, first_line: str | None = None) -> Iterator[ProgressFn]:
    """A `progress(done, total, stage)` callback for the backends: one bar per stage, `first_line` above them."""
    with lazy_progress(enabled, first_line=first_line) as p:
        tasks: dict[str, int] = {}

        def update(done: int, total: int, stage: str) -> None:
            if stage not in tasks:
                tasks[stage] = p.add(stage, total=total)
            p.update(tasks[stage], completed=done, total=total)

        yield update
