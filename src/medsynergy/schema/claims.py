"""The claims input layer: eligibility, medical_claim, pharmacy_claim, provider.

The clinical input layer (observation) is in `clinical.py`.

Column names, grain and keys follow the Tuva Project input layer (models/input_layer in
tuva-health/tuva), which many value-based-care teams already map their data to. We extend
it (columns marked `extension`) and never rename it.
"""

from __future__ import annotations

from medsynergy.schema._model import Column, Kind, Table, lineage_columns

S, D, INT, M, Q = Kind.STRING, Kind.DATE, Kind.INTEGER, Kind.MONEY, Kind.QUANTITY
TUVA = "Tuva Project input layer (tuva-health/tuva, models/input_layer)"
N_DIAGNOSES = 25
N_PROCEDURES = 25
N_MODIFIERS = 5


def _money_columns() -> tuple[Column, ...]:
    return (
        Column("paid_amount", M, "Amount the payer paid for the line."),
        Column("allowed_amount", M, "Amount allowed under the contract: paid plus member cost sharing."),
        Column("charge_amount", M, "Amount the provider billed (charges)."),
        Column("coinsurance_amount", M, "Member coinsurance."),
        Column("copayment_amount", M, "Member copayment."),
        Column("deductible_amount", M, "Member deductible."),
    )


def _derived_column() -> Column:
    return Column("derived_columns", S,
                  "Columns of this row whose value a format converter derived from other "
                  "resources rather than read (comma-separated, e.g. bill_type_code from the "
                  "FHIR Encounter class); empty when every value was read. See docs/formats.md.",
                  extension=True)


def _adjustment_columns() -> tuple[Column, ...]:
    return (
        Column("adjustment_type_code", S,
               "original, adjustment or reversal (CCLF CLM_ADJSMT_TYPE_CD 0/2/1 accepted). "
               "Empty means original. See docs/ingest.md, claim adjustments.", extension=True),
        Column("adjustment_sequence_number", INT,
               "Order of versions of one claim line paid on the same day; higher is later.",
               extension=True),
    )


ELIGIBILITY = Table(
    name="eligibility",
    doc="Enrollment spans: one row per member per coverage span, with demographics.",
    grain="person x member_id x payer x plan x enrollment_start_date x data_source",
    source=TUVA,
    key=("person_id", "member_id", "payer", "plan", "enrollment_start_date", "data_source"),
    date_pairs=(("enrollment_start_date", "enrollment_end_date"),),
    columns=(
        Column("person_id", S, "The person, across sources (master patient index).", required=True),
        Column("member_id", S, "The member identifier with this payer.", required=True),
        Column("subscriber_id", S, "The subscriber whose coverage the member is on."),
        Column("gender", S, "male, female or unknown."),
        Column("race", S, "Race, as the source codes it."),
        Column("birth_date", D, "Date of birth."),
        Column("death_date", D, "Date of death, if any."),
        Column("death_flag", INT, "1 when the member died, else 0."),
        Column("enrollment_start_date", D, "First day of the coverage span.", required=True),
        Column("enrollment_end_date", D, "Last day of the coverage span.", required=True),
        Column("payer", S, "The payer (health insurer).", required=True),
        Column("payer_type", S, "medicare, medicaid, commercial, ..."),
        Column("plan", S, "The plan or sub-contract."),
        Column("original_reason_entitlement_code", S,
               "Medicare original reason for entitlement: 0 old age, 1 disability, 2 ESRD, 3 both."),
        Column("dual_status_code", S, "Medicare-Medicaid dual status code (00 = not dual)."),
        Column("medicare_status_code", S, "Medicare status: 10 aged, 11 aged ESRD, 20 disabled, 21, 31."),
        Column("group_id", S, "Employer group identifier."),
        Column("group_name", S, "Employer group name."),
        Column("first_name", S, "First name (personal data: minimised in outputs)."),
        Column("last_name", S, "Last name (personal data: minimised in outputs)."),
        Column("social_security_number", S, "SSN (personal data: never shown in outputs)."),
        Column("subscriber_relation", S, "Relation to the subscriber: self, spouse, dependent."),
        Column("address", S, "Street address."),
        Column("city", S, "City."),
        Column("state", S, "State."),
        Column("zip_code", S, "ZIP code."),
        Column("phone", S, "Phone number."),
        _derived_column(),
        *lineage_columns(),
    ),
)

MEDICAL_CLAIM = Table(
    name="medical_claim",
    doc=(
        "Institutional and professional claim lines, collapsed to each line's final action "
        "(superseded versions are in medical_claim_superseded)."
    ),
    grain="claim_id x claim_line_number x data_source",
    source=TUVA,
    key=("claim_id", "claim_line_number", "data_source"),
    version_order=("paid_date", "adjustment_sequence_number"),
    date_pairs=(
        ("claim_start_date", "claim_end_date"),
        ("admission_date", "discharge_date"),
    ),
    columns=(
        Column("claim_id", S, "The claim; a claim has one or more lines.", required=True),
        Column("claim_line_number", INT, "The line within the claim, 1, 2, ...", required=True),
        Column("claim_type", S, "institutional, professional, dental, vision or undetermined."),
        Column("person_id", S, "The person the service was for.", required=True),
        Column("member_id", S, "The member identifier with this payer."),
        Column("payer", S, "The payer."),
        Column("plan", S, "The plan."),
        Column("claim_start_date", D, "First date of service on the claim.", required=True),
        Column("claim_end_date", D, "Last date of service on the claim.", required=True),
        Column("claim_line_start_date", D, "First date of service on the line."),
        Column("claim_line_end_date", D, "Last date of service on the line."),
        Column("admission_date", D, "Admission date (institutional inpatient)."),
        Column("discharge_date", D, "Discharge date (institutional inpatient)."),
        Column("admit_source_code", S, "UB-04 point of origin for admission."),
        Column("admit_type_code", S, "UB-04 priority (type) of admission."),
        Column("discharge_disposition_code", S, "UB-04 patient discharge status (01 home, 03 SNF, 20 died, ...)."),
        Column("place_of_service_code", S, "CMS place of service code (professional)."),
        Column("bill_type_code", S, "UB-04 type of bill (institutional), e.g. 111."),
        Column("drg_code_type", S, "ms-drg or apr-drg."),
        Column("drg_code", S, "Diagnosis related group, e.g. MS-DRG 470."),
        Column("revenue_center_code", S, "UB-04 revenue code, 4 digits, e.g. 0450."),
        Column("service_unit_quantity", Q, "Units of service on the line."),
        Column("hcpcs_code", S, "HCPCS / CPT code of the line."),
        *(Column(f"hcpcs_modifier_{i}", S, f"HCPCS modifier {i}.") for i in range(1, N_MODIFIERS + 1)),
        Column("rendering_npi", S, "NPI of the rendering clinician.", code_system="npi"),
        Column("rendering_tin", S, "TIN of the rendering clinician."),
        Column("billing_npi", S, "NPI of the billing provider.", code_system="npi"),
        Column("billing_tin", S, "TIN of the billing provider."),
        Column("facility_npi", S, "NPI of the facility.", code_system="npi"),
        Column("paid_date", D, "Date the payer paid this version of the line."),
        *_money_columns(),
        Column("total_cost_amount", M, "Total cost (paid plus member liability) where the source gives it."),
        Column("diagnosis_code_type", S, "icd-10-cm, icd-9-cm (or another system, kept as is)."),
        *(Column(f"diagnosis_code_{i}", S,
                 "Principal diagnosis." if i == 1 else f"Diagnosis {i}.", code_system="icd-dx")
          for i in range(1, N_DIAGNOSES + 1)),
        *(Column(f"diagnosis_poa_{i}", S, f"Present-on-admission indicator of diagnosis {i}.")
          for i in range(1, N_DIAGNOSES + 1)),
        Column("procedure_code_type", S, "icd-10-pcs or icd-9-pcs."),
        *(Column(f"procedure_code_{i}", S, f"ICD procedure {i}.", code_system="icd-pcs")
          for i in range(1, N_PROCEDURES + 1)),
        *(Column(f"procedure_date_{i}", D, f"Date of procedure {i}.")
          for i in range(1, N_PROCEDURES + 1)),
        Column("in_network_flag", INT, "1 in network, 0 out of network."),
        *_adjustment_columns(),
        Column("encounter_id", S, "The clinical encounter the claim bills (FHIR item.encounter), "
               "when the source links them.", extension=True),
        _derived_column(),
        *lineage_columns(),
    ),
)

PHARMACY_CLAIM = Table(
    name="pharmacy_claim",
    doc="Retail and mail-order pharmacy claim lines, collapsed to each line's final action.",
    grain="claim_id x claim_line_number x data_source",
    source=TUVA,
    key=("claim_id", "claim_line_number", "data_source"),
    version_order=("paid_date", "adjustment_sequence_number"),
    columns=(
        Column("claim_id", S, "The pharmacy claim.", required=True),
        Column("claim_line_number", INT, "The line within the claim.", required=True),
        Column("person_id", S, "The person the drug was dispensed to.", required=True),
        Column("member_id", S, "The member identifier with this payer."),
        Column("payer", S, "The payer."),
        Column("plan", S, "The plan."),
        Column("prescribing_provider_npi", S, "NPI of the prescriber.", code_system="npi"),
        Column("dispensing_provider_npi", S, "NPI of the pharmacy.", code_system="npi"),
        Column("dispensing_date", D, "Date the drug was dispensed.", required=True),
        Column("ndc_code", S,
               "National Drug Code, 11 digits (5-4-2); hyphenated 4-4-2, 5-3-2 and 5-4-1 forms "
               "are normalised on load.", code_system="ndc"),
        Column("quantity", Q, "Quantity dispensed (can be fractional, e.g. mL)."),
        Column("days_supply", INT, "Days the fill lasts."),
        Column("refills", INT, "Refill number."),
        Column("paid_date", D, "Date the payer paid this version of the line."),
        *_money_columns(),
        Column("in_network_flag", INT, "1 in network, 0 out of network."),
        *_adjustment_columns(),
        Column("rxnorm_code", S, "RxNorm concept of the drug, when the source gives it "
               "(FHIR, Synthea) instead of or besides the NDC.", extension=True),
        Column("drug_description", S, "Description of the drug as the source gives it.",
               extension=True),
        Column("medication_id", S, "The prescription (medication record) the fill is for, "
               "when the source links them.", extension=True),
        _derived_column(),
        *lineage_columns(),
    ),
)

PROVIDER = Table(
    name="provider",
    doc="Clinicians and organisations that render or bill care.",
    grain="npi x data_source",
    source="medsynergy extension; NPPES fields (npi, taxonomy) and the Tuva practitioner table",
    key=("npi", "data_source"),
    columns=(
        Column("npi", S, "National Provider Identifier, 10 digits with a Luhn check digit.",
               required=True, code_system="npi"),
        Column("tin", S, "Taxpayer identification number the provider bills under."),
        Column("provider_name", S, "Name of the clinician or organisation."),
        Column("entity_type", S, "individual or organization (NPPES entity type 1 / 2)."),
        Column("specialty", S, "Specialty, e.g. family medicine, acupuncture."),
        Column("taxonomy_code", S, "NUCC health care provider taxonomy code, e.g. 207Q00000X."),
        Column("primary_care_flag", INT, "1 when the provider is a primary-care clinician (MSSP step 1)."),
        Column("organization_id", S, "The organisation (practice, system) the provider belongs to."),
        Column("organization_name", S, "Name of the organisation."),
        *lineage_columns(),
    ),
)

CLAIMS_TABLES: tuple[Table, ...] = (ELIGIBILITY, MEDICAL_CLAIM, PHARMACY_CLAIM, PROVIDER)
