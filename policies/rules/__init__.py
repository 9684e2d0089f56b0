"""Rule modules, one per concern. Each exports RULES; ALL_RULES gathers them."""
from policies.rules import data_store, resilience, sessions, storage

ALL_RULES = [*sessions.RULES, *storage.RULES, *resilience.RULES, *data_store.RULES]
