"""Our Checkov checks (`CKV_STL_<n>`), loaded with `checkov --external-checks-dir policies/checkov_checks`.

Checkov loads every `.py` file of this folder itself (it needs this `__init__.py` to do so); nothing
here is imported by the rest of the pack, and this file must stay free of Checkov imports. The gate
imports the two names below, which the checks share with it.
"""
# Passes on every resource Checkov evaluates: a resource without its record was dropped by Checkov.
PROBE_ID = "CKV_STL_0"
# The rules' settings from the policy configuration, as JSON {rule name: properties}; unset: defaults.
SETTINGS_VARIABLE = "STATELESS_PACK_RULE_SETTINGS"
