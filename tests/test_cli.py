"""The `patron` command: organisations, users, readable errors, help."""

from sqlalchemy import select

from patron.accounts.models import Organisation, User


def test_org_and_user_create(cli, db):
    result = cli("org", "create", "Acme Rides")
    assert result.exit_code == 0, result.output
    assert "acme-rides" in result.output
    result = cli("user", "create", "--org", "acme-rides", "--email", "Boss@Acme.example", "--password",
                 "long enough", "--role", "owner")
    assert result.exit_code == 0, result.output
    with db() as session:
        org = session.scalar(select(Organisation).where(Organisation.slug == "acme-rides"))
        user = session.scalar(select(User).where(User.email == "boss@acme.example"))
        assert user.org_id == org.id and user.role == "owner"
        assert user.password_hash.startswith("$argon2")


def test_slug_is_the_lower_cased_name(cli):
    assert "slug globex," in cli("org", "create", "GLOBEX").output


def test_errors_are_one_line_and_non_zero(cli):
    cli("org", "create", "Acme")
    result = cli("org", "create", "Acme")
    assert result.exit_code == 1
    assert "already exists" in result.output and "Traceback" not in result.output
    result = cli("user", "create", "--org", "nope", "--email", "a@b.example", "--password", "long enough")
    assert result.exit_code == 1 and "No organisation with slug 'nope'" in result.output
    result = cli("user", "create", "--org", "acme", "--email", "a@b.example", "--password", "short")
    assert result.exit_code == 1 and "8 characters" in result.output


def test_every_command_has_help(cli):
    for args in (["--help"], ["org", "--help"], ["org", "create", "--help"], ["user", "create", "--help"],
                 ["serve", "--help"], ["db", "upgrade", "--help"]):
        result = cli(*args)
        assert result.exit_code == 0, (args, result.output)
        assert "Usage" in result.output


def test_db_upgrade_reports_revision(cli):
    result = cli("db", "upgrade")
    assert result.exit_code == 0 and "0001_initial" in result.output
