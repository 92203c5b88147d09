"""The realism targets of the generator, each with its public source (docs/generator.md).

Figures are rounded; where a figure is an assumption rather than a published number the
comment says so. Tests check that a generated population lands inside these bands.
"""

from __future__ import annotations

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
