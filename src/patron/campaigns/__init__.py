"""Campaigns: audiences, personalised templates, kinds, A/B, attribution."""
