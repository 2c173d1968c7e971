"""Talking to Clay: the SDK (:mod:`claybridge.clay.client`), Clay table destinations'
sending rules, and a faithful local imitation of a Clay table webhook for tests and
local development (:mod:`claybridge.clay.imitation`)."""

from claybridge.clay.client import (
    ClayClient,
    ClayError,
    ClayWebhookError,
    ClayWebhookExhaustedError,
    CompanyEnrichment,
    PersonEnrichment,
    SendResult,
    SyncClayClient,
)

__all__ = [
    "ClayClient",
    "ClayError",
    "ClayWebhookError",
    "ClayWebhookExhaustedError",
    "CompanyEnrichment",
    "PersonEnrichment",
    "SendResult",
    "SyncClayClient",
]
