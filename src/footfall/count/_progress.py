"""The count's progress bar."""

from __future__ import annotations

import threading

__all__ = ["_Progress"]


class _Progress:
    """Rich progress bar (rows/s, files done), or nothing."""

    def __init__(self, enabled: bool, total_rows: int | None, n_files: int) -> None:
        self.bar = None
        self.lock = threading.Lock()
        self.n_files, self.files_done = n_files, 0
        if not enabled:
            return
        from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task):  # noqa: D102
                speed = task.finished_speed or task.speed
                return Text(f"{(speed or 0) / 1e6:5.1f} M rows/s")

        self.bar = Progress(
            TextColumn("counting"),
            BarColumn(),
            TextColumn("{task.completed:,.0f} rows"),
            Rate(),
            TextColumn("{task.fields[files]}"),
            transient=False,
        )
        self.task = self.bar.add_task("count", total=total_rows, files=self._files())

    def _files(self) -> str:
        return f"{self.files_done}/{self.n_files} files"

    def rows(self, n: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)

    def file_done(self, n_rows: int = 0) -> None:
        with self.lock:
            self.files_done += 1
        if self.bar is not None:
            self.bar.update(self.task, advance=n_rows, files=self._files())

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
