"""Tags: key/value labels on an organisation's resources (collections today)."""
