"""The eight persona files: booklet values, segment priors, validation errors."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from simulator import state
from simulator.params import ParameterError
from simulator.personas import (
    PERSONA_IDS, Persona, default_folder, load_personas, personas_json, personas_table,
    segment_marginals,
)


@pytest.fixture(scope="module")
def personas() -> list[Persona]:
    return load_personas()


@pytest.fixture(scope="module")
def by_id(personas) -> dict[str, Persona]:
    return {p.id: p for p in personas}


def test_eight_in_booklet_order(personas):
    assert [p.id for p in personas] == list(PERSONA_IDS)
    assert [p.order for p in personas] == list(range(1, 9))
    assert [p.name for p in personas][:2] == ["Sophie", "Nicolas"]
    assert personas[4].name == "Jean-Stéphane"


def test_card_values_match_booklet(by_id):
    a = {i: p.agent for i, p in by_id.items()}
    card = {i: p.card for i, p in by_id.items()}
    # Sophie: 31, no licence, CAP de vente (L696-701)
    assert card["sophie"]["age"]["value"] == 31 and a["sophie"]["age"] == 31
    assert a["sophie"]["licence"] is False and a["sophie"]["edu"] == "no_bac"
    assert a["sophie"]["hh_type"] == "single_parent"
    assert a["sophie"]["other_members"][0]["age"] == 5
    # Nicolas: 29, BTS agricole = bac+2 = higher, Val de Durance (L708-711, L5345)
    assert a["nicolas"]["age"] == 29 and a["nicolas"]["edu"] == "higher"
    assert a["nicolas"]["sector"] == "agriculture" and a["nicolas"]["home_pole"] == "Z23"
    # Laurence 50, Carlos 53 unemployed (L725-732), owners of an energy sink (L738-740)
    assert a["laurence"]["age"] == 50 and a["laurence"]["status"] == "employed"
    assert a["carlos"]["age"] == 53 and a["carlos"]["status"] == "unemployed"
    for i in ("laurence", "carlos"):
        assert a[i]["tenure"] == "owner" and a[i]["condition"] == "energy_sink"
    # Jean-Stéphane 48, engineer, owner (L748-756)
    assert a["jean_stephane"]["age"] == 48 and a["jean_stephane"]["edu"] == "higher"
    assert a["jean_stephane"]["tenure"] == "owner"
    # Sarah 28 (L763)
    assert a["sarah"]["age"] == 28 and a["sarah"]["status"] == "employed"
    # Huguette 81 retired widow (L777)
    assert a["huguette"]["age"] == 81 and a["huguette"]["status"] == "retired"
    assert a["huguette"]["hh_type"] == "single"
    # Malika 23 student in social housing with her parents (L786-791)
    assert a["malika"]["age"] == 23 and a["malika"]["status"] == "student"
    assert a["malika"]["tenure"] == "social_rent"
    for i, p in by_id.items():
        assert p.card["age"]["value"] == p.agent["age"], i


def test_quotes_are_verbatim_from_the_booklet(personas):
    seed = Path("/work/shared/seed/000_510a464009069312.txt")
    if not seed.exists():
        pytest.skip("booklet not available")
    lines = seed.read_text(encoding="utf-8").splitlines()
    for p in personas:
        first, _, last = p.quote_lines[1:].partition("-")
        start, end = int(first), int(last or first)
        text = " ".join(lines[start - 1:end])
        norm = lambda s: " ".join(s.split())  # noqa: E731
        assert norm(p.quote_fr) in norm(text), p.id


def test_codes_are_state_codes(personas):
    for p in personas:
        a = p.agent
        assert a["sex"] in state.SEX and a["edu"] in state.EDU and a["status"] in state.STATUS
        assert a["sector"] in state.SECTORS + ("none",)
        assert a["tenure"] in state.TENURE and a["condition"] in state.CONDITION
        assert a["hh_type"] in state.HH_TYPE
        assert a["home_pole"].startswith("Z") and 1 <= int(a["home_pole"][1:]) <= 23
        assert set(p.segment["tenure"]) == set(state.TENURE)
        assert set(p.segment["sectors"]) == set(state.SECTORS)


def test_shares_sum_to_one(personas):
    assert sum(p.segment["share_households"] for p in personas) == pytest.approx(1.0, abs=1e-6)
    for p in personas:
        for key in ("hh_type", "edu", "cars", "tenure", "condition", "sectors"):
            assert sum(p.segment[key].values()) == pytest.approx(1.0, abs=1e-6), (p.id, key)


def test_laurence_carlos_household(by_id):
    la, ca = by_id["laurence"], by_id["carlos"]
    assert la.household_with == ["carlos"] and ca.household_with == ["laurence"]
    for key in ("home_pole", "cars", "tenure", "condition", "hh_type", "other_members"):
        assert la.agent[key] == ca.agent[key], key
    assert la.agent["cars"] == 2


def test_huguette_and_malika_are_separate_neighbours(by_id):
    h, m = by_id["huguette"], by_id["malika"]
    assert h.household_with == [] and m.household_with == []
    assert {h.agent["home_pole"], m.agent["home_pole"]} == {"Z04", "Z02"}


def test_segment_priors_land_near_amp_marginals(personas):
    m = segment_marginals(personas)
    assert 0.72 <= m["households_with_car"] <= 0.82
    assert 0.25 <= m["head_65_plus"] <= 0.32
    assert 0.15 <= m["tenure_social_rent"] <= 0.25
    assert 0.42 <= m["tenure_owner"] <= 0.58
    assert 2.0 <= m["persons_per_household"] <= 2.4


def test_every_value_has_a_source(personas):
    for p in personas:
        for k in p.agent:
            assert len(p.sources[f"agent.{k}"]) > 5
        for k, u in p.units.items():
            assert u and len(p.sources[k]) > 5


def test_pole_ids_membership():
    ids = [f"Z{i:02d}" for i in range(1, 24)]
    assert len(load_personas(pole_ids=ids)) == 8
    with pytest.raises(ParameterError, match=r"sophie\.toml.*home_pole.*Z21"):
        load_personas(pole_ids=[i for i in ids if i != "Z21"])


def test_json_and_table(personas):
    data = personas_json(personas)
    text = json.dumps(data, ensure_ascii=False)
    back = json.loads(text)
    assert len(back) == 8 and back[0]["card"]["age"]["lines"].startswith("L696")
    assert back[0]["agent"]["home_pole"]["source"]
    assert back[0]["segment"]["share_households"]["unit"] == "1"
    from rich.console import Console
    for lang in ("en", "fr"):
        con = Console(record=True, width=220)
        con.print(personas_table(personas, lang=lang))
        out = con.export_text()
        assert "Huguette" in out and "Z04" in out
    assert "passoire" in out


# ----------------------------------------------------------------- broken files
@pytest.fixture()
def folder(tmp_path) -> Path:
    dst = tmp_path / "personas"
    dst.mkdir()
    for f in default_folder().glob("*.toml"):
        shutil.copy(f, dst / f.name)
    return dst


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_unknown_key(folder):
    _edit(folder / "sarah.toml", "[agent]\n", "[agent]\nshoe_size = { value = 38, source = \"assumption: made up\" }\n")
    with pytest.raises(ParameterError, match=r"sarah\.toml.*unknown key.*shoe_size"):
        load_personas(folder)


def test_unknown_top_level_key(folder):
    _edit(folder / "nicolas.toml", 'name = "Nicolas"', 'name = "Nicolas"\nnickname = "Nico"')
    with pytest.raises(ParameterError, match=r"nicolas\.toml.*unknown key 'nickname'"):
        load_personas(folder)


def test_shares_not_summing_to_one(folder):
    _edit(folder / "huguette.toml", "share_households = { value = 0.27", "share_households = { value = 0.30")
    with pytest.raises(ParameterError, match=r"share_households.*sums to 1\.03.*huguette\.toml"):
        load_personas(folder)


def test_distribution_not_summing_to_one(folder):
    _edit(folder / "malika.toml", "social_rent = 0.65", "social_rent = 0.75")
    with pytest.raises(ParameterError, match=r"malika\.toml.*\[segment\].*'tenure'.*sum to 1\.1"):
        load_personas(folder)


def test_bad_status_code(folder):
    _edit(folder / "carlos.toml", 'status = { value = "unemployed"', 'status = { value = "astronaut"')
    with pytest.raises(ParameterError, match=r"carlos\.toml.*'status'.*astronaut.*unemployed"):
        load_personas(folder)


def test_bad_sector_code(folder):
    _edit(folder / "sarah.toml", 'sectors = { value = { digital_creative', 'sectors = { value = { space')
    with pytest.raises(ParameterError, match=r"sarah\.toml.*'sectors'.*unknown key.*space"):
        load_personas(folder)


def test_bad_home_pole(folder):
    _edit(folder / "nicolas.toml", 'home_pole = { value = "Z23"', 'home_pole = { value = "Z99"')
    with pytest.raises(ParameterError, match=r"nicolas\.toml.*home_pole.*Z99.*Z01\.\.Z23"):
        load_personas(folder)


def test_missing_source_agent(folder):
    _edit(folder / "huguette.toml", 'age = { value = 81, source = "card L777" }', "age = { value = 81 }")
    with pytest.raises(ParameterError, match=r"huguette\.toml.*\[agent\].*'age'.*source"):
        load_personas(folder)


def test_missing_source_segment(folder):
    _edit(folder / "jean_stephane.toml",
          'income_sigma = { value = 0.45, unit = "1", source = "assumption: long upper tail" }',
          'income_sigma = { value = 0.45, unit = "1" }')
    with pytest.raises(ParameterError, match=r"jean_stephane\.toml.*\[segment\].*'income_sigma'.*source"):
        load_personas(folder)


def test_wrong_unit(folder):
    _edit(folder / "sophie.toml", 'income_median = { value = 1150, unit = "EUR/month"',
          'income_median = { value = 1150, unit = "EUR/yr"')
    with pytest.raises(ParameterError, match=r"sophie\.toml.*'income_median'.*EUR/month"):
        load_personas(folder)


def test_malformed_toml(folder):
    _edit(folder / "sophie.toml", 'name = "Sophie"', 'name = "Sophie')
    with pytest.raises(ParameterError, match=r"sophie\.toml.*malformed TOML"):
        load_personas(folder)


def test_household_disagreement(folder):
    _edit(folder / "carlos.toml", 'cars = { value = 2', 'cars = { value = 1')
    with pytest.raises(ParameterError, match=r"carlos\.toml.*agent\.cars.*laurence\.toml"):
        load_personas(folder)


def test_household_not_symmetric(folder):
    _edit(folder / "carlos.toml", 'household_with = ["laurence"]', "household_with = []")
    with pytest.raises(ParameterError, match=r"carlos\.toml.*household_with.*laurence"):
        load_personas(folder)


def test_missing_and_extra_files(folder):
    (folder / "malika.toml").rename(folder / "marius.toml")
    with pytest.raises(ParameterError, match=r"unexpected persona file.*marius\.toml"):
        load_personas(folder)
    (folder / "marius.toml").unlink()
    with pytest.raises(ParameterError, match=r"missing persona file.*malika\.toml"):
        load_personas(folder)


def test_bad_card_lines(folder):
    _edit(folder / "sophie.toml", 'age = { value = 31, lines = "L696, L5289" }', 'age = { value = 31, lines = "p. 12" }')
    with pytest.raises(ParameterError, match=r"sophie\.toml.*card\.age.*lines"):
        load_personas(folder)
