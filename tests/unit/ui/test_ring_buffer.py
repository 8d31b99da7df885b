from __future__ import annotations

import numpy as np
import pytest

from desktop_app.ui.ring_buffer import RingBuffer


def test_view_is_chronological_before_and_after_wrapping() -> None:
    buffer = RingBuffer(capacity=4, columns=2)
    assert buffer.view().shape == (2, 0)
    assert buffer.last() is None and buffer.first_key() is None
    for value in range(3):
        buffer.append([value, value * 10])
    assert buffer.view()[0].tolist() == [0, 1, 2]
    for value in range(3, 7):
        buffer.append([value, value * 10])
    assert len(buffer) == 4
    assert buffer.view()[0].tolist() == [3, 4, 5, 6]
    assert buffer.view()[1].tolist() == [30, 40, 50, 60]
    assert buffer.first_key() == 3
    assert buffer.last().tolist() == [6, 60]


def test_since_returns_a_copy_starting_one_row_before_the_window() -> None:
    buffer = RingBuffer(capacity=10, columns=1)
    for value in range(10):
        buffer.append([float(value)])
    window = buffer.since(6.5)
    assert window[0].tolist() == [6, 7, 8, 9]
    window[0, 0] = -1
    assert buffer.view()[0, 6] == 6  # the buffer is untouched


def test_views_are_contiguous_slices() -> None:
    buffer = RingBuffer(capacity=5, columns=3)
    for value in range(12):
        buffer.append([value, 0, 0])
    assert np.shares_memory(buffer.view(), buffer._data)
    assert buffer.view().flags["C_CONTIGUOUS"] is False or buffer.view()[0].flags["C_CONTIGUOUS"]


def test_clear_and_bad_input() -> None:
    buffer = RingBuffer(capacity=3, columns=2)
    buffer.append([1, 2])
    buffer.clear()
    assert len(buffer) == 0
    with pytest.raises(ValueError):
        buffer.append([1])
    with pytest.raises(ValueError):
        RingBuffer(capacity=0, columns=1)
