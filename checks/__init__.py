"""webtrail checks."""
