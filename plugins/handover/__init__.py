"""Handover: the school mailbox account passes from one keeper to the next, safely and on record.

A built-in hoso plugin. It adds ``hoso handover keygen / prepare / accept / confirm / status /
history``: the account travels sealed for the receiver's key and signed by the giver, the
minutes ("biên bản bàn giao") are written for signing, and every step goes into a hash-chained
log in the school folder (the records folder on a computer without one) that the share
carries to both keepers and the principal (only entries signed by the school's known keeper
keys count: see trust.py). Its scheduled job moves the log an earlier version kept in the
records folder to the school folder (moving.py), removes the giver's copy once the receiver's
password change reaches the giver's computer, and reminds the receiver, once a day, until
that change is confirmed.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from agent.api import (
    Config,
    _,
    literal_pattern,
    school_folder,
)
from agent.hooks import Job, JobContext, LazyCommand, Notification, hookimpl

logger = logging.getLogger(__name__)
JOB_EVERY = 600.0  # seconds: the log arrives with a sync pass; no need to look more often


@hookimpl
def hoso_commands() -> list[LazyCommand]:
    """Named here, imported only when run (`hoso --help` lists them from this)."""
    return [
        LazyCommand(
            "handover",
            "Hand the school mailbox account to the next keeper, with signed-off minutes.",
            "plugins.handover.commands:handover",
        ),
    ]


@hookimpl
def hoso_scheduled_jobs(config: Config) -> list[Job]:
    # The receiver's confirmation arrives through the school folder: acted on at once.
    return [Job("handover", JOB_EVERY, run_job, after_school_change=True)]


@hookimpl
def hoso_own_files(config: Config) -> list[str]:
    """The handover log, and a sealed bundle saved anywhere in the records folder, sync but
    are no records to check (the minutes are one: they are checked)."""

    from .bundle import SUFFIX
    from .names import FOLDER, STEM

    return [f"{literal_pattern(FOLDER)}/{STEM}*.jsonl", f"*{SUFFIX}"]


def run_job(context: JobContext) -> None:
    """Remove a handed-over copy whose password change is logged; remind a receiver who has
    not confirmed the password change (the notification key changes daily: once a day)."""
    from . import keys, service
    from .moving import move_earlier_logs

    config = context.config
    moved = move_earlier_logs(config)
    for problem in moved.failed:  # tried again on the next run; `history` shows divergence
        logger.warning("%s", problem)
    vault = service.open_vault_quietly(config, prompt=None)
    if vault is None or service.log_home_or_none(config) is None:
        return
    released = service.release_given_copy(config, vault)
    if released is not None:
        context.notify(
            Notification(
                key=f"handover:removed:{released.bundle}",
                title=_("School mailbox handed over"),
                page="/handover/",
                body=service.removed_message(released),
            )
        )
    mine = keys.load(vault)
    if mine is None:
        return
    day = date.fromtimestamp(context.now).isoformat()
    entries = service.read_log(config, mine).log.entries
    for handover in service.waiting_for_confirmation(entries, mine):
        context.notify(
            Notification(
                key=f"handover:reminder:{handover.bundle}:{day}",
                title=_("Change the school mailbox password"),
                page="/handover/",
                body=service.reminder_message(handover),
                urgent=True,
            )
        )


@hookimpl
def hoso_status_notes(config: Config) -> list[str]:
    """On a keeper's computer: the handover it accepted whose password change is not confirmed
    yet, and a log that does not verify (a forged or damaged entry)."""
    from .names import log_files

    school = school_folder(config)
    if not any(log_files(root) for root in (config.root, school) if root is not None):
        return []  # no handover here yet: nothing to tell, and the vault stays closed
    from . import keys, service

    vault = service.open_vault_quietly(config, prompt=None)
    mine = keys.load(vault) if vault is not None else None
    if mine is None or service.log_home_or_none(config) is None:
        return []
    log = service.read_log(config, mine).log
    notes = [
        service.reminder_message(handover)
        for handover in service.waiting_for_confirmation(log.entries, mine)
    ]
    if not log.verified:
        notes.append(
            _(
                "The school mailbox handover log does not verify ({count} problems): see "
                "`hoso handover history`."
            ).format(count=len(log.problems))
        )
    return notes


@hookimpl
def hoso_web_pages(config: Config) -> list[Any]:
    """The handover's steps and where it stands here (read only), on the teacher's page."""
    from .page import PAGE

    return [PAGE]
