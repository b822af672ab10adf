"""gp-optout-desktop: an encrypted register of patients' objections to GP data extraction."""

__version__ = "0.1.0"
