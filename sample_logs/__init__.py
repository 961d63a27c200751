"""webtrail sample_logs."""
