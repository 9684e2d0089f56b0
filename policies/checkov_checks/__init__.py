"""Our Checkov checks (`CKV_STL_<n>`), loaded with `checkov --external-checks-dir policies/checkov_checks`.

Checkov loads every `.py` file of this folder itself (it needs this `__init__.py` to do so); nothing
here is imported by the rest of the pack, and this file must stay free of Checkov imports.
"""
