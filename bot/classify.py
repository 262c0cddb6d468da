"""The customer-message classifier lives in `compliance.classify` (the checker needs it
too: SLA001 under a fault-level profile); this name keeps older imports working."""

from compliance.classify import INTERMITTENT_LEVEL, Classification, Classifier, CueHit

__all__ = ["INTERMITTENT_LEVEL", "Classification", "Classifier", "CueHit"]
