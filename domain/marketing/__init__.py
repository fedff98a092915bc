"""Marketing (DESIGN.md §3): segments, RFM, campaigns and their attribution, referrals."""
