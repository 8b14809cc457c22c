"""The embedded demo: a synthetic replica of the published files, served and fetched locally."""
