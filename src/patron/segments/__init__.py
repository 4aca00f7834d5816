"""Segments: rule segments evaluated live, ML segments built by clustering, membership history and sizes."""
