"""The ``glasshouse`` command line: thin callers of the domain services."""
