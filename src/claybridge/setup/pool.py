"""A Clay destination's webhook pool as the setup file lists it: by position, each with
its URL, auth header and submission limit (a webhook's count is Claybridge's own
record of what Clay received, so the file never sets it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from claybridge.core.clay_rules import ClayOptions
from claybridge.core.ssrf import check_url
from claybridge.records import clay
from claybridge.records.destinations import Destination
from claybridge.secretbox import MASK

if TYPE_CHECKING:
    from claybridge.setup.apply import Context

KEYS = ("url", "auth_header_name", "auth_header_value", "submission_limit")


def _limit(hook: dict[str, Any], dest: Destination) -> int:
    default = ClayOptions.model_validate(dest.clay or {}).submission_limit
    return int(hook.get("submission_limit") or default)


def _stored(ctx: Context, row: dict[str, Any]) -> dict[str, Any]:
    value = row["auth_header_value"]
    return {
        "url": ctx.box.decrypt(row["url"]),
        "auth_header_name": row["auth_header_name"],
        "auth_header_value": ctx.box.decrypt(value) if value else None,
        "submission_limit": row["submission_limit"],
    }


def _wanted(
    hook: dict[str, Any], stored: dict[str, Any] | None, dest: Destination
) -> dict[str, Any]:
    """The file's webhook, a masked (unset) secret keeping the stored value."""
    out = {k: hook.get(k) for k in KEYS}
    out["submission_limit"] = _limit(hook, dest)
    for key in ("url", "auth_header_value"):
        if out[key] == MASK and stored is not None:
            out[key] = stored[key]
    return out


def extend(ctx: Context, dest: Destination, hooks: list[dict[str, Any]]) -> None:
    """After creating ``dest`` (with the first webhook), set the first one's limit and
    add the others."""
    if not hooks:
        return
    first = clay.webhooks(ctx.conn, dest.id)[0]
    if _limit(hooks[0], dest) != first["submission_limit"]:
        _update(ctx, dest, first, hooks[0])
    for hook in hooks[1:]:
        _add(ctx, dest, hook)


def differences(ctx: Context, dest: Destination, hooks: list[dict[str, Any]]) -> list[str]:
    """What syncing the pool would change, one line per field (secrets not shown)."""
    if dest.kind != "clay":
        return []
    current = clay.webhooks(ctx.conn, dest.id)
    lines = []
    for j, hook in enumerate(hooks):
        if j >= len(current):
            lines.append(f"webhooks[{j}]: + new webhook")
            continue
        stored = _stored(ctx, current[j])
        wanted = _wanted(hook, stored, dest)
        for key in KEYS:
            if stored[key] != wanted[key]:
                shown = (
                    "changed (secret)"
                    if key in ("url", "auth_header_value")
                    else (f"{stored[key]!r} -> {wanted[key]!r}")
                )
                lines.append(f"webhooks[{j}].{key}: {shown}")
    return lines


def sync(ctx: Context, dest: Destination, hooks: list[dict[str, Any]]) -> None:
    """Bring the pool in line with ``hooks``: change the listed positions, add new ones.
    Webhooks past the list stay (their counts are history)."""
    if dest.kind != "clay":
        return
    current = clay.webhooks(ctx.conn, dest.id)
    for j, hook in enumerate(hooks):
        if j >= len(current):
            _add(ctx, dest, hook)
        elif _stored(ctx, current[j]) != _wanted(hook, _stored(ctx, current[j]), dest):
            _update(ctx, dest, current[j], hook)


def _add(ctx: Context, dest: Destination, hook: dict[str, Any]) -> None:
    clay.add_webhook(
        ctx.conn,
        dest.id,
        check_url(hook["url"], ctx.allow, field="url"),
        auth_header_name=hook.get("auth_header_name"),
        auth_header_value=hook.get("auth_header_value"),
        submission_limit=_limit(hook, dest),
        now=ctx.now,
        box=ctx.box,
    )


def _update(ctx: Context, dest: Destination, row: dict[str, Any], hook: dict[str, Any]) -> None:
    wanted = _wanted(hook, _stored(ctx, row), dest)
    clay.update_webhook(
        ctx.conn,
        row["id"],
        check_url(wanted["url"], ctx.allow, field="url"),
        auth_header_name=wanted["auth_header_name"],
        auth_header_value=wanted["auth_header_value"],
        submission_limit=wanted["submission_limit"],
        box=ctx.box,
    )
