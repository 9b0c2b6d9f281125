"""Pagination helpers."""

from .paginate import page, page_count

__all__ = ["page", "page_count"]
