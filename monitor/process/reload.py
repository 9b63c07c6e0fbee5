"""Rule reloads: the daemon's rules follow their files. Does I/O (reads the rules folder).

Every 2 s (and at once on SIGHUP) the rules folder's fingerprint is taken; when it changed and
holds still for `SETTLE_S`, the rules are loaded and checked against the config. A good set is
swapped into `CurrentRules` whole (polls running finish with the rules they started with); a
broken one keeps the old rules, logs `rules_reload_refused` and counts a failed reload.

A SIGHUP also reads the config file again. Broken (`config_invalid`, located): everything runs
on as it was. Otherwise its feeds are applied (monitor.process.feedreload, `feeds_reloaded`),
and `config_changed` names every other key that differs: those are read at start only.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import structlog

from monitor.config import Config, load_config
from monitor.errors import NewsmonError, RuleErrors
from monitor.metrics import Metrics
from monitor.pipeline.rules import CurrentRules
from monitor.process.bootstrap import checked_rules, rules_dir, settle_heap
from monitor.process.feedreload import FeedReloader, unapplied_changes
from monitor.query.rulefiles import load_rules, rule_files
from monitor.query.ruleset import RuleSet

log = structlog.get_logger("newsmon.service")

SETTLE_S = 0.2  # a file still being written is looked at again on the next tick

Fingerprint = tuple[tuple[str, str, int, int, int], ...]


def rules_fingerprint(folder: Path) -> Fingerprint:
    """What changes when a rules file is edited, added or removed (cheap: no reading).

    Follows symlinks to the real file (its path, inode, mtime and size), so a Kubernetes
    ConfigMap update, which swaps the `..data` symlink to a new hidden folder, is seen; hidden
    entries themselves (`..data`, `..2026_11_27_...`) are skipped, as the rules loader skips them.
    """
    try:
        files = rule_files(folder)  # the files the loader reads: hidden entries skipped
    except RuleErrors as exc:
        # The folder grew past what a rules folder may hold: a fingerprint of its own, so that
        # the reload it starts is refused, said once, and the rules kept.
        return (("", str(exc), 0, 0, 0),)
    found = []
    for path in files:
        rel = path.relative_to(folder) if path != folder else Path(path.name)
        try:
            real = path.resolve(strict=True)
            stat = real.stat()
        except (OSError, RuntimeError):  # removed mid-scan or a symlink loop: next tick sees it
            continue
        found.append((str(rel), str(real), stat.st_ino, stat.st_mtime_ns, stat.st_size))
    return tuple(found)


class RuleReloader:
    """Reloads the rules when their files change; a broken change keeps the old rules. On
    SIGHUP (`force`), the config's feeds too, when `feeds` is given."""

    def __init__(
        self,
        rules: CurrentRules,
        config: Config,
        metrics: Metrics,
        override: str | None,
        feeds: FeedReloader | None = None,
    ) -> None:
        self.rules = rules
        self.config = config  # the rules are checked against it; a SIGHUP may take new feeds
        self.feeds = feeds
        self.metrics = metrics
        self.override = override
        self.folder = rules_dir(config, override)
        self.fingerprint = rules_fingerprint(self.folder)
        self.last_error: str | None = None
        self._lock = asyncio.Lock()

    async def __call__(self, force: bool) -> None:
        # One reload at a time: the 2 s tick and a SIGHUP ran side by side, and the one that
        # read the files first could swap its rules in last, over the newer ones.
        async with self._lock:
            await self.reload(force)

    async def reload(self, force: bool) -> None:
        current = await asyncio.to_thread(rules_fingerprint, self.folder)
        if current == self.fingerprint and not force:
            return
        if not force:
            # An editor or `kubectl cp` may still be writing: wait until the files hold still.
            await asyncio.sleep(SETTLE_S)
            if await asyncio.to_thread(rules_fingerprint, self.folder) != current:
                return
        self.fingerprint = current
        # Read once: a SIGHUP checks the config's new feeds against these rules, then checks
        # and swaps in the rules themselves (they were read twice when the feeds changed).
        loaded: RuleSet | None = None
        error: NewsmonError | None = None
        try:
            loaded = await asyncio.to_thread(self.load)
        except NewsmonError as exc:
            error = exc
        if force:  # the new feeds checked against these (the live rules when they did not load)
            await self.follow_config(loaded if loaded is not None else self.rules.rules)
        if loaded is not None:
            try:
                rules = await asyncio.to_thread(checked_rules, self.config, loaded)
            except NewsmonError as exc:
                error = exc
        if error is not None:
            self.last_error = str(error)
            self.metrics.rules_reload(ok=False)
            # A user's broken rule: the message, not a traceback.
            log.error("rules_reload_refused", error=str(error), kept=self.rules.rules.version)
            return
        refused, self.last_error = self.last_error, None
        old = self.rules.rules.version
        if rules.version == old:
            if refused is not None:
                # The files were put back as they run (the broken edit undone): the log's last
                # word on them was the refusal, and whoever fixed it waits for a word it is over.
                log.info(
                    "rules_unchanged",
                    version=old,
                    rules=len(rules.rules),
                    hint="the rules files load again, as the rules running: the refused change"
                    " is gone",
                )
                return
            # A SIGHUP is a person asking: answer it. A file touched but not changed is not news.
            (log.info if force else log.debug)(
                "rules_unchanged", version=old, rules=len(rules.rules)
            )
            return
        self.rules.swap(rules)
        settle_heap(replaced=True)
        self.metrics.rules_reload(ok=True)
        self.metrics.set_rules_version(rules.version, len(rules.rules))
        log.info("rules_reloaded", version=rules.version, previous=old, rules=len(rules.rules))

    async def follow_config(self, rules: RuleSet) -> None:
        """Read the config file again: apply its feeds (when it loads; checked against `rules`,
        those on disk, or the live ones when the files do not load), and say which of its other
        changes wait for a restart."""
        fresh = await asyncio.to_thread(self.read_config)
        if fresh is None:
            return
        running = self.config
        if self.feeds is not None:
            self.config = await self.feeds.apply(running, fresh, rules)
        unapplied = unapplied_changes(running, fresh)
        if unapplied:
            log.warning(
                "config_changed",
                config=str(fresh.path),
                keys=unapplied,
                hint="these keys are read at start only: restart newsmon to apply them"
                + ("; the feeds are applied on SIGHUP" if self.feeds is not None else ""),
            )

    def load(self) -> RuleSet:
        """The rules on disk, not yet checked against the config (`checked_rules`)."""
        return load_rules(self.folder, named_by=self.config.rules_named_by(self.override))

    def read_config(self) -> Config | None:
        """The config file read again; None (logged, `config_invalid`) when it no longer loads
        or the daemon started without one."""
        path = self.config.path
        if path is None:  # started on the defaults: there is no file to follow
            return None
        try:
            return load_config(path, env=os.environ)
        except NewsmonError as exc:
            # TRY400: a user's broken file: the message, not a traceback
            log.error(  # noqa: TRY400
                "config_invalid",
                error=str(exc),
                hint="still running on the config as it was; a restart would fail on this",
            )
            return None
