"""The process's resident size and handing freed heap pages back to the system."""

from __future__ import annotations

import sys

import pytest

from guidedcot.memory import release_free_heap, resident_gb


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim and /proc are Linux's")
def test_freed_heap_pages_go_back_to_the_system() -> None:
    # 3,000 blocks of 64 KiB come from the heap (below glibc's mmap threshold); one block allocated
    # after them stays alive, so glibc cannot shrink the heap's top by itself.
    blocks = [bytearray(64 * 1024) for _ in range(3000)]
    keep = bytearray(64 * 1024)
    grown = resident_gb()
    del blocks
    freed_but_held = resident_gb()
    released = release_free_heap()
    after = resident_gb()
    assert grown > 0.15 and len(keep) == 64 * 1024
    assert released and after < freed_but_held - 0.1, (grown, freed_but_held, after)
