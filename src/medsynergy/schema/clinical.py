"""The clinical input layer: observation.

Column names, grain and key follow the Tuva Project input layer `observation` model
(models/input_layer/observation in tuva-health/tuva): one row per observation (a lab
result, a vital sign, a survey score), coded in its source system and optionally
normalised. medsynergy loads PROMIS Global Health scores here (LOINC-coded, e.g.
`source_code_type` loinc) and, later, FHIR Observation resources. We extend the layout
(columns marked `extension`) and never rename it.
"""

from __future__ import annotations

from medsynergy.schema._model import Column, Kind, Table, lineage_columns

S, D = Kind.STRING, Kind.DATE
TUVA_OBSERVATION = "Tuva Project input layer (tuva-health/tuva, models/input_layer/observation)"

OBSERVATION = Table(
    name="observation",
    doc=(
        "Clinical observations: lab results, vital signs and survey scores such as PROMIS "
        "Global Health, one row per observation. A later load's row replaces an earlier "
        "row with the same key."
    ),
    grain="observation_id x data_source",
    source=TUVA_OBSERVATION,
    key=("observation_id", "data_source"),
    columns=(
        Column("observation_id", S, "The observation, unique within its data source.", required=True),
        Column("person_id", S, "The person, across sources (master patient index).", required=True),
        Column("patient_id", S, "The patient identifier in the source system (EHR, survey tool)."),
        Column("encounter_id", S, "The encounter the observation was made in, if any."),
        Column("panel_id", S,
               "The panel or instrument the observation belongs to (a lab panel, a PROMIS "
               "Global Health administration), grouping its results."),
        Column("observation_date", D, "Date the observation was made or the result taken.",
               required=True),
        Column("observation_type", S, "Kind of observation, e.g. lab, vital signs, survey."),
        Column("source_code_type", S,
               "Code system of source_code as the source gives it, e.g. loinc, snomed-ct "
               "(stored lower case)."),
        Column("source_code", S, "The observation's code in the source, e.g. LOINC 61578-7."),
        Column("source_description", S, "Description of source_code as the source gives it."),
        Column("normalized_code_type", S, "Code system of normalized_code (stored lower case)."),
        Column("normalized_code", S, "The observation's code mapped to a standard system (LOINC)."),
        Column("normalized_description", S, "Description of normalized_code."),
        Column("result", S,
               "The result as text: a number (a T-score, 45.2) or a coded or free-text "
               "answer, so it is never cast."),
        Column("source_units", S, "Units of result as the source gives them."),
        Column("normalized_units", S, "Units of result in a standard form (UCUM)."),
        Column("source_reference_range_low", S, "Low end of the source's reference range."),
        Column("source_reference_range_high", S, "High end of the source's reference range."),
        Column("normalized_reference_range_low", S, "Low end of the reference range in normalized_units."),
        Column("normalized_reference_range_high", S, "High end of the reference range in normalized_units."),
        *lineage_columns(),
    ),
)

CLINICAL_TABLES: tuple[Table, ...] = (OBSERVATION,)
