"""Remote files: the registry (data), the fetch engine (mechanism) and the public fetchers."""
