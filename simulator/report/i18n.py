"""Every word of the report, in French and English.

``t(key, lang, **kw)`` returns the label in ``lang`` with ``str.format``
fields filled. Metric names, persona names, statuses and modes have their own
tables. French numbers use a decimal comma and a narrow no-break space
between thousands (``fmt_num``).
"""
from __future__ import annotations

import math
from typing import Any

LANGS = ("fr", "en")

TEXT: dict[str, dict[str, str]] = {
    "doc_title": {"fr": "Fabrique 2040 — rapport de scénarios", "en": "Fabrique 2040 — scenario report"},
    "doc_subtitle": {
        "fr": "Simulation de la métropole Aix-Marseille-Provence, 2017 → 2040 : temps de trajet, emploi, logement",
        "en": "Simulation of the Aix-Marseille-Provence metropolis, 2017 → 2040: commute time, jobs, housing"},
    "nav": {"fr": "Sommaire", "en": "Contents"},
    "sec_headline": {"fr": "1. L’essentiel en {year}", "en": "1. Headlines for {year}"},
    "sec_headline_intro": {
        "fr": "Chaque carte compare un scénario au scénario de référence « {baseline} » en {year}. "
              "Les simulations sont appariées (même graine aléatoire) ; la fourchette contient 9 écarts "
              "simulés sur 10.",
        "en": "Each card compares a scenario with the reference scenario “{baseline}” in {year}. "
              "Runs are paired (same random seed); the range holds 9 simulated differences in 10."},
    "sec_traj": {"fr": "2. Trajectoires {year0} → {year}", "en": "2. Trajectories {year0} → {year}"},
    "sec_traj_intro": {
        "fr": "Trait : médiane des simulations ; bande : 9 simulations sur 10 (5e–95e centile).",
        "en": "Line: median of the runs; band: 9 runs in 10 (5th–95th percentile)."},
    "sec_who": {"fr": "3. Qui gagne, qui perd ?", "en": "3. Who gains, who loses?"},
    "sec_who_intro": {
        "fr": "Écart avec le scénario de référence en {year}, par groupe de population (segment de chaque "
              "persona) puis par pôle. Barre : écart moyen ; trait : 9 simulations sur 10.",
        "en": "Difference from the reference scenario in {year}, by population group (each persona’s segment) "
              "then by pole. Bar: mean difference; whisker: 9 runs in 10."},
    "sec_map": {"fr": "4. Le réseau des pôles", "en": "4. The network of poles"},
    "sec_map_intro": {
        "fr": "Pôles (taille ∝ population), routes (couleur : indice de congestion des pôles reliés), "
              "lignes de transport collectif (pointillés) et principaux flux domicile–travail "
              "(épaisseur ∝ nombre d’actifs), en {year}, moyenne des simulations.",
        "en": "Poles (size ∝ population), roads (colour: congestion index of the linked poles), transit lines "
              "(dotted) and main home–work flows (width ∝ commuters), in {year}, mean of the runs."},
    "sec_personas": {"fr": "5. Les huit personas", "en": "5. The eight personas"},
    "sec_personas_intro": {
        "fr": "Les huit personnages du livret « La Fabrique du projet métropolitain » sont suivis année après "
              "année. Leur carte décrit {year0} ; les courbes donnent la médiane des simulations par scénario.",
        "en": "The eight characters of the booklet “La Fabrique du projet métropolitain” are followed year by "
              "year. Their card describes {year0}; curves show the median of the runs for each scenario."},
    "sec_contrib": {"fr": "6. Contribution des engagements", "en": "6. Contribution of the engagements"},
    "sec_contrib_intro": {
        "fr": "Effet de chaque engagement sur les indicateurs en {year} (écart avec le scénario sans cet "
              "engagement) ; trait : intervalle à 90 %.",
        "en": "Effect of each engagement on the indicators in {year} (difference from the scenario without it); "
              "whisker: 90 % interval."},
    "sec_other": {"fr": "Autres indicateurs", "en": "Other indicators"},
    "sec_method": {"fr": "7. Méthode et hypothèses", "en": "7. Method and assumptions"},
    "no_contrib": {"fr": "Pas de fichier contributions.json dans ces résultats : section non calculée.",
                   "en": "No contributions.json in these results: section not computed."},
    "missing_metric": {"fr": "Graphique omis : indicateur « {metric} » absent des résultats.",
                       "en": "Chart skipped: metric “{metric}” is not in the results."},
    "missing_data": {"fr": "Graphique omis, absent des résultats : {what}.",
                     "en": "Chart skipped, not in the results: {what}."},
    "no_flows_note": {"fr": "Pas de flux domicile–travail dans ces résultats : la carte montre le réseau seul.",
                      "en": "No home–work flows in these results: the map shows the network only."},
    "no_baseline": {
        "fr": "Scénario de référence « {baseline} » absent : pas de comparaison, niveaux seulement.",
        "en": "Reference scenario “{baseline}” is missing: no comparison, levels only."},
    "no_territory": {"fr": "la géographie des pôles (territory.json)", "en": "the pole geography (territory.json)"},
    "no_flows": {"fr": "les flux domicile–travail", "en": "the home–work flows"},
    "no_personas": {"fr": "les trajectoires des personas", "en": "the persona trajectories"},
    "level_2040": {"fr": "En {year} : {value}", "en": "In {year}: {value}"},
    "level_range": {"fr": "(9 simulations sur 10 : {low} à {high})", "en": "(9 runs in 10: {low} to {high})"},
    "vs_baseline": {"fr": "par rapport à « {baseline} »", "en": "compared with “{baseline}”"},
    "between": {"fr": "entre {a} et {b} {unit} {direction}, 9 simulations sur 10",
                "en": "between {a} and {b} {unit} {direction}, 9 runs in 10"},
    "no_clear": {"fr": "pas de différence nette (de {low} à {high} {unit}, 9 simulations sur 10)",
                 "en": "no clear difference (from {low} to {high} {unit}, 9 runs in 10)"},
    "mean_diff": {"fr": "écart moyen : {value}", "en": "mean difference: {value}"},
    "single_run": {"fr": "une seule simulation : écart {value}, sans fourchette",
                   "en": "a single run: difference {value}, no range"},
    "n_pairs": {"fr": "{n} paires de simulations", "en": "{n} paired runs"},
    "median": {"fr": "médiane", "en": "median"},
    "band90": {"fr": "9 sur 10", "en": "9 in 10"},
    "year": {"fr": "Année", "en": "Year"},
    "scenario": {"fr": "Scénario", "en": "Scenario"},
    "difference": {"fr": "Écart", "en": "Difference"},
    "by_segment": {"fr": "Par groupe de population (segment de persona), {scenario} − {baseline}",
                   "en": "By population group (persona segment), {scenario} − {baseline}"},
    "by_pole": {"fr": "Par pôle, {scenario} − {baseline}", "en": "By pole, {scenario} − {baseline}"},
    "map_panel": {"fr": "{scenario}", "en": "{scenario}"},
    "map_choose": {"fr": "Scénario de droite :", "en": "Right-hand scenario:"},
    "roads": {"fr": "Routes", "en": "Roads"},
    "transit": {"fr": "Transport collectif", "en": "Transit"},
    "flows": {"fr": "Flux domicile–travail", "en": "Home–work flows"},
    "poles": {"fr": "Pôles", "en": "Poles"},
    "commuters": {"fr": "actifs", "en": "commuters"},
    "congestion": {"fr": "Congestion", "en": "Congestion"},
    "inhabitants": {"fr": "habitants", "en": "inhabitants"},
    "provenance": {
        "fr": "Source : Fabrique 2040 v{version} (commit {commit}) · scénarios {scenarios} · graines {seeds} · "
              "échelle {scale} · généré le {date}",
        "en": "Source: Fabrique 2040 v{version} (commit {commit}) · scenarios {scenarios} · seeds {seeds} · "
              "scale {scale} · built {date}"},
    "persona_card": {"fr": "Carte {year}", "en": "{year} card"},
    "persona_story": {"fr": "Son histoire en {year}", "en": "Their story in {year}"},
    "coverage_title": {"fr": "Qui les personas représentent", "en": "Who the personas stand for"},
    "coverage_intro": {"fr": "Chaque persona représente un segment de ménages de la population simulée ({year}). "
                             "Les groupes du bas du tableau sont ceux qu'aucun persona ne représente bien (âge ou "
                             "situation d'activité éloignés de ceux du persona de leur segment).",
                       "en": "Each persona stands for a segment of the simulated population's households ({year}). "
                             "The groups at the bottom are those no persona represents well (age or activity "
                             "status far from their segment's persona)."},
    "coverage_persons": {"fr": "Personnes représentées", "en": "People represented"},
    "coverage_share": {"fr": "Part de la population", "en": "Share of the population"},
    "coverage_poles": {"fr": "Pôles principaux", "en": "Main poles"},
    "coverage_group": {"fr": "Groupe (âge, situation)", "en": "Group (age, status)"},
    "coverage_well": {"fr": "Bien représentés", "en": "Well represented"},
    "story_generated": {"fr": "(texte généré automatiquement à partir de la simulation)",
                        "en": "(text generated automatically from the simulation)"},
    "card_age": {"fr": "Âge", "en": "Age"},
    "card_home": {"fr": "Domicile", "en": "Home"},
    "card_status": {"fr": "Situation", "en": "Status"},
    "card_job": {"fr": "Lieu de travail", "en": "Workplace"},
    "card_mode": {"fr": "Mode de transport", "en": "Travel mode"},
    "card_commute": {"fr": "Trajet domicile–travail", "en": "Commute"},
    "card_income": {"fr": "Revenu", "en": "Income"},
    "card_housing": {"fr": "Logement", "en": "Housing"},
    "card_housing_cost": {"fr": "Coût du logement", "en": "Housing cost"},
    "card_licence": {"fr": "Permis / voitures", "en": "Licence / cars"},
    "yes": {"fr": "oui", "en": "yes"},
    "no": {"fr": "non", "en": "no"},
    "years_old": {"fr": "{n} ans", "en": "{n} years"},
    "per_month": {"fr": "{v} € / mois", "en": "€{v} / month"},
    "minutes": {"fr": "{v} min", "en": "{v} min"},
    "outside_amp": {"fr": "hors métropole", "en": "outside the metropolis"},
    "none": {"fr": "—", "en": "—"},
    "pt_commute": {"fr": "Trajet (min)", "en": "Commute (min)"},
    "pt_income": {"fr": "Revenu (€/mois)", "en": "Income (€/month)"},
    "pt_housing": {"fr": "Coût du logement (€/mois)", "en": "Housing cost (€/month)"},
    "pt_status": {"fr": "Situation", "en": "Status"},
    "story_intro": {"fr": "Scénario « {scenario} », {year}.", "en": "Scenario “{scenario}”, {year}."},
    "story_alive": {"fr": "En {year}, {name} a {age} ans et vit à {home}.",
                    "en": "In {year}, {name} is {age} and lives in {home}."},
    "story_dead": {"fr": "{name} est {dead} avant {year}.", "en": "{name} died before {year}."},
    "dead_m": {"fr": "décédé", "en": "died"},
    "dead_f": {"fr": "décédée", "en": "died"},
    "at_place": {"fr": "à {place}", "en": "in {place}"},
    "story_employed": {"fr": "En emploi {job_at}, {pron} s’y rend {mode_by} en {commute} min{then}.",
                       "en": "Employed {job_at}, {pron} gets there {mode_by} in {commute} min{then}."},
    "story_commute_then": {"fr": " (contre {c0} min en {y0})", "en": " ({c0} min in {y0})"},
    "story_employed_nocommute": {"fr": "{Pron} est en emploi {job_at}.", "en": "{Pron} is employed {job_at}."},
    "story_status": {"fr": "{Pron} est {status}.", "en": "{Pron} is {status}."},
    "story_money": {
        "fr": "Revenu : {income} €/mois ({income0} € en {year0}) ; logement : {housing} €/mois, {tenure}.",
        "en": "Income: €{income}/month (€{income0} in {year0}); housing: €{housing}/month, {tenure}."},
    "contrib_metric": {"fr": "{metric}", "en": "{metric}"},
    "method_runs": {"fr": "Simulations incluses", "en": "Runs included"},
    "method_col_scenario": {"fr": "Scénario", "en": "Scenario"},
    "method_col_reps": {"fr": "Réplications", "en": "Replicates"},
    "method_col_seeds": {"fr": "Graines", "en": "Seeds"},
    "method_col_hash": {"fr": "Empreinte du scénario", "en": "Scenario hash"},
    "method_col_scale": {"fr": "Échelle", "en": "Scale"},
    "method_col_version": {"fr": "Version", "en": "Version"},
    "method_col_years": {"fr": "Années", "en": "Years"},
    "method_model": {
        "fr": "Modèle multi-agents : une population synthétique tirée des huit personas du livret, calée sur "
              "les marges observées (âge, emploi, diplôme, pauvreté, motorisation, population des pôles), vit "
              "année par année sur le réseau des pôles de la métropole : démographie, économie, marché du "
              "logement, marché du travail, choix modal et congestion. L’échelle est la fraction de la "
              "population réelle simulée ; des poids ramènent tous les agrégats en unités réelles.",
        "en": "Agent-based model: a synthetic population drawn from the booklet’s eight personas, raked to "
              "observed marginals (age, employment, education, poverty, car ownership, pole populations), "
              "lives year by year on the network of the metropolis’ poles: demography, economy, housing "
              "market, labour market, mode choice and congestion. The scale is the simulated fraction of the "
              "real population; weights bring every aggregate back to real units."},
    "method_intervals": {
        "fr": "Lire les fourchettes : chaque scénario est simulé plusieurs fois avec des graines aléatoires "
              "différentes, et chaque simulation d’un scénario est appariée à la simulation de référence de même "
              "graine (nombres aléatoires communs). La fourchette « 9 simulations sur 10 » va du 5e au 95e "
              "centile des écarts appariés ; « pas de différence nette » signifie qu’elle contient zéro. Avec "
              "peu de réplications la fourchette est approximative. Elle mesure l’aléa de la simulation, pas "
              "l’incertitude sur les hypothèses du modèle.",
        "en": "Reading the ranges: each scenario is run several times with different random seeds, and each run "
              "of a scenario is paired with the reference run of the same seed (common random numbers). The "
              "“9 runs in 10” range goes from the 5th to the 95th percentile of the paired differences; “no "
              "clear difference” means it contains zero. With few replicates the range is approximate. It "
              "measures simulation randomness, not uncertainty about the model’s assumptions."},
    "method_sources": {"fr": "Sources des données", "en": "Data sources"},
    "method_limits": {"fr": "Ce que le modèle ne représente pas", "en": "What the model does not represent"},
    "print_hint": {"fr": "Imprimer en PDF : Ctrl+P dans le navigateur.",
                   "en": "Print to PDF: Ctrl+P in the browser."},
}

SOURCES: list[dict[str, str]] = [
    {"fr": "Livret « La Fabrique du projet métropolitain », Métropole Aix-Marseille-Provence (2017–2018) : "
           "diagnostic, 12 engagements, 8 personas et leurs récits 2040 (FACTS.md).",
     "en": "Booklet “La Fabrique du projet métropolitain”, Aix-Marseille-Provence Metropolis (2017–2018): "
           "diagnosis, 12 engagements, 8 personas and their 2040 stories (FACTS.md)."},
    {"fr": "INSEE : populations légales, recensement (âge, emploi, diplômes, motorisation), mobilités "
           "professionnelles domicile–travail (DATA.md).",
     "en": "INSEE: legal populations, census (age, employment, education, car ownership), home–work commuting "
           "flows (DATA.md)."},
    {"fr": "Réseaux routiers et de transport collectif (temps de parcours, fréquences, tarifs) : opérateurs et "
           "Région Sud, cités ligne par ligne dans scenarios/territory/links.toml.",
     "en": "Road and transit networks (travel times, headways, fares): operators and Région Sud, cited line by "
           "line in scenarios/territory/links.toml."},
    {"fr": "Coordonnées des pôles : centroïdes pondérés des centres-villes (GeoNames), DATA.md §1.4.",
     "en": "Pole coordinates: population-weighted centroids of town centres (GeoNames), DATA.md §1.4."},
    {"fr": "Toute autre valeur est une hypothèse explicite, documentée avec sa justification dans les fichiers "
           "de paramètres.",
     "en": "Every other value is an explicit assumption, documented with its reason in the parameter files."},
]

LIMITATIONS: list[dict[str, str]] = [
    {"fr": "Les déplacements autres que domicile–travail (achats, loisirs, école) ne sont pas simulés.",
     "en": "Trips other than home–work (shopping, leisure, school) are not simulated."},
    {"fr": "Les 23 pôles sont des zones agrégées : rien n’est représenté à l’intérieur d’un pôle (quartiers, rues).",
     "en": "The 23 poles are aggregate zones: nothing is represented inside a pole (neighbourhoods, streets)."},
    {"fr": "L’horaire de pointe est unique : pas d’heures creuses, de télétravail fin ni de fret.",
     "en": "One peak hour only: no off-peak, no detailed teleworking, no freight."},
    {"fr": "Les prix du logement réagissent à l’offre et à la demande locales, pas aux marchés financiers ni aux "
           "taux d’intérêt.",
     "en": "Housing prices respond to local supply and demand, not to financial markets or interest rates."},
    {"fr": "Les effets de l’engagement citoyen (bénévolat, parrainage) reposent sur des preuves faibles.",
     "en": "Effects of citizen involvement (volunteering, mentoring) rest on weak evidence."},
    {"fr": "Les choix politiques nationaux, les crises économiques et le climat futur ne sont pas projetés.",
     "en": "National policy choices, economic crises and the future climate are not projected."},
    {"fr": "Les fourchettes ne reflètent que l’aléa de la simulation, pas l’incertitude des paramètres.",
     "en": "Ranges reflect simulation randomness only, not parameter uncertainty."},
]

# metric -> label, unit, kind ("share" values in 0..1 shown in %, difference in points), direction words
METRICS: dict[str, dict[str, Any]] = {
    "commute_time_min": {"fr": "Temps de trajet domicile–travail", "en": "Commute time",
                         "unit": {"fr": "min", "en": "min"}, "dunit": {"fr": "minutes", "en": "minutes"},
                         "share": False, "less": {"fr": "de moins", "en": "shorter"},
                         "more": {"fr": "de plus", "en": "longer"}, "good": -1},
    "commute_over_45min_share": {"fr": "Part des trajets de plus de 45 min", "en": "Share of commutes over 45 min",
                                 "share": True, "good": -1},
    "mode_share": {"fr": "Part modale", "en": "Mode share", "share": True, "good": 0},
    "mobility_cost_eur_month": {"fr": "Coût de la mobilité", "en": "Mobility cost",
                                "unit": {"fr": "€/mois", "en": "€/month"}, "dunit": {"fr": "€/mois", "en": "€/month"},
                                "share": False, "good": -1},
    "congestion_index": {"fr": "Indice de congestion", "en": "Congestion index",
                         "unit": {"fr": "", "en": ""}, "dunit": {"fr": "", "en": ""}, "share": False, "good": -1},
    "employment_rate": {"fr": "Taux d’emploi (15–64 ans)", "en": "Employment rate (15–64)", "share": True,
                        "good": 1},
    "unemployment_rate": {"fr": "Taux de chômage", "en": "Unemployment rate", "share": True, "good": -1},
    "youth_jobless_rate": {"fr": "Jeunes sans emploi (15–24 ans, hors études)",
                           "en": "Youth jobless rate (15–24, not students)", "share": True, "good": -1},
    "long_term_unemployed_share": {"fr": "Part des chômeurs de longue durée", "en": "Long-term unemployed share",
                                   "share": True, "good": -1},
    "jobs": {"fr": "Emplois", "en": "Jobs", "unit": {"fr": "emplois", "en": "jobs"},
             "dunit": {"fr": "emplois", "en": "jobs"}, "share": False, "good": 1},
    "vacancies": {"fr": "Offres d’emploi non pourvues", "en": "Job vacancies",
                  "unit": {"fr": "postes", "en": "vacancies"}, "dunit": {"fr": "postes", "en": "vacancies"},
                  "share": False, "good": 0},
    "mean_income": {"fr": "Revenu moyen", "en": "Mean income", "unit": {"fr": "€/mois", "en": "€/month"},
                    "dunit": {"fr": "€/mois", "en": "€/month"}, "share": False, "good": 1},
    "housing_access_rate": {"fr": "Accès au logement (abordable et décent)",
                            "en": "Housing access (affordable and decent)", "share": True, "good": 1},
    "housing_cost_burden": {"fr": "Taux d’effort logement (médiane)", "en": "Housing cost burden (median)",
                            "share": True, "good": -1},
    "social_housing_wait_years": {"fr": "Attente d’un logement social", "en": "Social housing wait",
                                  "unit": {"fr": "ans", "en": "years"}, "dunit": {"fr": "ans", "en": "years"},
                                  "share": False, "good": -1},
    "price_to_income_t3": {"fr": "Prix d’un T3 / revenu annuel", "en": "3-room flat price / annual income",
                           "unit": {"fr": "années de revenu", "en": "years of income"},
                           "dunit": {"fr": "années de revenu", "en": "years of income"}, "share": False, "good": -1},
    "young_adults_independent_share": {"fr": "Jeunes adultes ayant leur propre logement",
                                       "en": "Young adults in their own home", "share": True, "good": 1},
    "energy_poverty_share": {"fr": "Précarité énergétique", "en": "Energy poverty", "share": True, "good": -1},
    "population": {"fr": "Population", "en": "Population", "unit": {"fr": "habitants", "en": "inhabitants"},
                   "dunit": {"fr": "habitants", "en": "inhabitants"}, "share": False, "good": 0},
    "households": {"fr": "Ménages", "en": "Households", "unit": {"fr": "ménages", "en": "households"},
                   "dunit": {"fr": "ménages", "en": "households"}, "share": False, "good": 0},
    "population_60plus": {"fr": "Habitants de 60 ans et plus", "en": "Residents aged 60+",
                          "unit": {"fr": "habitants", "en": "residents"}, "dunit": {"fr": "habitants", "en": "residents"},
                          "share": False, "good": 0},
    "births": {"fr": "Naissances", "en": "Births", "unit": {"fr": "par an", "en": "per year"},
               "dunit": {"fr": "naissances", "en": "births"}, "share": False, "good": 0},
    "deaths": {"fr": "Décès", "en": "Deaths", "unit": {"fr": "par an", "en": "per year"},
               "dunit": {"fr": "décès", "en": "deaths"}, "share": False, "good": 0},
    "net_migration": {"fr": "Solde migratoire", "en": "Net migration", "unit": {"fr": "par an", "en": "per year"},
                      "dunit": {"fr": "personnes", "en": "people"}, "share": False, "good": 0},
}

SHARE_UNIT = {"fr": "%", "en": "%"}
SHARE_DUNIT = {"fr": "points de %", "en": "percentage points"}
LESS = {"fr": "de moins", "en": "lower"}
MORE = {"fr": "de plus", "en": "higher"}

MODES = {"car": {"fr": "voiture seule", "en": "car alone"}, "carpool": {"fr": "covoiturage", "en": "carpool"},
         "transit": {"fr": "transport collectif", "en": "transit"}, "bike": {"fr": "vélo", "en": "bike"},
         "walk": {"fr": "marche", "en": "walking"}, "": {"fr": "—", "en": "—"}}

STATUS = {"child": {"fr": "enfant", "en": "a child"}, "student": {"fr": "étudiant(e)", "en": "a student"},
          "employed": {"fr": "en emploi", "en": "employed"},
          "unemployed": {"fr": "au chômage", "en": "unemployed"},
          "inactive": {"fr": "sans activité professionnelle", "en": "not in the labour force"},
          "retired": {"fr": "retraité(e)", "en": "retired"}}
STATUS_SHORT = {"child": {"fr": "enfant", "en": "child"}, "student": {"fr": "études", "en": "student"},
                "employed": {"fr": "emploi", "en": "employed"}, "unemployed": {"fr": "chômage", "en": "unemployed"},
                "inactive": {"fr": "inactivité", "en": "inactive"}, "retired": {"fr": "retraite", "en": "retired"}}
STATUS_ORDER = ["child", "student", "inactive", "unemployed", "employed", "retired"]

TENURE = {"owner": {"fr": "propriétaire", "en": "owner"},
          "private_rent": {"fr": "locataire du parc privé", "en": "private tenant"},
          "social_rent": {"fr": "locataire HLM", "en": "social-housing tenant"},
          "with_parents_or_none": {"fr": "hébergé(e) ou sans logement à soi", "en": "housed by family or no own home"}}
MODE_BY = {"car": {"fr": "en voiture", "en": "by car"}, "carpool": {"fr": "en covoiturage", "en": "by carpool"},
           "transit": {"fr": "en transport collectif", "en": "by transit"}, "bike": {"fr": "à vélo", "en": "by bike"},
           "walk": {"fr": "à pied", "en": "on foot"}, "": {"fr": "", "en": ""}}
CONDITION = {"decent": {"fr": "décent", "en": "decent"}, "degraded": {"fr": "dégradé", "en": "run-down"},
             "energy_sink": {"fr": "passoire énergétique", "en": "energy sink"}}

PERSONA_ORDER = ["sophie", "nicolas", "laurence", "carlos", "jean_stephane", "sarah", "huguette", "malika"]
PERSONAS: dict[str, dict[str, str]] = {
    "sophie": {"name": "Sophie", "pron_fr": "elle", "pron_en": "she",
               "title_fr": "Mère de famille monoparentale qui enchaîne les petits boulots",
               "title_en": "Single mother chaining short jobs",
               "seg_fr": "Actifs précaires et familles monoparentales",
               "seg_en": "Precarious working-age adults and single parents"},
    "nicolas": {"name": "Nicolas", "pron_fr": "il", "pron_en": "he", "title_fr": "Agriculteur exploitant",
                "title_en": "Young farmer running an inherited cereal farm",
                "seg_fr": "Ménages périurbains et ruraux", "seg_en": "Periurban and rural households"},
    "laurence": {"name": "Laurence", "pron_fr": "elle", "pron_en": "she",
                 "title_fr": "Commerçante sur un site touristique", "title_en": "Shopkeeper near a tourist site",
                 "seg_fr": "Indépendants, commerçants, artisans", "seg_en": "Self-employed, shopkeepers, artisans"},
    "carlos": {"name": "Carlos", "pron_fr": "il", "pron_en": "he", "title_fr": "Demandeur d’emploi en reconversion",
               "title_en": "Former petrochemical worker, jobseeker retraining",
               "seg_fr": "Ménages ouvriers de 45–64 ans", "seg_en": "Working-class households 45–64"},
    "jean_stephane": {"name": "Jean-Stéphane", "pron_fr": "il", "pron_en": "he",
                      "title_fr": "Directeur de la R&D dans une entreprise d’envergure internationale",
                      "title_en": "R&D director in an international company",
                      "seg_fr": "Cadres, ingénieurs et familles aisées",
                      "seg_en": "Executives, engineers and higher-income families"},
    "sarah": {"name": "Sarah", "pron_fr": "elle", "pron_en": "she",
              "title_fr": "Fondatrice d’une start-up du secteur de la santé",
              "title_en": "Founder of a connected-health start-up",
              "seg_fr": "Jeunes adultes seuls ou en colocation", "seg_en": "Young adults living alone or sharing"},
    "huguette": {"name": "Huguette", "pron_fr": "elle", "pron_en": "she",
                 "title_fr": "Retraitée, grand-mère de Malika",
                 "title_en": "Retired widow, active in local life, grandmother of Malika",
                 "seg_fr": "Retraités de 65 ans et plus", "seg_en": "Retirees 65+"},
    "malika": {"name": "Malika", "pron_fr": "elle", "pron_en": "she",
               "title_fr": "Étudiante en sciences et technologies, petite-fille d’Huguette",
               "title_en": "Science and technology student from a working-class family",
               "seg_fr": "Familles modestes avec jeunes adultes", "seg_en": "Modest families with young adults"},
}

ENGAGEMENTS = {
    "1": {"fr": "1 Habiter en ville, cœurs de villages", "en": "1 Living in towns and village centres"},
    "2": {"fr": "2 Alternatives à la voiture en solo", "en": "2 Alternatives to driving alone"},
    "3": {"fr": "3 Adaptation au changement climatique", "en": "3 Climate adaptation"},
    "4": {"fr": "4 Capacités des hubs", "en": "4 Hub capacity"},
    "5": {"fr": "5 Filières d’excellence", "en": "5 Industries of excellence"},
    "6": {"fr": "6 Visibilité mondiale", "en": "6 Global visibility"},
    "7": {"fr": "7 Territoires fragiles", "en": "7 Fragile areas"},
    "8": {"fr": "8 Offre résidentielle à prix maîtrisé", "en": "8 Affordable housing supply"},
    "9": {"fr": "9 Citoyens impliqués", "en": "9 Involved citizens"},
    "10": {"fr": "10 Géographie spectaculaire", "en": "10 Spectacular geography"},
    "11": {"fr": "11 255 km de côtes", "en": "11 255 km of coastline"},
    "12": {"fr": "12 Culture et sport", "en": "12 Culture and sport"},
}


def t(key: str, lang: str, **kw: Any) -> str:
    entry = TEXT.get(key)
    if entry is None:
        return key
    s = entry.get(lang) or entry["en"]
    return s.format(**kw) if kw else s


def pick(entry: dict[str, str] | None, lang: str, default: str = "") -> str:
    if not entry:
        return default
    return entry.get(lang) or entry.get("en") or default


def metric_label(metric: str, lang: str) -> str:
    m = METRICS.get(metric)
    return m[lang] if m else metric.replace("_", " ")


def is_share(metric: str) -> bool:
    return bool(METRICS.get(metric, {}).get("share", metric.endswith(("_rate", "_share"))))


def metric_unit(metric: str, lang: str) -> str:
    """Unit of a level (``%`` for shares)."""
    if is_share(metric):
        return "%"
    return pick(METRICS.get(metric, {}).get("unit"), lang)


def diff_unit(metric: str, lang: str) -> str:
    """Unit of a difference (percentage points for shares)."""
    if is_share(metric):
        return "pts" if lang == "en" else "pts"
    return pick(METRICS.get(metric, {}).get("dunit"), lang)


def diff_unit_long(metric: str, lang: str) -> str:
    if is_share(metric):
        return SHARE_DUNIT[lang]
    return pick(METRICS.get(metric, {}).get("dunit"), lang)


def direction_words(metric: str, lang: str) -> tuple[str, str]:
    m = METRICS.get(metric, {})
    return pick(m.get("less"), lang, LESS[lang]), pick(m.get("more"), lang, MORE[lang])


def axis_title(metric: str, lang: str, diff: bool = False) -> str:
    u = diff_unit(metric, lang) if diff else metric_unit(metric, lang)
    lab = metric_label(metric, lang)
    return f"{lab} ({u})" if u else lab


def persona_name(pid: str) -> str:
    return PERSONAS.get(pid, {}).get("name", pid.replace("_", " ").title())


def persona_field(pid: str, field: str, lang: str) -> str:
    return PERSONAS.get(pid, {}).get(f"{field}_{lang}", "")


def segment_label(group: str, lang: str) -> str:
    """``segment=sophie`` -> "Sophie — precarious…" (short)."""
    pid = group.split("=", 1)[-1]
    seg = persona_field(pid, "seg", lang)
    return f"{persona_name(pid)} · {seg}" if seg else persona_name(pid)


def engagement_label(eid: Any, lang: str) -> str:
    key = str(eid).strip().lstrip("E").lstrip("e").lstrip("0") if str(eid)[:1] in "Ee0123456789" else str(eid)
    key = key.split("_")[0]
    e = ENGAGEMENTS.get(key)
    return e[lang] if e else str(eid).replace("_", " ")


def fmt_num(x: float, lang: str, decimals: int = 1) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    s = f"{x:,.{decimals}f}"
    if lang == "fr":
        s = s.replace(",", "\u202f").replace(".", ",")
    return s


def auto_decimals(*values: float) -> int:
    vals = [abs(v) for v in values if v is not None and math.isfinite(v)]
    m = max(vals) if vals else 0.0
    if m >= 10:
        return 0
    if m >= 1:
        return 1
    return 2
