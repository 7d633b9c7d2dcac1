// Placeholder: implemented in the next commits.
