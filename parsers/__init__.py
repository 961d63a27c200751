"""webtrail parsers."""
