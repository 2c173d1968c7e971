"""Who is signed in to the console: the session cookie, roles and CSRF tokens.

* The cookie holds a 256-bit random token (the database keeps its hash): HttpOnly,
  SameSite=Strict, ``Secure`` when the request came over HTTPS (directly or through a
  proxy that says so in ``X-Forwarded-Proto``), limited to ``/ui``, and it lasts
  :data:`SESSION_LIFETIME`; signing out ends it at once.
* Every state-changing request (POST) carries the session's CSRF token, in a form field
  ``csrf_token`` or the ``X-CSRF-Token`` header, compared in constant time; a missing or
  wrong one is 403 ``csrf_failed``.
* A ``viewer`` session can read everything and change nothing (403 ``forbidden``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from claybridge.errors import ClaybridgeError, Forbidden
from claybridge.records import api_keys, console
from claybridge.state import AppState

COOKIE = "claybridge_session"
SESSION_LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class ConsoleUser:
    """The signed-in session behind a console request."""

    session_id: str
    role: str
    csrf_token: str
    opened_by: str

    @property
    def can_change(self) -> bool:
        """Whether this session may change anything (an ``admin``)."""
        return self.role == api_keys.ADMIN


class SignInRequired(Exception):
    """No live session: the console answers with a redirect to its sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def sign_in_redirect(exc: SignInRequired) -> RedirectResponse:
    """Where a request without a session goes."""
    return RedirectResponse(f"/ui/login?next={quote(exc.next_path)}", status_code=303)


def current_user(request: Request) -> ConsoleUser:
    """The console user of ``request`` (a dependency); :class:`SignInRequired` if none."""
    state: AppState = request.app.state.claybridge
    token = request.cookies.get(COOKIE)
    found = None
    if token:
        with state.db.read() as conn:
            found = console.live_session(conn, token, state.clock.now())
    if found is None:
        raise SignInRequired(request.url.path)
    return ConsoleUser(found["id"], found["role"], found["csrf_token"], found["opened_by"])


def is_https(request: Request) -> bool:
    """Whether the browser reached Claybridge over HTTPS (a proxy may say so)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip()
    return request.url.scheme == "https" or forwarded == "https"


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    """Attach the session cookie (see the module docstring)."""
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    """Remove the session cookie."""
    response.delete_cookie(
        COOKIE, path="/ui", httponly=True, samesite="strict", secure=is_https(request)
    )


async def form_fields(request: Request) -> dict[str, str]:
    """A URL-encoded form's fields (the last value of each)."""
    body = (await request.body()).decode("utf-8", "replace")
    return {name: values[-1] for name, values in parse_qs(body).items()}


async def checked_form(
    request: Request, user: ConsoleUser, *, change: bool = True
) -> dict[str, str]:
    """The form of a state-changing request, once its CSRF token is checked and, when it
    ``change``s something (not a sign-out), the session's role."""
    fields = await form_fields(request)
    presented = request.headers.get("x-csrf-token") or fields.get("csrf_token", "")
    if not secrets.compare_digest(presented.encode(), user.csrf_token.encode()):
        raise ClaybridgeError(
            "the form's CSRF token is missing or wrong; reload the page and try again",
            code="csrf_failed",
            status_code=403,
        )
    if change and not user.can_change:
        raise Forbidden(f"this session's role is {user.role}: it can read, not change")
    return fields
