"""Organisations: every resource and every key belongs to one."""
