"""webtrail warehouse."""
