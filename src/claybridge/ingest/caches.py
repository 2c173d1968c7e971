"""What ingest remembers from one request to the next, owned by the running app
(:class:`claybridge.state.AppState`) rather than by module globals, so two apps in one
process (the tests run many) never share it.

A source's compiled configuration is keyed by its last update, so a saved change
applies to the next request.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from claybridge.actions.plan import CompiledConfig, compile_config
from claybridge.mapping.model import parse_config
from claybridge.records import sources
from claybridge.records.sources import Source
from claybridge.secretbox import SecretBox

KEPT = 1000  # entries each cache keeps before it starts over


@dataclass
class IngestCaches:
    """Compiled source configurations."""

    compiled: dict[tuple[str, Any], CompiledConfig] = field(default_factory=dict)

    def compiled_config(self, source: Source, box: SecretBox | None = None) -> CompiledConfig:
        """The source's compiled configuration, cached per (source, last update): the key
        changes whenever the source is saved, so an edited mapping applies to the next
        request at once. Signing secrets are decrypted once and kept in memory only."""
        key = (source.id, source.updated_at)
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
