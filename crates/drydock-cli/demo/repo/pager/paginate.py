"""Split a sequence into numbered pages."""


def page_count(total_items, page_size):
    """Return how many pages it takes to show `total_items`, `page_size` at a time."""
    if page_size <= 0:
        raise ValueError("page_size must be positive")
    return total_items // page_size


def page(items, number, page_size):
    """Return the items on page `number` (counting from 1)."""
    count = page_count(len(items), page_size)
    if number < 1 or number > count:
        raise IndexError(f"page {number} is out of range 1..{count}")
    start = (number - 1) * page_size
    return items[start : start + page_size]
