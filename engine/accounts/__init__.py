"""Accounts: who the client is (behind proxies), login lockout, password reset, two-factor login,
and the revocation of API tokens when a password changes."""
