"""The realism targets of the generator, each with its public source (docs/generator.md).

Figures are rounded; where a figure is an assumption rather than a published number the
comment says so. Tests check that a generated population lands inside these bands.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- Medicare people (CMS Medicare Enrollment Dashboard / MDCR ENROLL AB tables) --------
DISABLED_UNDER_65_SHARE = 0.15   # ~14-15 % of beneficiaries entitled by disability, under 65
ESRD_SHARE = 0.01                # ~1 % ESRD (USRDS; MDCR ENROLL AB: ESRD ~0.9 %)
DUAL_SHARE_AGED = 0.165          # duals: ~19-20 % overall (CMS MMCO data book); more among
DUAL_SHARE_DISABLED = 0.40       # the disabled (~40 %) than the aged (~15 %)
ORIGINALLY_DISABLED_AGED = 0.12  # aged now, entitled first by disability (approximate)
MA_SHARE = 0.15                  # share on a Medicare Advantage plan (assumption: ACO data is mostly FFS)
MA_SWITCH_PER_YEAR = 0.04        # FFS <-> MA switching at open enrolment (approximate)
NEW_ENROLLEES_PER_YEAR = 0.07    # aging-in and new disability entitlement, per year of base
LEAVE_PER_YEAR_MEDICARE = 0.03   # moves out of the service area etc. (assumption)
# Mortality: Gompertz q(age) = Q65 * exp(SLOPE * (age - 65)), close to the SSA period life
# table (q65 ~1.5-2 %, q75 ~3.5-4 %, q85 ~9-10 %); Medicare crude death rate ~4-5 % a year.
Q65 = 0.018
GOMPERTZ_SLOPE = 0.088
Q_DISABLED = 0.025               # disabled under 65 (approximate, CMS CCW)
Q_ESRD = 0.17                    # dialysis mortality ~16-20 per 100 patient-years (USRDS ADR)
# US Census / MDCR ENROLL: 65-74 ~55 %, 75-84 ~31 %, 85+ ~14 % of the aged.
AGED_COHORT_GROWTH = 1.025       # younger cohorts are larger (baby boom); tunes those shares
RACE = {  # CMS RTI race code shares among beneficiaries (approximate)
    "white": 0.76, "black": 0.10, "hispanic": 0.07, "asian": 0.035,
    "american indian or alaska native": 0.006, "other": 0.019, "unknown": 0.01,
}
# Dual status codes among duals (MMCO data book, approximate): 02 QMB plus, 08 other full,
# 01 QMB only, 03 SLMB only, 04 SLMB plus, 06 QI.
DUAL_CODES = {"02": 0.45, "08": 0.25, "01": 0.12, "03": 0.08, "04": 0.04, "06": 0.06}

# --- Commercial people (Census CPS family sizes; KFF employer coverage, approximate) ----
FAMILY_SIZES = {1: 0.40, 2: 0.27, 3: 0.14, 4: 0.12, 5: 0.05, 6: 0.02}
SPOUSE_SHARE = 0.75              # second member of a family is a spouse (else a dependent)
NEW_ENROLLEES_PER_YEAR_COMMERCIAL = 0.15
LEAVE_PER_YEAR_COMMERCIAL = 0.15  # employer coverage churn ~15-20 % a year (approximate)
COMMERCIAL_PAYERS = {  # fictional payers
    "Northwind Health Plan": 0.45, "Lakeshore Mutual": 0.35, "Summit Care Insurance": 0.20,
}
COMMERCIAL_PLANS = {"PPO": 0.48, "HMO": 0.17, "HDHP": 0.29, "POS": 0.06}
MIXED_MEDICARE_SHARE = 0.4

# --- Providers (AAMC / AHRQ workforce figures, approximate) -----------------------------
MEMBERS_PER_PCP = 1_000

# --- Conditions (docs/generator.md, "Conditions") ---------------------------------------
# CCW 2019 prevalences come from refdata chronic_condition_prevalence; these are not in it:
PREVALENCE_NOT_IN_CCW_TABLE = {
    "copd": 0.11,                   # CMS CCW, Medicare FFS (issue 3 target ~11 %)
    "atrial_fibrillation": 0.09,    # CMS CCW atrial fibrillation, ~8-9 % (approximate)
    "chronic_low_back_pain": 0.20,  # assumption: chronic LBP ~15-25 % of older adults
    "opioid_use_disorder": 0.009,   # aged; x4 among the disabled -> ~1.3 % overall (CCW OUD)
}
DISABLED_PREVALENCE_FACTOR = {"opioid_use_disorder": 4.0}
COMMERCIAL_PREVALENCE_FACTOR = {  # ages 0-64 against Medicare (approximate, CDC NHIS)
    "hypertension": 0.35, "diabetes": 0.30, "ckd": 0.15, "depression": 0.60,
    "heart_failure": 0.05, "copd": 0.15, "osteoarthritis": 0.30, "atrial_fibrillation": 0.07,
    "chronic_low_back_pain": 0.60, "opioid_use_disorder": 0.60,
}
# latent health z: weights before standardising (age in years, flags 0/1)
Z_AGE_PER_YEAR, Z_DISABLED, Z_DUAL, Z_DECEDENT, Z_ESRD = 0.04, 0.8, 0.4, 1.2, 1.5
CONDITION_LOADING = {  # correlation of each condition's latent with z
    "hypertension": 0.40, "diabetes": 0.50, "ckd": 0.60, "depression": 0.40,
    "heart_failure": 0.70, "copd": 0.50, "osteoarthritis": 0.35, "atrial_fibrillation": 0.55,
    "chronic_low_back_pain": 0.35, "opioid_use_disorder": 0.40,
}
# care intensity: exp(INTENSITY_Z z + sum of condition terms) x gamma(FRAILTY_SHAPE)
INTENSITY_Z = 0.35
CONDITION_INTENSITY = {
    "hypertension": 0.05, "diabetes": 0.2, "ckd": 0.25, "depression": 0.2, "heart_failure": 0.5,
    "copd": 0.35, "osteoarthritis": 0.1, "atrial_fibrillation": 0.2, "chronic_low_back_pain": 0.1,
    "opioid_use_disorder": 0.5, "esrd": 1.5,
}
FRAILTY_SHAPE = 1.0

# --- Emergency and hospital care (MSSP PY2022 PUF, assigned-beneficiary weighted means:
# 252.9 admissions, 610.7 ED visits, 183.9 ED visits ending in admission per 1,000) ------
ED_PER_YEAR, ED_EXPONENT = 0.60, 0.8
ED_ADMIT_Q, ED_ADMIT_EXPONENT, ED_ADMIT_MAX = 0.20, 0.5, 0.85
DIRECT_ADMITS_PER_YEAR = 0.045
END_OF_LIFE_DAYS, END_OF_LIFE_ED, END_OF_LIFE_ADMIT_Q = 90, 4.0, 2.0
READMIT_P, READMIT_Z, READMIT_MAX = 0.175, 0.35, 0.6  # p = P * exp(Z z), renormalised over stays
READMIT_GAP_POWER = 1.6  # days to readmission: 1 + floor(30 u^1.6), front-loaded
LOS_SIGMA = 0.5          # LOS = geometric mean LOS of the DRG x lognormal(0, 0.5)
DISPOSITIONS = {  # UB-04 discharge status (approximate Medicare shares)
    "01": 0.47, "06": 0.18, "03": 0.20, "62": 0.04, "02": 0.02, "07": 0.01, "50": 0.03,
    "51": 0.01,
}
ELECTIVE_DRGS = ("470", "451", "322")
ELECTIVE_WEIGHT_DIRECT, MEDICAL_WEIGHT_DIRECT = 6.0, 0.15
DRG_CONDITION = {
    "291": "heart_failure", "292": "heart_failure", "293": "heart_failure",
    "190": "copd", "191": "copd", "192": "copd", "637": "diabetes", "638": "diabetes",
    "682": "ckd", "683": "ckd", "308": "atrial_fibrillation", "309": "atrial_fibrillation",
    "310": "atrial_fibrillation", "885": "depression", "897": "opioid_use_disorder",
    "917": "opioid_use_disorder", "918": "opioid_use_disorder", "552": "chronic_low_back_pain",
    "470": "osteoarthritis",
}
DRG_BOOST_WITH, DRG_BOOST_WITHOUT = 4.0, 0.0  # condition DRGs only for people with it
ED_LEVEL_MIX = (0.01, 0.04, 0.20, 0.40, 0.35)  # 99281..99285
ED_LAB_SHARE, ED_CT_SHARE = 0.6, 0.3
ED_REASON_CODES = ("R079", "R0602", "R109", "R55", "N390", "J189", "R42", "S0990XA", "R531")
SNF_LOS_MEDIAN, SNF_LOS_SIGMA = 20, 0.65  # MSSP PY2022: SNF LOS 25.7 days
HOME_HEALTH_COMMUNITY_PER_YEAR, HOME_HEALTH_SECOND_PERIOD = 0.16, 0.4
HOSPICE_SHARE_OF_DECEDENTS = 0.5          # ~half of Medicare decedents use hospice (MedPAC)
HOSPICE_LOS_MEDIAN, HOSPICE_LOS_SIGMA = 17, 1.8  # MedPAC: median ~17 days, mean ~90

# --- Office and outpatient care (MSSP PY2022: 3.64 primary-care and 4.55 specialist E/M
# visits, 0.78 CT and 0.27 MRI per beneficiary-year) -------------------------------------
PCP_VISITS_PER_YEAR, PCP_EXPONENT = 3.6, 0.4
SPECIALIST_VISITS_PER_YEAR, SPECIALIST_EXPONENT = 4.5, 0.6
PCP_EM_MIX = {"99213": 0.42, "99214": 0.42, "99215": 0.08, "99212": 0.05, "99204": 0.03}
SPECIALIST_EM_MIX = {"99213": 0.35, "99214": 0.45, "99215": 0.08, "99204": 0.08, "99203": 0.04}
OFFICE_REASON_CODES = ("E785", "J069", "K219", "E039", "M25561", "R053")
LAB_SHARE_OF_PCP_VISITS, LIPID_SHARE, OWN_PCP_SHARE = 0.75, 0.35, 0.8
AWV_PER_YEAR = 0.5
SPECIALTY_BASE = {"cardiovascular disease": 1.0, "orthopaedic surgery": 1.0, "nephrology": 0.3,
                  "interventional pain medicine": 0.3, "psychiatry": 0.3}
SPECIALTY_CONDITION = {
    "cardiovascular disease": {"heart_failure": 2.0, "atrial_fibrillation": 2.0,
                               "hypertension": 0.5},
    "nephrology": {"ckd": 1.5, "esrd": 3.0}, "orthopaedic surgery": {"osteoarthritis": 1.5},
    "interventional pain medicine": {"chronic_low_back_pain": 1.5},
    "psychiatry": {"depression": 1.5, "opioid_use_disorder": 2.0},
}
# tests and procedures billed with a specialist visit: specialty -> (code, price setting,
# share of that specialty's visits). Approximate shares (assumption), so that office tests
# and procedures reach their place in Part B professional spending (MSSP PY2022: $3,850 per
# beneficiary-year, of which office E/M visits are about a third)
SPECIALIST_ADD_ONS: dict[str, tuple[tuple[str, str, float], ...]] = {
    "cardiovascular disease": (("93000", "office", 0.35), ("93306", "office", 0.15)),
    "orthopaedic surgery": (("20610", "office", 0.30),),
    "interventional pain medicine": (("20553", "office", 0.25), ("64483", "office", 0.15)),
    "nephrology": (("80053", "clfs", 0.6), ("85025", "clfs", 0.6), ("82043", "clfs", 0.4)),
}
CT_PER_YEAR, MRI_PER_YEAR, IMAGING_EXPONENT = 0.6, 0.27, 0.5
CHEST_XRAY_PER_YEAR, ECG_PER_YEAR, ECHO_PER_YEAR, MAMMOGRAPHY_PER_YEAR = 0.3, 0.5, 0.4, 0.35
JOINT_INJECTION_PER_YEAR, EPIDURAL_PER_YEAR, CCM_PER_YEAR = 0.6, 0.3, 2.4


@dataclass(frozen=True)
class PartBDrug:
    hcpcs: str
    share: float       # of Medicare members on it
    every_days: int
    units: int         # billing units per dose
    dx: str
    female_only: bool = False
    setting: str = "office"   # opps: infused in the hospital outpatient department


PART_B_DRUGS = (
    # pembrolizumab q3w stands for physician-administered cancer drugs as a class (~$20B
    # a year in Part B): infused in a hospital outpatient department or in an office
    PartBDrug("J9271", 0.004, 21, 200, "C3490", setting="opps"),
    PartBDrug("J9271", 0.004, 21, 200, "C3490"),
    PartBDrug("J2778", 0.008, 30, 5, "H353210"),         # ranibizumab 0.5 mg monthly, wet AMD
    PartBDrug("J0897", 0.040, 182, 60, "M810", True),    # denosumab 60 mg q6m, osteoporosis
    PartBDrug("J1745", 0.004, 56, 40, "M069", setting="opps"),  # infliximab ~400 mg q8w, RA
)
# monthly DME: (code, share of the members who have the condition, condition or None)
DME_MONTHLY: tuple[tuple[str, float, str | None], ...] = (
    ("E1390", 0.35, "copd"),      # home oxygen concentrator (~1.5M Medicare oxygen users)
    ("E0601", 0.04, None),        # CPAP
    ("K0553", 0.12, "diabetes"),  # CGM supply allowance: insulin users with a CGM (approximate)
)

# --- Integrative care ---------------------------------------------------------------------
# name -> (courses per year, visits per course, days between visits, codes, specialty, who)
INTEGRATIVE_BASELINE: dict[str, tuple[float, int, int, tuple[str, ...], str, str]] = {
    "physical_therapy": (0.25, 8, 4, ("97110", "97140"), "physical therapist", "chronic_pain"),
    "chiropractic": (0.6, 2, 7, ("98941",), "chiropractor", "chronic_low_back_pain"),
    "acupuncture": (0.05, 8, 7, ("97810", "97811"), "acupuncturist", "chronic_low_back_pain"),
    "psychotherapy": (0.5, 4, 14, ("90834",), "psychologist", "depression"),
    "nutrition": (0.1, 3, 30, ("97803",), "dietitian, registered", "diabetes"),
}


@dataclass(frozen=True)
class PilotService:
    codes: tuple[str, ...]
    specialty: str
    uptake: float       # share of enrolled members who take it up
    visits: int
    every_days: int
    within_days: int    # first visit within this many days of the pilot's start
    setting: str = "office"
    first_codes: tuple[str, ...] = ()  # codes of the first visit, when they differ


# health and well-being coaching: initial assessment (0591T), then monthly sessions (0592T)
_COACH = PilotService(("0592T",), "health educator", 0.8, 7, 30, 30, "assumption", ("0591T",))
PILOT_SERVICES: dict[str, tuple[PilotService, ...]] = {
    "chronic-pain": (
        PilotService(("97810", "97811"), "acupuncturist", 0.6, 10, 7, 60),
        PilotService(("97110", "97140"), "physical therapist", 0.5, 8, 4, 60),
        PilotService(("90834",), "psychologist", 0.35, 6, 14, 90),
        _COACH,
    ),
    "depression": (PilotService(("90834",), "psychologist", 0.7, 12, 7, 30),
                   _COACH),
    "diabetes": (PilotService(("97802",), "dietitian, registered", 0.7, 1, 1, 30),
                 PilotService(("97803",), "dietitian, registered", 0.7, 3, 30, 60),
                 _COACH),
    "heart-failure": (PilotService(("97803",), "dietitian, registered", 0.5, 3, 30, 60),
                      _COACH),
    "copd": (_COACH,),
}

# --- Commercial members and plans (assumptions; RAND Round 5: commercial hospital prices
# ~254 % of Medicare, professional ~140 %) --------------------------------------------
COMMERCIAL_USE = {"ed": 0.33, "admit": 0.25, "pcp": 0.6, "specialist": 0.45, "awv": 0.6,
                  "imaging": 0.5, "home_health": 0.1, "part_b_drug": 0.3, "dme": 0.3,
                  "integrative": 1.5, "rx": 0.6, "opioid": 0.8, "promis": 1.0}
COMMERCIAL_PRICE_FACTOR = {"facility": 2.5, "professional": 1.4}
CHARGE_MARKUP = {"institutional": 3.4, "professional": 2.2}
MA_INPATIENT_COPAY_PER_DAY, MA_OFFICE_COPAY, MA_ED_COPAY = 35_000, 2_000, 10_000  # cents
COMMERCIAL_DEDUCTIBLE = {"PPO": 100_000, "HMO": 50_000, "HDHP": 300_000, "POS": 75_000}
COMMERCIAL_COINSURANCE_PCT = {"HMO": 10, "other": 20}
COMMERCIAL_OFFICE_COPAY = 3_000
PAID_LAG_DAYS = (10, 60)  # paid 10-60 days after the claim ends

# --- Pharmacy (Part D-like; assumptions unless refdata drug_ndc gives the figure) -------
# drug class -> (conditions any of which qualifies (empty: anyone), share of them on it)
RX_REGIMENS: dict[str, tuple[tuple[str, ...], float]] = {
    "hypertension": (("hypertension",), 0.85),
    "statin": (("diabetes", "hypertension", "heart_failure"), 0.5),
    "diabetes": (("diabetes",), 0.8),
    "heart_failure": (("heart_failure",), 0.8),
    "anticoagulant": (("atrial_fibrillation",), 0.7),
    "copd": (("copd",), 0.7),
    "antidepressant": (("depression",), 0.7),
    "depression": (("depression",), 0.7),
    "gabapentinoid": (("chronic_low_back_pain", "osteoarthritis"), 0.2),
    "nsaid": (("osteoarthritis",), 0.25),
    "benzodiazepine": ((), 0.06),
    "thyroid": ((), 0.15),
    "oud_treatment": (("opioid_use_disorder",), 0.45),
}
RX_90_DAY_SHARE = 0.3
RX_ADHERENCE_BETA = (6.0, 1.5)          # proportion of days covered ~0.8 on average
RX_UNITS_PER_DAY_DEFAULT = 1.0
RX_UNIT_COST_ASSUMPTION = {              # USD per unit when refdata has no NADAC figure
    "opioid": 0.30, "benzodiazepine": 0.05, "antidepressant": 0.05, "depression": 0.05,
    "gabapentinoid": 0.10, "oud_treatment": 3.00, "hypertension": 0.05, "statin": 0.06,
    "diabetes": 0.05, "heart_failure": 0.05, "anticoagulant": 9.00, "copd": 12.00,
    "thyroid": 0.10, "nsaid": 0.05, "naloxone": 35.00,
}
RX_DISPENSING_FEE_USD = "2.00"
RX_BRAND_UNIT_COST_USD = "2.00"          # at or above this unit cost a drug counts as brand
RX_BRAND_COINSURANCE_PCT = 25            # Part D standard benefit initial coverage
RX_COPAY_CENTS = {"generic": 500, "commercial_generic": 1000, "commercial_brand": 4000}
CHRONIC_OPIOIDS = ("oxycodone", "morphine", "fentanyl", "hydrocodone", "tramadol")
ACUTE_OPIOIDS = ("hydrocodone", "oxycodone", "tramadol", "hydromorphone")
LONG_TERM_OPIOID_SHARE = {"chronic_pain": 0.15, "opioid_use_disorder": 0.3, "other": 0.01}
LONG_TERM_OPIOID_FILLS_PER_YEAR = 11.0
ACUTE_OPIOID_FILLS_PER_YEAR = 0.12
ACUTE_OPIOID_DAYS = (3, 7)

# --- PROMIS Global Health (T-score metric: mean 50, SD 10 in the US general population) --
PROMIS_SURVEYS_PER_YEAR = 2.0            # for members with chronic pain
PROMIS_PILOT_EVERY_DAYS = 90             # enrolled members: at start, then quarterly
PROMIS_PHYSICAL_MEAN, PROMIS_PHYSICAL_Z = 42.0, -4.0
PROMIS_MENTAL_MEAN, PROMIS_MENTAL_Z, PROMIS_MENTAL_DEPRESSION = 48.0, -2.5, -6.0
PROMIS_PERSON_SD, PROMIS_OCCASION_SD = 4.0, 5.0
PILOT_SELECTION_TILT = 0.6  # selection=sicker|healthier: enrolment odds x exp(+-0.6 z)

# --- More hospital and outpatient services (MSSP PY2022 category spending: inpatient
# $2,917, outpatient facility $2,951, Part B professional $3,851 per beneficiary-year) ----
IPPS_ADDON_FACTOR = 1.2   # IME, DSH, uncompensated care and outliers on top of the federal
                          # rates (MedPAC: ~15-20 % of IPPS payments; approximate)
CONSULTS_PER_STAY_DAY = 0.8   # specialist visits per inpatient day (99233 / 99223):
                              # Medicare stays are seen by several specialists (approximate)
INPATIENT_CT_SHARE = 0.5      # stays with a CT read billed by a radiologist (approximate)
AMBULANCE_SHARE_OF_ED = 0.4   # ED visits arriving by ground ambulance (approximate)
AMBULANCE_MILES = 8
# hospital outpatient: (code, per year, exponent) on a type-of-bill 131 claim
OUTPATIENT_FACILITY = (
    ("G0463", 3.5, 0.6, "0510"),   # hospital outpatient clinic visit
    ("G0378", 0.08, 1.0, "0762"),  # observation stay (hours billed as one comprehensive APC)
)
# hospital outpatient procedures: one Poisson process (rate calibrated to the MSSP PY2022
# outpatient facility spending per capita), the procedure drawn from this mix, each with the
# facility (OPPS) claim and the surgeon's (PFS facility rate) claim
OUTPATIENT_PROCEDURES_PER_YEAR, OUTPATIENT_PROCEDURE_EXPONENT = 1.1, 0.5
OUTPATIENT_PROCEDURES = {  # code -> (share, surgeon specialty)
    "66984": (0.20, "ophthalmology"),            # cataract surgery
    "45385": (0.18, "gastroenterology"),         # colonoscopy with polypectomy
    "43239": (0.12, "gastroenterology"),         # upper GI endoscopy with biopsy
    "29881": (0.08, "orthopaedic surgery"),      # knee arthroscopy with meniscectomy
    "93458": (0.07, "cardiovascular disease"),   # left heart catheterisation
    "64483": (0.15, "interventional pain medicine"),  # transforaminal epidural injection
    "52000": (0.12, "urology"),                  # cystoscopy
    "19083": (0.08, "diagnostic radiology"),     # breast biopsy, ultrasound guided
}
# the surgeon's fee for a surgical inpatient stay: MS-DRG -> CPT (PFS facility rate)
INPATIENT_SURGERY_CPT = {"470": "27447", "451": "22630", "321": "92928", "322": "92928",
                         "480": "27245", "481": "27245", "521": "27125", "522": "27125",
                         "853": "44120"}
# surgeon / proceduralist for the outpatient procedures above

# other professional services: (code, per year, exponent, specialty, who) with `who` a
# condition, "female", or "" for anyone; office setting (PFS non-facility) unless noted
OTHER_PROFESSIONAL: tuple[tuple[str, float, float, str, str], ...] = (
    ("88305", 0.60, 0.3, "pathology", ""),                   # surgical pathology
    ("17000", 0.30, 0.0, "dermatology", ""),                 # destruction of a premalignant lesion
    ("11102", 0.15, 0.0, "dermatology", ""),                 # tangential skin biopsy
    ("17311", 0.03, 0.0, "dermatology", ""),                 # Mohs surgery
    ("92014", 0.60, 0.2, "ophthalmology", ""),               # eye exam, established
    ("92134", 0.30, 0.2, "ophthalmology", ""),               # retinal OCT
    ("78452", 0.15, 0.5, "cardiovascular disease", "heart_failure"),  # nuclear stress test
    ("93880", 0.05, 0.5, "cardiovascular disease", ""),      # carotid duplex
    ("G0008", 0.60, 0.0, "primary care", ""),                # influenza vaccine administration
    ("99497", 0.05, 1.0, "primary care", ""),                # advance care planning
    ("20553", 0.15, 0.3, "interventional pain medicine", "chronic_low_back_pain"),  # trigger points
    ("97110", 3.0, 0.5, "physical therapist", ""),           # outpatient therapy (visits)
    ("99457", 0.6, 0.5, "primary care", "heart_failure"),     # remote physiologic monitoring
)
RADIOLOGY_READS = {"74177": "74177", "72148": "72148"}  # professional read (modifier 26)
TSH_SHARE, URINALYSIS_SHARE = 0.3, 0.3
# Relative frequency of MS-DRGs among Medicare FFS discharges, used while refdata ms_drg has
# no `medicare_discharges` column filled (assumption: approximate thousands of discharges a
# year, from the shape of the CMS Medicare Inpatient Hospitals by Provider and Service PUF;
# sepsis, heart failure and pneumonia lead)
DRG_RELATIVE_FREQUENCY = {
    "871": 560, "872": 160, "291": 330, "292": 70, "293": 20, "470": 170, "690": 90,
    "193": 60, "194": 90, "195": 25, "190": 80, "191": 45, "192": 20, "392": 110, "603": 85,
    "064": 55, "065": 60, "066": 20, "069": 20, "378": 65, "189": 90, "682": 110, "683": 90,
    "177": 60, "178": 25, "321": 60, "322": 50, "280": 50, "281": 25, "308": 35, "309": 55,
    "310": 25, "480": 35, "481": 55, "552": 30, "641": 45, "637": 25, "638": 40, "853": 40,
    "885": 60, "897": 30, "917": 30, "918": 20, "947": 35, "948": 40, "451": 25, "521": 30,
    "522": 25, "811": 30, "812": 40,
}
