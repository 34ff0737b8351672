"""A local HTTP server on 127.0.0.1 that serves weight files (the ``server`` fixture of tests/features)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FileServer:
    """A local HTTP server: ``routes`` maps a path to (body, declared length); ``requests`` logs paths."""

    base_url: str
    routes: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def serve(self, name: str, body: bytes, declared_length: int | None = None) -> str:
        """Serve ``body`` at ``/name`` (declaring ``declared_length`` bytes if given); return its URL."""
        self.routes["/" + name] = (body, len(body) if declared_length is None else declared_length)
        return f"{self.base_url}/{name}"
