"""Rule modules, one per concern. Each exports RULES; ALL_RULES gathers them."""
from policies.rules import sessions, storage

ALL_RULES = [*sessions.RULES, *storage.RULES]
