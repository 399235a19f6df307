"""Requests that change state, carried out by whoever may: this command or the running agent.

A state-changing command (`hoso sync`, `hoso trash restore`) names a request and its
arguments. :func:`carry_out` takes the instance lock and runs the request here when no agent
runs; when an agent holds the lock it hands the request to it over the control channel
(agent/channel.py), and the agent runs the very same handler on its loop thread, between
passes. Either way the command gets the same JSON result (or the same error) and renders it
the same way. Handlers report along the way through ``emit`` (progress lines, a backup made
first), which reaches the terminal directly or through the channel.

The table :data:`HANDLERS` is the one list of what can be asked; the teacher's page will
call the same handlers. No secret ever travels: the agent uses what it holds itself (the
backup passphrase in its vault) and says so when it has none.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import channel
from .config import Config, Secret
from .errors import (
    AgentAnswered,
    AgentGone,
    AlreadyRunning,
    ConfigError,
    ExitCode,
    HosoError,
    UnknownRequest,
    UsageError,
)
from .i18n import _
from .journal import Journal
from .lock import InstanceLock
from .log import get_logger
from .model import Action, Report
from .sync import PassResult, Syncer

log = get_logger(__name__)

Emit = Callable[[dict[str, Any]], None]
Prompt = Callable[[str], str]

SETTLE_ROUNDS = 3
# Skips that another pass right away may resolve: a file still being saved, or a file that
# changed on either side between planning and acting.
RETRY_NOW = {"unsettled", "changed_meanwhile"}
ANSWER_DEADLINE = 3600.0  # seconds a command waits for the agent (a long first pass)
STARTING_GRACE = 10.0  # seconds to wait for an agent that holds the lock but does not listen yet


@dataclass(frozen=True)
class Answer:
    """What a handler returns: the JSON result for the asker; the pass it ran, if any (the
    agent counts it, validates and backs up after it like any pass of its own); whether it
    changed either side outside a pass (the agent then syncs right away)."""

    result: dict[str, Any]
    passed: PassResult | None = None
    changed: bool = False
    school: bool = False  # ``passed`` is a pass of the school folder (agent/schoolfolder.py)


class Services:
    """What a request runs against: the agent's own Syncer (journal and share connection) on
    its loop thread, or one this command opens for itself and closes afterwards."""

    def __init__(
        self,
        config: Config,
        *,
        emit: Emit,
        syncer: Syncer | None = None,
        prompt: Prompt | None = None,
        wait: Callable[[float], bool] | None = None,
        by_agent: bool = False,
        backup_config: Callable[[], Config] | None = None,
        school_syncer: Syncer | None = None,
    ) -> None:
        self.config = config
        # The config as it is now, for a backup: the agent's sync goes on with the config
        # read at its start, but a repository may have been created or connected since.
        self.backup_config = backup_config or (lambda: config)
        self.by_agent = by_agent  # run by the agent for a command, not by the command itself
        self.emit = emit
        self.prompt = prompt  # a passphrase prompt; None in the agent (nobody to type)
        # Sleep so many seconds; True when the agent is stopping (its stop event's wait).
        self.wait = wait or _sleep
        self._syncer = syncer
        self._school = school_syncer
        self._own: Syncer | None = None
        self._own_school: Syncer | None = None
        self._own_journal: Journal | None = None

    @property
    def syncer(self) -> Syncer:
        if self._syncer is None:
            self._own = self._syncer = Syncer(self.config, plugins=True)
        return self._syncer

    @property
    def school_syncer(self) -> Syncer:
        """The school folder's Syncer: the agent's school lane, or one of this command's."""
        if self._school is None:
            from . import schoolfolder

            self._own_school = self._school = schoolfolder.open_syncer(self.config)
            if self._school is None:
                raise no_school_folder(self.config)
        return self._school

    @property
    def journal(self) -> Journal:
        """The journal alone: a command that needs no pass loads no plugins and no share."""
        if self._syncer is not None:
            return self._syncer.journal
        if self._own_journal is None:
            self._own_journal = Journal.open(self.config.state_dir / "journal.sqlite3")
        return self._own_journal

    def close(self) -> None:
        if self._own is not None:
            self._own.close()
        if self._own_school is not None:
            self._own_school.close()
        if self._own_journal is not None:
            self._own_journal.close()


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


# --- the handlers --------------------------------------------------------------------------------


def _flags(args: Mapping[str, Any], request: str, known: tuple[str, ...]) -> dict[str, bool]:
    unknown = sorted(set(args) - set(known))
    if unknown:
        raise UnknownRequest(
            _("{request} has no option {names} here.").format(
                request=request, names=", ".join(unknown)
            )
        )
    flags = {name: args.get(name, False) for name in known}
    if not all(isinstance(value, bool) for value in flags.values()):
        raise UsageError(_("The options of {request} are yes or no.").format(request=request))
    return flags


def sync(services: Services, args: Mapping[str, Any]) -> Answer:
    """One full two-way pass (`hoso sync`), then up to three more while files the asker has
    just saved are still being written."""
    flags = _flags(
        args,
        "sync",
        ("dry_run", "allow_mass_delete", "allow_restored_share", "allow_clock_jump", "progress"),
    )
    dry_run, progress = flags.pop("dry_run"), flags.pop("progress")
    syncer = services.syncer
    hooks = (syncer.on_progress, syncer.before_mass_delete)

    def show_progress(done: int, total: int, action: Action) -> None:
        services.emit(
            {
                "event": "progress",
                "done": done,
                "total": total,
                "kind": action.kind.value,
                "path": action.path,
            }
        )

    if progress:
        syncer.on_progress = show_progress
    syncer.before_mass_delete = lambda: _backup_first(services)
    try:
        first, last, report = _until_settled(services, syncer, dry_run=dry_run, flags=flags)
    finally:
        syncer.on_progress, syncer.before_mass_delete = hooks
    checked = last.validation or first.validation
    to_fix = len({f.path for f in checked.findings}) if checked is not None else 0
    result = {"report": report.to_json(), "dry_run": dry_run, "records_to_fix": to_fix}
    return Answer(result, None if dry_run else PassResult(report, last.plan, last.outcome))


def _until_settled(
    services: Services, syncer: Syncer, *, dry_run: bool, flags: Mapping[str, bool]
) -> tuple[PassResult, PassResult, Report]:
    """One pass, then up to SETTLE_ROUNDS more while files just saved are still being
    written: the first pass, the last, and the report of them all."""
    first = syncer.run_pass(dry_run=dry_run, **flags)
    last, report = first, first.report
    for _round in range(SETTLE_ROUNDS):
        if dry_run or not any(s["reason"] in RETRY_NOW for s in report.skipped):
            break
        if services.wait(max(services.config.sync.settle_seconds, 0.5)):
            break  # the agent is stopping
        last = syncer.run_pass(**flags)
        report.merge(last.report)
    return first, last, report


def school_sync(services: Services, args: Mapping[str, Any]) -> Answer:
    """One pass of the school folder (`hoso school sync`)."""
    flags = _flags(args, "school.sync", ("dry_run", "allow_mass_delete", "allow_restored_share"))
    dry_run = flags.pop("dry_run")
    # The profile `hoso school edit` has just written is sent now, once it has settled.
    _first, last, report = _until_settled(
        services, services.school_syncer, dry_run=dry_run, flags=flags
    )
    passed = PassResult(report, last.plan, last.outcome)
    profile = None
    if not dry_run:
        # What came down may be a new school profile: checked and taken into force now, as
        # the agent does after each of its own school passes.
        from . import schoolprofile

        outcome = schoolprofile.refresh(services.config, time.time())
        if outcome.message:
            passed.report.warnings.append(outcome.message)
        profile = outcome.to_json()
    result = {"report": passed.report.to_json(), "dry_run": dry_run, "profile": profile}
    return Answer(result, None if dry_run else passed, school=True)


def no_school_folder(config: Config) -> ConfigError:
    return ConfigError(
        _(
            "No school folder is set in {path}. Add its address as `folder_url` in the "
            "[school] section of the config (or run `hoso init --force … --school-url URL`), "
            "then try again."
        ).format(path=config.path)
    )


def _backup_first(services: Services) -> None:
    """A confirmed mass delete is preceded by a backup when a repository exists; when it
    cannot be made the pass stops (the files also go to the trash, but a backup is the
    promise). Without a repository the trash alone keeps the files."""
    from .backup import service
    from .backup.repository import repository_state

    cfg = services.backup_config()
    # A damaged repository is not "no repository": opening it below stops with what to do.
    if repository_state(cfg.backup.repository_path()) == "absent":
        services.emit({"event": "backup", "snapshot": None})
        return
    try:
        secret: Secret = service.passphrase(cfg, prompt=services.prompt)
    except ConfigError:
        if not services.by_agent:
            raise
        # In the agent nobody can type it, and it must never travel over the channel.
        raise ConfigError(
            _(
                "The running agent cannot back up before this mass delete: it has no backup "
                "passphrase (the vault's `backup` entry, or [backup] key_file). Store it with "
                "`hoso vault set backup`, then run the command again. Nothing was deleted."
            )
        ) from None
    made = service.backup(cfg, service.open_repository(cfg, secret), tags=["before-mass-delete"])
    services.emit({"event": "backup", "snapshot": made.snapshot, "files": made.files})


def trash_restore(services: Services, args: Mapping[str, Any]) -> Answer:
    """Put a trash item back where it was (`hoso trash restore ID`)."""
    from . import trash

    restored = trash.restore(services.config, services.journal, _trash_item(args))
    return Answer({"path": restored}, changed=True)


def school_trash_restore(services: Services, args: Mapping[str, Any]) -> Answer:
    """Put an item of the school folder's trash back (`hoso trash restore --school ID`): a
    school file deleted on the share, back in the school folder (its next pass uploads it),
    or one deleted here, back on the share through the school folder's own login."""
    from . import trash

    syncer = services.school_syncer
    item = _trash_item(args)
    restored = trash.restore(syncer.config, syncer.journal, item, connection=lambda: syncer.remote)
    return Answer({"path": restored}, changed=True)


def _trash_item(args: Mapping[str, Any]) -> int:
    item = args.get("item")
    if set(args) - {"item"} or not isinstance(item, int) or isinstance(item, bool):
        raise UsageError(_("trash.restore takes the number of one trash item."))
    return item


def backup_restore(services: Services, args: Mapping[str, Any]) -> Answer:
    """Put a file or folder the teacher's page took out of a backup (agent/backup/putback.py:
    staged, verified) into the records folder, beside the current one or in its place (what
    it replaces goes to the trash first). No passphrase: the copy is already out."""
    from .backup import putback

    names = ("staged", "path", "how", "day")
    if set(args) != set(names) or not all(isinstance(args[n], str) for n in names):
        raise UsageError(_("backup.restore takes a staged copy, its path, how and the day."))
    done = putback.put_back(
        services.config,
        services.journal,
        args["staged"],
        args["path"],
        how=args["how"],
        label=args["day"],
    )
    return Answer(done.to_json(), changed=not done.unchanged)
def conflict_resolve(services: Services, args: Mapping[str, Any]) -> Answer:
    """Keep one version of a conflicted record, or both (the teacher's page; agent/conflicts.py):
    the other goes to the trash; the agent syncs the result right away."""
    from . import conflicts

    done = conflicts.resolve(services.config, services.journal, conflicts.Request.from_args(args))
    return Answer(done, changed=True)


Handler = Callable[[Services, Mapping[str, Any]], Answer]

HANDLERS: dict[str, Handler] = {
    "sync": sync,
    "trash.restore": trash_restore,
    "school.sync": school_sync,
    "school.trash.restore": school_trash_restore,
    "backup.restore": backup_restore,
    "conflict.resolve": conflict_resolve,
}


def execute(services: Services, name: str, args: Mapping[str, Any]) -> Answer:
    handler = HANDLERS.get(name)
    if handler is None:
        raise UnknownRequest(_("There is no request {name}.").format(name=name))
    return handler(services, args)


def serve(
    call: channel.Call, services: Services, done: Callable[[Answer], None] = lambda answer: None
) -> None:
    """Carry out a request a command handed to the running agent and answer it; ``done``
    (the agent's bookkeeping after a pass) runs before the command is answered."""
    try:
        answer = execute(services, call.name, call.args)
    except UnknownRequest as exc:
        call.fail(str(exc), int(exc.exit_code), "unknown_request")
        return
    except HosoError as exc:
        log.info("request %s: %s", call.name, exc)
        call.fail(str(exc), int(exc.exit_code))
        return
    except Exception:  # a bug in one request must not stop the agent
        log.exception("request %s failed", call.name)
        call.fail(_("Unexpected error in the agent (a bug in hoso); see its log."), 1)
        return
    done(answer)
    log.info("request %s carried out", call.name)
    call.answer(answer.result)


# --- the command's side --------------------------------------------------------------------------


def carry_out(
    config: Config,
    name: str,
    args: dict[str, Any],
    *,
    emit: Emit,
    prompt: Prompt | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Run request ``name`` here when no agent runs, else have the running agent run it."""
    start = clock()
    unanswered_since: float | None = None  # the lock holder first did not take the request
    while True:
        lock = InstanceLock(config.state_dir)
        try:
            lock.acquire()
        except AlreadyRunning as busy:
            try:
                answered = channel.ask(
                    config.state_dir,
                    name,
                    args,
                    on_event=emit,
                    deadline=start + ANSWER_DEADLINE,
                    clock=clock,
                )
            except AgentGone:
                answered = None  # a command at work, an older agent, or one starting or stopping
            if isinstance(answered, dict):
                return answered
            if answered is not None and answered.code != "stopping":
                raise _failure(answered, busy.pid) from None
            unanswered_since = clock() if unanswered_since is None else unanswered_since
            if clock() - unanswered_since >= STARTING_GRACE:
                raise AlreadyRunning(_busy_message(config, busy.pid), busy.pid) from None
            sleep(0.5)
            continue
        try:
            services = Services(config, emit=emit, prompt=prompt)
            try:
                return execute(services, name, args).result
            finally:
                services.close()
        finally:
            lock.release()


def _failure(failure: channel.Failure, pid: int | None) -> HosoError:
    if failure.code == "unknown_request":
        return UsageError(
            _(
                "The running agent (process {pid}) is from an older hoso and cannot do this "
                "({detail}). Restart it: `systemctl --user restart hoso-agent`."
            ).format(pid=pid or "?", detail=failure.message)
        )
    try:
        code = ExitCode(failure.exit_code)
    except ValueError:
        code = ExitCode.PARTIAL
    return AgentAnswered(failure.message, code)


def _busy_message(config: Config, pid: int | None) -> str:
    return _(
        "Another hoso program (process {pid}) is working on the state folder {state_dir} and "
        "takes no requests: a `hoso sync` or `hoso trash restore` still at work, or an agent "
        "of an older hoso. Try again when it has finished; an agent service of an older hoso "
        "is restarted with `systemctl --user restart hoso-agent`."
    ).format(pid=pid or "?", state_dir=config.state_dir)


def report_of(result: dict[str, Any]) -> Report:
    """The report in a sync request's result."""
    return Report.from_json(result["report"])
