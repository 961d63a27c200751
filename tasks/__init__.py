"""webtrail tasks."""
