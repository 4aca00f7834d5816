"""Referrals, contests and lotteries with an auditable draw, games and tournaments."""
