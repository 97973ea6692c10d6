"""The audit log: who changed what, when, with the before and after. Rows are only ever added."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from .models import AuditLog

PAGE_SIZE = 100


class AuditLogIsAppendOnly(RuntimeError):
    """Raised when code tries to change or delete an audit row."""


@event.listens_for(AuditLog, "before_update")
@event.listens_for(AuditLog, "before_delete")
def _refuse_changes(_mapper, _connection, target: AuditLog) -> None:
    """Audit rows are written once; no code path in the app may change or delete one."""
    raise AuditLogIsAppendOnly(f"Audit row {target.id} can't be changed or deleted.")


@dataclass(frozen=True)
class Actor:
    """The person making a change and where from, as every audited domain function receives it."""

    user_id: int | None
    ip_address: str | None = None


def plain(value: Any) -> Any:
    """A JSON-safe copy of a value (enums as their strings, dates as ISO text)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def snapshot(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """The named attributes of a record, ready to store as a before or after."""
    return {name: plain(getattr(obj, name)) for name in fields}


def record(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: int | str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLog:
    """Add one audit row in the caller's transaction; only the fields that changed are kept."""
    if before is not None and after is not None:
        changed = [k for k in after if before.get(k) != after.get(k)]
        before = {k: before[k] for k in changed if k in before}
        after = {k: after[k] for k in changed}
    row = AuditLog(
        user_id=actor.user_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=plain(before) if before is not None else None,
        after=plain(after) if after is not None else None,
        ip_address=actor.ip_address,
    )
    session.add(row)
    session.flush()
    return row


def browse(
    session: Session,
    *,
    user_id: int | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    action: str | None = None,
    older_than_id: int | None = None,
) -> list[AuditLog]:
    """One page of audit rows, newest first, filtered by person, kind of record, record or action."""
    query = select(AuditLog).order_by(AuditLog.id.desc()).limit(PAGE_SIZE)
    if user_id is not None:
        query = query.where(AuditLog.user_id == user_id)
    if object_type:
        query = query.where(AuditLog.object_type == object_type)
    if object_id:
        query = query.where(AuditLog.object_id == object_id)
    if action:
        query = query.where(AuditLog.action == action)
    if older_than_id is not None:
        query = query.where(AuditLog.id < older_than_id)
    return list(session.scalars(query))


def history(session: Session, object_type: str, object_id: int | str) -> list[AuditLog]:
    """Every audit row about one record, oldest first (shown on the record's own page)."""
    return list(
        session.scalars(
            select(AuditLog)
            .where(AuditLog.object_type == object_type, AuditLog.object_id == str(object_id))
            .order_by(AuditLog.id)
        )
    )
