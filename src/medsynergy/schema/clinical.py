"""The clinical input layer: observation, encounter, condition, procedure, medication,
care_plan and care_team.

`encounter`, `condition`, `procedure` and `medication` follow the Tuva Project input layer
models of the same names; `care_plan` and `care_team` are medsynergy extensions for the
FHIR R4 CarePlan and CareTeam resources (issue "FHIR R4 and CMS formats in").

Column names, grain and key follow the Tuva Project input layer `observation` model
(models/input_layer/observation in tuva-health/tuva): one row per observation (a lab
result, a vital sign, a survey score), coded in its source system and optionally
normalised. medsynergy loads PROMIS Global Health scores here (LOINC-coded, e.g.
`source_code_type` loinc) and, later, FHIR Observation resources. We extend the layout
(columns marked `extension`) and never rename it.
"""

from __future__ import annotations

from medsynergy.schema._model import Column, Kind, Table, lineage_columns

S, D, INT, M, Q = Kind.STRING, Kind.DATE, Kind.INTEGER, Kind.MONEY, Kind.QUANTITY
TUVA_CLINICAL = "Tuva Project input layer (tuva-health/tuva, models/input_layer)"
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



def _patient_columns() -> tuple[Column, ...]:
    return (
        Column("person_id", S, "The person, across sources (master patient index).", required=True),
        Column("patient_id", S, "The patient identifier in the source system (EHR, FHIR Patient.id)."),
    )


def _coded(prefix: str = "", what: str = "the record") -> tuple[Column, ...]:
    return (
        Column(f"{prefix}source_code_type", S,
               f"Code system of {what}'s source code as the source gives it, e.g. snomed-ct, "
               "icd-10-cm, rxnorm, cpt (stored lower case)."),
        Column(f"{prefix}source_code", S, f"The code of {what} in its source system."),
        Column(f"{prefix}source_description", S, "Description of the source code."),
        Column(f"{prefix}normalized_code_type", S, "Code system of the normalized code (lower case)."),
        Column(f"{prefix}normalized_code", S, "The code mapped to a standard system, when mapped."),
        Column(f"{prefix}normalized_description", S, "Description of the normalized code."),
    )


ENCOUNTER = Table(
    name="encounter",
    doc=(
        "Clinical encounters (visits, stays) as the EHR records them, one row per "
        "encounter: FHIR Encounter, Synthea encounters.csv."
    ),
    grain="encounter_id x data_source",
    source=TUVA_CLINICAL + "/encounter",
    key=("encounter_id", "data_source"),
    date_pairs=(("encounter_start_date", "encounter_end_date"),),
    columns=(
        Column("encounter_id", S, "The encounter, unique within its data source.", required=True),
        *_patient_columns(),
        Column("encounter_type", S,
               "Kind of encounter: the FHIR Encounter.class code (AMB, EMER, IMP, ...) or the "
               "source's encounter class (ambulatory, emergency, inpatient, wellness, ...)."),
        Column("encounter_class_code", S,
               "The encounter class normalised to the FHIR v3 ActCode: AMB, EMER, IMP, OBSENC, "
               "HH, VR, SS, ACUTE, NONAC, PRENC, FLD.", extension=True),
        Column("encounter_start_date", D, "First day of the encounter.", required=True),
        Column("encounter_end_date", D, "Last day of the encounter (discharge date of a stay)."),
        Column("length_of_stay", INT, "Days from start to end (a stay)."),
        Column("admit_source_code", S, "UB-04 point of origin for admission."),
        Column("admit_source_description", S, "Description of admit_source_code."),
        Column("admit_type_code", S, "UB-04 priority (type) of admission."),
        Column("admit_type_description", S, "Description of admit_type_code."),
        Column("discharge_disposition_code", S, "Discharge disposition as the source codes it."),
        Column("discharge_disposition_description", S, "Description of the discharge disposition."),
        Column("attending_provider_id", S, "The attending or primary performer (NPI when known)."),
        Column("attending_provider_name", S, "Name of the attending provider."),
        Column("facility_id", S, "The facility or organisation where the encounter took place."),
        Column("facility_name", S, "Name of the facility."),
        Column("primary_diagnosis_code_type", S, "Code system of the encounter's primary diagnosis or reason."),
        Column("primary_diagnosis_code", S, "The primary diagnosis or reason code."),
        Column("primary_diagnosis_description", S, "Description of the primary diagnosis or reason."),
        Column("reason_code_type", S, "Code system of the encounter's type code.", extension=True),
        Column("reason_code", S, "The encounter type code (FHIR Encounter.type), e.g. SNOMED CT 185349003.",
               extension=True),
        Column("reason_description", S, "Description of the encounter type.", extension=True),
        Column("drg_code_type", S, "ms-drg or apr-drg."),
        Column("drg_code", S, "Diagnosis related group."),
        Column("drg_description", S, "Description of the DRG."),
        Column("paid_amount", M, "Amount paid for the encounter, when the source gives it."),
        Column("allowed_amount", M, "Amount allowed for the encounter, when the source gives it."),
        Column("charge_amount", M, "Amount charged for the encounter, when the source gives it."),
        *lineage_columns(),
    ),
)

CONDITION = Table(
    name="condition",
    doc="Diagnoses and problems as the EHR records them (FHIR Condition, Synthea conditions.csv).",
    grain="condition_id x data_source",
    source=TUVA_CLINICAL + "/condition",
    key=("condition_id", "data_source"),
    columns=(
        Column("condition_id", S, "The condition, unique within its data source.", required=True),
        *_patient_columns(),
        Column("encounter_id", S, "The encounter it was recorded in, if any."),
        Column("claim_id", S, "The claim it was billed on, if any."),
        Column("recorded_date", D, "Date the condition was recorded (else its onset).", required=True),
        Column("onset_date", D, "Date the condition began."),
        Column("resolved_date", D, "Date the condition resolved (abatement)."),
        Column("status", S, "Clinical status: active, resolved, inactive, ..."),
        Column("condition_type", S, "problem, encounter-diagnosis, ..."),
        *_coded(what="the condition"),
        Column("condition_rank", INT, "Rank of the diagnosis on its claim or encounter (1 = principal)."),
        Column("present_on_admit_code", S, "Present-on-admission indicator."),
        Column("present_on_admit_description", S, "Description of the present-on-admission indicator."),
        *lineage_columns(),
    ),
)

PROCEDURE = Table(
    name="procedure",
    doc="Procedures performed, as the EHR records them (FHIR Procedure, Synthea procedures.csv).",
    grain="procedure_id x data_source",
    source=TUVA_CLINICAL + "/procedure",
    key=("procedure_id", "data_source"),
    columns=(
        Column("procedure_id", S, "The procedure, unique within its data source.", required=True),
        *_patient_columns(),
        Column("encounter_id", S, "The encounter it was performed in, if any."),
        Column("claim_id", S, "The claim it was billed on, if any."),
        Column("procedure_date", D, "Date the procedure was performed.", required=True),
        *_coded(what="the procedure"),
        *(Column(f"modifier_{i}", S, f"Modifier {i}.") for i in range(1, 6)),
        Column("practitioner_id", S, "The performer (NPI when known)."),
        *lineage_columns(),
    ),
)

MEDICATION = Table(
    name="medication",
    doc=(
        "Medications prescribed or dispensed as the EHR records them (FHIR "
        "MedicationRequest, Synthea medications.csv)."
    ),
    grain="medication_id x data_source",
    source=TUVA_CLINICAL + "/medication",
    key=("medication_id", "data_source"),
    columns=(
        Column("medication_id", S, "The medication record, unique within its data source.", required=True),
        *_patient_columns(),
        Column("encounter_id", S, "The encounter it was prescribed in, if any."),
        Column("dispensing_date", D, "Date dispensed, when known."),
        Column("prescribing_date", D, "Date prescribed (authored).", required=True),
        Column("end_date", D, "Date the medication was stopped, when known.", extension=True),
        Column("status", S, "active, stopped, completed, ...", extension=True),
        *_coded(what="the medication"),
        Column("ndc_code", S, "National Drug Code, when known.", code_system="ndc"),
        Column("ndc_description", S, "Description of the NDC."),
        Column("rxnorm_code", S, "RxNorm concept, when known."),
        Column("rxnorm_description", S, "Description of the RxNorm concept."),
        Column("atc_code", S, "ATC class, when known."),
        Column("atc_description", S, "Description of the ATC class."),
        Column("route", S, "Route of administration."),
        Column("strength", S, "Strength."),
        Column("quantity", Q, "Quantity."),
        Column("quantity_unit", S, "Unit of the quantity."),
        Column("days_supply", INT, "Days supply."),
        Column("practitioner_id", S, "The prescriber (NPI when known)."),
        Column("cost_amount", M, "Cost of the medication, when the source gives it.", extension=True),
        *lineage_columns(),
    ),
)

CARE_PLAN = Table(
    name="care_plan",
    doc="Care plans (FHIR CarePlan, Synthea careplans.csv): one row per plan.",
    grain="care_plan_id x data_source",
    source="medsynergy extension; FHIR R4 CarePlan",
    key=("care_plan_id", "data_source"),
    date_pairs=(("start_date", "end_date"),),
    columns=(
        Column("care_plan_id", S, "The care plan, unique within its data source.", required=True,
               extension=True),
        *_patient_columns(),
        Column("encounter_id", S, "The encounter the plan was made in, if any.", extension=True),
        Column("status", S, "draft, active, completed, revoked, ...", extension=True),
        Column("intent", S, "plan, order, proposal, option.", extension=True),
        Column("start_date", D, "First day of the plan.", required=True, extension=True),
        Column("end_date", D, "Last day of the plan, when ended.", extension=True),
        Column("category_code_type", S, "Code system of the plan's category (lower case).", extension=True),
        Column("category_code", S, "The plan's category code, e.g. SNOMED CT 734163000.", extension=True),
        Column("category_description", S, "Description of the category.", extension=True),
        Column("addresses", S, "Conditions the plan addresses: condition ids, comma-separated.",
               extension=True),
        Column("activities", S, "The planned activities' codes, comma-separated (system|code).",
               extension=True),
        Column("care_team_id", S, "The care team responsible, if any.", extension=True),
        *lineage_columns(),
    ),
)

CARE_TEAM = Table(
    name="care_team",
    doc="Care team members (FHIR CareTeam): one row per team x participant.",
    grain="care_team_id x participant_number x data_source",
    source="medsynergy extension; FHIR R4 CareTeam",
    key=("care_team_id", "participant_number", "data_source"),
    date_pairs=(("start_date", "end_date"),),
    columns=(
        Column("care_team_id", S, "The care team, unique within its data source.", required=True,
               extension=True),
        Column("participant_number", INT, "The participant within the team, 1, 2, ...",
               required=True, extension=True),
        *_patient_columns(),
        Column("encounter_id", S, "The encounter the team was formed in, if any.", extension=True),
        Column("status", S, "proposed, active, suspended, inactive.", extension=True),
        Column("start_date", D, "First day of the team.", extension=True),
        Column("end_date", D, "Last day of the team, when ended.", extension=True),
        Column("role_code_type", S, "Code system of the participant's role (lower case).", extension=True),
        Column("role_code", S, "The participant's role code.", extension=True),
        Column("role_description", S, "Description of the role.", extension=True),
        Column("member_type", S, "Practitioner, Organization, Patient, RelatedPerson, CareTeam.",
               extension=True),
        Column("member_id", S, "The participant (resource id).", extension=True),
        Column("member_npi", S, "The participant's NPI, when known.", code_system="npi", extension=True),
        Column("member_name", S, "The participant's name.", extension=True),
        Column("managing_organization", S, "The organisation that manages the team.", extension=True),
        *lineage_columns(),
    ),
)

CLINICAL_TABLES: tuple[Table, ...] = (
    OBSERVATION, ENCOUNTER, CONDITION, PROCEDURE, MEDICATION, CARE_PLAN, CARE_TEAM,
)
