"""``claybridge destinations …`` and ``claybridge deliveries …``: what goes out."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from claybridge.cli.common import (
    box,
    clock,
    console,
    database,
    print_json,
    print_table,
    read_text,
    table,
)
from claybridge.delivery.sender import send_test
from claybridge.errors import InvalidField
from claybridge.records import clay, destinations, targets
from claybridge.records.destinations import Destination
from claybridge.views.destinations import destination_json
from claybridge.web.outbound_api import SAMPLE

app = typer.Typer(
    help="Destinations: HTTP endpoints and Slack webhooks deliveries go to.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Headers = Annotated[
    list[str] | None,
    typer.Option("--header", "-H", help="'Name: value' (repeatable; stored encrypted)."),
]


def _headers(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise InvalidField(f"--header {item!r} must look like 'Name: value'", field="header")
        out[name.strip()] = value.strip()
    return out


def _template(text: str | None, file: Path | None) -> str | None:
    if file is not None:
        return read_text(file)
    return text


def _show(row: Destination, secret: str | None, as_json: bool, cfg: Any, pool: Any = None) -> None:
    shown = destination_json(row, box(cfg), pool)
    if as_json:
        print_json({"destination": shown, **({"signing_secret": secret} if secret else {})})
        return
    if row.kind == "clay":
        console.print(f"[bold]{shown['name']}[/bold] (clay) {shown['id']}: {shown['status']}")
        for hook in shown["config"]["webhooks"]:
            console.print(
                f"  webhook {hook['position']}: {hook['webhook_url']} {hook['status']}, "
                f"{hook['submissions']:,}/{hook['submission_limit']:,}"
                + (f" ({hook['warning']})" if hook["warning"] else ""),
                highlight=False,
                markup=False,
            )
        return
    console.print(f"[bold]{shown['name']}[/bold] ({shown['kind']}) {shown['id']}", highlight=False)
    keys = ("url", "method", "status", "timeout_seconds", "rate_limit", "concurrency", "alerts")
    for key in keys:
        console.print(f"  {key}: {shown[key]}", highlight=False)
    circuit = shown["circuit"]
    console.print(
        f"  circuit: {circuit['state']} ({circuit['consecutive_failures']} failures in a row, "
        f"opens at {circuit['threshold']})",
        highlight=False,
    )
    for name, value in shown["headers"].items():
        console.print(f"  header {name}: {value}", highlight=False)
    if shown["template"]:
        console.print(f"  template: {shown['template']}", highlight=False, markup=False)
    if secret:
        console.print(
            f"  signing secret (shown once; receivers verify Standard Webhooks with it): {secret}",
            highlight=False,
        )


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Unique name mappings refer to.")],
    url: Annotated[str, typer.Option("--url", help="Where to send (stored encrypted).")],
    kind: Annotated[
        str, typer.Option("--kind", help="http, slack, or clay (a Clay table's webhook).")
    ] = "http",
    method: Annotated[str, typer.Option("--method")] = "POST",
    header: Headers = None,
    template: Annotated[str | None, typer.Option("--template", help="Jinja2 body.")] = None,
    template_file: Annotated[Path | None, typer.Option("--template-file", dir_okay=False)] = None,
    sign: Annotated[bool, typer.Option("--sign", help="Sign with Standard Webhooks.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds.")] = 10.0,
    rate_limit: Annotated[float | None, typer.Option("--rate-limit", help="Per second.")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency")] = 10,
    retry_schedule: Annotated[
        str | None, typer.Option("--retry-schedule", help="e.g. 0,5s,5m,30m,2h")
    ] = None,
    circuit_threshold: Annotated[int, typer.Option("--circuit-threshold")] = 10,
    circuit_cooldown: Annotated[str, typer.Option("--circuit-cooldown")] = "60s",
    auth_header_name: Annotated[
        str | None, typer.Option("--auth-header-name", help="clay: e.g. x-clay-webhook-auth")
    ] = None,
    auth_header_value: Annotated[
        str | None, typer.Option("--auth-header-value", help="clay: stored encrypted")
    ] = None,
    workspace: Annotated[
        str | None, typer.Option("--workspace", help="clay: rate-limit group")
    ] = None,
    workspace_rate: Annotated[float | None, typer.Option("--workspace-rate")] = None,
    callback_source: Annotated[
        str | None, typer.Option("--callback-source", help="clay: the clay-callback source")
    ] = None,
    callback_timeout: Annotated[str | None, typer.Option("--callback-timeout")] = None,
    submission_limit: Annotated[
        int | None,
        typer.Option("--submission-limit", help="clay: rows the webhook takes (Clay: 50,000)."),
    ] = None,
    alerts: Annotated[
        bool, typer.Option("--alerts", help="http/slack: send Claybridge's alerts here too.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a destination: http, slack, or clay (a Clay table webhook; --url is its
    webhook URL). The URL is checked against the SSRF guard."""
    data: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "url": url,
        "method": method.upper(),
        "headers": _headers(header),
        "template": _template(template, template_file),
        "signing_secret": "generate" if sign else None,
        "timeout_seconds": timeout,
        "rate_limit": rate_limit,
        "concurrency": concurrency,
        "circuit_threshold": circuit_threshold,
        "circuit_cooldown": circuit_cooldown,
        "alerts": alerts,
    }
    if retry_schedule:
        data["retry_schedule"] = retry_schedule
    if kind == "clay":
        options = {
            "workspace": workspace,
            "workspace_rate": workspace_rate,
            "callback_source": callback_source,
            "callback_timeout": callback_timeout,
            "submission_limit": submission_limit,
        }
        data.update(
            auth_header_name=auth_header_name,
            auth_header_value=auth_header_value,
            clay={k: v for k, v in options.items() if v is not None},
            signing_secret=None,
        )
    with database() as (cfg, db), db.write() as conn:
        row, secret = destinations.create(conn, data, clock.now(), box(cfg), cfg.allowed_networks)
        pool = clay.webhooks(conn, row.id)
    _show(row, secret, as_json, cfg, pool)


@app.command("update")
def update(
    ref: Annotated[str, typer.Argument(help="Id or name.")],
    file: Annotated[
        Path | None, typer.Option("--file", dir_okay=False, help="YAML/JSON with fields to change.")
    ] = None,
    url: Annotated[str | None, typer.Option("--url")] = None,
    header: Headers = None,
    template: Annotated[str | None, typer.Option("--template")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout")] = None,
    rate_limit: Annotated[float | None, typer.Option("--rate-limit")] = None,
    concurrency: Annotated[int | None, typer.Option("--concurrency")] = None,
    retry_schedule: Annotated[str | None, typer.Option("--retry-schedule")] = None,
    alerts: Annotated[
        bool | None, typer.Option("--alerts/--no-alerts", help="Send alerts here, or stop.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a destination's settings (unchanged secrets stay as stored)."""
    changes: dict[str, Any] = {}
    if file is not None:
        loaded = yaml.safe_load(read_text(file))
        if not isinstance(loaded, dict):
            raise InvalidField(f"{file} must hold a mapping of fields to change", field="file")
        changes.update(loaded)
    options = {
        "url": url,
        "template": template,
        "timeout_seconds": timeout,
        "rate_limit": rate_limit,
        "concurrency": concurrency,
        "retry_schedule": retry_schedule,
        "alerts": alerts,
    }
    changes.update({k: v for k, v in options.items() if v is not None})
    with database() as (cfg, db), db.write() as conn:
        if header:
            current = destinations.spec_of(destinations.find(conn, ref))["headers"]
            changes["headers"] = {**current, **_headers(header)}
        row, secret = destinations.update(
            conn, ref, changes, clock.now(), box(cfg), cfg.allowed_networks
        )
    _show(row, secret, as_json, cfg)


@app.command("list")
def list_(as_json: JsonFlag = False) -> None:
    """List destinations."""
    with database() as (cfg, db), db.read() as conn:
        rows = [
            destination_json(r, box(cfg), clay.webhooks(conn, r.id))
            for r in destinations.list_all(conn)
        ]
    if as_json:
        print_json({"data": rows})
        return
    out = table("name", "kind", "url", "status", "circuit")
    for r in rows:
        url = r["url"] if "url" in r else r["config"]["webhook_url"] or ""
        out.add_row(r["name"], r["kind"], url, r["status"], r["circuit"]["state"])
    print_table(out)


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="Id or name.")], as_json: JsonFlag = False
) -> None:
    """Show one destination (secrets masked)."""
    with database() as (cfg, db), db.read() as conn:
        row = destinations.find(conn, ref)
        pool = clay.webhooks(conn, row.id)
    _show(row, None, as_json, cfg, pool)


@app.command("add-webhook")
def add_webhook(
    ref: Annotated[str, typer.Argument(help="The Clay destination (id or name).")],
    url: Annotated[str, typer.Option("--url", help="The new webhook's URL (from Clay).")],
    auth_header_name: Annotated[str | None, typer.Option("--auth-header-name")] = None,
    auth_header_value: Annotated[str | None, typer.Option("--auth-header-value")] = None,
    submission_limit: Annotated[int | None, typer.Option("--submission-limit")] = None,
) -> None:
    """Add a webhook to a Clay destination's pool (used when the ones before it are spent)."""
    from claybridge.clay import submit as clay_submit
    from claybridge.core.ssrf import check_url

    with database() as (cfg, db), db.write() as conn:
        dest = destinations.find(conn, ref)
        opts = clay_submit.options(dest)
        clay.add_webhook(
            conn,
            dest.id,
            check_url(url, cfg.allowed_networks, field="url"),
            auth_header_name=auth_header_name,
            auth_header_value=auth_header_value,
            submission_limit=submission_limit or opts.submission_limit,
            now=clock.now(),
            box=box(cfg),
        )
        pool = clay.webhooks(conn, dest.id)
    _show(dest, None, False, cfg, pool)


@app.command("pause")
def pause(ref: Annotated[str, typer.Argument(help="Id or name.")]) -> None:
    """Stop sending to a destination; its deliveries wait."""
    with database() as (_cfg, db), db.write() as conn:
        row = destinations.set_enabled(conn, ref, False, clock.now())
    console.print(f"Paused {row.name}; its deliveries wait until it is resumed.")


@app.command("resume")
def resume(ref: Annotated[str, typer.Argument(help="Id or name.")]) -> None:
    """Send to a destination again (closes an open circuit too)."""
    with database() as (_cfg, db), db.write() as conn:
        row = destinations.set_enabled(conn, ref, True, clock.now())
    console.print(f"Resumed {row.name}.")


@app.command("delete")
def delete(
    ref: Annotated[str, typer.Argument(help="Id or name.")],
    force: Annotated[
        bool,
        typer.Option("--force", help="Delete even with unsent deliveries, or while in use."),
    ] = False,
) -> None:
    """Delete a destination and its delivery history (refused while deliveries wait or
    a mapping or workflow uses it)."""
    with database() as (_cfg, db), db.write() as conn:
        row = destinations.delete(conn, ref, force=force)
    console.print(f"Deleted {row.name}.")


@app.command("test")
def trial_send(
    ref: Annotated[str, typer.Argument(help="Id or name.")],
    payload: Annotated[str | None, typer.Option("--payload", help="A JSON object.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Send one payload now (outside the queue) and print the receiver's answer."""
    import orjson

    data = orjson.loads(payload) if payload else dict(SAMPLE)
    with database() as (cfg, db):
        with db.read() as conn:
            target = targets.target(destinations.find(conn, ref), box(cfg))
        result = asyncio.run(
            send_test(target, data, cfg.allowed_networks, int(clock.now().timestamp()))
        )
    if as_json:
        print_json(result)
    else:
        console.print(
            f"{'ok' if result['ok'] else 'failed'}: {result['status_code'] or result['error']} "
            f"in {result['latency_ms']} ms",
            highlight=False,
        )
    if not result["ok"]:
        raise typer.Exit(1)
