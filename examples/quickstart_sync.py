"""Sync quickstart: the same API with ``_sync`` twins, safe inside Playwright's sync API."""

import sys

from sitememory_plugin import SiteMemory

with SiteMemory(sys.argv[1] if len(sys.argv) > 1 else None) as memory:
    url = "https://news.example/"
    memory.record_visit_sync(url, 0.6, status=200)
    memory.record_visit_sync(url, 7.5, error="Timeout 30000ms exceeded")
    profile = memory.get_profile_sync(url)
    assert profile is not None
    print(f"{profile.domain}: {profile.visit_count} visits, success rate {profile.success_rate:.0%}, "
          f"p95 load {profile.p95_load_time:.1f} s")
