"""Rule modules, one per concern. Each exports RULES; ALL_RULES gathers them."""
from policies.rules import resilience, sessions, storage

ALL_RULES = [*sessions.RULES, *storage.RULES, *resilience.RULES]
