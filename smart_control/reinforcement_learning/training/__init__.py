"""The train loops (single-process and distributed) and what they share."""
