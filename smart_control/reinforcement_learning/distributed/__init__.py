"""Distributed runs: collectors, policy weights and server health."""
