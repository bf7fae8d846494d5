"""Builders shared by several test modules (fake releases, synthetic scenes and source layouts,
results files). Test modules import these, never each other."""
