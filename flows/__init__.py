"""webtrail flows."""
