"""Page sizes for listings: the client's choice within the box's limit."""

from __future__ import annotations

from edge.errors import FieldProblem, InvalidInput
from edge.settings import Settings


def page_size(settings: Settings, requested: int | None) -> int:
    """The requested page size, the default when none was asked, refused above the maximum."""
    size = requested or settings.page_size
    if size > settings.page_size_max:
        raise InvalidInput(
            [FieldProblem("page_size", "max", f"must be at most {settings.page_size_max}")]
        )
    return size
