"""Responsible-use governance: policy documents, decisions and moratoriums, enforced in code."""
