"""docs/accounts.md shows the permission table exactly as the code enforces it."""

from pathlib import Path

from patron.accounts.permissions import DESCRIPTIONS, PERMISSIONS, ROLES, allowed

DOC = Path(__file__).resolve().parents[2] / "docs" / "accounts.md"


def test_every_permission_documented_with_its_roles():
    rows = {line.split("|")[1].strip().strip("`"): line for line in DOC.read_text().splitlines()
            if line.startswith("| `")}
    assert set(rows) == set(PERMISSIONS)
    for permission, line in rows.items():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert cells[1] == DESCRIPTIONS[permission]
        documented = {role for role, cell in zip(ROLES, cells[2:], strict=True) if cell == "yes"}
        assert documented == {role for role in ROLES if allowed(role, permission)}, permission
