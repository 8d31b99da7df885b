"""A fixed-capacity multi-column time series in a numpy ring buffer.

Every value is written twice (at i and i + capacity), so the last `size` rows are always one contiguous
slice: reading a window never concatenates or rolls.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class RingBuffer:
    def __init__(self, capacity: int, columns: int) -> None:
        if capacity < 1 or columns < 1:
            raise ValueError("capacity and columns must be positive")
        self.capacity = capacity
        self.columns = columns
        self._data = np.zeros((columns, 2 * capacity), dtype=np.float64)
        self._index = 0  # where the next row goes, in [0, capacity)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def clear(self) -> None:
        self._index = 0
        self._size = 0

    def append(self, values: Sequence[float]) -> None:
        if len(values) != self.columns:
            raise ValueError(f"expected {self.columns} values, got {len(values)}")
        i = self._index
        self._data[:, i] = values
        self._data[:, i + self.capacity] = values
        self._index = (i + 1) % self.capacity
        self._size = min(self._size + 1, self.capacity)

    def view(self) -> np.ndarray:
        """All rows, oldest first, shape (columns, size). A view: copy it before keeping it."""
        end = self._index + self.capacity
        return self._data[:, end - self._size : end]

    def since(self, start: float, key_column: int = 0) -> np.ndarray:
        """A copy of the rows whose key (column `key_column`, ascending) is >= start, plus one row before it,
        so a line drawn from the window's left edge starts at the edge."""
        data = self.view()
        first = int(np.searchsorted(data[key_column], start, side="left"))
        return data[:, max(0, first - 1) :].copy()

    def first_key(self, key_column: int = 0) -> float | None:
        if not self._size:
            return None
        return float(self._data[key_column, self._index + self.capacity - self._size])

    def last(self) -> np.ndarray | None:
        if not self._size:
            return None
        return self._data[:, self._index + self.capacity - 1].copy()
