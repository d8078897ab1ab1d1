"""Fines (罚款): the late-fee rule and the public lookup of a penalty decision."""
