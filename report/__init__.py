"""Report stage: render run summaries and findings safely (log content is hostile)."""
