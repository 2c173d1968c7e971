"""What ingest remembers from one request to the next, owned by the running app
(:class:`claybridge.state.AppState`) rather than by module globals, so two apps in one
process (the tests run many) never share it.

Each is only a speed-up, never trusted on its own: a source's compiled configuration
is keyed by its last update, the last-seen source versions only guide planning ahead
(the batch reads the source again), and a token verified ahead is verified again in
the batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from claybridge.mapping.engine import CompiledConfig, compile_config
from claybridge.mapping.model import parse_config
from claybridge.records import sources
from claybridge.secretbox import SecretBox

KEPT = 1000  # entries each cache keeps before it starts over


@dataclass
class IngestCaches:
    """Compiled configurations, the last-seen version of each source, and the
    ``Authorization`` values verified ahead of their batch."""

    compiled: dict[tuple[str, Any], CompiledConfig] = field(default_factory=dict)
    seen: dict[str, dict[str, Any]] = field(default_factory=dict)
    verified_ahead: set[tuple[str, str]] = field(default_factory=set)

    def compiled_config(
        self, source: dict[str, Any], box: SecretBox | None = None
    ) -> CompiledConfig:
        """The source's compiled configuration, cached per (source, last update): the key
        changes whenever the source is saved, so an edited mapping applies to the next
        request at once. Signing secrets are decrypted once and kept in memory only."""
        key = (source["id"], source["updated_at"])
        found = self.compiled.get(key)
        if found is None:
            if len(self.compiled) > KEPT:
                self.compiled.clear()
            found = compile_config(parse_config(sources.config_data(source)))
            if found.signature_secrets:
                if box is None:
                    raise RuntimeError("signing secrets need a SecretBox to decrypt them")
                clear = tuple(box.decrypt(s) for s in found.signature_secrets)
                found = replace(found, signature_secrets=clear)
            self.compiled[key] = found
        return found

    def saw(self, key: str, source: dict[str, Any]) -> None:
        """Remember the version of a source a batch read (what planning ahead uses)."""
        if len(self.seen) >= KEPT:
            self.seen.clear()
        self.seen[key] = source

    def verified(self) -> set[tuple[str, str]]:
        """The set planning ahead records verified tokens in (bounded)."""
        if len(self.verified_ahead) > KEPT:
            self.verified_ahead.clear()
        return self.verified_ahead
