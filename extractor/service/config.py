"""What a service is told at start: where its data lives, who may call it, and its limits.

Tokens come from ``EXTRACTOR_API_TOKENS`` (comma-separated) and are never shown in a
``repr``. A service that listens beyond the loopback interface without tokens is refused:
anyone on the network could spend the provider's money and read every document.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from extractor.errors import ConfigError
from extractor.settings import Settings

__all__ = ["TOKENS_VARIABLE", "ServiceConfig", "is_loopback", "tokens_from"]

TOKENS_VARIABLE = "EXTRACTOR_API_TOKENS"
_MIB = 1 << 20


def tokens_from(value: str | None) -> tuple[str, ...]:
    """The tokens in a comma-separated ``EXTRACTOR_API_TOKENS`` value (blanks dropped)."""
    return tuple(token.strip() for token in (value or "").split(",") if token.strip())


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name or 0.0.0.0: reachable from elsewhere


@dataclass(frozen=True)
class ServiceConfig:
    """How ``extractor serve`` runs.

    Attributes:
        data: folder for uploads, job records, corrections and the page-image cache.
        settings: the job settings (provider, model, mode, limits) every document uses.
        tokens: bearer tokens; empty means no authentication (loopback only).
        host: the interface it listens on (checked against ``tokens``).
        max_upload_bytes: the largest file one upload may carry (413 beyond).
        max_files_per_job: files in one ``POST /v1/jobs`` (413 beyond).
        queue_limit: documents waiting for a slot, across all jobs and extract calls;
            past it new work gets 503 with ``Retry-After``.
        render_dpi: resolution of the page images on the review page.
        render_max_pages: pages shown per document on the review page.
    """

    data: Path
    settings: Settings = field(default_factory=Settings)
    tokens: tuple[str, ...] = field(default=(), repr=False)
    host: str = "127.0.0.1"
    max_upload_bytes: int = 50 * _MIB
    max_files_per_job: int = 1000
    queue_limit: int = 10_000
    render_dpi: int = 100
    render_max_pages: int = 30

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", Path(self.data))
        for name in ("max_upload_bytes", "max_files_per_job", "queue_limit", "render_dpi",
                     "render_max_pages"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if self.queue_limit < self.max_files_per_job:
            raise ConfigError(
                f"the queue limit ({self.queue_limit}) must hold at least one whole job "
                f"({self.max_files_per_job} files)"
            )
        if not self.tokens and not is_loopback(self.host):
            raise ConfigError(
                f"refusing to listen on {self.host} without {TOKENS_VARIABLE}: anyone who can "
                "reach it could spend the provider's money and read every document; set "
                f"{TOKENS_VARIABLE}=token1,token2 or listen on 127.0.0.1"
            )
