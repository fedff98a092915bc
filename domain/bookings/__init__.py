"""Bookings (DESIGN.md §3): resources, shifts, availability, bookings, the waitlist, technician reviews and their leaderboard."""
