"""Policy loading: the packaged profiles load, and every kind of mistake names file and key."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest

from compliance.codes import RULE_CODES, expand_selection
from compliance.policy import POLICY_DIR, PolicyError, load_policy


def write(tmp_path: Path, text: str, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_default_policy_is_the_pusai_standard() -> None:
    policy = load_policy()
    assert policy.meta.profile == "pusai"
    assert policy.company.centre == "朴赛售后服务中心"
    assert policy.company.hotline == "400-000-1773"
    assert policy.calendar.working_weekdays == (1, 2, 3, 4, 5, 6)
    assert policy.hours["chat"].opens == time(9, 30)
    assert policy.hours["chat"].closes == time(18, 0)
    assert policy.hours["phone"].always is True
    assert policy.response_limit_s("wechat", working_day=True) == 60
    assert policy.response_limit_s("wechat", working_day=False) == 300
    assert policy.response_limit_s("phone", working_day=True) == 15
    assert policy.response_limit_s("phone", working_day=False) == 30
    assert policy.accept_limit_s(working_day=True) == 300
    assert policy.accept_limit_s(working_day=False) == 1800
    assert policy.sla.solution_s == 4 * 3600
    assert policy.sla.extension_s == 4 * 3600
    assert policy.sla.max_extensions == 1
    assert policy.sla.progress_update_days == (4, 7)
    assert policy.sla.rma_chase_every_days == 3
    assert policy.sla.rma_product_manager_after_days == 15
    assert policy.sla.archive_within_working_days == 2
    assert (policy.sla.stable_run_h, policy.sla.intermittent_stable_run_h) == (24, 72)
    assert (policy.warranty.replace_new_months, policy.warranty.replace_refurbished_months) == (
        3,
        6,
    )
    assert policy.warranty.free_repair_months == 36
    assert len(policy.warranty.exclusions) == 10
    assert [(s.label, s.points) for s in policy.satisfaction.scale] == [
        ("很满意", 5),
        ("满意", 3),
        ("一般", 2),
        ("不满意", 0),
    ]
    assert set(policy.rules) == set(RULE_CODES)
    assert "不需要备份" in policy.phrases.backup_confirmed_despite_negation
    assert "没备份" in policy.phrases.backup_denied
    assert "确认" in policy.phrases.backup_confirmed
    assert policy.severity("SCR006") == "warning"
    assert policy.engineer("1818") is not None
    assert policy.engineer("1818").name == "张三"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("km", "days"), [(0, 2), (99.9, 2), (100, 3), (299, 3), (300, 3), (300.5, None), (800, None)]
)
def test_onsite_tiers(km: float, days: int | None) -> None:
    assert load_policy().onsite_working_days(km) == days


def test_seed002_profile_overrides_only_what_differs() -> None:
    policy = load_policy("seed002")
    assert policy.meta.profile == "seed002"
    assert policy.sla.response_by_fault_level is True
    assert policy.complaints.first_reply_s == 7200
    levels = {level.code: level.response_s for level in policy.fault_levels}
    assert levels == {
        "L1": 1800,
        "L2": 1800,
        "L3": 7200,
        "L4": 7200,
        "CONSULT": 7200,
        "OTHER": 21600,
    }
    assert policy.hours["chat"].always is True
    # inherited from the base profile
    assert policy.company.centre == "朴赛售后服务中心"
    assert policy.sla.accept_working_s == 300


def test_extends_a_packaged_profile_from_a_user_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[meta]\nname = "x"\nprofile = "custom"\nextends = "pusai"\n'
        '[calendar]\noverrides = [{ date = 2027-02-10, working_day = false, name = "春节" }]\n',
    )
    policy = load_policy(path)
    assert policy.calendar.overrides[0].date == date(2027, 2, 10)
    assert policy.calendar.overrides[0].working_day is False
    assert policy.company.name == "朴赛"


def base_with(tmp_path: Path, extra: str) -> Path:
    return write(tmp_path, '[meta]\nname = "x"\nprofile = "t"\nextends = "pusai"\n' + extra)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('[sla]\naccept_working_s = "five"\n', "sla.accept_working_s: must be an integer"),
        ("[sla]\nacept_working_s = 5\n", "sla.acept_working_s: unknown key"),
        ('[hours.chat]\nopens = "25:00"\ncloses = "18:00"\n', "hours.chat.opens: bad time '25:00'"),
        ('[hours.chat]\nopens = "19:00"\ncloses = "18:00"\n', "hours.chat.closes: must be later"),
        ('[rules.XYZ001]\nseverity = "error"\n', "rules.XYZ001: unknown rule code"),
        ('[rules.SCR001]\nseverity = "fatal"\n', "rules.SCR001.severity: must be one of"),
        ("[calendar]\nworking_weekdays = [1, 8]\n", "calendar.working_weekdays: 8 is not"),
        (
            '[channels.fax]\nlabel = "传真"\nhours = "chat"\n'
            "response_working_s = 1\nresponse_rest_s = 1\n",
            "channels.fax: unknown channel",
        ),
        ('[channels.web]\nhours = "night"\n', "channels.web.hours: no [hours.night] table"),
        ('[scoring]\nfatal = ["LNG999"]\n', "scoring.fatal: unknown rule code"),
        ('[forbidden.abuse.exceptions]\n"不存在" = ["x"]\n', "forbidden.abuse.exceptions.不存在"),
        (
            '[calendar]\noverrides = [{ date = "2027-13-01", working_day = false, name = "x" }]\n',
            "calendar.overrides[0].date: bad date",
        ),
        ("[matching]\nfuzzy_cutoff = 120\n", "matching.fuzzy_cutoff: must be between"),
        (
            '[[roster.engineers]]\nstaff_no = "1818"\nname = "甲"\n'
            '[[roster.engineers]]\nstaff_no = "1818"\nname = "乙"\n',
            "roster.engineers: 工号",
        ),
    ],
)
def test_mistakes_name_file_and_key(tmp_path: Path, extra: str, expected: str) -> None:
    path = base_with(tmp_path, extra)
    with pytest.raises(PolicyError) as excinfo:
        load_policy(path)
    message = str(excinfo.value)
    assert message.startswith(str(path)), message
    assert expected in message


def test_missing_required_key_is_named(tmp_path: Path) -> None:
    text = (
        (POLICY_DIR / "pusai.toml")
        .read_text(encoding="utf-8")
        .replace("accept_working_s = 300\n", "")
    )
    path = write(tmp_path, text)
    with pytest.raises(PolicyError, match=r"sla\.accept_working_s: required key is missing"):
        load_policy(path)


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    broken = write(tmp_path, "[meta\nname = 1")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(broken)
    with pytest.raises(PolicyError, match="policy file not found"):
        load_policy(tmp_path / "absent.toml")
    deep = write(tmp_path, "a = " + "[" * 100_000)
    with pytest.raises(PolicyError, match="not valid TOML: arrays or tables nested too deeply"):
        load_policy(deep)


def test_circular_extends(tmp_path: Path) -> None:
    write(tmp_path, '[meta]\nname = "a"\nprofile = "a"\nextends = "b.toml"\n', "a.toml")
    write(tmp_path, '[meta]\nname = "b"\nprofile = "b"\nextends = "a.toml"\n', "b.toml")
    with pytest.raises(PolicyError, match="circular extends"):
        load_policy(tmp_path / "a.toml")


def test_policy_objects_are_frozen() -> None:
    policy = load_policy()
    with pytest.raises(AttributeError):
        policy.sla.solution_s = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.channels["web"] = policy.channels["wechat"]  # type: ignore[index]


def test_rule_options_are_kept_for_the_rule_to_validate(tmp_path: Path) -> None:
    path = base_with(tmp_path, '[rules.SCR001]\nseverity = "warning"\nwithin_messages = 1\n')
    policy = load_policy(path)
    assert policy.rules["SCR001"].severity == "warning"
    assert dict(policy.rules["SCR001"].options) == {"within_messages": 1}


def test_select_expands_codes_and_prefixes() -> None:
    assert expand_selection(["LNG"], what="--select") == {f"LNG00{i}" for i in range(1, 10)}
    assert expand_selection(["SCR001,sla005"], what="--select") == {"SCR001", "SLA005"}
    with pytest.raises(ValueError, match="unknown rule code or prefix 'XYZ'"):
        expand_selection(["XYZ"], what="--select")
