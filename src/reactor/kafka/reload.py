"""Hot reload: a changed configuration root replaces the running config once it loads cleanly."""

from __future__ import annotations

import logging
from pathlib import Path

from reactor.config import Config, load_config
from reactor.errors import ConfigError
from reactor.metrics import Metrics

__all__ = ["ConfigWatcher"]

log = logging.getLogger("reactor.worker")


class ConfigWatcher:
    """Holds the running configuration; `check` swaps in a changed one that
    loads cleanly, or logs each problem (path:line:col) and keeps the last good one."""

    def __init__(self, root: Path, config: Config, metrics: Metrics) -> None:
        self.root = root
        self.config = config
        self.metrics = metrics
        self._stamp = self._files()
        metrics.set_config(config.version)

    def _files(self) -> tuple[tuple[str, int, int], ...]:
        files = [
            p
            for folder in ("reactions", "targets")
            for p in sorted((self.root / folder).rglob("*"))
            if p.is_file()
        ]
        out = []
        for path in files:
            try:
                stat = path.stat()
            except OSError:
                continue  # removed while listing
            out.append((str(path), stat.st_mtime_ns, stat.st_size))
        return tuple(out)

    def check(self) -> bool:
        """Reload if a file changed; True when a new configuration is running."""
        stamp = self._files()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            config = load_config(self.root)
        except ConfigError as exc:
            self.metrics.reloads.labels("rejected").inc()
            for issue in exc.issues:
                log.error("configuration rejected: %s", issue, extra={"issue": str(issue)})
            log.error(
                "kept the running configuration %s",
                self.config.version,
                extra={"config_version": self.config.version},
            )
            return False
        except Exception as exc:  # an unexpected error in loading must not stop the worker
            self.metrics.reloads.labels("rejected").inc()
            log.error("configuration rejected: %s: %s", type(exc).__name__, exc)
            return False
        if config.version == self.config.version:
            return False
        self.config = config
        self.metrics.set_config(config.version)
        self.metrics.reloads.labels("loaded").inc()
        log.info("configuration %s loaded", config.version, extra={"config_version": config.version})
        return True
