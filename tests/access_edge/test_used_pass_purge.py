"""The hourly purge of expired single-use passes runs on the writer thread while taps add used passes on the
loop thread: it must never trip over a pass added meanwhile."""
from __future__ import annotations

import sys
import threading
from datetime import timedelta

from gateway.access import AccessCache
from tests.access_edge.helpers import utc

NOW = utc(2030, 1, 1)


def test_purge_forgets_only_expired_passes(tmp_path):
    cache = AccessCache(tmp_path / "access.sqlite")
    try:
        cache.view.used_passes.update({1: NOW - timedelta(seconds=1), 2: NOW, 3: NOW + timedelta(hours=1)})
        cache.purge_used_passes(NOW)
        assert cache.view.used_passes == {3: NOW + timedelta(hours=1)}
    finally:
        cache.close()


def test_purge_on_the_writer_thread_survives_passes_used_on_the_loop_thread(tmp_path):
    """Many passes and a short switch interval widen the race: iterating the live dict raised RuntimeError."""
    cache = AccessCache(tmp_path / "access.sqlite")
    errors: list[BaseException] = []
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        for _ in range(5):
            used = cache.view.used_passes
            used.clear()
            used.update((i, NOW + timedelta(days=1)) for i in range(200_000))

            def purge() -> None:
                try:
                    cache.purge_used_passes(NOW)
                except BaseException as exc:  # noqa: BLE001
                    errors.append(exc)

            writer = threading.Thread(target=purge)
            writer.start()
            pass_id = 1 << 31
            while writer.is_alive():  # what remember() does for each granted single-use pass
                used[pass_id] = NOW + timedelta(hours=1)
                pass_id += 1
            writer.join()
            if errors:
                break
    finally:
        sys.setswitchinterval(old)
        cache.close()
    assert not errors, f"purge_used_passes raised {errors[0]!r}"
