"""Import and export as the office uses them: through the API with a manager's token, and on the command line."""
from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request

import orjson
import pytest

from tests.support.services import REPO
from tests.transfer.files import UNIT_HEADERS, csv_bytes, unit_rows

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def send(central, path: str, data: bytes | None, token: str, method: str = "POST") -> tuple[int, bytes, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{central.port}/api/v1{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"})
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def cli(central, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "estatelink.cli", "--log-level", "WARNING", "central",
                           "--database-url", central.database_url, *args],
                          capture_output=True, text=True, cwd=REPO, timeout=120)


def test_manager_imports_through_the_api_and_the_cli_reports_problems(central, tmp_path):
    assert central.api("/estates", method="POST", body={"code": "demo", "name": "演示花园"})[0] == 201
    assert central.api("/estates", method="POST", body={"code": "north", "name": "北苑"})[0] == 201
    manager = central.create_user("office-zhao", "manager", "demo")
    guard = central.create_user("guard-li", "guard", "demo")
    stranger = central.create_user("office-qian", "manager", "north")
    buildings = csv_bytes(["楼栋编号", "名称"], [[str(i), f"{i}号楼"] for i in range(1, 21)])
    status, body, _ = send(central, "/estates/demo/import?filename=%E6%A5%BC%E6%A0%8B.csv", buildings, manager)
    assert status == 200 and orjson.loads(body)["created"] == {"building": 20}

    rows = unit_rows(300)
    rows[1][4] = "一百"
    status, body, _ = send(central, "/estates/demo/import?dry_run=true", csv_bytes(UNIT_HEADERS, rows), manager)
    report = orjson.loads(body)
    assert status == 200 and report["written"] is False
    assert [(p["row"], p["column"], p["cell"]) for p in report["problems"]] == [(3, "built_area", "E3")]
    status, body, _ = send(central, "/estates/demo/import", csv_bytes(UNIT_HEADERS, rows), manager)
    assert status == 422 and orjson.loads(body)["problem_count"] == 1
    assert central.api("/estates/demo/units?limit=1", token=manager)[1]["items"] == []

    assert send(central, "/estates/demo/import", b"x", guard)[0] == 403
    assert send(central, "/estates/demo/import", b"x", stranger)[0] == 404
    assert send(central, "/estates/demo/export?format=csv&sheet=units", None, stranger, "GET")[0] == 404

    bad = tmp_path / "units.csv"
    bad.write_bytes(csv_bytes(UNIT_HEADERS, rows))
    done = cli(central, "import", str(bad), "--estate", "demo", "--quiet")
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == ["units row 3, column built_area (E3): Input should be a valid decimal",
                                        "1 problem(s) in 300 units rows; nothing was written"]

    rows[1][4] = "120.50"
    status, body, _ = send(central, "/estates/demo/import?filename=units.csv", csv_bytes(UNIT_HEADERS, rows), manager)
    assert status == 200 and orjson.loads(body)["created"] == {"unit": 300, "resident": 300, "occupancy": 300}

    status, exported, headers = send(central, "/estates/demo/export?format=csv&sheet=units&lang=zh", None, manager,
                                     "GET")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert exported.decode("utf-8-sig").splitlines()[0].startswith("楼栋,房号,楼层,户型,建筑面积")
    status, body, _ = send(central, "/estates/demo/import", exported, manager)
    assert status == 200 and orjson.loads(body)["unchanged"] is True

    out = tmp_path / "all.xlsx"
    done = cli(central, "export", str(out), "--estate", "demo")
    assert done.returncode == 0, done.stderr
    done = cli(central, "import", str(out), "--estate", "demo", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("would write nothing (already up to date)")
    assert "check units: 100%" in done.stderr   # the progress bar
