"""Fuzz tests of every parser of untrusted bytes (issue 11, part 8): see harness.py."""
