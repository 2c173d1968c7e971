"""Source templates: what a new source does and the Clay column setup to paste.

A template names the action a source runs and the JSON body template for Clay's HTTP
API column, with ``{{Column Name}}`` placeholders the user adjusts to their table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Template:
    """A source template."""

    name: str
    description: str
    action: str
    body_template: str


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template(
            name="clay-customers",
            description="Create or update a customer per account row (matched on website domain).",
            action="upsert_customer",
            body_template=(
                '{"name": "{{Company Name}}", "websiteUrl": "{{Domain}}", '
                '"owner": "{{Account Owner}}", "stage": "{{Status}}", "arr": "{{ACV}}", '
                '"renewalDate": "{{Renewal Date}}"}'
            ),
        ),
    )
}

DEFAULT_TEMPLATE = "clay-customers"


def column_setup(url: str, token: str | None, template: Template) -> dict[str, object]:
    """The Clay HTTP API column settings for a source, as data.

    ``token`` is ``None`` when it is no longer known (it is shown only once).
    """
    bearer = f"Bearer {token}" if token else "Bearer <your source token>"
    return {
        "method": "POST",
        "url": url,
        "headers": {"Authorization": bearer, "Content-Type": "application/json"},
        "body": template.body_template,
    }


def column_setup_text(url: str, token: str | None, template: Template) -> str:
    """The same setup as step-by-step text for a terminal."""
    setup = column_setup(url, token, template)
    headers = setup["headers"]
    assert isinstance(headers, dict)
    return "\n".join(
        [
            "In your Clay table, add an HTTP API column and set:",
            f"  Method:  {setup['method']}",
            f"  URL:     {setup['url']}",
            f"  Header:  Authorization: {headers['Authorization']}",
            "  Body (adjust the {{placeholders}} to your column names):",
            f"    {setup['body']}",
            "Run it on one test row first: the cell shows Claybridge's answer.",
        ]
    )
