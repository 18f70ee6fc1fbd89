"""Face collections: enrolled faces, the users (identities) that group them, and search over them."""
