"""Access keys: issued per organisation, secrets sealed with the server key, used to verify SigV4."""
