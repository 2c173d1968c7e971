"""Encryption at rest for secrets Claybridge must use again (signing secrets).

Tokens and API keys are only ever compared, so they are stored as hashes; a signing
secret has to be read back to compute an HMAC, so it is encrypted instead, with Fernet
(AES-128-CBC + HMAC-SHA256, from ``cryptography``). Stored form: ``enc:v1:<token>``.

The key comes from ``CLAYBRIDGE_SECRET_KEY`` (a Fernet key: 32 url-safe base64 bytes),
or from ``<data_dir>/secret.key``, created on first use with owner-only permissions.
Losing the key makes stored secrets unreadable: back it up with the database.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

PREFIX = "enc:v1:"


class SecretBox:
    """Encrypts and decrypts secret strings with one key.

    ``key`` may be a function returning it: the key is then loaded (or its file created)
    on first use, so servers whose sources sign nothing never touch it.
    """

    def __init__(self, key: bytes | Callable[[], bytes]) -> None:
        self._key = key
        self._cached: Fernet | None = None

    @property
    def _fernet(self) -> Fernet:
        if self._cached is None:
            self._cached = Fernet(self._key() if callable(self._key) else self._key)
        return self._cached

    def encrypt(self, plaintext: str) -> str:
        """The stored form of ``plaintext``; already-encrypted values pass through."""
        if plaintext.startswith(PREFIX):
            return plaintext
        return PREFIX + self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, stored: str) -> str:
        """The plaintext of a stored value; :class:`ValueError` if the key does not fit."""
        if not stored.startswith(PREFIX):
            return stored
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise ValueError(
                "a stored secret cannot be decrypted: CLAYBRIDGE_SECRET_KEY or "
                "secret.key is not the key it was encrypted with"
            ) from None


def load_key(data_dir: Path, env_key: str | None) -> bytes:
    """The configured key, or the data directory's, created (mode 0600) if missing."""
    if env_key:
        return env_key.encode()
    path = data_dir / "secret.key"
    if path.exists():
        return path.read_bytes().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


MASK = "********"
