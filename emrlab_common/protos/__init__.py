"""Generated from proto/ by `python -m emrlab_common.protogen`; do not edit."""
