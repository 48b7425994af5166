"""Parameters with provenance, validated on load.

Every model parameter lives in a TOML data file as a small table::

    [mortality_log_a]
    value = -10.6
    unit = "1"
    source = "assumption: Gompertz intercept fitted by eye to the INSEE 2017 life table"

``value`` is a number, a string, a boolean, a list of numbers or a table of
numbers; ``unit`` is a free-text unit ("persons/yr", "EUR/month", "min", "1"
for a pure number or share); ``source`` names a booklet line (``FACTS.md
ECO-7, L2000-2005``), a public source (``DATA.md §2.4``) or starts with
``assumption:`` and says why.

Each process declares a pydantic model of its parameters, built with
:func:`spec`, which fixes the unit and the allowed range of each key.
:func:`load_params` reads the file, checks that no key is unknown or
missing, that units match and values lie in range, and returns the plain
values. Any problem raises :class:`ParameterError` with one message naming
the file, the key and what is allowed.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict, ValidationError


class ParameterError(ValueError):
    """Bad input in a parameter, persona, territory or scenario file."""


@dataclass(frozen=True)
class Spec:
    """Declared unit and allowed range of one parameter."""

    unit: str
    ge: float | None = None
    le: float | None = None
    kind: str = "number"  # number | int | bool | str | list | table | str_list
    length: int | None = None  # exact length for lists
    choices: tuple[str, ...] | None = None
    doc: str = ""

    def allowed(self) -> str:
        parts = [f"unit '{self.unit}'"]
        if self.kind in ("number", "int", "list", "table"):
            lo = "-inf" if self.ge is None else f"{self.ge:g}"
            hi = "+inf" if self.le is None else f"{self.le:g}"
            parts.append(f"values in [{lo}, {hi}]")
        if self.kind != "number":
            parts.append(f"a {self.kind}")
        if self.length is not None:
            parts.append(f"length {self.length}")
        if self.choices:
            parts.append("one of " + ", ".join(self.choices))
        return ", ".join(parts)

    def check(self, value: Any, where: str) -> Any:
        def bad(msg: str) -> ParameterError:
            return ParameterError(f"{where}: {msg}; allowed: {self.allowed()}")

        def num(v: Any) -> float:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise bad(f"expected a number, got {v!r}")
            if v != v or v in (float("inf"), float("-inf")):
                raise bad(f"not a finite number: {v!r}")
            if self.ge is not None and v < self.ge:
                raise bad(f"{v!r} is below the minimum")
            if self.le is not None and v > self.le:
                raise bad(f"{v!r} is above the maximum")
            return v

        if self.kind == "number":
            return float(num(value))
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise bad(f"expected a whole number, got {value!r}")
            return int(num(value))
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise bad(f"expected true or false, got {value!r}")
            return value
        if self.kind == "str":
            if not isinstance(value, str):
                raise bad(f"expected a string, got {value!r}")
            if self.choices and value not in self.choices:
                raise bad(f"{value!r} is not allowed")
            return value
        if self.kind == "str_list":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise bad(f"expected a list of strings, got {value!r}")
            if self.choices:
                for v in value:
                    if v not in self.choices:
                        raise bad(f"{v!r} is not allowed")
            return list(value)
        if self.kind == "list":
            if not isinstance(value, list):
                raise bad(f"expected a list of numbers, got {value!r}")
            if self.length is not None and len(value) != self.length:
                raise bad(f"expected {self.length} values, got {len(value)}")
            return [float(num(v)) for v in value]
        if self.kind == "table":
            if not isinstance(value, dict):
                raise bad(f"expected a table of numbers, got {value!r}")
            if self.choices:
                unknown = sorted(set(value) - set(self.choices))
                if unknown:
                    raise bad(f"unknown key(s) {unknown}")
            return {str(k): float(num(v)) for k, v in value.items()}
        raise AssertionError(self.kind)


def spec(unit: str, ge: float | None = None, le: float | None = None, kind: str = "number",
         length: int | None = None, choices: tuple[str, ...] | None = None, doc: str = "") -> Spec:
    return Spec(unit=unit, ge=ge, le=le, kind=kind, length=length, choices=choices, doc=doc)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: Any
    unit: str
    source: str


def read_toml(path: Path | str) -> dict[str, Any]:
    """Read a TOML file, turning syntax errors into one clear ParameterError."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ParameterError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"{path}: malformed TOML: {exc}") from None


def check_source(source: str, where: str) -> None:
    if not isinstance(source, str) or len(source.strip()) < 6:
        raise ParameterError(
            f"{where}: 'source' must name a booklet line (FACTS.md), a public source "
            f"(DATA.md or a reference) or start with 'assumption:' and give the reason")


def parse_params(data: Mapping[str, Any], specs: Mapping[str, Spec], where: str) -> dict[str, Any]:
    """Validate a mapping of {key: {value, unit, source}} against specs."""
    unknown = sorted(set(data) - set(specs))
    if unknown:
        raise ParameterError(
            f"{where}: unknown key(s) {unknown}; allowed keys: {sorted(specs)}")
    missing = sorted(set(specs) - set(data))
    if missing:
        raise ParameterError(f"{where}: missing key(s) {missing}")
    out: dict[str, Any] = {}
    for key, sp in specs.items():
        raw = data[key]
        loc = f"{where}: key '{key}'"
        if not isinstance(raw, dict):
            raise ParameterError(f"{loc}: expected a table with value, unit and source")
        try:
            entry = _Entry.model_validate(raw)
        except ValidationError as exc:
            fields = sorted({".".join(map(str, e["loc"])) for e in exc.errors()})
            raise ParameterError(
                f"{loc}: needs exactly 'value', 'unit' and 'source' (problem with {fields})") from None
        if entry.unit != sp.unit:
            raise ParameterError(f"{loc}: unit '{entry.unit}' does not match; allowed: {sp.allowed()}")
        check_source(entry.source, loc)
        out[key] = sp.check(entry.value, loc)
    return out


def check_override(key: str, value: Any, specs: Mapping[str, Spec], where: str) -> Any:
    """Validate one plain-value override (used by scenario files and sweeps)."""
    if key not in specs:
        raise ParameterError(f"{where}: unknown parameter '{key}'; allowed: {sorted(specs)}")
    return specs[key].check(value, f"{where}: key '{key}'")


def load_params(path: Path | str, specs: Mapping[str, Spec]) -> dict[str, Any]:
    path = Path(path)
    return parse_params(read_toml(path), specs, str(path))


def data_root() -> Path:
    """Folder holding the shipped `scenarios/` and `personas/` packages."""
    return Path(__file__).resolve().parent.parent


def params_dir() -> Path:
    return data_root() / "scenarios" / "params"


def sources_of(path: Path | str) -> dict[str, tuple[Any, str, str]]:
    """key -> (value, unit, source) of a parameter file, for docs and reports."""
    data = read_toml(path)
    return {k: (v.get("value"), v.get("unit"), v.get("source")) for k, v in data.items()
            if isinstance(v, dict)}
