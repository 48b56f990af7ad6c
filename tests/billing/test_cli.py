"""`estatelink central bill-run`: a preview, then the post and its notices, with a progress bar on stderr; held items
exit 1."""
from __future__ import annotations

import asyncio
import subprocess
import sys

from tests.billing.conftest import setup_march
from tests.support.services import REPO


def bill_run(url: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "estatelink.cli", "--log-level", "WARNING", "central",
                           "--database-url", url, "bill-run", "--estate", "demo", "--period", "2025-03", *extra],
                          capture_output=True, text=True, cwd=REPO, timeout=120)


async def test_bill_run_command(engine, demo, people, database_url):
    await setup_march(engine, demo)
    preview = await asyncio.to_thread(bill_run, database_url, "--preview")
    assert preview.returncode == 1, preview.stderr  # 3-1203's water is held
    assert "(preview) of demo 2025-03: would bill 3 bills, 12 lines, 2140.48 in total" in preview.stdout
    assert "held: 3-1203 water: meter point" in preview.stdout
    assert "price" in preview.stderr and "100%" in preview.stderr  # the tqdm bars
    posted = await asyncio.to_thread(bill_run, database_url, "--quiet")
    assert "(post) of demo 2025-03: billed 3 bills" in posted.stdout and posted.stderr == ""
    assert ("notices: 2 queued for 3 bills (1 e-mail, 1 SMS), 0 reminders, 1 without an owner's e-mail or phone, "
            "0 queued before") in posted.stdout  # March's bills fell due long ago: no reminder before the due date
    again = await asyncio.to_thread(bill_run, database_url, "--quiet")
    assert "billed 0 bills, 0 lines, 0.00 in total; 12 item(s) billed before" in again.stdout
    assert "notices: 0 queued for 3 bills (0 e-mail, 0 SMS), 0 reminders, 1 without" in again.stdout
    wrong = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "estatelink.cli", "central", "--database-url", database_url, "bill-run", "--estate",
        "nowhere", "--period", "2025-03"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert wrong.returncode == 2 and "no estate 'nowhere'" in wrong.stderr
