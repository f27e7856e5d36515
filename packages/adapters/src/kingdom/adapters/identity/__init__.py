"""Identity persistence: users, roles, reset tokens and refresh sessions in SQL."""
