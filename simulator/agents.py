"""The eight named personas as Mesa agents on the pole network."""
from __future__ import annotations

from typing import Any

import numpy as np
from mesa.discrete_space import CellAgent

from . import state as S


class PersonaAgent(CellAgent):
    """One named persona, bound to its person row, living on a pole cell."""

    def __init__(self, model, persona, row: int) -> None:
        super().__init__(model)
        self.persona_id = persona.id
        self.name = persona.name
        self.row = row
        self.history: list[dict[str, Any]] = []
        # the named households are archetypes: their membership never changes (see demography)
        self.members = np.flatnonzero(model.persons.hh == self.household)
        self.move_home()

    @property
    def household(self) -> int:
        return int(self.model.persons.hh[self.row])

    def move_home(self) -> None:
        """Sit on the cell of the pole where the persona's household lives."""
        pole = self.model.territory.ids[int(self.model.households.pole[self.household])]
        self.cell = self.model.network[pole]

    def record(self, year: int) -> dict[str, Any]:
        """Snapshot of the persona's state this year (one personas.parquet row)."""
        self.move_home()
        m, p, h = self.model, self.model.persons, self.model.households
        i, hh = self.row, self.household
        ids = m.territory.ids
        job = int(p.job_pole[i])
        mode = int(p.mode[i])
        row = {
            "persona": self.persona_id, "year": year, "alive": bool(p.alive[i]), "age": int(p.age[i]),
            "home_pole": ids[int(h.pole[hh])], "status": S.STATUS[int(p.status[i])],
            "edu": S.EDU[int(p.edu[i])], "skill": S.SKILL[int(p.skill[i])],
            "job_pole": ids[job] if job >= 0 else ("outside_AMP" if job == -2 else ""),
            "sector": S.SECTORS[int(p.sector[i])] if p.sector[i] >= 0 else "",
            "income_eur_month": float(p.income[i]),
            "household_income_eur_month": float(p.income[self.members].sum()),
            "household_size": int(self.members.size), "licence": bool(p.licence[i]),
            "cars": int(h.car[hh]), "tenure": S.TENURE[int(h.tenure[hh])],
            "dwelling_size": S.DWELLING_SIZE[int(h.size_class[hh])],
            "condition": S.CONDITION[int(h.condition[hh])],
            "housing_cost_eur_month": float(h.housing_cost[hh]), "energy_cost_eur_month": float(h.energy_cost[hh]),
            "mode": S.MODES[mode] if mode >= 0 else "", "commute_min": float(p.commute_min[i]),
            "mobility_cost_eur_month": float(p.mobility_cost[i]),
            "mentored_years_left": int(p.mentored[i]), "training_years_left": int(p.training[i]),
            "social_wait_years": float(h.years_waiting[hh]),
        }
        row.update(m.persona_extra(i, hh))
        self.history.append(row)
        return row
