"""People: accounts with roles, password sign-in, web sessions."""
